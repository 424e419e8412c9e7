"""`ptm finetune` on tiny random BERT models with the real bert-base-chinese tokenizer."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ptmcli.engine import finetune as engine
from ptmcli.engine.data import run_map
from ptmcli.engine.preprocess import IGNORE_INDEX, align_labels
from ptmcli.errors import PtmError

POSITIVE = ["这本书很好看", "服务很好", "非常满意", "质量不错", "房间干净", "值得推荐", "很喜欢", "物超所值"]
NEGATIVE = ["太差了", "非常失望", "质量很差", "房间很脏", "不推荐", "服务太慢", "很糟糕", "浪费钱"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def tiny_bert_folder(folder: Path, tokenizer, **overrides) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, **overrides)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, bbc_tokenizer):
    """A random-weight 2-layer BERT without a head, saved with the bert-base-chinese tokenizer."""
    return tiny_bert_folder(tmp_path_factory.mktemp("tiny-bert"), bbc_tokenizer)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def senti_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("senti")
    rows = [{"text": text, "label": 1} for text in POSITIVE] + [{"text": text, "label": 0} for text in NEGATIVE]
    write_jsonl(folder / "train.jsonl", rows * 2)
    write_jsonl(folder / "validation.jsonl", rows[::2])
    write_jsonl(folder / "test.jsonl", rows[1::2])
    (folder / "dataset.json").write_text(json.dumps({"labels": ["negative", "positive"]}))
    return folder


@pytest.fixture(scope="session")
def ner_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ner")
    rows = [
        {"tokens": list("江泽民在北京"), "ner_tags": [1, 2, 2, 0, 3, 4]},
        {"tokens": list("新华社记者"), "ner_tags": [5, 6, 6, 0, 0]},
        {"tokens": list("李鹏访问上海"), "ner_tags": [1, 2, 0, 0, 3, 4]},
        {"tokens": list("国务院在北京"), "ner_tags": [5, 6, 6, 0, 3, 4]},
    ]
    write_jsonl(folder / "train.jsonl", rows * 3)
    write_jsonl(folder / "validation.jsonl", rows)
    write_jsonl(folder / "test.jsonl", rows)
    (folder / "dataset.json").write_text(json.dumps({"labels": NER_LABELS, "tokens_column": "tokens",
                                                     "label_column": "ner_tags"}))
    return folder


@pytest.fixture(scope="session")
def senti_run(tiny_bert, senti_folder, tmp_path_factory):
    """One finished text-classification run, shared by the tests that only read it."""
    from ptmcli.cli.app import main

    output = tmp_path_factory.mktemp("runs") / "senti"
    try:
        main(["-q", "finetune", "-m", str(tiny_bert), "-d", str(senti_folder), "-o", str(output), "--epochs", "2",
              "--batch-size", "8", "--learning-rate", "1e-3", "--logging-steps", "1", "-F", "json"])
    except SystemExit as exit_:
        assert exit_.code in (0, None)
    return output


def finetune_args(model, dataset, output, *extra):
    return ("finetune", "-m", str(model), "-d", str(dataset), "-o", str(output), "--max-steps", "2",
            "--batch-size", "4", "-F", "json", *extra)


def test_text_classification_run_is_complete(senti_run):
    record = json.loads((senti_run / engine.RUN_MARKER).read_text())
    assert record["task"] == "text-classification"
    assert record["labels"] == ["negative", "positive"]
    assert record["train_rows"] == 32
    assert record["eval_rows"] == 8
    assert record["steps"] == 8  # 2 epochs of 32 rows in batches of 8
    assert set(record["metrics"]) >= {"loss", "accuracy", "f1"}
    config = json.loads((senti_run / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert (senti_run / engine.CURVE_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(senti_run.glob("checkpoint-*"))


def test_saved_run_works_in_pipeline(senti_run):
    from transformers import pipeline

    classifier = pipeline("text-classification", model=str(senti_run), device="cpu")
    predictions = classifier(["服务很好", "太差了"])
    assert {prediction["label"] for prediction in predictions} <= {"negative", "positive"}


def test_evaluate_matches_direct_forward(ptm, senti_run, senti_folder):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    result = ptm("evaluate", "-m", str(senti_run), "-d", str(senti_folder), "--split", "test",
                 "--metric", "accuracy,f1", "-F", "json")
    assert result.exit_code == 0, result.stderr
    record = result.json()
    rows = [json.loads(line) for line in (senti_folder / "test.jsonl").read_text().splitlines()]
    tokenizer = AutoTokenizer.from_pretrained(senti_run)
    model = AutoModelForSequenceClassification.from_pretrained(senti_run).eval()
    with torch.no_grad():
        logits = model(**tokenizer([row["text"] for row in rows], padding=True, return_tensors="pt")).logits
    predictions = logits.argmax(-1).tolist()
    expected = sum(p == row["label"] for p, row in zip(predictions, rows, strict=True)) / len(rows)
    assert record["rows"] == 8
    assert record["split"] == "test"
    assert record["metrics"]["accuracy"] == pytest.approx(expected)


def test_finished_run_needs_overwrite(ptm, tiny_bert, senti_folder, tmp_path):
    output = tmp_path / "run"
    first = ptm(*finetune_args(tiny_bert, senti_folder, output))
    assert first.exit_code == 0, first.stderr
    again = ptm(*finetune_args(tiny_bert, senti_folder, output))
    assert again.exit_code == 2
    assert "holds a finished run" in again.stderr and "--overwrite" in again.stderr
    replaced = ptm(*finetune_args(tiny_bert, senti_folder, output, "--overwrite"))
    assert replaced.exit_code == 0, replaced.stderr
    assert (output / engine.RUN_MARKER).is_file()


def test_foreign_folder_is_never_deleted(ptm, tiny_bert, senti_folder, tmp_path):
    output = tmp_path / "mine"
    output.mkdir()
    (output / "notes.txt").write_text("keep me")
    result = ptm(*finetune_args(tiny_bert, senti_folder, output, "--overwrite"))
    assert result.exit_code == 2
    assert "not a ptm run folder" in result.stderr
    assert (output / "notes.txt").read_text() == "keep me"


def test_signal_saves_checkpoint_then_resume(ptm, tiny_bert, senti_folder, tmp_path, monkeypatch):
    from ptmcli.cli import finetune as cli

    output = tmp_path / "run"
    original = cli._report_event
    sent = []

    def stop_after_first_step(out, kind, values):
        if kind == "log" and not sent:
            sent.append(values["step"])
            os.kill(os.getpid(), signal.SIGTERM)
        original(out, kind, values)

    monkeypatch.setattr(cli, "_report_event", stop_after_first_step)
    args = finetune_args(tiny_bert, senti_folder, output, "--logging-steps", "1")
    args = tuple(arg if arg != "2" else "6" for arg in args)  # --max-steps 6
    stopped = ptm(*args)
    assert stopped.exit_code == 130
    assert "SIGTERM" in stopped.stderr and "--resume" in stopped.stderr
    # The signal arrives while step 1 is logged, so the checkpoint is written at the end of step 2.
    checkpoints = [path.name for path in output.glob("checkpoint-*")]
    assert checkpoints == ["checkpoint-2"]
    assert "checkpoint saved in " + str(output / "checkpoint-2") in stopped.stderr
    assert not (output / engine.RUN_MARKER).exists()
    refused = ptm("evaluate", "-m", str(output), "-d", str(senti_folder), "-F", "json")
    assert refused.exit_code == 2 and "unfinished run" in refused.stderr

    monkeypatch.setattr(cli, "_report_event", original)
    blocked = ptm(*args)
    assert blocked.exit_code == 2 and "unfinished run with checkpoint-2" in blocked.stderr
    resumed = ptm(*args, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    record = resumed.json()
    assert record["resumed"] is True
    assert record["steps"] == 6
    assert (output / engine.RUN_MARKER).is_file()


def test_dry_run_shows_examples_and_mapping(ptm, tiny_bert, senti_folder, tmp_path):
    output = tmp_path / "never"
    result = ptm("finetune", "-m", str(tiny_bert), "-d", str(senti_folder), "-o", str(output), "--dry-run",
                 "-F", "jsonl")
    assert result.exit_code == 0, result.stderr
    records = result.jsonl()
    assert len(records) == 3
    first = records[0]
    assert first["tokens"][0] == "[CLS]" and first["tokens"][-1] == "[SEP]"
    assert first["labels"] in ("negative", "positive")
    assert first["label_mapping"] == {"0": "negative", "1": "positive"}
    assert not output.exists()


def test_align_labels_skips_boundary_pieces():
    # XLM-R style: "▁" is a piece of its own before most Chinese characters.
    word_ids = [None, 0, 0, 1, 1, 2, None]
    tokens = ["<s>", "\u2581", "江", "\u2581", "泽", "\u2581在", "</s>"]
    assert align_labels(word_ids, [1, 2, 0], tokens) == [
        IGNORE_INDEX, IGNORE_INDEX, 1, IGNORE_INDEX, 2, 0, IGNORE_INDEX]


def test_align_labels_lone_boundary_word():
    assert align_labels([None, 0, None], [5], ["<s>", "\u2581", "</s>"]) == [IGNORE_INDEX, 5, IGNORE_INDEX]


def test_align_labels_marks_continuations():
    assert align_labels([None, 0, 0, 1, None], [3, 4]) == [IGNORE_INDEX, 3, IGNORE_INDEX, 4, IGNORE_INDEX]


def test_word_pieces_get_ignore_index(bbc_tokenizer):
    from ptmcli.engine.data import Columns
    from ptmcli.engine.preprocess import _token_function

    function = _token_function(bbc_tokenizer, Columns(tokens="tokens", label="tags"), 32)
    encoded = function({"tokens": [["北", "京", "transformers"]], "tags": [[3, 4, 0]]})
    tokens = bbc_tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    labels = encoded["labels"][0]
    assert tokens[:3] == ["[CLS]", "北", "京"]
    assert tokens[3:8] == ["t", "##ran", "##s", "##form", "##ers"]
    assert labels[0] == IGNORE_INDEX and labels[-1] == IGNORE_INDEX
    assert labels[1:4] == [3, 4, 0]
    assert all(label == IGNORE_INDEX for label in labels[4:])


def test_token_classification_reports_entity_types(ptm, tiny_bert, ner_folder, tmp_path):
    output = tmp_path / "ner"
    trained = ptm("finetune", "-m", str(tiny_bert), "-d", str(ner_folder), "-o", str(output), "--task",
                  "token-classification", "--epochs", "1", "--batch-size", "4", "-F", "json")
    assert trained.exit_code == 0, trained.stderr
    config = json.loads((output / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]
    assert list(config["id2label"].values()) == NER_LABELS
    result = ptm("evaluate", "-m", str(output), "-d", str(ner_folder), "-F", "json")
    assert result.exit_code == 0, result.stderr
    metrics = result.json()["metrics"]
    assert set(metrics) >= {"overall_f1", "overall_precision", "overall_recall", "overall_accuracy"}
    gold = {"PER": 2, "LOC": 3, "ORG": 2}
    for kind, number in gold.items():
        if kind in metrics:
            assert metrics[kind]["number"] == number


def test_lora_saves_adapter_and_merged_model(ptm, tiny_bert, senti_folder, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    output = tmp_path / "lora"
    result = ptm(*finetune_args(tiny_bert, senti_folder, output, "--lora", "--lora-rank", "4",
                                "--lora-target-modules", "query,value", "--learning-rate", "1e-2"))
    assert result.exit_code == 0, result.stderr
    assert result.json()["lora"] is True
    adapter = json.loads((output / engine.ADAPTER_DIR / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and sorted(adapter["target_modules"]) == ["query", "value"]
    tokenizer = AutoTokenizer.from_pretrained(output)
    inputs = tokenizer(["服务很好"], return_tensors="pt")
    merged = AutoModelForSequenceClassification.from_pretrained(output).eval()
    base = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert, num_labels=2, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    with_adapter = PeftModel.from_pretrained(base, output / engine.ADAPTER_DIR).eval()
    with torch.no_grad():
        assert torch.allclose(merged(**inputs).logits, with_adapter(**inputs).logits, atol=1e-5)


def test_question_answering_on_squad_style_rows(ptm, tiny_bert, tmp_path, bbc_tokenizer):
    from ptmcli.engine.data import Columns
    from ptmcli.engine.preprocess import _qa_train_function

    rows = [
        {"id": "1", "question": "谁在北京？", "context": "江泽民在北京发表讲话。", "answers": {"text": ["江泽民"],
                                                                                   "answer_start": [0]}},
        {"id": "2", "question": "讲话在哪里？", "context": "江泽民在北京发表讲话。", "answers": {"text": ["北京"],
                                                                                     "answer_start": [4]}},
    ]
    function = _qa_train_function(bbc_tokenizer, Columns(), 48, 16)
    batch = {key: [row[key] for row in rows] for key in rows[0]}
    encoded = function(batch)
    for index, row in enumerate(rows):
        start, end = encoded["start_positions"][index], encoded["end_positions"][index]
        answer = bbc_tokenizer.decode(encoded["input_ids"][index][start:end + 1]).replace(" ", "")
        assert answer == row["answers"]["text"][0]

    folder = tmp_path / "qa"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", rows * 4)
    write_jsonl(folder / "validation.jsonl", rows)
    output = tmp_path / "qa-run"
    trained = ptm("finetune", "-m", str(tiny_bert), "-d", str(folder), "-o", str(output), "--task",
                  "question-answering", "--max-steps", "2", "--batch-size", "4", "--max-length", "48", "-F", "json")
    assert trained.exit_code == 0, trained.stderr
    result = ptm("evaluate", "-m", str(output), "-d", str(folder), "--split", "validation", "--max-length", "48",
                 "-F", "json")
    assert result.exit_code == 0, result.stderr
    metrics = result.json()["metrics"]
    assert set(metrics) == {"exact_match", "f1"}
    assert 0 <= metrics["exact_match"] <= metrics["f1"] <= 100


# Field case: labels that do not reach the model, or a model without a head.

def test_headless_model_is_rejected_before_training(tiny_bert):
    from transformers import AutoModel, AutoModelForSequenceClassification

    with pytest.raises(PtmError, match="BertModel has no task head") as caught:
        engine.check_trainable(AutoModel.from_pretrained(tiny_bert), "text-classification")
    assert "AutoModelForSequenceClassification" in caught.value.hint
    engine.check_trainable(AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2),
                           "text-classification")


def test_missing_label_column(ptm, tiny_bert, senti_folder, tmp_path):
    output = tmp_path / "run"
    result = ptm(*finetune_args(tiny_bert, senti_folder, output, "--label-column", "stars"))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: column 'stars' does not exist")
    assert "text, label" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not output.exists()


def test_string_labels_rejected_then_encoded(ptm, tiny_bert, tmp_path):
    data = write_jsonl(tmp_path / "reviews.jsonl",
                       [{"text": text, "label": "pos"} for text in POSITIVE] +
                       [{"text": text, "label": "neg"} for text in NEGATIVE])
    output = tmp_path / "run"
    rejected = ptm(*finetune_args(tiny_bert, data, output))
    assert rejected.exit_code == 2
    assert "holds strings" in rejected.stderr and "--encode-labels" in rejected.stderr
    assert not output.exists()
    accepted = ptm(*finetune_args(tiny_bert, data, output, "--encode-labels"))
    assert accepted.exit_code == 0, accepted.stderr
    assert accepted.json()["labels"] == ["neg", "pos"]


@pytest.mark.parametrize("content", ["", "text,label\n"], ids=["empty-file", "header-only"])
def test_empty_dataset(ptm, tiny_bert, tmp_path, content):
    data = tmp_path / "empty.csv"
    data.write_text(content)
    output = tmp_path / "run"
    result = ptm(*finetune_args(tiny_bert, data, output))
    assert result.exit_code in (1, 2)
    assert "no rows" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not output.exists()


def test_ragged_csv(ptm, tiny_bert, tmp_path):
    data = tmp_path / "ragged.csv"
    data.write_text("text,label\n很好,1\n太差,0,extra\n不错,1\n", encoding="utf-8")
    output = tmp_path / "run"
    result = ptm(*finetune_args(tiny_bert, data, output))
    assert result.exit_code == 1
    assert "Expected 2 fields in line 3, saw 3" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not output.exists()


def test_output_dir_is_a_file(ptm, tiny_bert, senti_folder, tmp_path):
    output = tmp_path / "file"
    output.write_text("not a folder")
    result = ptm(*finetune_args(tiny_bert, senti_folder, output))
    assert result.exit_code == 2
    assert "is a file, not a folder" in result.stderr
    assert output.read_text() == "not a folder"


def test_fp16_on_cpu_is_rejected_up_front(ptm, tiny_bert, senti_folder, tmp_path):
    output = tmp_path / "run"
    result = ptm(*finetune_args(tiny_bert, senti_folder, output, "--fp16", "--device", "cpu"))
    assert result.exit_code == 2
    assert "--fp16 mixed precision needs a CUDA GPU" in result.stderr
    assert "--bf16" in result.stderr and "float32" in result.stderr
    assert not output.exists()


# Field case: datasets.map with more processes than rows, num_proc=0, and a map function of the wrong length.

def test_num_proc_above_rows_and_zero_match_serial():
    import datasets

    rows = datasets.Dataset.from_dict({"value": [1, 2]})

    def double(batch):
        return {"doubled": [value * 2 for value in batch["value"]]}

    serial = run_map(rows, double, num_proc=None)["doubled"]
    assert list(serial) == [2, 4]
    assert list(run_map(rows, double, num_proc=4)["doubled"]) == list(serial)
    assert list(run_map(rows, double, num_proc=0)["doubled"]) == list(serial)


def test_wrong_length_map_is_a_user_function_error():
    import datasets

    rows = datasets.Dataset.from_dict({"value": [1, 2]})

    def one_value(batch):
        return {"doubled": [1]}

    with pytest.raises(PtmError, match="one_value failed on a batch: .*expected length 2 but got length 1"):
        run_map(rows, one_value, num_proc=None)


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tiny_bert, senti_folder, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    output = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PTM_LANG": "en"}
    completed = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--master_port", "29531", "-m", "ptmcli", "-v", "finetune",
         "-m", str(tiny_bert), "-d", str(senti_folder), "-o", str(output), "--max-steps", "3", "--batch-size", "4",
         "--device", "cpu", "-F", "jsonl"],
        capture_output=True, text=True, env=env, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "rank 0 of 2 finished 3 steps" in completed.stderr
    assert "rank 1 of 2 finished 3 steps" in completed.stderr
    records = [json.loads(line) for line in completed.stdout.splitlines()]
    assert len(records) == 1
    assert records[0]["world_size"] == 2
    assert json.loads((output / engine.RUN_MARKER).read_text())["world_size"] == 2
    assert (output / "model.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["sigterm-to-launcher", "ctrl-c-to-group", "sigterm-to-rank-1"])
def test_torchrun_stop_then_resume(tiny_bert, senti_folder, tmp_path, stop):
    """SIGTERM to torchrun, Ctrl-C to the terminal's process group, or SIGTERM to one worker alone.

    Every case must stop both ranks after the same step, with one checkpoint and no finished
    marker, and --resume then finishes the run. A rank that ran on alone would hang in the next
    all-reduce.
    """
    import re
    import time

    torchrun = Path(sys.executable).with_name("torchrun")
    output = tmp_path / "ddp-stop"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PTM_LANG": "en"}
    command = [str(torchrun), "--nproc_per_node", "2", "--master_port", "29533", "-m", "ptmcli", "-v", "finetune",
               "-m", str(tiny_bert), "-d", str(senti_folder), "-o", str(output), "--max-steps", "40",
               "--batch-size", "4", "--logging-steps", "1", "--device", "cpu", "-F", "jsonl"]
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)
    seen = []
    deadline = time.monotonic() + 240
    for line in launcher.stderr:
        seen.append(line)
        if line.startswith("step 2/40") or time.monotonic() > deadline:
            break
    if stop == "sigterm-to-launcher":
        launcher.send_signal(signal.SIGTERM)
    elif stop == "ctrl-c-to-group":
        os.killpg(launcher.pid, signal.SIGINT)
    else:
        os.kill(_worker_pid(launcher.pid, rank=1), signal.SIGTERM)
    _, rest = launcher.communicate(timeout=120)
    stderr = "".join(seen) + rest

    assert launcher.returncode != 0
    finished = re.findall(r"rank (\d) of 2 finished (\d+) steps", stderr)
    assert sorted(rank for rank, _ in finished) == ["0", "1"], stderr[-3000:]
    steps = {int(count) for _, count in finished}
    assert len(steps) == 1  # both ranks stopped after the same step
    stopped_at = steps.pop()
    assert 2 <= stopped_at < 40
    assert [path.name for path in output.glob("checkpoint-*")] == [f"checkpoint-{stopped_at}"]
    assert ("SIGINT received" if stop == "ctrl-c-to-group" else "SIGTERM received") in stderr
    if stop == "sigterm-to-rank-1":
        assert "training stopped by a signal to another rank" in stderr
    assert not (output / engine.RUN_MARKER).exists()

    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "rank 1 of 2 finished 40 steps" in resumed.stderr
    record = json.loads(resumed.stdout.splitlines()[-1])
    assert (record["resumed"], record["steps"], record["world_size"]) == (True, 40, 2)
    assert (output / engine.RUN_MARKER).is_file()


def _worker_pid(launcher_pid: int, rank: int) -> int:
    """Find the torchrun worker of this rank among the launcher's child processes (Linux /proc)."""
    children = Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read_text().split()
    for child in children:
        variables = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in variables:
            return int(child)
    raise AssertionError(f"no worker with RANK={rank} among {children}")


def _scale(value):
    return value * 2


def test_map_recomputes_after_helper_change(tmp_path, monkeypatch):
    import datasets

    path = tmp_path / "rows.jsonl"
    path.write_text('{"x": 1}\n{"x": 2}\n', encoding="utf-8")
    rows = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))

    def scaled(batch):
        return {"y": [_scale(value) for value in batch["x"]]}

    assert run_map(rows, scaled, num_proc=None)["y"] == [2, 4]
    # datasets hashes `scaled` but refers to the module-level `_scale` by name only, as it would after
    # an upgrade that changed a helper in place.
    monkeypatch.setattr(_scale, "__code__", (lambda value: value * 10).__code__)
    assert run_map(rows, scaled, num_proc=None)["y"] == [10, 20]
