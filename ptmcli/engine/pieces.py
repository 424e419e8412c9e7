"""Map tokens back to the bytes they stand for, and decode a stream of tokens by whole characters.

Byte-level BPE (GPT-2, SmolLM2) writes each byte as one printable symbol, so a CJK character of
three UTF-8 bytes can end up split over two or three tokens whose strings look like mojibake
(`æĪ` + `ĳ` for 我). Showing those bytes, and decoding only complete characters, is the lesson.
"""

import codecs
import re
from functools import lru_cache

_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@lru_cache(maxsize=1)
def _symbol_to_byte() -> dict[str, int]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return {symbol: byte for byte, symbol in bytes_to_unicode().items()}


def is_byte_level(tokenizer) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    return "ByteLevel" in repr(backend.decoder) or "ByteLevel" in repr(backend.pre_tokenizer)


def tokenizer_algorithm(tokenizer) -> tuple[str, bool]:
    """Return the tokenizer's algorithm as the field names it (WordPiece, BPE, Unigram) and whether it is byte-level."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return type(tokenizer).__name__, False
    return type(backend.model).__name__, is_byte_level(tokenizer)


def token_bytes(token: str, byte_level: bool) -> bytes | None:
    """Return the raw bytes behind a byte-level or byte-fallback token, or None for a plain token."""
    fallback = _BYTE_FALLBACK.match(token)
    if fallback:
        return bytes([int(fallback.group(1), 16)])
    if byte_level:
        table = _symbol_to_byte()
        if all(symbol in table for symbol in token):
            return bytes(table[symbol] for symbol in token)
    return None


def is_partial_utf8(data: bytes) -> bool:
    """Tell whether the bytes are not a whole sequence of UTF-8 characters on their own."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


class StreamDecoder:
    """Turn generated token ids into text, emitting only whole characters.

    For byte-level tokenizers the bytes go through an incremental UTF-8 decoder, which holds back
    an incomplete character (`e6 88`) until its last byte (`91`) arrives. Other tokenizers decode
    the running id list and emit what was added, holding back a trailing U+FFFD.
    """

    def __init__(self, tokenizer, skip_special_tokens: bool = True):
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self.byte_level = is_byte_level(tokenizer)
        self.special_ids = set(tokenizer.all_special_ids)
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = b""
        self._ids: list[int] = []
        self._emitted = ""

    @property
    def pending(self) -> bytes:
        """Bytes of an incomplete character that are waiting for the next token."""
        return self._pending

    def push(self, token_id: int) -> str:
        if self.skip_special_tokens and token_id in self.special_ids:
            return ""
        token = self.tokenizer.convert_ids_to_tokens(token_id)
        raw = token_bytes(token, self.byte_level) if self.byte_level else None
        if raw is not None:
            text = self._utf8.decode(raw)
            self._pending = self._utf8.getstate()[0]
            return text
        return self._push_by_decode(token_id)

    def _push_by_decode(self, token_id: int) -> str:
        self._ids.append(token_id)
        text = self.tokenizer.decode(self._ids, skip_special_tokens=self.skip_special_tokens)
        if text.endswith("\ufffd"):
            return ""
        added = text[len(self._emitted):] if text.startswith(self._emitted) else text
        self._emitted = text
        return added

    def flush(self) -> bytes:
        """End the stream and return the bytes of a character that never completed, if any.

        They are returned rather than decoded, because decoding them could only give U+FFFD.
        """
        leftover = self._pending
        self._utf8.reset()
        self._pending = b""
        return leftover
