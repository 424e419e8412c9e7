"""`ptm mask`: fill-mask on a tiny BERT-MLM with the real bert-base-chinese tokenizer, and BERT's masking."""

import collections

import pytest
import torch

from ptmcli.engine.masking import KIND_MASK, KIND_RANDOM, KIND_UNCHANGED, fill_mask, show_masking

LONG_CHINESE = "自然语言处理是人工智能的一个重要方向，预训练模型让机器理解文字的能力大大提高。" * 4
LONG_ENGLISH = ("Pretrained language models learn general representations from unlabeled text and are then "
                "fine-tuned on downstream tasks with far fewer labeled examples than training from scratch ") * 3


@pytest.fixture(scope="session")
def tiny_bert_mlm(tmp_path_factory, bbc_tokenizer):
    """(folder, model) of a random 2-layer BertForMaskedLM saved with the bert-base-chinese tokenizer."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(bbc_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    model = BertForMaskedLM(config).eval()
    folder = tmp_path_factory.mktemp("tiny-bert-mlm")
    model.save_pretrained(folder)
    bbc_tokenizer.save_pretrained(folder)
    return folder, model


# Fill-mask.

def test_fill_matches_pipeline(tiny_bert_mlm, bbc_tokenizer):
    from transformers import pipeline

    _, model = tiny_bert_mlm
    expected = pipeline("fill-mask", model=model, tokenizer=bbc_tokenizer, top_k=5, device="cpu")("我来自[MASK]国")
    ours = fill_mask(model, bbc_tokenizer, ["我来自[MASK]国"], top_k=5)[0]
    assert len(ours.masks) == 1
    assert ours.masks[0].index == 4
    assert [candidate.id for candidate in ours.masks[0].candidates] == [item["token"] for item in expected]
    assert [candidate.probability for candidate in ours.masks[0].candidates] == pytest.approx(
        [item["score"] for item in expected], rel=1e-4)
    assert ours.tokens == ["[CLS]", "我", "来", "自", "[MASK]", "国", "[SEP]"]


def test_two_masks_match_forward_pass(tiny_bert_mlm, bbc_tokenizer):
    _, model = tiny_bert_mlm
    text = "[MASK]来自中[MASK]"
    ours = fill_mask(model, bbc_tokenizer, [text], top_k=3)[0]
    inputs = bbc_tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        probabilities = torch.softmax(model(**inputs).logits[0], dim=-1)
    assert [slot.index for slot in ours.masks] == [1, 5]
    for slot in ours.masks:
        best = torch.topk(probabilities[slot.index], 3)
        assert [candidate.id for candidate in slot.candidates] == best.indices.tolist()
        assert slot.candidates[0].probability == pytest.approx(best.values[0].item(), rel=1e-4)
    first = ours.masks[0].candidates[0].token.removeprefix("##")
    second = ours.masks[1].candidates[0].token.removeprefix("##")
    assert ours.filled == f"{first}来自中{second}"


def test_fill_cli_json(ptm, tiny_bert_mlm):
    folder, _ = tiny_bert_mlm
    result = ptm("mask", "-m", str(folder), "--top-k", "2", "-F", "json", "我来自<mask>国")
    assert result.exit_code == 0, result.stderr
    record = result.json()
    assert list(record) == ["model", "text", "tokens", "masks", "filled"]
    assert record["text"] == "我来自[MASK]国"
    assert len(record["masks"][0]["candidates"]) == 2
    assert list(record["masks"][0]["candidates"][0]) == ["id", "token", "probability"]


def test_text_without_mask(ptm, tiny_bert_mlm):
    folder, _ = tiny_bert_mlm
    result = ptm("mask", "-m", str(folder), "我来自中国")
    assert result.exit_code == 2
    assert "contains no [MASK]" in result.stderr


def test_model_without_mlm_head(ptm, tmp_path, bbc_tokenizer):
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=len(bbc_tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64)
    BertModel(config).save_pretrained(tmp_path)
    bbc_tokenizer.save_pretrained(tmp_path)
    result = ptm("mask", "-m", str(tmp_path), "我来自[MASK]国")
    assert result.exit_code == 1
    assert "has no masked-language-model head" in result.stderr
    assert result.stdout == ""


@pytest.mark.real
def test_minilm_pack_has_no_mlm_head(ptm):
    result = ptm("mask", "-m", "minilm", "the capital of france is [MASK].")
    assert result.exit_code == 1
    assert "'minilm' has no masked-language-model head" in result.stderr


def test_default_model_weights_missing_offline(ptm):
    result = ptm("mask", "我来自[MASK]国")
    assert result.exit_code == 1
    assert "bert-base-chinese" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--top-k", "0"), "--top-k must be at least 1"),
    (("--whole-word",), "belong to --show-masking"),
    (("--show-masking", "--mlm-probability", "1"), "--mlm-probability must be between 0 and 1"),
])
def test_mask_usage_errors(ptm, args, message):
    result = ptm("mask", *args, "我来自[MASK]国")
    assert result.exit_code == 2
    assert message in result.stderr


# Pre-training masking.

def test_masking_proportions_over_seeds(bbc_tokenizer):
    kinds = collections.Counter()
    selected = candidates = 0
    for seed in range(300):
        demo = show_masking(bbc_tokenizer, LONG_CHINESE, seed=seed)
        kinds.update(position.kind for position in demo.selected)
        selected += len(demo.selected)
        candidates += demo.candidates
        assert 0 not in [position.index for position in demo.selected]  # [CLS] is never selected
        assert len(demo.tokens) - 1 not in [position.index for position in demo.selected]
    # About 45,000 candidate tokens and 6,800 selected: three standard errors are below 0.5 and 1.2 points.
    assert selected / candidates == pytest.approx(0.15, abs=0.01)
    assert kinds[KIND_MASK] / selected == pytest.approx(0.8, abs=0.02)
    assert kinds[KIND_RANDOM] / selected == pytest.approx(0.1, abs=0.02)
    assert kinds[KIND_UNCHANGED] / selected == pytest.approx(0.1, abs=0.02)


def test_masking_labels_keep_originals(bbc_tokenizer):
    demo = show_masking(bbc_tokenizer, LONG_CHINESE, seed=1)
    original = bbc_tokenizer(LONG_CHINESE)["input_ids"]
    for index, label in enumerate(demo.labels):
        if label == -100:
            assert demo.input_ids[index] == original[index]
        else:
            assert label == original[index]
    mask_id = bbc_tokenizer.mask_token_id
    assert all(demo.input_ids[position.index] == mask_id for position in demo.selected if position.kind == KIND_MASK)


def test_masking_same_seed_same_result(bbc_tokenizer):
    assert show_masking(bbc_tokenizer, LONG_CHINESE, seed=4) == show_masking(bbc_tokenizer, LONG_CHINESE, seed=4)
    assert show_masking(bbc_tokenizer, LONG_CHINESE, seed=4) != show_masking(bbc_tokenizer, LONG_CHINESE, seed=5)


def test_whole_word_english_masks_all_pieces(bbc_tokenizer):
    encoding = bbc_tokenizer(LONG_ENGLISH)
    word_ids = encoding.word_ids()
    multi_piece = 0
    for seed in range(50):
        demo = show_masking(bbc_tokenizer, LONG_ENGLISH, seed=seed, whole_word=True)
        assert demo.segmenter == "word_ids"
        chosen = {position.index for position in demo.selected}
        for word in {word_ids[index] for index in chosen}:
            pieces = {index for index, value in enumerate(word_ids) if value == word}
            assert pieces <= chosen
            multi_piece += len(pieces) > 1
        # transformers 5's collator replaces every token of a selected word with [MASK].
        assert {position.kind for position in demo.selected} <= {KIND_MASK}
    assert multi_piece > 0  # some selected words had several WordPieces


def test_whole_word_chinese_uses_jieba(bbc_tokenizer):
    pytest.importorskip("jieba")
    text = "我喜欢自然语言处理和深度学习"
    demo = show_masking(bbc_tokenizer, text, seed=0, whole_word=True)
    assert demo.segmenter == "jieba"
    assert "".join(demo.words) == text
    assert "自然语言" in demo.words or "自然" in demo.words
    offsets = bbc_tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
    spans = []
    position = 0
    for word in demo.words:
        spans.append(range(position, position + len(word)))
        position += len(word)
    for seed in range(40):
        chosen = {item.index for item in show_masking(bbc_tokenizer, text, seed=seed, whole_word=True).selected}
        for index in chosen:
            word = next(span for span in spans if offsets[index][0] in span)
            members = {other for other, (start, end) in enumerate(offsets) if end > start and start in word}
            assert members <= chosen


def test_show_masking_cli(ptm):
    result = ptm("mask", "--show-masking", "--seed", "2", "-F", "json", LONG_CHINESE)
    assert result.exit_code == 0, result.stderr
    record = result.json()
    assert record["model"] == "bert-base-chinese"
    assert record["seed"] == 2
    assert len(record["selected"]) > 0
    assert set(record["selected"][0]) == {"index", "token", "replacement", "kind"}
    table = ptm("mask", "--show-masking", "--seed", "2", "-F", "table", "我喜欢自然语言处理", "--whole-word").stdout
    assert "words (jieba)" in table
    assert "every selected token becomes [MASK]" in " ".join(ptm("mask", "--show-masking", "--whole-word",
                                                                "我喜欢自然语言处理").stderr.split())
