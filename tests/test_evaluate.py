"""`ptm evaluate` and the metric modules that ptm ships for use without the Hub."""

import math

import numpy as np
import pytest

from ptmcli.engine.metrics import class_predictions, load_metric, score
from ptmcli.errors import UsageError
from ptmcli.metrics import SHIPPED, _scores

LOGITS = [[2.0, 1.0, 0.1], [0.1, 0.2, 3.0], [0.3, 2.2, 0.1]]


@pytest.fixture(scope="module")
def metrics():
    return {name: load_metric(name) for name in SHIPPED}


@pytest.fixture(scope="session")
def tiny_causal_lm(tmp_path_factory, bbc_tokenizer):
    """A random 2-layer GPT-2 over the bert-base-chinese vocabulary, so no pack download is needed."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(bbc_tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=2)
    folder = tmp_path_factory.mktemp("tiny-causal")
    GPT2LMHeadModel(config).save_pretrained(folder)
    bbc_tokenizer.save_pretrained(folder)
    return folder


# Field case: Trainer hands compute_metrics a tuple of arrays for some models.

def test_tuple_predictions_take_first_array():
    extra = np.zeros((3, 5, 2))
    assert class_predictions((np.array(LOGITS), extra)).tolist() == [0, 2, 1]
    assert class_predictions(np.array(LOGITS)).tolist() == [0, 2, 1]


def test_raw_logits_are_caught(metrics):
    with pytest.raises(UsageError, match=r"shape \(3, 3\): these look like logits") as caught:
        score(metrics, "accuracy", np.array(LOGITS), [0, 2, 1])
    assert "argmax(-1)" in caught.value.hint
    with pytest.raises(_scores.MetricInputError, match="look like scores or logits"):
        _scores.accuracy(LOGITS, [0, 2, 1])


def test_logits_file_is_rejected(ptm, tmp_path):
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("\n".join(str(row) for row in LOGITS) + "\n")
    references = tmp_path / "references.txt"
    references.write_text("0\n2\n1\n")
    result = ptm("evaluate", "--predictions", str(predictions), "--references", str(references),
                 "--metric", "accuracy")
    assert result.exit_code == 2
    assert "look like scores or logits" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_shipped_metrics_load_offline(metrics):
    assert metrics["accuracy"].compute(predictions=[0, 2, 1], references=[0, 2, 2]) == {
        "accuracy": pytest.approx(2 / 3)}
    assert metrics["f1"].compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])["f1"] == pytest.approx(2 / 3)


def test_f1_needs_average_on_three_classes(metrics):
    with pytest.raises(UsageError, match="f1 on 3 classes needs an average") as caught:
        score(metrics, "f1", [0, 1, 2], [0, 1, 1])
    assert "--average macro, micro or weighted" in caught.value.hint
    assert "per-class" in caught.value.hint


def test_f1_averages_match_sklearn(metrics):
    from sklearn.metrics import f1_score

    predictions, references = [0, 1, 2, 2, 1, 0], [0, 1, 1, 2, 2, 0]
    for average in ("macro", "micro", "weighted"):
        ours = score(metrics, "f1", predictions, references, average=average)["f1"]
        assert ours == pytest.approx(f1_score(references, predictions, average=average))
    per_class = score(metrics, "f1", predictions, references, average="per-class")
    assert per_class["labels"] == [0, 1, 2]
    assert per_class["f1"] == pytest.approx(list(f1_score(references, predictions, average=None)))


def test_files_mode_with_average(ptm, tmp_path):
    (tmp_path / "p.txt").write_text("0\n1\n2\n2\n1\n0\n")
    (tmp_path / "r.txt").write_text("0\n1\n1\n2\n2\n0\n")
    needs = ptm("evaluate", "--predictions", str(tmp_path / "p.txt"), "--references", str(tmp_path / "r.txt"),
                "--metric", "f1")
    assert needs.exit_code == 2 and "--average" in needs.stderr
    result = ptm("evaluate", "--predictions", str(tmp_path / "p.txt"), "--references", str(tmp_path / "r.txt"),
                 "--metric", "accuracy,f1", "--average", "macro", "-F", "json")
    assert result.exit_code == 0, result.stderr
    record = result.json()
    assert record["rows"] == 6
    assert record["metrics"]["accuracy"] == pytest.approx(4 / 6)
    assert record["metrics"]["f1"] == pytest.approx(2 / 3)


def test_files_mode_string_labels(ptm, tmp_path):
    (tmp_path / "p.txt").write_text("pos\nneg\npos\n")
    (tmp_path / "r.txt").write_text("pos\npos\npos\n")
    result = ptm("evaluate", "--predictions", str(tmp_path / "p.txt"), "--references", str(tmp_path / "r.txt"),
                 "--metric", "accuracy", "-F", "json")
    assert result.json()["metrics"] == {"accuracy": pytest.approx(2 / 3)}


def test_bio_spans_follow_conlleval():
    assert _scores.bio_spans(["B-PER", "I-PER", "O", "B-LOC"]) == {("PER", 0, 2), ("LOC", 3, 4)}
    # An I- tag after O or another type opens a new entity.
    assert _scores.bio_spans(["O", "I-ORG", "I-ORG", "I-LOC"]) == {("ORG", 1, 3), ("LOC", 3, 4)}
    assert _scores.bio_spans(["B-PER", "B-PER"]) == {("PER", 0, 1), ("PER", 1, 2)}


def test_entity_scores_per_type(metrics):
    predicted = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC"], ["B-ORG", "O", "B-PER"]]
    expected = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-ORG", "O", "O"]]
    result = metrics["seqeval"].compute(predictions=predicted, references=expected)
    assert result["PER"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "number": 1}
    assert result["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "number": 1}
    assert result["ORG"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "number": 1}
    assert result["overall_precision"] == pytest.approx(2 / 4)
    assert result["overall_recall"] == pytest.approx(2 / 3)
    assert result["overall_accuracy"] == pytest.approx(6 / 8)


def test_squad_counts_chinese_characters(metrics):
    result = metrics["squad"].compute(
        predictions=[{"id": "1", "prediction_text": "北京大学"}, {"id": "2", "prediction_text": "the Eiffel Tower"}],
        references=[{"id": "1", "answers": {"text": ["北京"], "answer_start": [0]}},
                    {"id": "2", "answers": {"text": ["Eiffel Tower", "tower"], "answer_start": [0, 7]}}])
    # Example 1: 2 of 4 predicted characters match 2 of 2 gold ones (F1 2/3); example 2 is exact after normalizing.
    assert result["exact_match"] == pytest.approx(50.0)
    assert result["f1"] == pytest.approx(100 * (2 / 3 + 1) / 2)


def test_bleu_and_rouge(metrics):
    import sacrebleu

    hypotheses = ["the cat sat on the mat", "a dog runs"]
    references = [["the cat sat on a mat"], ["a dog runs fast"]]
    result = metrics["bleu"].compute(predictions=hypotheses, references=references)
    expected = sacrebleu.corpus_bleu(hypotheses, [[answers[0] for answers in references]]).score / 100
    assert result["bleu"] == pytest.approx(expected)
    rouge = metrics["rouge"].compute(predictions=["我喜欢猫"], references=["我喜欢狗"])
    assert rouge["rouge1"] == pytest.approx(0.75)
    assert rouge["rouge2"] == pytest.approx(2 / 3)


def test_hub_metric_needs_trust_remote_code():
    with pytest.raises(UsageError, match="not shipped with ptm") as caught:
        load_metric("bertscore")
    assert "--trust-remote-code" in caught.value.hint


def test_local_metric_script_loads(tmp_path):
    folder = tmp_path / "always_one"
    folder.mkdir()
    (folder / "always_one.py").write_text(
        "import datasets\nimport evaluate\n\n\n"
        "class AlwaysOne(evaluate.Metric):\n"
        "    def _info(self):\n"
        "        return evaluate.MetricInfo(description='', citation='', inputs_description='',\n"
        "            features=datasets.Features({'predictions': datasets.Value('int64'),\n"
        "                                        'references': datasets.Value('int64')}))\n\n"
        "    def _compute(self, predictions, references):\n"
        "        return {'one': 1.0}\n")
    assert load_metric(str(folder)).compute(predictions=[0], references=[1]) == {"one": 1.0}


def test_perplexity_matches_model_loss(ptm, tiny_causal_lm, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    texts = ["我喜欢吃苹果", "今天天气很好，我们去公园"]
    data = tmp_path / "texts.txt"
    data.write_text("\n".join(texts) + "\n", encoding="utf-8")
    result = ptm("evaluate", "-m", str(tiny_causal_lm), "-d", str(data), "--metric", "perplexity", "-F", "json")
    assert result.exit_code == 0, result.stderr
    metrics = result.json()["metrics"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_causal_lm)
    model = AutoModelForCausalLM.from_pretrained(tiny_causal_lm).eval()
    total_nll = total_tokens = 0.0
    for text in texts:
        ids = tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            loss = model(ids, labels=ids).loss.item()
        total_nll += loss * (ids.shape[1] - 1)
        total_tokens += ids.shape[1] - 1
    assert metrics["tokens"] == total_tokens
    assert metrics["perplexity"] == pytest.approx(math.exp(total_nll / total_tokens), rel=1e-4)


def test_evaluate_needs_model_and_dataset(ptm):
    result = ptm("evaluate", "--model", "x")
    assert result.exit_code == 2
    assert "--model and --dataset" in result.stderr


def test_headless_model_cannot_be_evaluated(ptm, tiny_causal_lm, tmp_path, bbc_tokenizer):
    from transformers import BertConfig, BertModel

    folder = tmp_path / "bare"
    BertModel(BertConfig(vocab_size=len(bbc_tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=1,
                         intermediate_size=16)).save_pretrained(folder)
    bbc_tokenizer.save_pretrained(folder)
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "好", "label": 1}\n')
    result = ptm("evaluate", "-m", str(folder), "-d", str(data), "--metric", "accuracy")
    assert result.exit_code == 2
    assert "has no task head to evaluate (BertModel)" in result.stderr
