"""Fine-tune a model with Trainer: task heads, guards on the output folder, interruption and the final save.

A run folder counts as finished only when RUN_MARKER exists, and the marker is written after
every other file, so a run that dies at any point never leaves a folder that looks finished.
"""

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ptmcli.engine.curves import plot_curves
from ptmcli.engine.data import LoadedData, choose_splits
from ptmcli.engine.metrics import class_predictions, flatten, load_metric, score
from ptmcli.engine.preprocess import IGNORE_INDEX, tokenize_dataset
from ptmcli.engine.stopping import Interrupted, StopOnSignal
from ptmcli.errors import PtmError, UsageError
from ptmcli.i18n import _

log = logging.getLogger("ptmcli")

RUN_MARKER = "ptm-run.json"
CURVE_FILE = "training_curves.png"
ADAPTER_DIR = "adapter"
AUTO_CLASSES = {
    "text-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
}
PEFT_TASK_TYPES = {"text-classification": "SEQ_CLS", "token-classification": "TOKEN_CLS",
                   "question-answering": "QUESTION_ANS"}
# Receives ("log" | "evaluate" | "done", numbers) from the main process only.
EventHandler = Callable[[str, dict], None]


@dataclass(frozen=True)
class LoraSettings:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: tuple[str, ...] | None = None  # None: peft's default for the architecture


@dataclass(frozen=True)
class TrainSettings:
    """Training options, named as in TrainingArguments where one exists."""

    task: str
    output_dir: str
    epochs: float = 3.0
    max_steps: int = -1
    learning_rate: float = 5e-5
    batch_size: int = 16
    eval_batch_size: int | None = None
    gradient_accumulation_steps: int = 1
    warmup_ratio: float = 0.0
    warmup_steps: int = 0
    weight_decay: float = 0.0
    seed: int = 42
    eval_strategy: str = "epoch"
    save_strategy: str = "epoch"
    eval_steps: int | None = None
    save_steps: int | None = None
    logging_steps: int = 10
    save_total_limit: int | None = 2
    bf16: bool = False
    fp16: bool = False
    early_stopping_patience: int | None = None
    max_length: int = 128
    validation_split: float = 0.1
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    num_proc: int | None = None
    metrics: tuple[str, ...] = ()
    average: str | None = None
    overwrite: bool = False
    resume: bool = False
    keep_checkpoints: bool = False
    lora: LoraSettings | None = None
    device: str = "cpu"
    verbose: bool = False


@dataclass(frozen=True)
class FinetuneResult:
    """What a finished run reports and records in its folder."""

    output_dir: str
    task: str
    model: str
    dataset: str
    labels: tuple[str, ...]
    train_rows: int
    eval_rows: int
    steps: int
    epochs: float
    train_seconds: float
    samples_per_second: float
    train_loss: float | None
    metrics: dict = field(default_factory=dict)
    curve: str | None = None
    lora: bool = False
    world_size: int = 1
    resumed: bool = False

    def as_record(self) -> dict:
        record = asdict(self)
        record["labels"] = list(self.labels)
        return record


def check_precision(settings: TrainSettings) -> None:
    """Reject mixed precision that the device cannot run, before any data or weights are loaded."""
    if settings.fp16 and settings.bf16:
        raise UsageError(_("--fp16 and --bf16 exclude each other"), hint=_("choose one"))
    if settings.fp16 and not settings.device.startswith("cuda"):
        raise UsageError(
            _("--fp16 mixed precision needs a CUDA GPU, and this run is on '{device}'").format(
                device=settings.device),
            hint=_("use --bf16 (supported on recent CPUs) or drop --fp16 to train in float32"))
    if settings.bf16 and settings.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_bf16_supported():
            raise UsageError(_("this GPU does not support bfloat16"), hint=_("use --fp16 or drop --bf16"))


def check_output_dir(settings: TrainSettings) -> None:
    """Reject an output folder that is a file, holds a finished run, or holds files ptm did not write."""
    path = Path(settings.output_dir)
    if path.exists() and not path.is_dir():
        raise UsageError(_("--output-dir '{path}' is a file, not a folder").format(path=path),
                         hint=_("choose another --output-dir"))
    if not path.is_dir() or not any(path.iterdir()):
        if settings.resume:
            raise UsageError(_("--resume found no checkpoint in '{path}'").format(path=path),
                             hint=_("drop --resume to start a new run"))
        return
    finished = (path / RUN_MARKER).is_file()
    checkpoint = last_checkpoint(path)
    if settings.resume:
        if finished:
            raise UsageError(_("the run in '{path}' already finished; there is nothing to resume").format(path=path),
                             hint=_("pass --overwrite to train again from the start"))
        if checkpoint is None:
            raise UsageError(_("--resume found no checkpoint in '{path}'").format(path=path),
                             hint=_("drop --resume to start a new run"))
        return
    if not settings.overwrite:
        if finished:
            raise UsageError(_("'{path}' holds a finished run").format(path=path),
                             hint=_("pass --overwrite to replace it, or choose another --output-dir"))
        if checkpoint is not None:
            raise UsageError(_("'{path}' holds an unfinished run with {checkpoint}").format(
                path=path, checkpoint=checkpoint.name),
                hint=_("pass --resume to continue it or --overwrite to start again"))
        raise UsageError(_("'{path}' is not empty and is not a ptm run folder").format(path=path),
                         hint=_("choose an empty or new --output-dir"))
    if not finished and checkpoint is None and not (path / "trainer_state.json").exists():
        # --overwrite deletes the folder, so it only applies to folders that a ptm run made.
        raise UsageError(_("'{path}' is not a ptm run folder, so --overwrite will not delete it").format(path=path),
                         hint=_("choose an empty or new --output-dir"))


def last_checkpoint(path: Path) -> Path | None:
    steps = [(int(entry.name.split("-")[1]), entry) for entry in path.glob("checkpoint-*")
             if entry.is_dir() and entry.name.split("-")[1].isdigit()]
    return max(steps)[1] if steps else None


def is_finished_run(path: Path) -> bool:
    return (path / RUN_MARKER).is_file()


def load_task_model(location: str, task: str, labels: tuple[str, ...], *, load_options: dict,
                    trust_remote_code: bool = False, reference: str = ""):
    """Load the model with the head of the task; a new head gets the dataset's labels in its config."""
    import transformers

    loader = getattr(transformers, AUTO_CLASSES[task])
    options = dict(load_options)
    if labels:
        options.update(num_labels=len(labels), id2label=dict(enumerate(labels)),
                       label2id={name: index for index, name in enumerate(labels)})
    try:
        # A checkpoint fine-tuned on other labels has a head of another size; it is replaced, with a notice.
        return loader.from_pretrained(location, trust_remote_code=trust_remote_code, dtype="float32",
                                      ignore_mismatched_sizes=bool(labels), **options)
    except (OSError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise PtmError(_("cannot load '{reference}' for {task}: {reason}").format(
            reference=reference or location, task=task, reason=reason),
            hint=_("the model needs config.json and weights of an architecture with a {task} head").format(
                task=task)) from error


def check_trainable(model, task: str) -> None:
    """Fail before training when the model cannot return a loss, instead of Trainer's 'did not return a loss'."""
    import inspect

    needed = "start_positions" if task == "question-answering" else "labels"
    parameters = inspect.signature(model.forward).parameters
    accepts_kwargs = any(parameter.kind == parameter.VAR_KEYWORD for parameter in parameters.values())
    if needed not in parameters and not (accepts_kwargs and hasattr(model, "get_base_model")):
        raise PtmError(
            _("{model_class} has no task head and returns no loss, so it cannot be trained for {task}").format(
                model_class=type(model).__name__, task=task),
            hint=_("load it with {auto_class} (ptm finetune --task {task} does this)").format(
                auto_class=AUTO_CLASSES[task], task=task))


def finetune(model, tokenizer, data: LoadedData, settings: TrainSettings, *, model_name: str, dataset_name: str,
             on_event: EventHandler = lambda kind, values: None) -> FinetuneResult:
    """Train, evaluate and save; the folder gets the model, its tokenizer, a curve PNG and RUN_MARKER last."""
    import transformers

    train_raw, eval_raw = choose_splits(data, validation_split=settings.validation_split, seed=settings.seed,
                                        max_train=settings.max_train_samples, max_eval=settings.max_eval_samples)
    train = tokenize_dataset(train_raw, tokenizer, settings.task, data.columns, max_length=settings.max_length,
                             num_proc=settings.num_proc)
    evaluation = None
    if eval_raw is not None and settings.eval_strategy != "no":
        evaluation = tokenize_dataset(eval_raw, tokenizer, settings.task, data.columns,
                                      max_length=settings.max_length, num_proc=settings.num_proc)
    require_labels(train, settings.task)
    check_trainable(model, settings.task)
    metrics = {name: load_metric(name) for name in settings.metrics} if evaluation is not None else {}

    if settings.lora is not None:
        model = _with_lora(model, settings)
    output = Path(settings.output_dir)
    resume_from = str(last_checkpoint(output)) if settings.resume else None
    if settings.overwrite and not settings.resume and _is_main_process():
        shutil.rmtree(output, ignore_errors=True)
    arguments = _training_arguments(settings, has_eval=evaluation is not None)
    trainer = transformers.Trainer(
        model=model,
        args=arguments,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        data_collator=_collator(settings.task, tokenizer),
        compute_metrics=_metric_function(settings, data.labels, metrics) if metrics else None,
        callbacks=_callbacks(settings, on_event),
    )
    # Both of Trainer's reporters write log dicts to stdout (print, tqdm.write); stdout is for ptm's results only.
    trainer.remove_callback(transformers.PrinterCallback)
    trainer.remove_callback(transformers.ProgressCallback)

    stop = StopOnSignal()
    trainer.add_callback(stop.callback())
    with stop.installed():
        outcome = trainer.train(resume_from_checkpoint=resume_from)
    state = trainer.state
    log.info(_("rank {rank} of {world} finished {steps} steps").format(
        rank=arguments.process_index, world=arguments.world_size, steps=state.global_step))
    if stop.stopped:
        checkpoint = output / f"checkpoint-{state.global_step}"
        raise Interrupted(_("training stopped by {signal} at step {step}; checkpoint saved in {path}").format(
            signal=stop.signal_name or _("a signal to another rank"), step=state.global_step, path=checkpoint),
            hint=_("run the same command with --resume to continue"))

    final_metrics = _final_metrics(trainer, state, evaluation, settings)
    result = FinetuneResult(
        output_dir=str(output), task=settings.task, model=model_name, dataset=dataset_name, labels=data.labels,
        train_rows=len(train_raw), eval_rows=len(eval_raw) if eval_raw is not None else 0,
        steps=state.global_step, epochs=round(state.epoch or 0.0, 4),
        train_seconds=round(outcome.metrics.get("train_runtime", 0.0), 3),
        samples_per_second=round(outcome.metrics.get("train_samples_per_second", 0.0), 3),
        train_loss=outcome.metrics.get("train_loss"), metrics=final_metrics,
        curve=str(output / CURVE_FILE), lora=settings.lora is not None, world_size=arguments.world_size,
        resumed=resume_from is not None,
    )
    if trainer.is_world_process_zero():
        _save_final(trainer, tokenizer, settings, output)
        plot_curves(state.log_history, output / CURVE_FILE)
        if not settings.keep_checkpoints:
            for checkpoint in output.glob("checkpoint-*"):
                shutil.rmtree(checkpoint, ignore_errors=True)
        # Written last: its presence is what makes the folder a finished run.
        (output / RUN_MARKER).write_text(json.dumps(
            {**result.as_record(), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, ensure_ascii=False,
            indent=2), encoding="utf-8")
        on_event("done", result.as_record())
    return result


def _training_arguments(settings: TrainSettings, *, has_eval: bool):
    import torch
    from transformers import TrainingArguments

    eval_strategy = settings.eval_strategy if has_eval else "no"
    best_model = settings.early_stopping_patience is not None
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    options = dict(
        output_dir=settings.output_dir,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.eval_batch_size or settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        warmup_steps=settings.warmup_steps or settings.warmup_ratio,
        weight_decay=settings.weight_decay,
        seed=settings.seed,
        eval_strategy=eval_strategy,
        save_strategy=settings.save_strategy,
        logging_strategy="steps",
        logging_steps=settings.logging_steps,
        save_total_limit=settings.save_total_limit,
        bf16=settings.bf16,
        fp16=settings.fp16,
        use_cpu=settings.device == "cpu",
        report_to="none",
        disable_tqdm=True,
        load_best_model_at_end=best_model,
        metric_for_best_model="eval_loss" if best_model else None,
        greater_is_better=False if best_model else None,
    )
    if settings.eval_steps:
        options["eval_steps"] = settings.eval_steps
    if settings.save_steps:
        options["save_steps"] = settings.save_steps
    if world_size > 1:
        # Every parameter of a task model takes part in the loss, so DDP need not search for unused ones.
        options["ddp_find_unused_parameters"] = False
        if not torch.cuda.is_available():
            options["ddp_backend"] = "gloo"
    return TrainingArguments(**options)


def _callbacks(settings: TrainSettings, on_event: EventHandler) -> list:
    from transformers import EarlyStoppingCallback, TrainerCallback

    class ReportProgress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                kind = "evaluate" if any(key.startswith("eval_") for key in logs) else "log"
                on_event(kind, {"step": state.global_step, "max_steps": state.max_steps,
                                "epoch": round(state.epoch or 0.0, 3), **logs})

    callbacks = [ReportProgress()]
    if settings.early_stopping_patience is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=settings.early_stopping_patience))
    return callbacks


def _with_lora(model, settings: TrainSettings):
    from peft import LoraConfig, get_peft_model

    lora = settings.lora
    head = [name for name in ("classifier", "score", "qa_outputs") if hasattr(model, name)]
    config = LoraConfig(task_type=PEFT_TASK_TYPES[settings.task], r=lora.rank, lora_alpha=lora.alpha,
                        lora_dropout=lora.dropout,
                        target_modules=list(lora.target_modules) if lora.target_modules else None,
                        modules_to_save=head or None)
    try:
        wrapped = get_peft_model(model, config)
    except ValueError as error:
        raise UsageError(_("LoRA cannot wrap this model: {reason}").format(reason=str(error).splitlines()[0]),
                         hint=_("name the layers with --lora-target-modules, for example query,value")) from error
    trainable, total = wrapped.get_nb_trainable_parameters()
    log.info(_("LoRA trains {trainable:,} of {total:,} parameters").format(trainable=trainable, total=total))
    return wrapped


def _save_final(trainer, tokenizer, settings: TrainSettings, output: Path) -> None:
    model = trainer.model
    if settings.lora is not None:
        model.save_pretrained(output / ADAPTER_DIR)
        tokenizer.save_pretrained(output / ADAPTER_DIR)
        # The merged copy lets pipeline(), ptm evaluate and ptm embed load the folder without peft.
        model = model.merge_and_unload()
        model.save_pretrained(output)
    else:
        trainer.save_model(str(output))
    tokenizer.save_pretrained(output)


def _final_metrics(trainer, state, evaluation, settings: TrainSettings) -> dict:
    if evaluation is None:
        return {}
    evaluations = [entry for entry in state.log_history if "eval_loss" in entry]
    if not evaluations or evaluations[-1].get("step") != state.global_step or settings.early_stopping_patience:
        values = trainer.evaluate()
    else:
        values = evaluations[-1]
    return {key.removeprefix("eval_"): value for key, value in values.items()
            if key not in ("epoch", "step") and not key.endswith(("runtime", "per_second"))}


def _metric_function(settings: TrainSettings, labels: tuple[str, ...], metrics: dict):
    import numpy as np

    def compute_metrics(evaluation):
        label_ids = np.asarray(evaluation.label_ids)
        if settings.task == "text-classification":
            predictions = class_predictions(evaluation.predictions)
            results = {}
            for name in metrics:
                results.update(flatten(score(metrics, name, predictions, label_ids, average=settings.average,
                                             num_labels=len(labels))))
            return results
        if settings.task == "token-classification":
            predicted, expected = tag_sequences(class_predictions(evaluation.predictions), label_ids, labels)
            results = {}
            for name in metrics:
                results.update(flatten(metrics[name].compute(predictions=predicted, references=expected)))
            return results
        return {}

    return compute_metrics


def tag_sequences(predictions, label_ids, labels: tuple[str, ...]) -> tuple[list[list[str]], list[list[str]]]:
    """Keep the positions that carry a word's label (not IGNORE_INDEX) and map ids to tag names."""
    predicted, expected = [], []
    for row_predictions, row_labels in zip(predictions, label_ids, strict=True):
        keep = [index for index, label in enumerate(row_labels) if label != IGNORE_INDEX]
        predicted.append([labels[int(row_predictions[index])] for index in keep])
        expected.append([labels[int(row_labels[index])] for index in keep])
    return predicted, expected


def _collator(task: str, tokenizer):
    from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding, default_data_collator

    if task == "token-classification":
        return DataCollatorForTokenClassification(tokenizer)
    if task == "question-answering":
        return default_data_collator
    return DataCollatorWithPadding(tokenizer)


def require_labels(train, task: str) -> None:
    needed = "start_positions" if task == "question-answering" else "labels"
    if needed not in train.column_names:
        raise UsageError(_("the training data has no labels for {task}").format(task=task),
                         hint=_("name the label column with --label-column"))


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0
