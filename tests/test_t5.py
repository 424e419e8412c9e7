"""`ptm t5` on a tiny random T5 with a T5-shaped Unigram tokenizer, checked against direct transformers calls."""

import json
import shutil
import string
from types import SimpleNamespace

import pytest
import torch

from ptmcli.engine.corruption import corruption_example, reconstruct
from ptmcli.engine.generate import GenerationSettings
from ptmcli.engine.t5 import describe_text, input_warnings, output_text, prepare_inputs, run, sentinel_ids

WORDS = ["Hi", "there", "I", "good", "The", "the", "walks", "in", "park", "house", "is", "wonderful", "dog", "cute",
         "My", "phone", "number", "translate", "English", "to", "German", "summarize", "word", "Thank", "you", "for",
         "inviting", "me", "your", "party", "last", "week", "a", "and", "of", "cat", "sits", "sitting"]
SENTINEL_COUNT = 100


def build_t5_tokenizer():
    """A Unigram tokenizer shaped like T5's SentencePiece model, built with the tokenizers library.

    <pad>=0, </s>=1, <unk>=2; a Metaspace pre-tokenizer after a whitespace split, which collapses runs
    of whitespace as SentencePiece does; </s> appended by the post-processor; 100 sentinels at the top
    of the vocabulary, <extra_id_0> last. Braces are left out of the vocabulary, as in T5.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -3.0)]
    vocab += [("▁" + word, -5.0) for word in WORDS]
    characters = [char for char in string.ascii_letters + string.digits + string.punctuation if char not in "{}"]
    vocab += [(char, -10.0) for char in characters] + [("▁" + char, -9.0) for char in characters]
    sentinels = [f"<extra_id_{index}>" for index in range(SENTINEL_COUNT)]
    vocab += [(token, 0.0) for token in reversed(sentinels)]

    backend = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
    ])
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    backend.post_processor = processors.TemplateProcessing(single=["$A", "</s>"], pair=["$A", "</s>", "$B", "</s>"],
                                                           special_tokens=[("</s>", 1)])
    backend.add_special_tokens([AddedToken(token, special=True) for token in ["<pad>", "</s>", "<unk>", *sentinels]])
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   additional_special_tokens=sentinels, model_max_length=512)


def save_tiny_t5(folder, tokenizer, **config_extra):
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    # A larger initializer spread than the default makes the random model's greedy outputs vary by input.
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_ff=64, d_kv=8, num_layers=2, num_decoder_layers=2,
                      num_heads=4, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, initializer_factor=3.0,
                      **config_extra)
    model = T5ForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory):
    """(folder, tokenizer, model) of a random 2-layer T5 saved with its tokenizer."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("tiny-t5")
    save_tiny_t5(folder, build_t5_tokenizer())
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSeq2SeqLM.from_pretrained(str(folder)).eval()
    return folder, tokenizer, model


def direct_generate(model, tokenizer, text, **options):
    inputs = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return model.generate(**inputs, do_sample=False, **options)[0].tolist()


# The tokenizer: whitespace, unknown braces, special tokens, sentinels.

def test_whitespace_collapses(tiny_t5):
    _, tokenizer, _ = tiny_t5
    plain = describe_text(tokenizer, "Hi there I'm good")
    spaced = describe_text(tokenizer, "Hi there \n  \t   I'm good\n")
    assert plain.tokens == ["▁Hi", "▁there", "▁I", "'", "m", "▁good", "</s>"]
    assert spaced.ids == plain.ids
    assert plain.ids[-1] == 1
    assert not plain.whitespace_collapsed
    assert spaced.whitespace_collapsed


def test_braces_become_unknown(tiny_t5):
    _, tokenizer, _ = tiny_t5
    view = describe_text(tokenizer, "My phone number is 1-${phone.number}")
    assert view.ids.count(2) == 2
    assert view.unknown == ["{", "}"]
    assert "{" not in view.decoded and "}" not in view.decoded


def test_literal_special_tokens_are_single_ids(tiny_t5):
    _, tokenizer, _ = tiny_t5
    view = describe_text(tokenizer, "word <pad> <unk> </s>")
    # The fast tokenizer appends its own </s> even after a typed one.
    assert view.ids == [tokenizer.convert_tokens_to_ids("▁word"), 0, 2, 1, 1]
    assert view.tokens[1:] == ["<pad>", "<unk>", "</s>", "</s>"]
    assert view.unknown == []
    assert view.decoded == "word"


def test_sentinels_count_down_from_top(tiny_t5):
    _, tokenizer, _ = tiny_t5
    ids = sentinel_ids(tokenizer)
    top = len(tokenizer) - 1
    assert len(ids) == SENTINEL_COUNT
    assert ids[:3] == [top, top - 1, top - 2]
    assert ids == list(range(top, top - SENTINEL_COUNT, -1))
    view = describe_text(tokenizer, "The <extra_id_0> walks in <extra_id_1> park")
    assert view.tokens == ["▁The", "<extra_id_0>", "▁walks", "▁in", "<extra_id_1>", "▁park", "</s>"]
    assert view.sentinels == [{"token": "<extra_id_0>", "id": top}, {"token": "<extra_id_1>", "id": top - 1}]


def test_show_tokens_cli(ptm, tiny_t5):
    folder, _, _ = tiny_t5
    result = ptm("t5", "-m", str(folder), "--show-tokens", "-F", "jsonl", "Hi there \n  I'm good",
                 "1-${phone}")
    assert result.exit_code == 0, result.stderr
    first, second = result.jsonl()
    assert first["tokens"] == ["▁Hi", "▁there", "▁I", "'", "m", "▁good", "</s>"]
    assert second["unknown"] == ["{", "}"]
    assert "newlines, tabs and repeated spaces are not kept" in result.stderr
    assert "not in the vocabulary, shown as <unk>: { }" in result.stderr


# Generation.

def test_output_keeps_sentinels(tiny_t5):
    _, tokenizer, _ = tiny_t5
    s0, s1, s2 = sentinel_ids(tokenizer)[:3]
    park, walks = tokenizer.convert_tokens_to_ids(["▁park", "▁walks"])
    text = output_text(tokenizer, [0, s0, park, walks, s1, park, s2, 1], {1})
    assert text.startswith("<extra_id_0>")
    assert "<extra_id_1>" in text and text.endswith("<extra_id_2>")
    assert "<pad>" not in text and "</s>" not in text
    assert tokenizer.decode([0, s0, park, 1], skip_special_tokens=True).strip() == "park"


def test_single_input_equals_generate(tiny_t5):
    _, tokenizer, model = tiny_t5
    text = "translate English to German: The house is wonderful."
    ours = run(model, tokenizer, prepare_inputs([text], None, None, model.config),
               GenerationSettings(max_new_tokens=8, show_top=0))[0]
    assert ours.output_ids == direct_generate(model, tokenizer, text, max_new_tokens=8)
    assert ours.output_ids[0] == 0
    assert ours.new_tokens == 8


def test_batch_rows_equal_single_inputs(tiny_t5):
    _, tokenizer, model = tiny_t5
    texts = ["The house is wonderful.", "Hi there I'm good and the dog is cute", "Thank you"]
    settings = GenerationSettings(max_new_tokens=6, show_top=3)
    batch = run(model, tokenizer, prepare_inputs(texts, None, None, model.config), settings)
    assert tokenizer.padding_side == "right"
    outputs = set()
    for text, row in zip(texts, batch, strict=True):
        single = run(model, tokenizer, prepare_inputs([text], None, None, model.config), settings)[0]
        assert row.output_ids == single.output_ids
        assert row.output_ids == direct_generate(model, tokenizer, text, max_new_tokens=6)
        assert [step.probability for step in row.steps] == pytest.approx([step.probability for step in single.steps],
                                                                         rel=1e-4)
        assert row.input_ids == tokenizer(text)["input_ids"]
        outputs.add(tuple(row.output_ids))
    assert len(outputs) > 1  # the rows differ, so a mix-up between rows would show


def test_steps_match_decoder_forward(tiny_t5):
    _, tokenizer, model = tiny_t5
    text = "The <extra_id_0> walks in <extra_id_1> park"
    result = run(model, tokenizer, prepare_inputs([text], None, None, model.config),
                 GenerationSettings(max_new_tokens=4, show_top=3))[0]
    assert [step.id for step in result.steps] == result.output_ids[1:]
    inputs = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs, decoder_input_ids=torch.tensor([result.output_ids[:3]])).logits[0]
    expected = torch.softmax(logits[-1], dim=-1)
    assert result.steps[2].probability == pytest.approx(expected[result.output_ids[3]].item(), rel=1e-4)
    assert result.steps[2].top[0].id == int(expected.argmax())
    assert len(result.steps[0].top) == 3


def test_steps_cli_shows_encoder_and_decoder(ptm, tiny_t5):
    folder, _, _ = tiny_t5
    record = ptm("t5", "-m", str(folder), "--steps", "3", "-F", "json", "The house is wonderful.").json()
    assert record["input_tokens"][-1] == "</s>"
    assert record["output_ids"][0] == 0
    assert len(record["steps"]) == 3
    assert [step["id"] for step in record["steps"]] == record["output_ids"][1:]
    table = ptm("t5", "-m", str(folder), "--steps", "3", "-F", "table", "The house is wonderful.").stdout
    assert "encoder input" in table
    assert "the decoder starts from <pad>, id 0" in table
    assert "3 new tokens" in table


def test_max_new_tokens_counts_decoder_only(ptm, tiny_t5):
    folder, tokenizer, model = tiny_t5
    long_text = " ".join(["the dog is cute"] * 10)
    record = ptm("t5", "-m", str(folder), "--max-new-tokens", "6", "-F", "json", long_text).json()
    assert len(record["input_ids"]) > 30
    assert record["new_tokens"] == 6
    assert len(record["output_ids"]) == 7
    # transformers' max_length counts the decoder start token, and never the encoder input.
    assert len(direct_generate(model, tokenizer, long_text, max_length=6)) == 6


def test_sentinel_output_in_json(ptm, tiny_t5):
    folder, tokenizer, model = tiny_t5
    text = "translate English to German: The house is wonderful."
    record = ptm("t5", "-m", str(folder), "-F", "json", "--max-new-tokens", "6", text).json()
    ids = direct_generate(model, tokenizer, text, max_new_tokens=6)
    assert record["output_ids"] == ids
    assert record["output"] == output_text(tokenizer, ids, {1})
    # This random model writes sentinels; they must stay in the text view.
    assert any(token.startswith("<extra_id_") for token in record["output_tokens"])
    assert "<extra_id_" in record["output"]


def test_plain_output_one_line_per_input(ptm, tiny_t5):
    folder, _, _ = tiny_t5
    result = ptm("t5", "-m", str(folder), "-F", "plain", "--max-new-tokens", "3", "Hi there", "Thank you")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2


def test_sampling_with_seed_is_reproducible(ptm, tiny_t5):
    folder, _, _ = tiny_t5
    args = ("t5", "-m", str(folder), "--temperature", "1.5", "--seed", "3", "--max-new-tokens", "8", "-F", "json",
            "Hi there")
    assert ptm(*args).json()["output_ids"] == ptm(*args).json()["output_ids"]


def test_beam_search_equals_generate(ptm, tiny_t5):
    folder, tokenizer, model = tiny_t5
    record = ptm("t5", "-m", str(folder), "--num-beams", "3", "--max-new-tokens", "5", "-F", "json",
                 "Hi there").json()
    assert record["output_ids"] == direct_generate(model, tokenizer, "Hi there", max_new_tokens=5, num_beams=3)
    assert record["steps"] == []


# Tasks and warnings.

def test_task_prefix_applied(ptm, tiny_t5):
    folder, tokenizer, model = tiny_t5
    record = ptm("t5", "-m", str(folder), "--task", "en-de", "-F", "json", "--max-new-tokens", "4",
                 "The house is wonderful.").json()
    assert record["source"] == "translate English to German: The house is wonderful."
    assert record["task"] == "translation_en_to_de"
    assert record["text"] == "The house is wonderful."
    assert record["output_ids"] == direct_generate(model, tokenizer, record["source"], max_new_tokens=4)


def test_pair_task_formats_both_sentences(tiny_t5):
    _, _, model = tiny_t5
    prepared = prepare_inputs(["A cat sits."], "stsb", ["A cat is sitting."], model.config)
    assert prepared[0].source == "stsb sentence1: A cat sits. sentence2: A cat is sitting."


@pytest.mark.parametrize(("args", "message"), [
    (("--task", "stsb", "A cat sits."), "task 'stsb' takes two sentences"),
    (("--task", "cola", "--pair", "x", "A cat sits."), "takes one sentence"),
    (("--task", "poetry", "A cat sits."), "unknown task 'poetry'"),
    (("--pair", "x", "A cat sits."), "--pair needs a --task"),
    (("--fill", "A cat sits."), "--fill belongs to span corruption"),
])
def test_task_usage_errors(ptm, tiny_t5, args, message):
    folder, _, _ = tiny_t5
    result = ptm("t5", "-m", str(folder), *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_task_specific_params_are_used(ptm, tiny_t5, tmp_path):
    folder, tokenizer, model = tiny_t5
    copy = tmp_path / "with-params"
    shutil.copytree(folder, copy)
    config = json.loads((copy / "config.json").read_text())
    config["task_specific_params"] = {"translation_en_to_de": {"prefix": "translate English to German: ",
                                                               "num_beams": 3, "max_length": 300}}
    (copy / "config.json").write_text(json.dumps(config))

    result = ptm("t5", "-m", str(copy), "--task", "translation_en_to_de", "--max-new-tokens", "5", "-F", "json",
                 "The house is wonderful.")
    assert result.exit_code == 0, result.stderr
    stderr = " ".join(result.stderr.split())  # Rich wraps stderr lines at the console width
    assert "lists settings for task 'translation_en_to_de'" in stderr
    assert "num_beams=3, prefix='translate English to German: '" in stderr
    assert "using num_beams=3" in stderr
    expected = direct_generate(model, tokenizer, "translate English to German: The house is wonderful.",
                               max_new_tokens=5, num_beams=3)
    assert result.json()["output_ids"] == expected

    listed = ptm("t5", "-m", str(copy), "--max-new-tokens", "2", "-F", "json", "Hi")
    assert "lists task settings for: translation_en_to_de" in " ".join(listed.stderr.split())


def test_chinese_with_original_t5_points_to_mt5(ptm, tiny_t5):
    folder, _, _ = tiny_t5
    result = ptm("t5", "-m", str(folder), "--task", "en-de", "--max-new-tokens", "2", "-F", "json", "我来自中国")
    assert result.exit_code == 0
    stderr = " ".join(result.stderr.split())
    assert "google/mt5-small" in stderr
    assert "become <unk>" in stderr


def test_prefix_warning_for_unsupervised_models(tiny_t5):
    _, tokenizer, _ = tiny_t5
    for config in (SimpleNamespace(model_type="mt5"), SimpleNamespace(model_type="t5", feed_forward_proj="gated-gelu")):
        prepared = prepare_inputs(["The house is wonderful."], "en-de", None, config)
        warnings = input_warnings(config, tokenizer, prepared)
        assert any("means nothing to" in warning for warning in warnings)
    plain = SimpleNamespace(model_type="t5", feed_forward_proj="relu")
    assert input_warnings(plain, tokenizer, prepare_inputs(["The house is wonderful."], "en-de", None, plain)) == []


def test_default_model_is_not_found_offline(ptm):
    result = ptm("t5", "translate English to German: The house is wonderful.")
    assert result.exit_code == 1
    assert "google-t5/t5-small" in result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1


def test_decoder_only_model_is_rejected(ptm, tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    GPT2LMHeadModel(GPT2Config(vocab_size=300, n_embd=16, n_layer=1, n_head=2)).save_pretrained(tmp_path)
    build_t5_tokenizer().save_pretrained(tmp_path)
    result = ptm("t5", "-m", str(tmp_path), "Hi")
    assert result.exit_code == 1
    assert "cannot be loaded as AutoModelForSeq2SeqLM" in result.stderr


# Span corruption with the T5 tokenizer.

def test_corrupt_pieces_with_tokenizer(tiny_t5):
    folder, tokenizer, _ = tiny_t5
    loaded = SimpleNamespace(tokenizer=tokenizer, source=SimpleNamespace(reference=str(folder)))
    text = "Thank you for inviting me to your party last week and the dog is cute"
    pieces = tokenizer.tokenize(text)
    sentinels = tokenizer.convert_ids_to_tokens(sentinel_ids(tokenizer))
    for seed in range(20):
        example = corruption_example(text, loaded, seed=seed)
        assert example.unit == "sentencepiece"
        assert reconstruct(example.pair.input_tokens, example.pair.target_tokens, sentinels) == pieces
        assert example.input_ids[-1] == 1 and example.target_ids[-1] == 1
        spans = len(example.pair.spans)
        assert example.target_ids[0] == len(tokenizer) - 1
        assert example.target_ids[-2] == len(tokenizer) - 1 - spans  # the closing sentinel
        assert example.input_ids.count(len(tokenizer) - 1) == 1


def test_corrupt_fill_cli(ptm, tiny_t5):
    folder, tokenizer, model = tiny_t5
    text = "Thank you for inviting me to your party last week"
    result = ptm("t5", "corrupt", "-m", str(folder), "--fill", "--seed", "2", "--max-new-tokens", "6", "-F", "json",
                 text)
    assert result.exit_code == 0, result.stderr
    record = result.json()
    inputs = torch.tensor([record["input_ids"]])
    with torch.no_grad():
        expected = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=6,
                                  do_sample=False)[0].tolist()
    assert record["prediction"] == output_text(tokenizer, expected, {1})
    assert list(record["predicted_spans"]) == [span["sentinel"] for span in record["pair"]["spans"]]
    assert record["unit"] == "sentencepiece"


def test_corrupt_without_model_uses_words(ptm):
    text = "Thank you for inviting me to your party last week ."
    result = ptm("t5", "corrupt", "--seed", "1", "-F", "json", text)
    assert result.exit_code == 0, result.stderr
    record = result.json()
    assert record["unit"] == "word"
    assert record["input_ids"] is None
    assert "whitespace-separated words" in " ".join(result.stderr.split())
    words = record["input"].split()
    assert "<extra_id_0>" in words
    assert record["target"].split()[0] == "<extra_id_0>"


def test_corrupt_is_reproducible(ptm):
    args = ("t5", "corrupt", "--seed", "5", "--noise-density", "0.3", "-F", "json",
            "one two three four five six seven eight nine ten eleven twelve")
    assert ptm(*args).json() == ptm(*args).json()
