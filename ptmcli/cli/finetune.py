"""`ptm finetune`: train a classification, tagging or extractive QA head with Trainer."""

from enum import Enum
from typing import Annotated

import typer

from ptmcli.cli.options import (
    MODEL_PANEL,
    DeviceOpt,
    FormatOpt,
    OfflineOpt,
    RevisionOpt,
    TrustRemoteCodeOpt,
    complete_model,
)
from ptmcli.cli.output import Output, OutputFormat
from ptmcli.errors import UsageError
from ptmcli.i18n import _

HELP = _("Fine-tune a model on a dataset with Trainer and save a folder that every ptm command can load.")
EPILOG = _(
    "Examples:\n\n"
    "  ptm finetune --model e5-small --dataset chnsenti --task text-classification --max-train-samples 1024 "
    "--epochs 1 --output-dir runs/senti\n\n"
    "  ptm finetune --dataset peoples-daily-ner --task token-classification --output-dir runs/ner --dry-run\n\n"
    "  ptm finetune --dataset reviews.csv --text-column review --label-column stars --encode-labels -o runs/rev\n\n"
    "  torchrun --nproc_per_node 2 -m ptmcli finetune --dataset chnsenti -o runs/ddp --max-steps 50"
)

DEFAULT_MODEL = "e5-small"
DATA_PANEL = _("Data")
TRAINING_PANEL = _("Training")
LORA_PANEL = _("LoRA")
RUN_PANEL = _("Output folder")


class Task(str, Enum):
    text_classification = "text-classification"
    token_classification = "token-classification"
    question_answering = "question-answering"


class Strategy(str, Enum):
    no = "no"
    steps = "steps"
    epoch = "epoch"


def _option(*names: str, help: str, panel: str = TRAINING_PANEL, **extra):
    return typer.Option(*names, help=help, rich_help_panel=panel, show_default=extra.pop("show_default", True),
                        **extra)


def command(
    dataset: Annotated[str, _option("--dataset", "-d", panel=DATA_PANEL, help=_(
        "A CSV/TSV/JSON/JSON Lines/Parquet file or folder, a dataset pack (chnsenti, peoples-daily-ner) or a Hub "
        "dataset id."))],
    output_dir: Annotated[str, _option("--output-dir", "-o", panel=RUN_PANEL, help=_(
        "Folder for checkpoints and the final model."))],
    model: Annotated[str, typer.Option("--model", "-m", autocompletion=complete_model, rich_help_panel=MODEL_PANEL,
                                       help=_("Model to start from: a folder, a pack, or a Hub id."))] = DEFAULT_MODEL,
    task: Annotated[Task, _option("--task", "-t", panel=DATA_PANEL, help=_("What to train; picks the model head."))]
    = Task.text_classification,
    dataset_config: Annotated[str | None, _option("--dataset-config", panel=DATA_PANEL, show_default=False,
                                                  help=_("Configuration name of a Hub dataset."))] = None,
    text_column: Annotated[str | None, _option("--text-column", panel=DATA_PANEL, show_default=False, help=_(
        "Column of texts (lists of words for token classification); detected when omitted."))] = None,
    text_pair_column: Annotated[str | None, _option("--text-pair-column", panel=DATA_PANEL, show_default=False,
                                                    help=_("Second text of a sentence pair."))] = None,
    label_column: Annotated[str | None, _option("--label-column", panel=DATA_PANEL, show_default=False,
                                                help=_("Column of class ids or tag ids; detected when omitted."))]
    = None,
    encode_labels: Annotated[bool, _option("--encode-labels", panel=DATA_PANEL, help=_(
        "Number string labels in sorted order instead of rejecting them."))] = False,
    validation_split: Annotated[float, _option("--validation-split", panel=DATA_PANEL, help=_(
        "Fraction of train held out when the dataset has no validation split; 0 disables evaluation."))] = 0.1,
    max_train_samples: Annotated[int | None, _option("--max-train-samples", panel=DATA_PANEL, show_default=False,
                                                     help=_("Train on a seeded random subset of this many rows."))]
    = None,
    max_eval_samples: Annotated[int | None, _option("--max-eval-samples", panel=DATA_PANEL, show_default=False,
                                                    help=_("Evaluate on the first N validation rows."))] = None,
    max_length: Annotated[int, _option("--max-length", panel=DATA_PANEL, help=_("Tokens per example; longer "
                                                                                "texts are truncated."))] = 128,
    num_proc: Annotated[int | None, _option("--num-proc", panel=DATA_PANEL, show_default=False, help=_(
        "Processes for tokenizing the dataset (datasets.map num_proc)."))] = None,
    dry_run: Annotated[bool, _option("--dry-run", panel=DATA_PANEL, help=_(
        "Print the first tokenized examples with their labels and the label mapping, then stop."))] = False,
    epochs: Annotated[float, _option("--epochs", help=_("Passes over the training data."))] = 3.0,
    max_steps: Annotated[int | None, _option("--max-steps", show_default=False, help=_(
        "Stop after this many optimizer steps; overrides --epochs."))] = None,
    learning_rate: Annotated[float, _option("--learning-rate", "--lr", help=_("Peak learning rate."))] = 5e-5,
    batch_size: Annotated[int, _option("--batch-size", "-b", help=_("Examples per device per step."))] = 16,
    eval_batch_size: Annotated[int | None, _option("--eval-batch-size", show_default=False, help=_(
        "Examples per device per evaluation step. \\[default: --batch-size]"))] = None,
    gradient_accumulation_steps: Annotated[int, _option("--gradient-accumulation-steps", help=_(
        "Batches summed before each optimizer step."))] = 1,
    warmup_ratio: Annotated[float, _option("--warmup-ratio", help=_(
        "Fraction of steps with a linearly rising learning rate."))] = 0.0,
    warmup_steps: Annotated[int, _option("--warmup-steps", help=_("Warm-up steps; overrides --warmup-ratio."))] = 0,
    weight_decay: Annotated[float, _option("--weight-decay", help=_("AdamW weight decay."))] = 0.0,
    seed: Annotated[int, _option("--seed", help=_("Seed for sampling, splits, head initialisation and "
                                                  "shuffling."))] = 42,
    eval_strategy: Annotated[Strategy, _option("--eval-strategy", help=_("When to evaluate."))] = Strategy.epoch,
    save_strategy: Annotated[Strategy, _option("--save-strategy", help=_("When to save a checkpoint."))]
    = Strategy.epoch,
    eval_steps: Annotated[int | None, _option("--eval-steps", show_default=False, help=_(
        "Steps between evaluations with --eval-strategy steps."))] = None,
    save_steps: Annotated[int | None, _option("--save-steps", show_default=False, help=_(
        "Steps between checkpoints with --save-strategy steps."))] = None,
    logging_steps: Annotated[int, _option("--logging-steps", help=_("Steps between progress lines."))] = 10,
    early_stopping: Annotated[int | None, _option("--early-stopping", show_default=False, help=_(
        "Stop after N evaluations without a lower validation loss, and keep the best model."))] = None,
    metric: Annotated[str | None, _option("--metric", show_default=False, help=_(
        "Comma-separated metrics for each evaluation. \\[default: accuracy,f1; seqeval for tagging]"))] = None,
    average: Annotated[str | None, _option("--average", show_default=False, help=_(
        "Averaging of precision/recall/f1 over more than two classes: macro, micro, weighted or per-class."))]
    = None,
    bf16: Annotated[bool, _option("--bf16", help=_("bfloat16 mixed precision (CUDA with bf16, or the CPU)."))]
    = False,
    fp16: Annotated[bool, _option("--fp16", help=_("float16 mixed precision; needs a CUDA GPU."))] = False,
    lora: Annotated[bool, _option("--lora", panel=LORA_PANEL, help=_(
        "Train LoRA adapters with PEFT instead of all weights."))] = False,
    lora_rank: Annotated[int, _option("--lora-rank", panel=LORA_PANEL, help=_("Rank r of the adapters."))] = 8,
    lora_alpha: Annotated[int, _option("--lora-alpha", panel=LORA_PANEL, help=_("Scaling alpha."))] = 16,
    lora_dropout: Annotated[float, _option("--lora-dropout", panel=LORA_PANEL, help=_("Adapter dropout."))] = 0.1,
    lora_target_modules: Annotated[str | None, _option("--lora-target-modules", panel=LORA_PANEL,
                                                       show_default=False, help=_(
        "Comma-separated module names to adapt, such as query,value. \\[default: PEFT's choice]"))] = None,
    overwrite: Annotated[bool, _option("--overwrite", panel=RUN_PANEL, help=_(
        "Replace a finished or unfinished run in --output-dir."))] = False,
    resume: Annotated[bool, _option("--resume", panel=RUN_PANEL, help=_(
        "Continue from the last checkpoint in --output-dir."))] = False,
    keep_checkpoints: Annotated[bool, _option("--keep-checkpoints", panel=RUN_PANEL, help=_(
        "Keep checkpoint-N folders after a finished run."))] = False,
    save_total_limit: Annotated[int, _option("--save-total-limit", panel=RUN_PANEL, help=_(
        "Checkpoints kept during training."))] = 2,
    device: DeviceOpt = "auto",
    output_format: FormatOpt = OutputFormat.auto,
    revision: RevisionOpt = None,
    trust_remote_code: TrustRemoteCodeOpt = False,
    offline: OfflineOpt = False,
) -> None:
    from ptmcli.engine.device import resolve_device
    from ptmcli.engine.finetune import LoraSettings, TrainSettings, check_output_dir, check_precision
    from ptmcli.engine.metrics import check_average, parse_metric_names

    out = Output(output_format)
    _check_numbers(validation_split, batch_size, epochs, max_steps, gradient_accumulation_steps, max_length)
    if overwrite and resume:
        raise UsageError(_("--overwrite and --resume exclude each other"), hint=_("choose one"))
    check_average(average)
    settings = TrainSettings(
        task=task.value, output_dir=output_dir, epochs=epochs, max_steps=max_steps or -1,
        learning_rate=learning_rate, batch_size=batch_size, eval_batch_size=eval_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps, warmup_ratio=warmup_ratio,
        warmup_steps=warmup_steps, weight_decay=weight_decay, seed=seed, eval_strategy=eval_strategy.value,
        save_strategy=save_strategy.value, eval_steps=eval_steps, save_steps=save_steps,
        logging_steps=logging_steps, save_total_limit=save_total_limit, bf16=bf16, fp16=fp16,
        early_stopping_patience=early_stopping, max_length=max_length, validation_split=validation_split,
        max_train_samples=max_train_samples, max_eval_samples=max_eval_samples, num_proc=num_proc,
        metrics=parse_metric_names(metric, task.value), average=average, overwrite=overwrite, resume=resume,
        keep_checkpoints=keep_checkpoints, device=resolve_device(device), verbose=out.verbosity > 0,
        lora=LoraSettings(rank=lora_rank, alpha=lora_alpha, dropout=lora_dropout,
                          target_modules=_split_names(lora_target_modules)) if lora else None,
    )
    check_precision(settings)
    if not dry_run:
        check_output_dir(settings)

    from ptmcli.engine.data import load_splits, prepare_columns, quiet_datasets
    from ptmcli.engine.finetune import finetune, load_task_model
    from ptmcli.engine.loading import load_tokenizer
    from ptmcli.engine.preview import preview
    from ptmcli.engine.resolve import resolve

    quiet_datasets(out.verbosity > 0)
    with out.status(_("loading {dataset}").format(dataset=dataset)):
        splits, info, _kind = load_splits(dataset, config=dataset_config, revision=None, offline=offline,
                                          progress=out.progress)
        data = prepare_columns(splits, info, task.value, text=text_column, text_pair=text_pair_column,
                               label=label_column, tokens=text_column, encode_labels=encode_labels)
    _check_average_needed(settings, data.labels)
    with out.status(_("loading {model}").format(model=model)):
        source = resolve(model, offline=offline, revision=revision, progress=out.progress)
        tokenizer = load_tokenizer(source, trust_remote_code=trust_remote_code, progress=out.progress).tokenizer
    if dry_run:
        _report_preview(out, preview(tokenizer, data, settings), data.labels)
        return
    if source.pack is not None and not source.pack.has_weights:
        raise UsageError(_("pack '{name}' has no model weights to fine-tune").format(name=source.pack.name),
                         hint=_("use a model pack such as e5-small or minilm, a folder, or a Hub id"))
    task_model = load_task_model(source.location, task.value, data.labels, load_options=source.load_options(),
                                 trust_remote_code=trust_remote_code, reference=model)

    result = finetune(task_model, tokenizer, data, settings, model_name=model, dataset_name=dataset,
                      on_event=lambda kind, values: _report_event(out, kind, values))

    if result.world_size > 1 and not _is_rank_zero():
        return
    _report(out, result.as_record())


def _check_numbers(validation_split, batch_size, epochs, max_steps, accumulation, max_length) -> None:
    if not 0 <= validation_split < 1:
        raise UsageError(_("--validation-split must be in [0, 1), got {value}").format(value=validation_split))
    for name, value in (("--batch-size", batch_size), ("--gradient-accumulation-steps", accumulation),
                        ("--max-length", max_length)):
        if value < 1:
            raise UsageError(_("{option} must be at least 1, got {value}").format(option=name, value=value))
    if epochs <= 0 and not max_steps:
        raise UsageError(_("--epochs must be above 0, got {value}").format(value=epochs))
    if max_steps is not None and max_steps < 1:
        raise UsageError(_("--max-steps must be at least 1, got {value}").format(value=max_steps))


def _check_average_needed(settings, labels) -> None:
    averaged = {"precision", "recall", "f1"} & set(settings.metrics)
    if averaged and len(labels) > 2 and settings.average is None and settings.task == "text-classification":
        raise UsageError(
            _("{metrics} on {count} classes needs an average").format(metrics=", ".join(sorted(averaged)),
                                                                       count=len(labels)),
            hint=_("pass --average macro, micro or weighted, or --average per-class for one value per class"))


def _split_names(text: str | None) -> tuple[str, ...] | None:
    names = tuple(name.strip() for name in (text or "").split(",") if name.strip())
    return names or None


def _is_rank_zero() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def _report_event(out: Output, kind: str, values: dict) -> None:
    if out.verbosity < 0 or kind == "done":
        return
    if kind == "log" and "loss" in values:
        out.progress(_("step {step}/{total}  epoch {epoch:.2f}  loss {loss:.4f}  lr {lr:.2e}").format(
            step=values["step"], total=values["max_steps"], epoch=values["epoch"], loss=values["loss"],
            lr=values.get("learning_rate", 0.0)))
    elif kind == "evaluate":
        from ptmcli.render.finetune import metrics_table

        shown = {key.removeprefix("eval_"): value for key, value in values.items()
                 if key.startswith("eval_") and not key.endswith(("runtime", "per_second"))}
        title = _("evaluation at step {step} (epoch {epoch:.2f})").format(step=values["step"], epoch=values["epoch"])
        out.stderr_console.print(metrics_table(shown, title=title))


def _report_preview(out: Output, examples, labels) -> None:
    records = [example.as_record() for example in examples]
    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records([{**record, "label_mapping": dict(enumerate(labels))} for record in records])
        return
    from ptmcli.render.finetune import preview_view

    if out.format == OutputFormat.plain:
        for record in records:
            out.line(" ".join(record["tokens"]) + "\t" + str(record["labels"]))
        out.line(" ".join(f"{index}={name}" for index, name in enumerate(labels)))
        return
    out.render(*preview_view(records, list(labels)))


def _report(out: Output, record: dict) -> None:
    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records([record])
        return
    if out.format == OutputFormat.plain:
        out.line(record["output_dir"])
        return
    from ptmcli.render.finetune import metrics_table, run_summary

    out.render(run_summary(record))
    if record["metrics"]:
        out.render(metrics_table(record["metrics"], title=_("final evaluation")))
