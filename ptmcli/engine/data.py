"""Load a dataset for fine-tuning or evaluation: local files, dataset packs or Hub ids, with column checks.

Every failure that a user's data can cause (a missing column, string labels, an empty split, a
ragged CSV) becomes one PtmError line here, before a model is loaded or a folder is written.
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ptmcli.engine import hub
from ptmcli.errors import PtmError, UsageError
from ptmcli.i18n import _
from ptmcli.packs.catalog import PACKS
from ptmcli.packs.store import Progress, ensure_pack

log = logging.getLogger("ptmcli")

TASKS = ("text-classification", "token-classification", "question-answering")
FILE_TYPES = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
SPLIT_NAMES = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "dev", "eval"),
    "test": ("test",),
}
TEXT_COLUMNS = ("text", "sentence", "content", "review", "document", "sentence1", "premise", "question1", "query")
PAIR_COLUMNS = {"sentence1": "sentence2", "premise": "hypothesis", "question1": "question2", "query": "passage"}
LABEL_COLUMNS = ("label", "labels", "class", "target", "sentiment", "ner_tags", "tags")
TOKENS_COLUMNS = ("tokens", "words", "chars")


@dataclass(frozen=True)
class Columns:
    """Where the inputs and labels of each task live in the dataset."""

    text: str | None = None
    text_pair: str | None = None
    label: str | None = None
    tokens: str | None = None
    question: str = "question"
    context: str = "context"
    answers: str = "answers"


@dataclass(frozen=True)
class LoadedData:
    """Dataset splits with the columns to use and the label names in id order."""

    splits: object  # datasets.DatasetDict
    columns: Columns
    labels: tuple[str, ...] = ()
    source: str = ""
    pack_info: dict = field(default_factory=dict)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))


def quiet_datasets(verbose: bool) -> None:
    """Keep datasets' own progress bars and error logs off stderr: ptm reports progress and errors itself."""
    import datasets

    if verbose:
        datasets.utils.logging.set_verbosity_warning()
    else:
        datasets.utils.logging.set_verbosity(logging.CRITICAL)
        datasets.disable_progress_bars()


def load_splits(reference: str, *, config: str | None = None, revision: str | None = None,
                offline: bool = False, progress: Progress = lambda line: None) -> tuple[object, dict, str]:
    """Load every split of a local file or folder, a dataset pack, or a Hub dataset.

    Returns the DatasetDict, the pack's dataset.json (empty for other sources) and a short source name.
    """
    import datasets

    path = Path(reference).expanduser()
    if path.exists():
        if path.is_dir() and (path / "dataset_dict.json").is_file():
            return datasets.load_from_disk(str(path)), {}, "folder"
        info = _read_info(path / "dataset.json") if path.is_dir() else {}
        return _load_files(_data_files(path)), info, "file" if path.is_file() else "folder"
    pack = PACKS.get(reference)
    if pack is not None and pack.kind == "dataset":
        folder = ensure_pack(pack, offline=offline or hub.user_offline(), progress=progress)
        return _load_files(_data_files(folder)), _read_info(folder / "dataset.json"), "pack"
    if reference.startswith((".", "/", "~")) or Path(reference).suffix in FILE_TYPES:
        raise UsageError(_("dataset file '{path}' does not exist").format(path=reference),
                         hint=_("check the path, or pass a dataset pack name or a Hub dataset id"))
    return _load_hub(reference, config, revision), {}, "hub"


def prepare_columns(splits, info: dict, task: str, *, text: str | None = None, text_pair: str | None = None,
                    label: str | None = None, tokens: str | None = None, encode_labels: bool = False,
                    need_labels: bool = True) -> LoadedData:
    """Choose and check the columns of a task, and read the label names from the data."""
    first = next(iter(splits.values()))
    names = list(first.column_names)
    if task == "question-answering":
        columns = Columns()
        for column in (columns.question, columns.context) + ((columns.answers,) if need_labels else ()):
            _require_column(column, names, option=None)
        return LoadedData(splits, columns, source="", pack_info=info)

    label = label or info.get("label_column") or _first_present(LABEL_COLUMNS, names)
    if need_labels:
        if label is None:
            raise UsageError(_("no label column found among the columns {columns}").format(columns=", ".join(names)),
                             hint=_("name it with --label-column"))
        _require_column(label, names, option="--label-column")
    if task == "token-classification":
        tokens = tokens or info.get("tokens_column") or _first_present(TOKENS_COLUMNS, names)
        if tokens is None:
            raise UsageError(_("no column of words found among the columns {columns}").format(
                columns=", ".join(names)), hint=_("name it with --text-column; it must hold lists of words"))
        _require_column(tokens, names, option="--text-column")
        columns = Columns(tokens=tokens, label=label)
    else:
        text = text or info.get("text_column") or _first_present(TEXT_COLUMNS, names)
        if text is None:
            raise UsageError(_("no text column found among the columns {columns}").format(columns=", ".join(names)),
                             hint=_("name it with --text-column"))
        _require_column(text, names, option="--text-column")
        if text_pair is None and text in PAIR_COLUMNS and PAIR_COLUMNS[text] in names:
            text_pair = PAIR_COLUMNS[text]
        if text_pair is not None:
            _require_column(text_pair, names, option="--text-pair-column")
        columns = Columns(text=text, text_pair=text_pair, label=label)

    labels: tuple[str, ...] = ()
    if label is not None and label in names:
        splits, labels = _check_labels(splits, label, task, info, encode_labels)
    return LoadedData(splits, columns, labels=labels, pack_info=info)


def choose_splits(data: LoadedData, *, validation_split: float, seed: int, max_train: int | None,
                  max_eval: int | None) -> tuple[object, object | None]:
    """Return (train, validation), carving validation out of train when the data has none."""
    splits = data.splits
    train_name = _find_split(splits, "train") or next(iter(splits))
    train = splits[train_name]
    _require_rows(train, train_name)
    validation_name = _find_split(splits, "validation")
    if validation_name is not None:
        validation = splits[validation_name]
    elif validation_split > 0:
        if len(train) < 2:
            raise UsageError(_("the train split has {rows} row, too few to carve a validation split from").format(
                rows=len(train)), hint=_("add rows, or pass --validation-split 0"))
        parts = train.train_test_split(test_size=validation_split, seed=seed)
        train, validation = parts["train"], parts["test"]
        log.info(_("no validation split, so {rows} rows of train are held out").format(rows=len(validation)))
    else:
        validation = None
    if max_train is not None:
        train = train.shuffle(seed=seed).select(range(min(max_train, len(train))))
    if validation is not None and max_eval is not None:
        validation = validation.select(range(min(max_eval, len(validation))))
    return train, validation


def pick_split(data: LoadedData, split: str | None, max_samples: int | None):
    """Return one named split for evaluation (default: test, then validation)."""
    splits = data.splits
    if split is None:
        split = _find_split(splits, "test") or _find_split(splits, "validation") or next(iter(splits))
    elif split not in splits:
        found = _find_split(splits, split)
        if found is None:
            raise UsageError(_("the dataset has no split '{split}'").format(split=split),
                             hint=_("splits: {names}").format(names=", ".join(splits)))
        split = found
    rows = splits[split]
    _require_rows(rows, split)
    if max_samples is not None:
        rows = rows.select(range(min(max_samples, len(rows))))
    return split, rows


def run_map(dataset, function, *, num_proc: int | None, remove_columns=None, description: str = ""):
    """Run a batched map in parallel, reporting a function that breaks the batch contract as one line.

    num_proc 0 or 1 runs in this process, and a count above the number of rows is lowered to it,
    so the result is always the same as num_proc=None.
    """
    if num_proc is not None and num_proc < 0:
        raise UsageError(_("--num-proc must be 0 or more, got {value}").format(value=num_proc))
    processes = None if not num_proc or num_proc == 1 else min(num_proc, max(len(dataset), 1))
    if processes == 1:
        processes = None
    try:
        # datasets fingerprints a function by its own code and pickles the module-level helpers it
        # calls by name, so a cached result would outlive a change to those helpers (a ptm upgrade).
        return dataset.map(function, batched=True, num_proc=processes, remove_columns=remove_columns,
                           desc=description or None, load_from_cache_file=False)
    except Exception as error:
        root = _root_cause(error)
        if type(root).__name__ in ("ArrowInvalid", "ArrowTypeError", "TypeError", "ValueError", "KeyError"):
            name = getattr(function, "__name__", "function")
            raise PtmError(
                _("the preprocessing function {name} failed on a batch: {reason}").format(
                    name=name, reason=_first_line(root)),
                hint=_("a batched map function must return lists as long as its input batch"),
            ) from error
        raise


def _check_labels(splits, label: str, task: str, info: dict, encode_labels: bool):
    import datasets

    feature = next(iter(splits.values())).features[label]
    inner = feature.feature if isinstance(feature, (datasets.Sequence, datasets.List)) else feature
    if task == "token-classification" and inner is feature:
        raise UsageError(_("label column '{column}' holds single values, but token classification needs one tag "
                           "per word").format(column=label), hint=_("use a column of tag lists, such as ner_tags"))
    if isinstance(inner, datasets.ClassLabel):
        return splits, tuple(inner.names)
    dtype = getattr(inner, "dtype", "")
    if dtype in ("string", "large_string"):
        if not encode_labels:
            raise UsageError(
                _("label column '{column}' holds strings; the model needs integer class ids").format(column=label),
                hint=_("pass --encode-labels to number the distinct labels in sorted order"))
        return _encode_string_labels(splits, label, task)
    if not dtype.startswith(("int", "uint")):
        raise UsageError(_("label column '{column}' has type {dtype}; expected integer class ids").format(
            column=label, dtype=dtype or type(inner).__name__),
            hint=_("regression is not supported; map the values to classes first"))
    values = set()
    for split in splits.values():
        column = split[label]
        for value in column:
            if task == "token-classification":
                values.update(value)
            else:
                values.add(value)
    values.discard(-100)
    if not values:
        return splits, tuple(info.get("labels", ()))
    if None in values or min(values) < 0:
        raise UsageError(_("label column '{column}' has missing or negative values").format(column=label),
                         hint=_("labels must be class ids 0, 1, 2, ..."))
    names = list(info.get("labels", ()))
    count = max(max(values) + 1, len(names))
    names += [f"LABEL_{index}" for index in range(len(names), count)]
    return splits, tuple(names)


def _encode_string_labels(splits, label: str, task: str):
    values = set()
    for split in splits.values():
        for value in split[label]:
            values.update(value) if task == "token-classification" else values.add(value)
    names = sorted(value for value in values if value is not None)
    if None in values:
        raise UsageError(_("label column '{column}' has missing values").format(column=label))
    ids = {name: index for index, name in enumerate(names)}

    def encode(batch):
        if task == "token-classification":
            return {label: [[ids[tag] for tag in tags] for tags in batch[label]]}
        return {label: [ids[value] for value in batch[label]]}

    encoded = splits.map(encode, batched=True)
    log.info(_("labels numbered in sorted order: {mapping}").format(mapping=ids))
    return encoded, tuple(names)


def _data_files(path: Path) -> dict[str, list[str]]:
    if path.is_file():
        _file_type(path)
        return {"train": [str(path)]}
    files: dict[str, list[str]] = {}
    for entry in sorted(path.iterdir()):
        if not entry.is_file() or entry.suffix not in FILE_TYPES:
            continue
        stem = entry.stem.lower()
        split = next((name for name, aliases in SPLIT_NAMES.items()
                      if any(stem == alias or stem.startswith(alias + "-") or stem.startswith(alias + "_")
                             for alias in aliases)), None)
        if split is not None:
            files.setdefault(split, []).append(str(entry))
    if not files:
        raise UsageError(_("folder '{path}' has no train/validation/test data files").format(path=path),
                         hint=_("name the files train.jsonl, validation.jsonl and test.jsonl (or .csv, .json, "
                                ".parquet)"))
    return files


def _file_type(path: Path) -> str:
    try:
        return FILE_TYPES[path.suffix.lower()]
    except KeyError:
        raise UsageError(_("unsupported dataset file type '{suffix}' for '{path}'").format(
            suffix=path.suffix or "(none)", path=path), hint=_("use CSV, TSV, JSON, JSON Lines or Parquet")) from None


def _load_files(files: dict[str, list[str]]):
    import datasets

    kinds = {_file_type(Path(name)) for names in files.values() for name in names}
    if len(kinds) > 1:
        raise UsageError(_("the dataset mixes file types: {kinds}").format(kinds=", ".join(sorted(kinds))),
                         hint=_("convert all splits to one format"))
    kind = kinds.pop()
    options = {}
    if all(name.endswith(".tsv") for names in files.values() for name in names):
        options["sep"] = "\t"
    first = next(name for names in files.values() for name in names)
    try:
        return datasets.load_dataset(kind, data_files=files, **options)
    except Exception as error:
        root = _root_cause(error)
        if "corresponds to no data" in str(root) or type(root).__name__ in ("EmptyDatasetError", "EmptyDataError"):
            raise PtmError(_("dataset '{path}' has no rows").format(path=first),
                           hint=_("check that the file is not empty")) from error
        raise PtmError(_("cannot read dataset '{path}': {reason}").format(path=first, reason=_first_line(root)),
                       hint=_("every row of a CSV file needs as many fields as the header")
                       if kind == "csv" else _("check that the file is valid {kind}").format(kind=kind.upper()),
                       ) from error


def _load_hub(reference: str, config: str | None, revision: str | None):
    import datasets

    if not hub.hub_reachable():
        # load_dataset in offline mode still finds datasets cached by an earlier online run.
        log.info(_("the Hub is not reachable; looking for '{name}' in the local datasets cache").format(
            name=reference))
    try:
        return datasets.load_dataset(reference, config, revision=revision)
    except Exception as error:
        root = _root_cause(error)
        if not hub.hub_reachable():
            raise PtmError(
                _("dataset '{name}' is not a local file, a dataset pack, or in the cache, and the Hub at {endpoint} "
                  "cannot be reached").format(name=reference, endpoint=hub.endpoint()),
                hint=_("packs: {names}; or pass a CSV/JSON Lines/Parquet file").format(
                    names=", ".join(name for name, pack in PACKS.items() if pack.kind == "dataset")),
            ) from error
        raise PtmError(_("cannot load dataset '{name}': {reason}").format(name=reference, reason=_first_line(root)),
                       hint=_("check the id, and pass --dataset-config for datasets with several configurations"),
                       ) from error


def _read_info(path: Path) -> dict:
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _find_split(splits, kind: str) -> str | None:
    for alias in SPLIT_NAMES.get(kind, (kind,)):
        if alias in splits:
            return alias
    return None


def _require_rows(dataset, split: str) -> None:
    if len(dataset) == 0:
        raise PtmError(_("the {split} split has no rows").format(split=split),
                       hint=_("check the dataset file; an empty file or a header alone gives no rows"))


def _require_column(column: str, names: list[str], option: str | None) -> None:
    if column not in names:
        hint = _("columns: {columns}").format(columns=", ".join(names))
        if option:
            hint = _("choose one of the columns with {option}: {columns}").format(option=option,
                                                                                  columns=", ".join(names))
        raise UsageError(_("column '{column}' does not exist in the dataset").format(column=column), hint=hint)


def _first_present(candidates, names: list[str]) -> str | None:
    return next((name for name in candidates if name in names), None)


def _root_cause(error: BaseException) -> BaseException:
    seen = set()
    while (error.__cause__ or error.__context__) is not None and id(error) not in seen:
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return error


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
