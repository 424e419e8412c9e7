"""Score a fine-tuned model on a dataset split, a causal LM by perplexity, or prediction files without a model."""

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ptmcli.engine.data import LoadedData
from ptmcli.engine.finetune import tag_sequences
from ptmcli.engine.metrics import CLASSIFICATION, class_predictions, score
from ptmcli.engine.preprocess import qa_answers, tokenize_dataset
from ptmcli.errors import PtmError, UsageError
from ptmcli.i18n import _

log = logging.getLogger("ptmcli")

HEAD_SUFFIXES = {
    "ForSequenceClassification": "text-classification",
    "ForTokenClassification": "token-classification",
    "ForQuestionAnswering": "question-answering",
    "ForCausalLM": "causal-lm",
    "LMHeadModel": "causal-lm",
}
AUTO_CLASSES = {
    "text-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "causal-lm": "AutoModelForCausalLM",
}


@dataclass(frozen=True)
class EvaluationResult:
    """Scores of one model (or prediction file) on one split."""

    model: str | None
    dataset: str | None
    split: str | None
    task: str
    rows: int
    metrics: dict = field(default_factory=dict)
    seconds: float = 0.0

    def as_record(self) -> dict:
        return asdict(self)


def task_of(config) -> str | None:
    """Return the task of a checkpoint from the head class named in its config, or None for a bare encoder."""
    for architecture in getattr(config, "architectures", None) or []:
        for suffix, task in HEAD_SUFFIXES.items():
            if architecture.endswith(suffix):
                return task
    return None


def evaluate_model(model, tokenizer, data: LoadedData, rows, task: str, metrics: dict, *, average: str | None,
                   batch_size: int, max_length: int, num_proc: int | None) -> dict:
    """Run the model over one split and compute each loaded metric."""
    if task == "causal-lm":
        texts = rows[data.columns.text]
        nll, counts = sequence_nll(model, tokenizer, texts, batch_size=batch_size, max_length=max_length)
        results: dict = {}
        for metric in metrics.values():
            results.update(metric.compute(predictions=nll, references=counts))
        return results
    labels = _model_labels(model, data)
    encoded = tokenize_dataset(rows, tokenizer, task, data.columns, max_length=max_length, num_proc=num_proc,
                               for_training=False)
    outputs = _forward(model, tokenizer, encoded, task, batch_size)
    results: dict = {}
    if task == "text-classification":
        predictions = class_predictions(outputs["logits"])
        references = encoded["labels"]
        for name in metrics:
            results.update(score(metrics, name, predictions, references, average=average, num_labels=len(labels)))
    elif task == "token-classification":
        predicted, expected = tag_sequences(outputs["predictions"], outputs["labels"], labels)
        for metric in metrics.values():
            results.update(metric.compute(predictions=predicted, references=expected))
    else:
        answers = qa_answers(rows, encoded, outputs["start_logits"], outputs["end_logits"])
        ids = rows["id"] if "id" in rows.column_names else [str(index) for index in range(len(rows))]
        predictions = [{"id": str(key), "prediction_text": answers[str(key)]} for key in ids]
        references = [{"id": str(key), "answers": answer} for key, answer in zip(ids, rows["answers"], strict=True)]
        for name, metric in metrics.items():
            if name == "exact_match":
                results.update(metric.compute(predictions=[p["prediction_text"] for p in predictions],
                                              references=[(r["answers"]["text"] or [""])[0] for r in references]))
            else:
                results.update(metric.compute(predictions=predictions, references=references))
    return results


def sequence_nll(model, tokenizer, texts: list[str], *, batch_size: int, max_length: int):
    """Return each text's summed negative log-likelihood (nats) and the number of tokens it predicts."""
    import torch

    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    nll, counts = [], []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[start:start + batch_size]), return_tensors="pt", padding=True, truncation=True,
                          max_length=max_length).to(model.device)
        with torch.no_grad():
            # Only ids and mask: GPT-2 would embed a BERT tokenizer's token_type_ids as extra tokens.
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        targets = batch["input_ids"][:, 1:]
        mask = batch["attention_mask"][:, 1:].bool() & batch["attention_mask"][:, :-1].bool()
        losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), targets, reduction="none")
        nll.extend((losses * mask).sum(dim=1).tolist())
        counts.extend(mask.sum(dim=1).tolist())
    return nll, counts


def score_files(predictions_path: Path, references_path: Path, metrics: dict, *, average: str | None) -> dict:
    """Score a file of predictions against a file of references, one JSON value or plain string per line."""
    predictions = read_values(predictions_path)
    references = read_values(references_path)
    if len(predictions) != len(references):
        raise UsageError(_("{predictions} has {count} lines but {references} has {expected}").format(
            predictions=predictions_path, count=len(predictions), references=references_path,
            expected=len(references)), hint=_("write one prediction per reference, in the same order"))
    if not references:
        raise UsageError(_("{path} has no values").format(path=references_path))
    results: dict = {}
    for name in metrics:
        values, expected = predictions, references
        if name in CLASSIFICATION and any(isinstance(value, str) for value in predictions + references):
            # Class names: number them together so that both files share one mapping.
            names = sorted({str(value) for value in predictions + references})
            index = {label: number for number, label in enumerate(names)}
            values = [index[str(value)] for value in predictions]
            expected = [index[str(value)] for value in references]
        results.update(score(metrics, name, values, expected, average=average))
    return results


def read_values(path: Path) -> list:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UsageError(_("file '{path}' does not exist").format(path=path)) from None
    except UnicodeDecodeError as error:
        raise UsageError(_("file '{path}' is not UTF-8 (byte {offset})").format(path=path, offset=error.start)) \
            from None
    values = []
    for line in lines:
        if not line.strip():
            continue
        try:
            values.append(json.loads(line))
        except json.JSONDecodeError:
            values.append(line.strip())
    return values


def _model_labels(model, data: LoadedData) -> tuple[str, ...]:
    config_labels = tuple(model.config.id2label[index] for index in sorted(model.config.id2label))
    if data.labels and config_labels != data.labels and not all(name.startswith("LABEL_") for name in config_labels):
        if set(config_labels) != set(data.labels):
            raise PtmError(_("the model's labels {model_labels} differ from the dataset's {data_labels}").format(
                model_labels=", ".join(config_labels), data_labels=", ".join(data.labels)),
                hint=_("evaluate on the dataset the model was trained on"))
        log.warning(_("the model numbers the labels differently from the dataset; scores use the model's order"))
    return data.labels or config_labels


def _forward(model, tokenizer, encoded, task: str, batch_size: int) -> dict:
    import numpy as np
    import torch
    from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding

    keep = [name for name in ("input_ids", "attention_mask", "token_type_ids", "labels") if name in encoded.features]
    features = encoded.select_columns(keep)
    collator = (DataCollatorForTokenClassification(tokenizer) if task == "token-classification"
                else DataCollatorWithPadding(tokenizer))
    outputs: dict[str, list] = {"logits": [], "predictions": [], "labels": [], "start_logits": [], "end_logits": []}
    model.eval()
    for start in range(0, len(features), batch_size):
        rows = [features[index] for index in range(start, min(start + batch_size, len(features)))]
        batch = collator(rows)
        labels = batch.pop("labels", None)
        batch = {key: value.to(model.device) for key, value in batch.items()}
        with torch.no_grad():
            result = model(**batch)
        if task == "text-classification":
            outputs["logits"].append(result.logits.float().cpu().numpy())
        elif task == "token-classification":
            predicted = result.logits.argmax(-1).cpu().numpy()
            for row, row_labels in zip(predicted, labels.numpy(), strict=True):
                outputs["predictions"].append(row)
                outputs["labels"].append(row_labels)
        else:
            outputs["start_logits"].extend(result.start_logits.float().cpu().tolist())
            outputs["end_logits"].extend(result.end_logits.float().cpu().tolist())
    if task == "text-classification":
        outputs["logits"] = np.concatenate(outputs["logits"]) if outputs["logits"] else np.zeros((0, 1))
    return outputs


def timed(function, *args, **kwargs) -> tuple[object, float]:
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return value, round(time.perf_counter() - started, 3)
