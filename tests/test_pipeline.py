"""ptm pipeline: each task on tiny random models (parity with direct transformers calls) and on the packs."""

import pytest

from ptmcli.engine.pipeline import _check_mask, find_task, nested_shape
from ptmcli.errors import UsageError


@pytest.fixture(scope="module")
def tiny_bert_folders(tmp_path_factory, bbc_tokenizer):
    """Random-weight 2-layer BERTs with the real bert-base-chinese tokenizer, one per task head."""
    import torch
    from transformers import (
        BertConfig,
        BertForMaskedLM,
        BertForQuestionAnswering,
        BertForSequenceClassification,
        BertForTokenClassification,
    )

    folders = {}
    heads = {"fill-mask": (BertForMaskedLM, {}),
             "text-classification": (BertForSequenceClassification,
                                     {"id2label": {0: "negative", 1: "positive"},
                                      "label2id": {"negative": 0, "positive": 1}}),
             "token-classification": (BertForTokenClassification,
                                      {"id2label": {0: "O", 1: "B-PER", 2: "I-PER"},
                                       "label2id": {"O": 0, "B-PER": 1, "I-PER": 2}}),
             "question-answering": (BertForQuestionAnswering, {})}
    for task, (model_class, labels) in heads.items():
        torch.manual_seed(0)
        config = BertConfig(vocab_size=len(bbc_tokenizer), hidden_size=32, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=64, max_position_embeddings=128, **labels)
        folder = tmp_path_factory.mktemp(f"tiny-{task}")
        model_class(config).eval().save_pretrained(folder)
        bbc_tokenizer.save_pretrained(folder)
        folders[task] = folder
    return folders


@pytest.fixture(scope="module")
def tiny_t5_folder(tmp_path_factory, gpt2_tokenizer):
    """A random-weight T5 with the GPT-2 tokenizer: no T5 sentencepiece model is available offline."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(vocab_size=len(gpt2_tokenizer), d_model=16, d_kv=4, d_ff=32, num_layers=2, num_heads=2,
                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=50256)
    folder = tmp_path_factory.mktemp("tiny-t5-gpt2")
    T5ForConditionalGeneration(config).eval().save_pretrained(folder)
    gpt2_tokenizer.save_pretrained(folder)
    return folder


def _load(folder, model_class):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder)), model_class.from_pretrained(str(folder)).eval()


def test_find_task_aliases():
    assert find_task("sentiment-analysis").name == "text-classification"
    assert find_task("ner").name == "token-classification"
    assert find_task("translation_en_to_de").name == "translation"


def test_nested_shape():
    assert nested_shape([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]]) == [1, 3, 2]


def test_missing_model_names_choices(ptm):
    result = ptm("pipeline", "text-generation", "Hello")
    assert result.exit_code == 2
    assert "needs --model" in result.stderr
    assert "smollm2" in result.stderr


def test_unknown_task(ptm):
    result = ptm("pipeline", "image-to-text", "Hello", "-m", "smollm2")
    assert result.exit_code == 2
    assert "unknown task 'image-to-text'" in result.stderr


def test_question_answering_needs_context(ptm, tiny_bert_folders):
    result = ptm("pipeline", "question-answering", "Who?", "-m", str(tiny_bert_folders["question-answering"]))
    assert result.exit_code == 2
    assert "--context" in result.stderr


def test_context_only_for_question_answering(ptm, tiny_bert_folders):
    result = ptm("pipeline", "fill-mask", "a [MASK]", "--context", "x", "-m", str(tiny_bert_folders["fill-mask"]))
    assert result.exit_code == 2


def test_fill_mask_matches_logits(ptm, tiny_bert_folders):
    import torch
    from transformers import BertForMaskedLM

    folder = tiny_bert_folders["fill-mask"]
    result = ptm("pipeline", "fill-mask", "我来自[MASK]国", "-m", str(folder), "--format", "json")
    assert result.exit_code == 0, result.stderr
    record = result.json()
    assert (record["task"], record["input"], record["index"]) == ("fill-mask", "我来自[MASK]国", 0)
    candidates = record["output"]
    assert len(candidates) == 5
    tokenizer, model = _load(folder, BertForMaskedLM)
    encoded = tokenizer("我来自[MASK]国", return_tensors="pt")
    position = encoded.input_ids[0].tolist().index(tokenizer.mask_token_id)
    with torch.no_grad():
        logits = model(**encoded).logits[0, position]
    top = torch.topk(logits.softmax(-1), 5)
    assert [candidate["token"] for candidate in candidates] == top.indices.tolist()
    assert candidates[0]["score"] == pytest.approx(top.values[0].item(), abs=1e-5)


def test_fill_mask_needs_one_mask(ptm, tiny_bert_folders):
    result = ptm("pipeline", "fill-mask", "no mask here", "-m", str(tiny_bert_folders["fill-mask"]))
    assert result.exit_code == 2
    assert "exactly one [MASK]" in result.stderr


def test_text_classification_matches_logits(ptm, tiny_bert_folders):
    import torch
    from transformers import BertForSequenceClassification

    folder = tiny_bert_folders["text-classification"]
    records = ptm("pipeline", "sentiment-analysis", "很好", "太差了", "-m", str(folder), "--format", "jsonl").jsonl()
    tokenizer, model = _load(folder, BertForSequenceClassification)
    for record in records:
        with torch.no_grad():
            probabilities = model(**tokenizer(record["input"], return_tensors="pt")).logits[0].softmax(-1)
        best = int(probabilities.argmax())
        assert record["task"] == "text-classification"
        assert record["output"][0]["label"] == model.config.id2label[best]
        assert record["output"][0]["score"] == pytest.approx(probabilities[best].item(), abs=1e-5)


def test_token_classification_one_entity_per_token(ptm, tiny_bert_folders):
    folder = tiny_bert_folders["token-classification"]
    record = ptm("pipeline", "ner", "李明在北京", "-m", str(folder), "--aggregation", "none", "--format", "json").json()
    import torch
    from transformers import BertForTokenClassification

    tokenizer, model = _load(folder, BertForTokenClassification)
    encoded = tokenizer("李明在北京", return_tensors="pt")
    with torch.no_grad():
        labels = model(**encoded).logits[0].argmax(-1).tolist()
    tokens = tokenizer.convert_ids_to_tokens(encoded.input_ids[0])
    # Unaggregated, the pipeline reports every real token whose best label is not O.
    expected = [(token, model.config.id2label[label]) for token, label in zip(tokens, labels, strict=True)
                if token not in ("[CLS]", "[SEP]") and label != 0]
    assert [(entity["word"], entity["entity"]) for entity in record["output"]] == expected


def test_question_answering_best_span(ptm, tiny_bert_folders):
    import torch
    from transformers import BertForQuestionAnswering

    folder = tiny_bert_folders["question-answering"]
    context = "李明住在北京。他喜欢喝茶。"
    record = ptm("pipeline", "question-answering", "李明住在哪里？", "--context", context, "-m", str(folder),
                 "--format", "json").json()
    output = record["output"]
    assert context[output["start"]:output["end"]] == output["answer"]
    tokenizer, model = _load(folder, BertForQuestionAnswering)
    encoded = tokenizer("李明住在哪里？", context, return_tensors="pt")
    with torch.no_grad():
        logits = model(**encoded)
    starts, ends = logits.start_logits[0].softmax(-1), logits.end_logits[0].softmax(-1)
    in_context = [index for index, segment in enumerate(encoded.sequence_ids(0)) if segment == 1]
    best = max(starts[start].item() * ends[end].item() for start in in_context for end in in_context
               if start <= end < start + 30)
    assert output["score"] == pytest.approx(best, abs=1e-6)


def test_text_generation_matches_generate(ptm, tiny_gpt2):
    import torch
    from transformers import GPT2LMHeadModel

    record = ptm("pipeline", "text-generation", "Hello world", "-m", str(tiny_gpt2), "--max-new-tokens", "4",
                 "--format", "json").json()
    tokenizer, model = _load(tiny_gpt2, GPT2LMHeadModel)
    encoded = tokenizer("Hello world", return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(**encoded, max_new_tokens=4, do_sample=False, pad_token_id=50256)
    expected = tokenizer.decode(generated[0, encoded.input_ids.shape[1]:])
    assert record["output"] == [{"generated_text": expected}]


@pytest.mark.parametrize(("task", "key", "prefix"), [("summarization", "summary_text", "summarize: "),
                                                     ("translation_en_to_de", "translation_text",
                                                      "translate English to German: "),
                                                     ("text2text-generation", "generated_text", "")])
def test_seq2seq_tasks_match_generate(ptm, tiny_t5_folder, task, key, prefix):
    import torch
    from transformers import T5ForConditionalGeneration

    record = ptm("pipeline", task, "The house is big.", "-m", str(tiny_t5_folder), "--max-new-tokens", "3",
                 "--format", "json").json()
    assert record["task"] == task
    tokenizer, model = _load(tiny_t5_folder, T5ForConditionalGeneration)
    encoded = tokenizer(prefix + "The house is big.", return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(**encoded, max_new_tokens=3, do_sample=False)
    assert record["output"] == [{key: tokenizer.decode(generated[0], skip_special_tokens=True).strip()}]


def test_seq2seq_rejects_decoder_only(ptm, tiny_gpt2):
    result = ptm("pipeline", "summarization", "Text.", "-m", str(tiny_gpt2))
    assert result.exit_code == 1
    assert "no summarization head" in result.stderr


@pytest.mark.real
def test_smollm2_greedy_continuation(ptm):
    result = ptm("pipeline", "text-generation", "I like eating fried", "-m", "smollm2", "--max-new-tokens", "5",
                 "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["output"] == [{"generated_text": " chicken, but I'm"}]
    plain = ptm("pipeline", "text-generation", "I like eating fried", "-m", "smollm2", "--max-new-tokens", "5",
                "--format", "plain")
    assert plain.stdout == " chicken, but I'm\n"


@pytest.mark.real
def test_minilm_feature_extraction_shape(ptm):
    from conftest import pack_folder
    from transformers import AutoTokenizer

    record = ptm("pipeline", "feature-extraction", "I like tea", "-m", "minilm", "--format", "json").json()
    tokens = len(AutoTokenizer.from_pretrained(str(pack_folder("minilm")))("I like tea").input_ids)
    assert tokens == 5
    assert nested_shape(record["output"]) == [1, tokens, 384]
    plain = ptm("pipeline", "feature-extraction", "I like tea", "-m", "minilm", "--format", "plain")
    assert plain.stdout == "1x5x384\n"


@pytest.mark.real
def test_minilm_has_no_fill_mask_head(ptm):
    result = ptm("pipeline", "fill-mask", "I like [MASK].", "-m", "minilm")
    assert result.exit_code == 1
    assert "no fill-mask head" in result.stderr
    assert "BertModel" in result.stderr


def test_fill_mask_without_mask_token():
    from types import SimpleNamespace

    with pytest.raises(UsageError, match="has no mask token") as caught:
        _check_mask(SimpleNamespace(mask_token=None), ["Paris is the capital of France."])
    assert "bert-base-chinese" in caught.value.hint
