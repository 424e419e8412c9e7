"""Byte-level pieces and whole-character streaming (field cases B08, B09)."""

import pytest

from ptmcli.engine.pieces import StreamDecoder, is_byte_level, is_partial_utf8, token_bytes

pytestmark = pytest.mark.real


def stream(tokenizer, ids):
    decoder = StreamDecoder(tokenizer)
    return [decoder.push(token_id) for token_id in ids], decoder


def test_gpt2_is_byte_level(gpt2_tokenizer, bbc_tokenizer):
    assert is_byte_level(gpt2_tokenizer)
    assert not is_byte_level(bbc_tokenizer)


def test_byte_symbols_match_gpt2_ids(gpt2_tokenizer):
    # GPT-2 ids 0-255 are the byte symbols; these are the ones the field cases name.
    expected = {239: 0x91, 97: 0xA4, 245: 0x97, 109: 0xB1, 198: 0x0A, 220: 0x20}
    for token_id, byte in expected.items():
        assert token_bytes(gpt2_tokenizer.convert_ids_to_tokens(token_id), True) == bytes([byte])


def test_lossy_decode_shows_why(gpt2_tokenizer):
    assert gpt2_tokenizer.decode([22755]) == "\ufffd"
    assert gpt2_tokenizer.decode([22755, 239]) == "我"
    assert gpt2_tokenizer.decode([8582]) == "\ufffd"


def test_stream_holds_partial_character(gpt2_tokenizer):
    pieces, decoder = stream(gpt2_tokenizer, [22755])
    assert pieces == [""]
    assert decoder.pending == b"\xe6\x88"
    assert decoder.push(239) == "我"
    assert decoder.pending == b""


def test_stream_emoji(gpt2_tokenizer):
    pieces, decoder = stream(gpt2_tokenizer, [8582, 97, 245])
    assert pieces == ["", "", "🤗"]
    assert decoder.flush() == b""


def test_stream_cut_off_character(gpt2_tokenizer):
    _, decoder = stream(gpt2_tokenizer, [8582, 97])
    assert decoder.flush() == b"\xf0\x9f\xa4"


def test_stream_of_sentence(gpt2_tokenizer):
    ids = gpt2_tokenizer("我说你倒是快点啊, ok 🤗")["input_ids"]
    pieces, _ = stream(gpt2_tokenizer, ids)
    assert "".join(pieces) == "我说你倒是快点啊, ok 🤗"
    assert not any("\ufffd" in piece for piece in pieces)


def test_stream_wordpiece(bbc_tokenizer):
    ids = bbc_tokenizer("我来自中国", add_special_tokens=False)["input_ids"]
    pieces, _ = stream(bbc_tokenizer, ids)
    assert "".join(pieces).replace(" ", "") == "我来自中国"


def test_partial_utf8():
    assert is_partial_utf8(b"\xe6\x88")
    assert not is_partial_utf8("我".encode())
    assert not is_partial_utf8(b"abc")
