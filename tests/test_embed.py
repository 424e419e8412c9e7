"""`ptm embed` on tiny BERT-family models, minilm and e5-small: pooling, layers, truncation, inputs, outputs."""

import json
import re
import struct

import numpy
import pytest
import torch

CHINESE = ["我来自中国", "我喜欢自然语言处理"]


def _save_tiny(folder, model, tokenizer):
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _bert_config(tokenizer, **overrides):
    from transformers import BertConfig

    settings = dict(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                    intermediate_size=64, max_position_embeddings=512)
    settings.update(overrides)
    return BertConfig(**settings)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, bbc_tokenizer):
    """A random-weight 3-layer BertModel with a pooler, and the real bert-base-chinese tokenizer."""
    from transformers import BertModel

    torch.manual_seed(0)
    model = BertModel(_bert_config(bbc_tokenizer)).eval()
    with torch.no_grad():
        model.pooler.dense.bias.uniform_(-0.5, 0.5)
    return _save_tiny(tmp_path_factory.mktemp("tiny-bert"), model, bbc_tokenizer)


@pytest.fixture(scope="session")
def tiny_mlm_bert(tmp_path_factory, bbc_tokenizer):
    """A checkpoint saved from BertForMaskedLM: it has no pooler weights at all."""
    from transformers import BertForMaskedLM

    torch.manual_seed(1)
    model = BertForMaskedLM(_bert_config(bbc_tokenizer)).eval()
    return _save_tiny(tmp_path_factory.mktemp("tiny-mlm-bert"), model, bbc_tokenizer)


@pytest.fixture(scope="session")
def tiny_distilbert(tmp_path_factory, bbc_tokenizer):
    """DistilBERT with a BERT tokenizer, which emits token_type_ids that DistilBERT cannot use."""
    from transformers import DistilBertConfig, DistilBertModel

    torch.manual_seed(2)
    config = DistilBertConfig(vocab_size=len(bbc_tokenizer), dim=32, n_layers=2, n_heads=2, hidden_dim=64)
    return _save_tiny(tmp_path_factory.mktemp("tiny-distilbert"), DistilBertModel(config).eval(), bbc_tokenizer)


@pytest.fixture(scope="session")
def tiny_bert_unlimited(tmp_path_factory, bbc_tokenizer):
    """A tokenizer whose model_max_length is the 'no limit' sentinel, and a config with 64 positions."""
    from transformers import AutoTokenizer, BertModel

    from ptmcli.packs.catalog import BUILTIN_DIR

    torch.manual_seed(3)
    folder = tmp_path_factory.mktemp("tiny-bert-unlimited")
    BertModel(_bert_config(bbc_tokenizer, max_position_embeddings=64)).eval().save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(BUILTIN_DIR / "bert-base-chinese"))
    tokenizer.model_max_length = int(1e30)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory, bbc_tokenizer):
    from transformers import T5Config, T5Model

    config = T5Config(vocab_size=len(bbc_tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=2,
                      decoder_start_token_id=0)
    return _save_tiny(tmp_path_factory.mktemp("tiny-t5"), T5Model(config).eval(), bbc_tokenizer)


def embed_json(ptm, *args, stdin: bytes = b""):
    result = ptm("embed", *args, "--format", "json", stdin=stdin)
    assert result.exit_code == 0, result.stderr
    document = result.json()
    return document if isinstance(document, list) else [document]


def direct_outputs(folder, texts, **forward_options):
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    batch = tokenizer(texts, padding=len(texts) > 1, return_tensors="pt")
    with torch.no_grad():
        return model, batch, model(**batch, **forward_options)


# Shapes and pooling.


def test_tiny_bert_cls_shapes(ptm, tiny_bert):
    records = embed_json(ptm, "-m", str(tiny_bert), "--pooling", "cls", *CHINESE)
    assert [record["dim"] for record in records] == [32, 32]
    assert [record["num_tokens"] for record in records] == [7, 11]
    _model, _batch, outputs = direct_outputs(tiny_bert, CHINESE)
    expected = outputs.last_hidden_state[:, 0].numpy()
    numpy.testing.assert_allclose([record["embedding"] for record in records], expected, atol=1e-5)


def test_tiny_bert_table_shows_shapes(ptm, tiny_bert):
    result = ptm("embed", "-m", str(tiny_bert), "--pooling", "cls", *CHINESE, "-F", "table")
    assert result.exit_code == 0, result.stderr
    assert "last_hidden_state  [2, 11, 32]" in result.stdout
    assert "pooler_output      [2, 32]" in result.stdout
    assert "[2, 32]" in result.stdout
    assert "7 tokens (5 text + 2 special)" in result.stdout
    assert "token features [7, 32]" in result.stdout


@pytest.mark.parametrize("pooling", ["mean", "max", "cls"])
def test_padding_leaves_vector_unchanged(ptm, tiny_bert, pooling):
    alone = embed_json(ptm, "-m", str(tiny_bert), "--pooling", pooling, "我来自中国")[0]["embedding"]
    padded = embed_json(ptm, "-m", str(tiny_bert), "--pooling", pooling, "我来自中国",
                        "我喜欢自然语言处理，也喜欢机器学习和深度学习")[0]["embedding"]
    numpy.testing.assert_allclose(alone, padded, atol=1e-5)


def test_mean_pooling_matches_masked_average(ptm, tiny_bert):
    records = embed_json(ptm, "-m", str(tiny_bert), "--pooling", "mean", *CHINESE)
    _model, batch, outputs = direct_outputs(tiny_bert, CHINESE)
    mask = batch["attention_mask"].unsqueeze(-1).float()
    expected = ((outputs.last_hidden_state * mask).sum(1) / mask.sum(1)).numpy()
    numpy.testing.assert_allclose([record["embedding"] for record in records], expected, atol=1e-5)


def test_unknown_pooling_rejected(ptm, tiny_bert):
    result = ptm("embed", "-m", str(tiny_bert), "--pooling", "median", "我")
    assert result.exit_code == 2
    assert "median" in result.stderr


@pytest.mark.parametrize(("mix", "dim"), [("concat", 64), ("sum", 32), ("mean", 32)])
def test_layers_mix(ptm, tiny_bert, mix, dim):
    record = embed_json(ptm, "-m", str(tiny_bert), "--pooling", "cls", "--layers", "-2,-1", "--layer-mix", mix,
                        "我来自中国")[0]
    assert record["dim"] == dim
    assert record["layers"] == [2, 3]
    _model, _batch, outputs = direct_outputs(tiny_bert, ["我来自中国"], output_hidden_states=True)
    second_last, last = outputs.hidden_states[2][0, 0], outputs.hidden_states[3][0, 0]
    expected = {"concat": torch.cat([second_last, last]), "sum": second_last + last,
                "mean": (second_last + last) / 2}[mix]
    numpy.testing.assert_allclose(record["embedding"], expected.numpy(), atol=1e-5)


def test_layers_range_selects_last_two(ptm, tiny_bert):
    record = embed_json(ptm, "-m", str(tiny_bert), "--layers", "-2:", "我")[0]
    assert record["layers"] == [2, 3]


@pytest.mark.parametrize("spec", ["4", "-5", "7:"])
def test_layers_out_of_range(ptm, tiny_bert, spec):
    result = ptm("embed", "-m", str(tiny_bert), "--layers", spec, "我")
    assert result.exit_code == 2
    assert "out of range: this model has 3 layers" in result.stderr


def test_layers_not_a_number(ptm, tiny_bert):
    result = ptm("embed", "-m", str(tiny_bert), "--layers", "last", "我")
    assert result.exit_code == 2
    assert "invalid --layers value 'last'" in result.stderr


# Tokens, normalization, prefix.


def test_tokens_aligned_with_specials_marked(ptm, tiny_bert):
    record = embed_json(ptm, "-m", str(tiny_bert), "--pooling", "cls", "--tokens", "我来自中国")[0]
    tokens = record["tokens"]
    assert [token["token"] for token in tokens] == ["[CLS]", "我", "来", "自", "中", "国", "[SEP]"]
    assert [token["special"] for token in tokens] == [True, False, False, False, False, False, True]
    assert [(token["start"], token["end"]) for token in tokens[1:-1]] == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert record["token_features_shape"] == [7, 32]
    numpy.testing.assert_allclose(tokens[0]["features"], record["embedding"], atol=1e-6)


def test_normalize_gives_unit_vectors(ptm, tiny_bert):
    records = embed_json(ptm, "-m", str(tiny_bert), "--normalize", *CHINESE)
    for record in records:
        assert record["normalized"] is True
        assert numpy.linalg.norm(record["embedding"]) == pytest.approx(1.0, abs=1e-5)


def test_prefix_is_embedded_with_text(ptm, tiny_bert):
    prefixed = embed_json(ptm, "-m", str(tiny_bert), "--prefix", "问：", "--tokens", "中国")[0]
    joined = embed_json(ptm, "-m", str(tiny_bert), "问：中国")[0]
    assert prefixed["text"] == "中国"
    assert [token["token"] for token in prefixed["tokens"]][1:3] == ["问", "："]
    numpy.testing.assert_allclose(prefixed["embedding"], joined["embedding"], atol=1e-6)


# Similarity.


def test_similarity_matrix_is_cosine(ptm, tiny_bert):
    texts = ["我来自中国", "我喜欢自然语言处理", "今天天气很好"]
    matrix = embed_json(ptm, "-m", str(tiny_bert), "--pooling", "mean", "--similarity", *texts)[0]["similarity"]
    vectors = numpy.array([record["embedding"]
                           for record in embed_json(ptm, "-m", str(tiny_bert), "--pooling", "mean", *texts)])
    unit = vectors / numpy.linalg.norm(vectors, axis=1, keepdims=True)
    numpy.testing.assert_allclose(matrix, unit @ unit.T, atol=1e-5)
    assert [matrix[index][index] for index in range(3)] == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)


def test_similarity_heat_map_table(ptm, tiny_bert):
    result = ptm("embed", "-m", str(tiny_bert), "--similarity", "我来自中国", "中国", "-F", "table")
    assert result.exit_code == 0, result.stderr
    assert "1.000" in result.stdout
    assert "cosine similarity" in result.stdout


def test_plot_writes_png(ptm, tiny_bert, tmp_path):
    pytest.importorskip("matplotlib")
    picture = tmp_path / "similarity.png"
    result = ptm("embed", "-m", str(tiny_bert), "--plot", str(picture), "我来自中国", "中国")
    assert result.exit_code == 0, result.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.json()["similarity"][0][0] == pytest.approx(1.0, abs=1e-5)


def test_plot_needs_png_name(ptm, tiny_bert, tmp_path):
    result = ptm("embed", "-m", str(tiny_bert), "--plot", str(tmp_path / "similarity.jpg"), "我")
    assert result.exit_code == 2
    assert ".png" in result.stderr


# Inputs longer than the model's maximum are truncated with a warning.


def test_long_input_truncated_with_warning(ptm, tiny_bert):
    result = ptm("embed", "-m", str(tiny_bert), "字" * 600, "--format", "json")
    assert result.exit_code == 0, result.stderr
    record = result.json()
    assert record["num_tokens"] == 512
    assert record["truncated_tokens"] == 90
    assert "602 > 512" in result.stderr
    assert "the last 90 tokens were cut" in result.stderr


def test_sentinel_limit_falls_back_to_positions(ptm, tiny_bert_unlimited):
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(str(tiny_bert_unlimited)).model_max_length > 10**18
    result = ptm("embed", "-m", str(tiny_bert_unlimited), "字" * 100, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["num_tokens"] == 64
    assert "102 > 64" in result.stderr


# token_type_ids only for models whose forward names them.


def _forward_keywords(model):
    seen = []
    model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(sorted(kwargs)), with_kwargs=True)
    return seen


def test_distilbert_gets_no_token_type_ids(tiny_distilbert):
    from transformers import AutoModel, AutoTokenizer

    from ptmcli.engine.embed import EmbedOptions, embed, plan
    from ptmcli.engine.encoder import inspect_encoder

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_distilbert))
    model = AutoModel.from_pretrained(str(tiny_distilbert)).eval()
    assert "token_type_ids" in tokenizer(["我"]).keys()
    info = inspect_encoder(model, tokenizer, str(tiny_distilbert))
    assert "token_type_ids" not in info.forward_inputs
    seen = _forward_keywords(model)
    results = list(embed(model, tokenizer, CHINESE, info, plan(info, EmbedOptions(pooling="mean"))))
    assert seen and all("token_type_ids" not in keywords for keywords in seen)
    batch = tokenizer(CHINESE, padding=True, return_tensors="pt")
    del batch["token_type_ids"]
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    numpy.testing.assert_allclose(numpy.stack([item.vector for item in results]),
                                  ((hidden * mask).sum(1) / mask.sum(1)).numpy(), atol=1e-5)


def test_bert_still_gets_token_type_ids(tiny_bert):
    from transformers import AutoModel, AutoTokenizer

    from ptmcli.engine.embed import EmbedOptions, embed, plan
    from ptmcli.engine.encoder import inspect_encoder

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert))
    model = AutoModel.from_pretrained(str(tiny_bert)).eval()
    info = inspect_encoder(model, tokenizer, str(tiny_bert))
    seen = _forward_keywords(model)
    list(embed(model, tokenizer, ["我"], info, plan(info, EmbedOptions())))
    assert "token_type_ids" in seen[0]


def test_distilbert_table_says_not_used(ptm, tiny_distilbert):
    result = ptm("embed", "-m", str(tiny_distilbert), "--pooling", "mean", "我", "-F", "table")
    assert result.exit_code == 0, result.stderr
    assert re.search(r"token_type_ids +not used", result.stdout)


def test_distilbert_has_no_pooler(ptm, tiny_distilbert):
    result = ptm("embed", "-m", str(tiny_distilbert), "--pooling", "pooler", "我")
    assert result.exit_code == 2
    assert "has no pooler" in result.stderr


# A pooler without trained weights is reported, never printed.


def test_untrained_pooler_refused(ptm, tiny_mlm_bert):
    result = ptm("embed", "-m", str(tiny_mlm_bert), "--pooling", "pooler", "我")
    assert result.exit_code == 1
    assert "no trained pooler weights" in result.stderr
    assert "--pooling cls" in result.stderr


def test_untrained_pooler_not_shown(ptm, tiny_mlm_bert):
    result = ptm("embed", "-m", str(tiny_mlm_bert), "--pooling", "cls", "我", "-F", "table")
    assert result.exit_code == 0, result.stderr
    assert "pooler_output      not shown" in result.stdout


def test_trained_pooler_is_tanh_of_cls(ptm, tiny_bert):
    pooled = embed_json(ptm, "-m", str(tiny_bert), "--pooling", "pooler", "我来自中国")[0]["embedding"]
    cls = embed_json(ptm, "-m", str(tiny_bert), "--pooling", "cls", "我来自中国")[0]["embedding"]
    model, _batch, outputs = direct_outputs(tiny_bert, ["我来自中国"])
    dense = model.pooler.dense
    expected = torch.tanh(outputs.last_hidden_state[:, 0] @ dense.weight.T + dense.bias)[0]
    numpy.testing.assert_allclose(pooled, expected.detach().numpy(), atol=1e-5)
    assert all(-1 < value < 1 for value in pooled)
    numpy.testing.assert_allclose(cls, outputs.last_hidden_state[0, 0].numpy(), atol=1e-5)
    assert not numpy.allclose(pooled, cls, atol=1e-2)


def test_pooler_with_layers_rejected(ptm, tiny_bert):
    result = ptm("embed", "-m", str(tiny_bert), "--pooling", "pooler", "--layers", "-2", "我")
    assert result.exit_code == 2
    assert "cannot be combined with --layers" in result.stderr


# Devices.


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_is_clean_error(ptm, tiny_bert):
    result = ptm("embed", "-m", str(tiny_bert), "--device", "cuda", "我")
    assert result.exit_code == 2
    assert "CUDA is not available" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(ptm, tiny_bert):
    on_cpu = embed_json(ptm, "-m", str(tiny_bert), "--device", "cpu", *CHINESE)
    on_cuda = embed_json(ptm, "-m", str(tiny_bert), "--device", "cuda", "--dtype", "float32", *CHINESE)
    numpy.testing.assert_allclose([r["embedding"] for r in on_cuda], [r["embedding"] for r in on_cpu], atol=1e-4)


# Models that are not encoders.


def test_decoder_only_explained(ptm, tiny_gpt2):
    result = ptm("embed", "-m", str(tiny_gpt2), "hello")
    assert result.exit_code == 1
    assert "decoder-only model (gpt2)" in result.stderr
    assert "--allow-decoder" in result.stderr


def test_decoder_allowed_mean_of_last_hidden_state(ptm, tiny_gpt2):
    record = embed_json(ptm, "-m", str(tiny_gpt2), "--allow-decoder", "hello world")[0]
    assert record["pooling"] == "mean"
    assert record["dim"] == 32
    _model, _batch, outputs = direct_outputs(tiny_gpt2, ["hello world"])
    numpy.testing.assert_allclose(record["embedding"], outputs.last_hidden_state[0].mean(0).numpy(), atol=1e-5)


def test_decoder_rejects_cls(ptm, tiny_gpt2):
    result = ptm("embed", "-m", str(tiny_gpt2), "--allow-decoder", "--pooling", "cls", "hello")
    assert result.exit_code == 2
    assert "needs an encoder" in result.stderr


def test_encoder_decoder_explained(ptm, tiny_t5):
    result = ptm("embed", "-m", str(tiny_t5), "hello")
    assert result.exit_code == 1
    assert "encoder-decoder model (t5)" in result.stderr


# Input files and output files.


def test_empty_lines_stop_with_line_numbers(ptm, tiny_bert, tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("我来自中国\n\n中国\n  \n", encoding="utf-8")
    result = ptm("embed", "-m", str(tiny_bert), "--file", str(lines))
    assert result.exit_code == 2
    assert "2 empty lines (lines 2, 4)" in result.stderr
    assert "--skip-empty" in result.stderr


def test_skip_empty_keeps_line_numbers(ptm, tiny_bert, tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("我来自中国\n\n中国\n", encoding="utf-8")
    result = ptm("embed", "-m", str(tiny_bert), "--file", str(lines), "--skip-empty")
    assert result.exit_code == 0, result.stderr
    assert [(record["line"], record["text"]) for record in result.jsonl()] == [(1, "我来自中国"), (3, "中国")]
    assert "skipped 1 empty line" in result.stderr


def test_output_in_missing_folder(ptm, tiny_bert, tmp_path):
    result = ptm("embed", "-m", str(tiny_bert), "--output", str(tmp_path / "missing" / "vectors.npy"), "我")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert "mkdir -p" in result.stderr


def test_output_unknown_suffix(ptm, tiny_bert, tmp_path):
    result = ptm("embed", "-m", str(tiny_bert), "--output", str(tmp_path / "vectors.csv"), "我")
    assert result.exit_code == 2
    assert ".npy" in result.stderr


def _mixed_lines(count: int) -> list[str]:
    words = ["我", "来自", "中国", "喜欢", "自然语言处理", "机器学习"]
    return [" ".join(words[(index + offset) % len(words)] for offset in range(1 + index % 7))
            for index in range(count)]


@pytest.fixture(scope="module")
def reference_vectors(tiny_bert):
    """Vectors of 40 lines of different lengths, each embedded alone."""
    from transformers import AutoModel, AutoTokenizer

    texts = _mixed_lines(40)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert))
    model = AutoModel.from_pretrained(str(tiny_bert)).eval()
    vectors = []
    with torch.no_grad():
        for text in texts:
            hidden = model(**tokenizer([text], return_tensors="pt")).last_hidden_state
            vectors.append(hidden[0].mean(0).numpy())
    return texts, numpy.stack(vectors)


@pytest.mark.parametrize("suffix", ["npy", "jsonl"])
def test_failed_run_leaves_no_output(ptm, tiny_bert, tmp_path, monkeypatch, suffix):
    from ptmcli.engine import embed as engine

    real_embed = engine.embed

    def failing_embed(*args, **kwargs):
        for position, item in enumerate(real_embed(*args, **kwargs)):
            if position == 5:
                raise RuntimeError("simulated failure")
            yield item

    monkeypatch.setattr(engine, "embed", failing_embed)
    path = tmp_path / f"vectors.{suffix}"
    path.write_text("old contents")
    result = ptm("embed", "-m", str(tiny_bert), "--batch-size", "2", "--output", str(path),
                 stdin="\n".join(f"text {number}" for number in range(20)).encode())
    assert result.exit_code == 1
    assert path.read_text() == "old contents"
    assert sorted(entry.name for entry in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("suffix", ["npy", "safetensors", "parquet", "jsonl"])
def test_output_files_keep_input_order(ptm, tiny_bert, tmp_path, reference_vectors, suffix):
    texts, expected = reference_vectors
    path = tmp_path / f"vectors.{suffix}"
    result = ptm("embed", "-m", str(tiny_bert), "--pooling", "mean", "--batch-size", "3", "--output", str(path),
                 stdin="\n".join(texts).encode())
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    # The stderr console wraps long lines at 80 columns.
    assert f"wrote 40 vectors of dimension 32 to {path}" in result.stderr.replace("\n", "")
    if suffix == "npy":
        vectors = numpy.load(path)
    elif suffix == "safetensors":
        from safetensors.numpy import load_file

        vectors = load_file(str(path))["embeddings"]
        header_size = struct.unpack("<Q", path.read_bytes()[:8])[0]
        metadata = json.loads(path.read_bytes()[8:8 + header_size])["__metadata__"]
        assert metadata["pooling"] == "mean"
    elif suffix == "parquet":
        import pyarrow.parquet

        table = pyarrow.parquet.read_table(path)
        assert table.column("text").to_pylist() == texts
        assert table.column("index").to_pylist() == list(range(40))
        vectors = numpy.array(table.column("embedding").to_pylist(), dtype=numpy.float32)
    else:
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert [record["text"] for record in records] == texts
        assert [record["line"] for record in records] == list(range(1, 41))
        vectors = numpy.array([record["embedding"] for record in records])
    assert vectors.shape == (40, 32)
    numpy.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_tokens_need_jsonl_output(ptm, tiny_bert, tmp_path):
    result = ptm("embed", "-m", str(tiny_bert), "--tokens", "--output", str(tmp_path / "v.npy"), "我")
    assert result.exit_code == 2
    assert ".jsonl" in result.stderr


def test_stdin_streams_jsonl_with_progress(ptm, tiny_bert, reference_vectors):
    texts, expected = reference_vectors
    result = ptm("embed", "-m", str(tiny_bert), "--pooling", "mean", "--batch-size", "2",
                 stdin="\n".join(texts).encode())
    assert result.exit_code == 0, result.stderr
    records = result.jsonl()
    assert [record["index"] for record in records] == list(range(40))
    numpy.testing.assert_allclose([record["embedding"] for record in records], expected, atol=1e-5)
    assert "embedded 40 of 40 texts" in result.stderr


def test_chunks_keep_input_order(tiny_bert, reference_vectors, monkeypatch):
    from transformers import AutoModel, AutoTokenizer

    from ptmcli.engine import embed as embed_module
    from ptmcli.engine.encoder import inspect_encoder

    monkeypatch.setattr(embed_module, "CHUNK_BATCHES", 2)
    texts, expected = reference_vectors
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert))
    model = AutoModel.from_pretrained(str(tiny_bert)).eval()
    info = inspect_encoder(model, tokenizer, str(tiny_bert))
    progress = []
    results = list(embed_module.embed(model, tokenizer, texts, info,
                                      embed_module.plan(info, embed_module.EmbedOptions(pooling="mean",
                                                                                        batch_size=3)),
                                      on_progress=lambda done, total: progress.append(done)))
    assert [item.index for item in results] == list(range(40))
    numpy.testing.assert_allclose(numpy.stack([item.vector for item in results]), expected, atol=1e-5)
    assert progress[-1] == 40
    assert progress == sorted(progress)


# Pure pooling functions.


def test_masked_max_ignores_padding():
    from ptmcli.engine.pooling import masked_max, masked_mean

    features = torch.tensor([[[1.0, -2.0], [3.0, -1.0], [9.0, 9.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert masked_max(features, mask).tolist() == [[3.0, -1.0]]
    assert masked_mean(features, mask).tolist() == [[2.0, -1.5]]


# The real packs.


@pytest.mark.real
def test_minilm_cls_acceptance(ptm):
    texts = ["I like natural language processing", "The weather is nice today"]
    records = embed_json(ptm, "-m", "minilm", "--pooling", "cls", *texts)
    assert [record["dim"] for record in records] == [384, 384]
    table = ptm("embed", "-m", "minilm", "--pooling", "cls", *texts, "-F", "table").stdout
    assert "features           [2, 384]" in table
    assert "token features [7, 384]" in table


@pytest.mark.real
def test_minilm_defaults_to_its_mean_pooling(ptm):
    record = embed_json(ptm, "-m", "minilm", "hello")[0]
    assert record["pooling"] == "mean"


@pytest.mark.real
def test_minilm_parity_with_sentence_transformers(ptm):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    from conftest import pack_folder

    folder = pack_folder("minilm")
    texts = ["I like natural language processing", "我来自中国", "The house is wonderful", "A" * 5]
    records = embed_json(ptm, "-m", "minilm", "--pooling", "mean", "--normalize", *texts)
    reference = sentence_transformers.SentenceTransformer(str(folder), device="cpu").encode(
        texts, normalize_embeddings=True)
    ours = numpy.array([record["embedding"] for record in records])
    cosines = (ours * reference).sum(axis=1) / numpy.linalg.norm(ours, axis=1) / numpy.linalg.norm(reference, axis=1)
    assert cosines.min() >= 0.9999


@pytest.mark.real
@pytest.mark.slow
def test_e5_small_chinese_tokens_and_similarity(ptm):
    record = embed_json(ptm, "--tokens", "我来自中国")[0]
    assert record["model"] == "e5-small"
    assert [token["token"] for token in record["tokens"]] == ["<s>", "▁我", "来自", "中国", "</s>"]
    texts = ["我来自中国", "I come from China", "The house is wonderful"]
    matrix = embed_json(ptm, "--prefix", "query: ", "--similarity", *texts)[0]["similarity"]
    assert matrix[0][1] == pytest.approx(0.91, abs=0.01)
    assert matrix[0][2] == pytest.approx(0.74, abs=0.01)


@pytest.mark.real
@pytest.mark.slow
def test_e5_small_limits(ptm):
    without_prefix = ptm("embed", "我来自中国", "--format", "json")
    assert "--prefix \"query: \"" in without_prefix.stderr
    assert without_prefix.json()["pooling"] == "mean"
    pooler = ptm("embed", "--pooling", "pooler", "我来自中国")
    assert pooler.exit_code == 1
    assert "no trained pooler weights" in pooler.stderr
    listing = ptm("models", "list", "-F", "json").json()
    e5 = next(record for record in listing if record["name"] == "e5-small")
    assert "4-bit" in e5["summary"]
    assert "no pooler and no masked-LM head" in e5["summary"]
