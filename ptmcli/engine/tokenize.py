"""Tokenize texts and describe every piece: id, source span, bytes, special and unknown marks."""

import gc
import logging
from contextlib import contextmanager
from dataclasses import dataclass, fields

from ptmcli.engine.pieces import is_byte_level, is_partial_utf8, token_bytes
from ptmcli.errors import UsageError
from ptmcli.i18n import _

log = logging.getLogger("ptmcli")

# Tokenizers without a known limit report this sentinel (int(1e30)) as model_max_length.
UNLIMITED_LENGTH = 10**18


@dataclass(frozen=True)
class Piece:
    """One token with where it came from in the input."""

    index: int
    token: str
    id: int
    start: int | None  # character offsets into `text` (segment 0) or `pair` (segment 1)
    end: int | None
    segment: int | None  # None for special and padding tokens
    source: str | None  # the input characters this token covers
    special: bool
    unknown: bool
    bytes: str | None  # hex bytes of a byte-level piece, for example "e6 88"
    partial: bool  # the piece holds only part of a character's bytes


@dataclass(frozen=True)
class TokenizedText:
    """The full encoding of one input (or one sentence pair)."""

    text: str
    pair: str | None
    ids: list[int]
    tokens: list[str] | None  # None at detail "ids"
    attention_mask: list[int]
    token_type_ids: list[int] | None  # None when the model takes no token_type_ids, or below detail "pieces"
    special_tokens_mask: list[int] | None  # None below detail "pieces"
    pieces: list[Piece]  # empty below detail "pieces"
    truncated_tokens: int  # how many tokens truncation removed

    @property
    def unknown_count(self) -> int:
        return sum(piece.unknown for piece in self.pieces)

    def as_record(self) -> dict:
        # A shallow copy: dataclasses.asdict deep-copies every id list, which took most of the run
        # time of `ptm tokenize` on large files.
        record = _shallow_record(self)
        record["offsets"] = [
            None if piece.start is None else [piece.start, piece.end] for piece in self.pieces
        ]
        record["pieces"] = [_shallow_record(piece) for piece in self.pieces]
        return record


@contextmanager
def _collector_paused():
    """Pause Python's cyclic garbage collector while a batch is encoded and wrapped.

    Encoding builds several small lists per text and no reference cycles, yet the allocations
    set off collections that rescan every list built so far. On 20,000 lines that took as long
    as the encoding itself. Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _shallow_record(instance) -> dict:
    return {field.name: getattr(instance, field.name) for field in fields(instance)}


@dataclass(frozen=True)
class TokenizeOptions:
    add_special_tokens: bool = True
    truncation: str | None = None
    max_length: int | None = None
    # What to compute besides ids and the attention mask: "pieces" (everything), "tokens" (token
    # strings) or "ids". Describing every piece (source span, bytes) costs far more than encoding.
    # Even token strings, offsets and special-token masks add half to the cost of a plain encoding,
    # so the modes that print only ids, tokens or counts ask for less.
    detail: str = "pieces"
    padding: str = "do_not_pad"


def model_max_length(tokenizer) -> int | None:
    length = getattr(tokenizer, "model_max_length", None)
    return length if isinstance(length, int) and length < UNLIMITED_LENGTH else None


def uses_token_type_ids(tokenizer) -> bool:
    return "token_type_ids" in getattr(tokenizer, "model_input_names", ())


def ensure_pad_token(tokenizer) -> None:
    """Set a missing pad token (GPT-2 has none) to the end-of-sequence token, with a warning."""
    if tokenizer.pad_token is not None:
        return
    if tokenizer.eos_token is None:
        raise UsageError(
            _("this tokenizer has no pad token and no end-of-sequence token to pad with"),
            hint=_("tokenize the texts one at a time, without --padding"),
        )
    tokenizer.pad_token = tokenizer.eos_token
    log.warning(_("the tokenizer has no pad token, so padding uses the end-of-sequence token {token} (id {id})")
                .format(token=tokenizer.eos_token, id=tokenizer.eos_token_id))


def tokenize(tokenizer, texts: list[str], pairs: list[str] | None = None,
             options: TokenizeOptions = TokenizeOptions()) -> list[TokenizedText]:
    """Encode texts (and optional pair texts) as one batch and describe each piece."""
    if pairs is not None and len(pairs) != len(texts):
        raise UsageError(
            _("{texts} texts but {pairs} pair texts: give one pair text per text").format(
                texts=len(texts), pairs=len(pairs)
            )
        )
    padding = options.padding
    if padding != "do_not_pad":
        ensure_pad_token(tokenizer)
    truncation = options.truncation
    if truncation is None:
        truncation = "longest_first" if options.max_length else "do_not_truncate"
    if padding == "max_length" and not options.max_length:
        raise UsageError(_("--padding max_length needs --max-length N"))

    full = options.detail == "pieces"
    common = dict(add_special_tokens=options.add_special_tokens, return_attention_mask=True,
                  return_special_tokens_mask=full, return_offsets_mapping=full,
                  return_token_type_ids=full and uses_token_type_ids(tokenizer))
    with _collector_paused():
        batch = tokenizer(texts, pairs, truncation=truncation, max_length=options.max_length, padding=padding,
                          **common)
        full_lengths = _untruncated_lengths(tokenizer, texts, pairs, options, truncation)
        byte_level = is_byte_level(tokenizer)

        # The batch's lists are fresh Python lists that nothing else references, so each result keeps
        # them without a copy.
        results = []
        for row, text in enumerate(texts):
            pair = pairs[row] if pairs is not None else None
            ids = batch["input_ids"][row]
            # A fast tokenizer's encodings already contain the token strings. Converting the ids again
            # costs more than the encoding itself on large inputs.
            tokens = None
            if options.detail != "ids":
                tokens = batch.tokens(row) if batch.is_fast else tokenizer.convert_ids_to_tokens(ids)
            pieces = _describe(tokenizer, batch, row, tokens, text, pair, byte_level) if full else []
            attention_mask = batch["attention_mask"][row]
            results.append(TokenizedText(
                text=text,
                pair=pair,
                ids=ids,
                tokens=tokens,
                attention_mask=attention_mask,
                token_type_ids=batch["token_type_ids"][row] if "token_type_ids" in batch else None,
                special_tokens_mask=batch["special_tokens_mask"][row] if full else None,
                pieces=pieces,
                truncated_tokens=max(full_lengths[row] - sum(attention_mask), 0),
            ))
    _warn_if_too_long(tokenizer, results)
    return results


def decode(tokenizer, ids: list[int], skip_special_tokens: bool = False) -> str:
    vocab_size = len(tokenizer)
    invalid = [token_id for token_id in ids if not 0 <= token_id < vocab_size]
    if invalid:
        raise UsageError(
            _("token id {id} is outside this vocabulary (0 to {last})").format(id=invalid[0], last=vocab_size - 1)
        )
    return tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)


def _describe(tokenizer, batch, row, tokens, text, pair, byte_level) -> list[Piece]:
    ids = batch["input_ids"][row]
    offsets = batch["offset_mapping"][row]
    special_mask = batch["special_tokens_mask"][row]
    sequence_ids = batch.sequence_ids(row)
    unknown_id = tokenizer.unk_token_id
    pieces = []
    for index, (token, token_id) in enumerate(zip(tokens, ids, strict=True)):
        segment = sequence_ids[index]
        special = bool(special_mask[index]) or segment is None
        start, end = offsets[index] if not special else (None, None)
        source_text = text if segment == 0 else pair
        raw = token_bytes(token, byte_level) if not special else None
        pieces.append(Piece(
            index=index,
            token=token,
            id=int(token_id),
            start=start,
            end=end,
            segment=None if special else segment,
            source=source_text[start:end] if start is not None and source_text is not None else None,
            special=special,
            unknown=token_id == unknown_id and not special and not byte_level,
            bytes=raw.hex(" ") if raw is not None and byte_level else None,
            partial=raw is not None and is_partial_utf8(raw),
        ))
    return pieces


def _untruncated_lengths(tokenizer, texts, pairs, options, truncation) -> list[int]:
    if truncation == "do_not_truncate":
        return [0] * len(texts)
    full = tokenizer(texts, pairs, add_special_tokens=options.add_special_tokens, truncation=False)
    return [len(ids) for ids in full["input_ids"]]


def _warn_if_too_long(tokenizer, results: list[TokenizedText]) -> None:
    limit = model_max_length(tokenizer)
    if limit is None:
        return
    for result in results:
        length = sum(result.attention_mask)
        if length > limit:
            log.warning(_("input of {length} tokens is longer than the model's maximum ({length} > {limit}); "
                          "a model would fail on it, so pass --truncation longest_first or --max-length {limit}")
                        .format(length=length, limit=limit))
        if result.truncated_tokens:
            log.warning(_("truncation removed {count} tokens").format(count=result.truncated_tokens))
