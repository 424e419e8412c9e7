"""--dry-run of ptm finetune: the first training examples tokenized exactly as training will see them."""

from dataclasses import dataclass

from ptmcli.engine.data import LoadedData, choose_splits
from ptmcli.engine.finetune import TrainSettings, require_labels
from ptmcli.engine.preprocess import IGNORE_INDEX, tokenize_dataset


@dataclass(frozen=True)
class PreviewExample:
    """One tokenized training example as the model will see it."""

    index: int
    tokens: tuple[str, ...]
    input_ids: tuple[int, ...]
    labels: tuple  # one label name per token (None where ignored), or the example's label name

    def as_record(self) -> dict:
        return {"index": self.index, "tokens": list(self.tokens), "input_ids": list(self.input_ids),
                "labels": list(self.labels) if isinstance(self.labels, tuple) else self.labels}


def preview(tokenizer, data: LoadedData, settings: TrainSettings, count: int = 3) -> list[PreviewExample]:
    """Tokenize the first training examples exactly as finetune would, for --dry-run."""
    train_raw, _validation = choose_splits(data, validation_split=settings.validation_split, seed=settings.seed,
                                           max_train=settings.max_train_samples, max_eval=0)
    sample = train_raw.select(range(min(count, len(train_raw))))
    encoded = tokenize_dataset(sample, tokenizer, settings.task, data.columns, max_length=settings.max_length,
                               num_proc=None)
    require_labels(encoded, settings.task)
    examples = []
    for index, row in enumerate(encoded):
        ids = row["input_ids"]
        tokens = tuple(tokenizer.convert_ids_to_tokens(ids))
        if settings.task == "text-classification":
            labels = _label_name(data.labels, row["labels"])
        elif settings.task == "token-classification":
            labels = tuple(None if label == IGNORE_INDEX else _label_name(data.labels, label)
                           for label in row["labels"])
        else:
            start, end = row["start_positions"], row["end_positions"]
            labels = tuple("ANSWER" if start <= position <= end and (start, end) != (0, 0) else None
                           for position in range(len(ids)))
        examples.append(PreviewExample(index, tokens, tuple(ids), labels))
    return examples


def _label_name(labels: tuple[str, ...], label_id: int) -> str:
    return labels[label_id] if 0 <= label_id < len(labels) else str(label_id)
