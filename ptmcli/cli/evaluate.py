"""`ptm evaluate`: score a model on a dataset split, or prediction files without a model."""

import json
from pathlib import Path
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

HELP = _("Score a fine-tuned model or a predictions file with evaluate metrics (shipped with ptm, no Hub needed).")
EPILOG = _(
    "Examples:\n\n"
    "  ptm evaluate --model runs/senti --dataset chnsenti --split test --metric accuracy,f1\n\n"
    "  ptm evaluate --model runs/ner --dataset peoples-daily-ner --metric seqeval\n\n"
    "  ptm evaluate --predictions preds.txt --references gold.txt --metric f1 --average macro\n\n"
    "  ptm evaluate --model smollm2 --dataset notes.txt --metric perplexity"
)

DATA_PANEL = _("Data")
METRIC_PANEL = _("Metrics")


def _option(*names: str, help: str, panel: str = DATA_PANEL, **extra):
    return typer.Option(*names, help=help, rich_help_panel=panel, show_default=extra.pop("show_default", True),
                        **extra)


def command(
    model: Annotated[str | None, typer.Option(
        "--model", "-m", autocompletion=complete_model, rich_help_panel=MODEL_PANEL, show_default=False,
        help=_("A fine-tuned folder (a ptm finetune run), a pack, or a Hub id."))] = None,
    dataset: Annotated[str | None, _option("--dataset", "-d", show_default=False, help=_(
        "A data file or folder, a dataset pack, or a Hub dataset id; a .txt file is one text per line."))] = None,
    split: Annotated[str | None, _option("--split", show_default=False, help=_(
        "Split to score. \\[default: test, then validation]"))] = None,
    dataset_config: Annotated[str | None, _option("--dataset-config", show_default=False,
                                                  help=_("Configuration name of a Hub dataset."))] = None,
    text_column: Annotated[str | None, _option("--text-column", show_default=False, help=_(
        "Column of texts (lists of words for token classification); detected when omitted."))] = None,
    text_pair_column: Annotated[str | None, _option("--text-pair-column", show_default=False,
                                                    help=_("Second text of a sentence pair."))] = None,
    label_column: Annotated[str | None, _option("--label-column", show_default=False,
                                                help=_("Column of class ids or tag ids; detected when omitted."))]
    = None,
    encode_labels: Annotated[bool, _option("--encode-labels", help=_(
        "Number string labels in sorted order instead of rejecting them."))] = False,
    max_eval_samples: Annotated[int | None, _option("--max-eval-samples", show_default=False,
                                                    help=_("Score only the first N rows."))] = None,
    max_length: Annotated[int, _option("--max-length", help=_("Tokens per example."))] = 128,
    batch_size: Annotated[int, _option("--batch-size", "-b", help=_("Examples per forward pass."))] = 32,
    num_proc: Annotated[int | None, _option("--num-proc", show_default=False,
                                            help=_("Processes for tokenizing the dataset."))] = None,
    predictions: Annotated[Path | None, _option("--predictions", show_default=False, help=_(
        "File of predictions, one JSON value or plain string per line; scored without a model."))] = None,
    references: Annotated[Path | None, _option("--references", show_default=False, help=_(
        "File of references, line by line with --predictions."))] = None,
    metric: Annotated[str | None, _option("--metric", panel=METRIC_PANEL, show_default=False, help=_(
        "Comma-separated metrics: accuracy, precision, recall, f1, seqeval, exact_match, squad, bleu, rouge, "
        "perplexity, a local metric script, or a Hub metric with --trust-remote-code."))] = None,
    average: Annotated[str | None, _option("--average", panel=METRIC_PANEL, show_default=False, help=_(
        "precision/recall/f1 over more than two classes: macro, micro, weighted or per-class."))] = None,
    device: DeviceOpt = "auto",
    output_format: FormatOpt = OutputFormat.auto,
    revision: RevisionOpt = None,
    trust_remote_code: TrustRemoteCodeOpt = False,
    offline: OfflineOpt = False,
) -> None:
    from ptmcli.engine.metrics import check_average, load_metric, parse_metric_names

    out = Output(output_format)
    files_mode = predictions is not None or references is not None
    _check_sources(model, dataset, predictions, references)
    check_average(average)
    if files_mode and not metric:
        raise UsageError(_("scoring files needs --metric"), hint=_("for example --metric accuracy"))

    from ptmcli.engine.evaluation import EvaluationResult, score_files, timed

    if files_mode:
        names = parse_metric_names(metric, "")
        metrics = {name: load_metric(name, trust_remote_code=trust_remote_code) for name in names}
        values, seconds = timed(score_files, predictions, references, metrics, average=average)
        rows = sum(1 for line in references.read_text(encoding="utf-8").splitlines() if line.strip())
        result = EvaluationResult(None, None, None, "files", rows, values, seconds)
    else:
        result = _evaluate_model(out, model, dataset, split=split, dataset_config=dataset_config,
                                 text_column=text_column, text_pair_column=text_pair_column,
                                 label_column=label_column, encode_labels=encode_labels,
                                 max_eval_samples=max_eval_samples, max_length=max_length, batch_size=batch_size,
                                 num_proc=num_proc, metric=metric, average=average, device=device,
                                 revision=revision, trust_remote_code=trust_remote_code, offline=offline)

    _report(out, result.as_record())


def _check_sources(model, dataset, predictions, references) -> None:
    if (predictions is None) != (references is None):
        raise UsageError(_("--predictions and --references go together"), hint=_("pass both files"))
    if predictions is not None and (model or dataset):
        raise UsageError(_("--predictions/--references score files without a model; drop --model and --dataset"))
    if predictions is None and (model is None or dataset is None):
        raise UsageError(_("pass --model and --dataset, or --predictions and --references"))


def _evaluate_model(out: Output, model: str, dataset: str, *, split, dataset_config, text_column, text_pair_column,
                    label_column, encode_labels, max_eval_samples, max_length, batch_size, num_proc, metric,
                    average, device, revision, trust_remote_code, offline):
    import transformers

    from ptmcli.engine.data import load_splits, pick_split, prepare_columns, quiet_datasets
    from ptmcli.engine.device import resolve_device, resolve_dtype
    from ptmcli.engine.evaluation import AUTO_CLASSES, EvaluationResult, evaluate_model, task_of, timed
    from ptmcli.engine.finetune import last_checkpoint
    from ptmcli.engine.loading import load_model
    from ptmcli.engine.metrics import load_metric, parse_metric_names
    from ptmcli.engine.resolve import resolve

    torch_device = resolve_device(device)
    source = resolve(model, offline=offline, revision=revision, progress=out.progress)
    _check_finished(source.location, last_checkpoint)
    config = transformers.AutoConfig.from_pretrained(source.location, trust_remote_code=trust_remote_code,
                                                     **source.load_options())
    task = task_of(config)
    names = parse_metric_names(metric, task or "")
    if task is None or (task != "causal-lm" and "perplexity" in names):
        raise UsageError(_("'{model}' has no task head to evaluate ({architectures})").format(
            model=model, architectures=", ".join(config.architectures or ["?"])),
            hint=_("evaluate a folder made by ptm finetune, or a causal LM with --metric perplexity"))
    if task == "causal-lm" and names != ("perplexity",):
        raise UsageError(_("a causal LM is scored with --metric perplexity"))
    metrics = {name: load_metric(name, trust_remote_code=trust_remote_code) for name in names}

    quiet_datasets(out.verbosity > 0)
    with out.status(_("loading {dataset}").format(dataset=dataset)):
        data_task = "text-classification" if task == "causal-lm" else task
        splits, info, _kind = _load_data(dataset, dataset_config, offline, out, load_splits)
        data = prepare_columns(splits, info, data_task, text=text_column, text_pair=text_pair_column,
                               label=label_column, tokens=text_column, encode_labels=encode_labels,
                               need_labels=task != "causal-lm")
        split_name, rows = pick_split(data, split, max_eval_samples)
    with out.status(_("loading {model}").format(model=model)):
        loaded = load_model(source, AUTO_CLASSES[task], device=torch_device,
                            dtype=resolve_dtype("auto", torch_device),
                            trust_remote_code=trust_remote_code)

    with out.status(_("scoring {rows} rows").format(rows=len(rows))):
        values, seconds = timed(evaluate_model, loaded.model, loaded.tokenizer, data, rows, task, metrics,
                                average=average, batch_size=batch_size, max_length=max_length, num_proc=num_proc)
    return EvaluationResult(model, dataset, split_name, task, len(rows), values, seconds)


def _load_data(dataset, dataset_config, offline, out, load_splits):
    if dataset.endswith(".txt") and Path(dataset).is_file():
        import datasets

        lines = [line for line in Path(dataset).read_text(encoding="utf-8").splitlines() if line.strip()]
        if not lines:
            raise UsageError(_("dataset '{path}' has no lines").format(path=dataset))
        return datasets.DatasetDict({"test": datasets.Dataset.from_dict({"text": lines})}), {}, "file"
    return load_splits(dataset, config=dataset_config, offline=offline, progress=out.progress)


def _check_finished(location: str, last_checkpoint) -> None:
    from ptmcli.engine.finetune import is_finished_run

    folder = Path(location)
    if folder.is_dir() and not (folder / "config.json").exists() and last_checkpoint(folder) is not None:
        raise UsageError(_("'{path}' holds an unfinished run with no final model").format(path=location),
                         hint=_("continue it with ptm finetune --resume, or evaluate a checkpoint-N folder"))
    if folder.is_dir() and last_checkpoint(folder) is not None and not is_finished_run(folder):
        raise UsageError(_("'{path}' holds an unfinished run").format(path=location),
                         hint=_("continue it with ptm finetune --resume, or evaluate a checkpoint-N folder"))


def _report(out: Output, record: dict) -> None:
    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records([record])
        return
    if out.format == OutputFormat.plain:
        for key, value in record["metrics"].items():
            out.line(f"{key}\t{json.dumps(value)}" if isinstance(value, (dict, list)) else f"{key}\t{value}")
        return
    from ptmcli.render.finetune import metrics_table

    title = _("{task} on {rows} rows").format(task=record["task"], rows=record["rows"])
    out.render(metrics_table(record["metrics"], title=title))

