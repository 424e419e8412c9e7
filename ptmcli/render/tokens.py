"""Terminal views of tokenizer output: token chips, a per-token table and a comparison table."""

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ptmcli.i18n import _, ngettext

CHIP_STYLES = ("black on bright_cyan", "black on bright_yellow", "black on bright_green", "black on bright_magenta")


def encoding_view(loaded, encoding) -> Group:
    """Show one encoded text: a header, the tokens as chips, then a row per token."""
    from ptmcli.engine.pieces import tokenizer_algorithm

    tokenizer = loaded.tokenizer
    header = Text()
    header.append(f"{loaded.source.reference}", style="bold")
    algorithm, byte_level = tokenizer_algorithm(tokenizer)
    if byte_level:
        algorithm = _("byte-level {algorithm}").format(algorithm=algorithm)
    header.append("  " + _("{algorithm}, vocabulary {size}").format(algorithm=algorithm, size=len(tokenizer)),
                  style="dim")
    tokens = sum(encoding.attention_mask)
    characters = len(encoding.text) + len(encoding.pair or "")
    header.append("  " + _("{tokens}, {characters}").format(
        tokens=ngettext("{count} token", "{count} tokens", tokens).format(count=tokens),
        characters=ngettext("{count} character", "{count} characters", characters).format(count=characters)))
    if encoding.truncated_tokens:
        header.append("  " + _("{count} truncated").format(count=encoding.truncated_tokens), style="yellow")
    return Group(header, _chips(encoding), _table(tokenizer, encoding), Text(""))


def _chips(encoding) -> Text:
    chips = Text()
    for piece in encoding.pieces:
        label = piece.token
        if piece.unknown:
            style = "bold white on red"
        elif piece.special:
            style = "dim"
        else:
            style = CHIP_STYLES[piece.index % len(CHIP_STYLES)]
        chips.append(f" {label} ", style=style)
        chips.append(" ")
    return chips


def _table(tokenizer, encoding) -> Table:
    # Bytes explain pieces of non-ASCII characters; for plain ASCII tokens they only repeat the text.
    has_bytes = any(_shows_bytes(piece) for piece in encoding.pieces)
    padded = 0 in encoding.attention_mask
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("#", justify="right", style="dim")
    table.add_column(_("token"))
    table.add_column(_("id"), justify="right")
    table.add_column(_("text"))
    table.add_column(_("offsets"), style="dim")
    if has_bytes:
        table.add_column(_("bytes"))
    if encoding.token_type_ids is not None:
        table.add_column(_("type"), justify="right")
    if padded:
        table.add_column(_("mask"), justify="right")
    table.add_column(_("note"))

    for piece in encoding.pieces:
        row = [str(piece.index), Text(piece.token), str(piece.id), Text(piece.source or ""),
               "" if piece.start is None else f"{piece.start}-{piece.end}"]
        if has_bytes:
            row.append(piece.bytes if _shows_bytes(piece) else "")
        if encoding.token_type_ids is not None:
            row.append(str(encoding.token_type_ids[piece.index]))
        if padded:
            row.append(str(encoding.attention_mask[piece.index]))
        row.append(_note(piece, encoding))
        table.add_row(*row)
    return table


def _shows_bytes(piece) -> bool:
    return bool(piece.bytes) and not bytes.fromhex(piece.bytes).isascii()


def _note(piece, encoding) -> Text:
    if piece.unknown:
        return Text(_("unknown: '{source}' at {start}-{end} is not in the vocabulary").format(
            source=piece.source, start=piece.start, end=piece.end), style="red")
    if piece.special:
        if encoding.attention_mask[piece.index] == 0:
            return Text(_("padding"), style="dim")
        return Text(_("special"), style="dim")
    if piece.partial:
        return Text(_("part of '{char}'").format(char=piece.source), style="yellow")
    return Text("")


def comparison_table(results) -> Table:
    """Compare tokenizers on the same texts: token counts, tokens per character, unknown rate."""
    table = Table(header_style="bold")
    table.add_column(_("text"))
    table.add_column(_("model"))
    table.add_column(_("tokens"), justify="right")
    table.add_column(_("tokens/char"), justify="right")
    table.add_column(_("unknown"), justify="right")
    table.add_column(_("pieces"))
    texts = [encoding.text for encoding in results[0][1]]
    for row, text in enumerate(texts):
        for position, (loaded, encodings) in enumerate(results):
            encoding = encodings[row]
            content = [piece for piece in encoding.pieces if not piece.special]
            characters = max(len(text) + len(encoding.pair or ""), 1)
            unknown = encoding.unknown_count
            table.add_row(
                Text(text) if position == 0 else "",
                loaded.source.reference,
                str(len(content)),
                f"{len(content) / characters:.2f}",
                f"{unknown} ({unknown / max(len(content), 1):.0%})",
                Text(" | ".join(piece.token for piece in content)),
                end_section=position == len(results) - 1,
            )
    return table
