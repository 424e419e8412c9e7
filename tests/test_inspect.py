"""ptm inspect: config facts, meta-device parameter counts, folded architecture trees, tokenizers."""

import pytest

from ptmcli.engine.inspect import count_parameters, module_tree, summarize_config

BERT_BASE_TOTAL = 109_482_240  # BertModel(BertConfig()) with its pooler, transformers 5.25
BERT_BASE_NO_POOLER = 108_891_648
BERT_LARGE_TOTAL = 335_141_888
BERT_BASE_LAYER = 7_087_872
MINILM_TOTAL = 22_713_216
SMOLLM2_TOTAL = 134_515_008
SMOLLM2_EMBEDDING = 49_152 * 576


def _meta(model_class, config, **options):
    import torch

    with torch.device("meta"):
        return model_class(config, **options)


@pytest.fixture(scope="module")
def bert_base():
    from transformers import BertConfig, BertModel

    return _meta(BertModel, BertConfig())


def test_count_bert_base(bert_base):
    total, modules = count_parameters(bert_base)
    assert total == BERT_BASE_TOTAL
    assert [module.name for module in modules] == ["embeddings", "encoder", "pooler"]
    assert sum(module.parameters for module in modules) == BERT_BASE_TOTAL
    assert modules[2].parameters == 768 * 768 + 768


def test_count_bert_base_without_pooler():
    from transformers import BertConfig, BertModel

    total, _modules = count_parameters(_meta(BertModel, BertConfig(), add_pooling_layer=False))
    assert total == BERT_BASE_NO_POOLER


def test_count_bert_large():
    from transformers import BertConfig, BertModel

    config = BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096)
    total, _modules = count_parameters(_meta(BertModel, config))
    assert total == BERT_LARGE_TOTAL
    assert round(total / 1e6) == 335


def test_count_with_empty_weights_matches_meta(bert_base):
    from accelerate import init_empty_weights
    from transformers import BertConfig, BertModel

    with init_empty_weights():
        model = BertModel(BertConfig())
    assert count_parameters(model)[0] == count_parameters(bert_base)[0]


def test_count_tied_head_once():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = _meta(GPT2LMHeadModel, GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=1000, n_positions=32))
    total, modules = count_parameters(model)
    by_name = {module.name: module for module in modules}
    assert by_name["lm_head"].parameters == 0
    assert by_name["lm_head"].shared == 1000 * 64
    assert by_name["lm_head"].shared_with == ("transformer.wte",)
    assert total == sum(module.parameters for module in modules)
    assert "transformer.wte" in by_name


def test_tree_folds_repeated_layers(bert_base):
    tree = module_tree(bert_base)
    encoder = next(child for child in tree.children if child.name == "encoder")
    layers = encoder.children[0]
    assert layers.type == "ModuleList"
    assert len(layers.children) == 1
    folded = layers.children[0]
    assert (folded.name, folded.repeat, folded.type) == ("0-11", 12, "BertLayer")
    assert folded.parameters == BERT_BASE_LAYER
    assert layers.parameters == 12 * BERT_BASE_LAYER
    # print(model) in torch folds the same run under the same name.
    assert "(0-11): 12 x BertLayer(" in str(bert_base)


def test_tree_keeps_different_layers_apart():
    import torch

    stack = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4), torch.nn.Linear(4, 8))
    tree = module_tree(stack)
    assert [(child.name, child.repeat) for child in tree.children] == [("0-1", 2), ("2", 1)]
    assert tree.children[1].extra == "in_features=4, out_features=8, bias=True"


def test_config_bert_post_ln_absolute():
    from transformers import BertConfig

    summary = summarize_config(BertConfig())
    assert (summary.layers, summary.hidden_size, summary.attention_heads) == (12, 768, 12)
    assert (summary.vocab_size, summary.max_positions, summary.intermediate_size) == (30522, 512, 3072)
    assert summary.position_embedding == "absolute"
    assert (summary.normalization, summary.norm_kind) == ("post-LN", "LayerNorm")


def test_config_t5_relative_buckets_pre_norm():
    from transformers import T5Config

    summary = summarize_config(T5Config())
    assert summary.position_embedding == "relative_buckets"
    assert (summary.relative_buckets, summary.relative_max_distance) == (32, 128)
    assert summary.max_positions is None
    assert (summary.normalization, summary.norm_kind) == ("pre-LN", "RMSNorm")
    assert (summary.layers, summary.decoder_layers, summary.hidden_size) == (6, 6, 512)
    assert summary.is_encoder_decoder


def test_config_llama_rotary_rms():
    from transformers import LlamaConfig

    summary = summarize_config(LlamaConfig(num_key_value_heads=8))
    assert summary.position_embedding == "rotary"
    assert summary.rope_theta == 10000.0
    assert (summary.normalization, summary.norm_kind) == ("pre-LN", "RMSNorm")
    assert (summary.attention_heads, summary.key_value_heads) == (32, 8)


def test_config_gpt2_pre_ln_absolute():
    from transformers import GPT2Config

    summary = summarize_config(GPT2Config())
    assert (summary.position_embedding, summary.max_positions) == ("absolute", 1024)
    assert (summary.normalization, summary.norm_kind) == ("pre-LN", "LayerNorm")
    assert summary.intermediate_size is None  # GPT-2 leaves n_inner unset, meaning 4 * n_embd


@pytest.fixture(scope="module")
def tiny_t5_folder(tmp_path_factory):
    """A T5 config and random weights without a tokenizer: what a half-copied folder looks like."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(vocab_size=128, d_model=16, d_kv=4, d_ff=32, num_layers=2, num_heads=4,
                      decoder_start_token_id=0)
    folder = tmp_path_factory.mktemp("tiny-t5")
    T5ForConditionalGeneration(config).save_pretrained(folder)
    return folder


def test_inspect_folder_without_tokenizer(ptm, tiny_t5_folder):
    result = ptm("inspect", str(tiny_t5_folder), "--format", "json")
    assert result.exit_code == 0, result.stderr
    record = result.json()
    assert record["source"] == "folder"
    assert record["model_class"] == "T5ForConditionalGeneration"
    assert record["config"]["position_embedding"] == "relative_buckets"
    assert record["tokenizer"] is None
    assert "no tokenizer files" in result.stderr
    # Shared embedding: the encoder's and decoder's embed_tokens are the same tensor as shared.
    assert record["total_parameters"] == record["checkpoint_values"]


def test_inspect_config_only(ptm, tiny_t5_folder):
    record = ptm("inspect", str(tiny_t5_folder), "--config-only", "--format", "json").json()
    assert record["tree"] is None
    assert record["total_parameters"] is None
    assert record["config"]["layers"] == 2
    assert record["config"]["hidden_size"] == 16


def test_inspect_three_models_rejected(ptm):
    result = ptm("inspect", "a", "b", "c")
    assert result.exit_code == 2
    assert "one or two models" in result.stderr


def test_inspect_missing_path(ptm):
    result = ptm("inspect", "./no-such-model")
    assert result.exit_code == 1
    assert "does not exist" in result.stderr


def test_inspect_uncached_hub_id_fails_fast(ptm):
    result = ptm("inspect", "someone/not-a-model-here", "--config-only")
    assert result.exit_code == 1
    assert "not-a-model-here" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.real
def test_inspect_minilm_pack(ptm):
    record = ptm("inspect", "minilm", "--format", "json").json()
    assert record["total_parameters"] == MINILM_TOTAL
    assert round(record["total_parameters"] / 1e6, 1) == 22.7
    # The checkpoint also stores the 512 position_ids buffer.
    assert record["checkpoint_values"] == MINILM_TOTAL + 512
    assert record["config"]["layers"] == 6
    assert record["config"]["normalization"] == "post-LN"
    tokenizer = record["tokenizer"]
    assert tokenizer["kind"] == "WordPiece"
    assert tokenizer["special_tokens"]["cls"] == {"token": "[CLS]", "id": 101}
    assert tokenizer["special_tokens"]["mask"] == {"token": "[MASK]", "id": 103}


@pytest.mark.real
def test_inspect_smollm2_pack(ptm):
    record = ptm("inspect", "smollm2", "--format", "json").json()
    assert record["total_parameters"] == SMOLLM2_TOTAL
    assert round(record["total_parameters"] / 1e6, 1) == 134.5
    assert record["checkpoint_values"] == SMOLLM2_TOTAL
    config = record["config"]
    assert (config["position_embedding"], config["rope_theta"]) == ("rotary", 100000.0)
    assert (config["normalization"], config["norm_kind"]) == ("pre-LN", "RMSNorm")
    assert (config["attention_heads"], config["key_value_heads"]) == (9, 3)
    modules = {module["name"]: module for module in record["modules"]}
    assert modules["model.embed_tokens"]["parameters"] == SMOLLM2_EMBEDDING
    assert modules["lm_head"]["shared"] == SMOLLM2_EMBEDDING
    assert modules["lm_head"]["shared_with"] == ["model.embed_tokens"]
    assert record["tokenizer"]["kind"] == "byte-level BPE"
    assert record["tokenizer"]["special_tokens"]["eos"] == {"token": "<|im_end|>", "id": 2}
    layers = record["tree"]["children"][0]["children"][1]
    assert layers["children"][0]["name"] == "0-29"
    assert layers["children"][0]["repeat"] == 30


@pytest.mark.real
def test_inspect_two_models_side_by_side(ptm):
    result = ptm("inspect", "minilm", "smollm2", "--format", "table")
    assert result.exit_code == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "minilm" in line and "smollm2" in line)
    assert header.index("minilm") < header.index("smollm2")
    assert "post-LN (LayerNorm)" in result.stdout
    assert "pre-LN (RMSNorm)" in result.stdout
    assert "(0-5): 6 × BertLayer" in result.stdout
    assert "(0-29): 30 × LlamaDecoderLayer" in result.stdout
    records = ptm("inspect", "minilm", "smollm2", "--format", "json").json()
    assert [record["model"] for record in records] == ["minilm", "smollm2"]


@pytest.mark.real
def test_inspect_plain_lists_facts(ptm):
    lines = ptm("inspect", "minilm", "--format", "plain").stdout.splitlines()
    assert "total: 22,713,216 (22.7M)" in lines
    assert "tokenizer: WordPiece (BertTokenizer)" in lines
    assert "pooler (BertPooler): 147,840 (147.8K)" in lines
    assert "      (0-5): 6 × BertLayer  1.8M each (" in lines


@pytest.fixture
def cached_hub_model(bbc_tokenizer, tmp_path):
    """A tiny BERT laid out in the Hugging Face cache as a download would leave it, under a unique repo id."""
    import shutil
    import uuid
    from pathlib import Path

    from huggingface_hub import constants
    from transformers import BertConfig

    name = f"ptm-tests/tiny-bert-{uuid.uuid4().hex[:8]}"
    repo = Path(constants.HF_HUB_CACHE) / ("models--" + name.replace("/", "--"))
    commit = "0" * 40
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    BertConfig(vocab_size=len(bbc_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
               intermediate_size=64, architectures=["BertForMaskedLM"]).save_pretrained(snapshot)
    bbc_tokenizer.save_pretrained(snapshot)
    yield name
    shutil.rmtree(repo)


def test_inspect_cached_hub_id_offline(ptm, cached_hub_model):
    result = ptm("inspect", cached_hub_model, "--format", "json")
    assert result.exit_code == 0, result.stderr
    record = result.json()
    assert record["source"] == "hub"
    assert record["model_class"] == "BertForMaskedLM"
    assert record["config"]["layers"] == 2
    assert record["tokenizer"]["kind"] == "WordPiece"
    assert record["tokenizer"]["vocab_size"] == 21128
    modules = {module["name"]: module for module in record["modules"]}
    # The MLM decoder shares its weight with the word embeddings; its bias is its own.
    assert modules["cls"]["shared_with"] == ["bert.embeddings"]
    assert modules["cls"]["shared"] == 21128 * 32
