"""Terminal views of `ptm mask`: fillers per mask, and the masking of a text for pre-training."""

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ptmcli.i18n import _

KIND_STYLES = {"mask": "bold white on red", "random": "black on bright_yellow", "unchanged": "black on bright_green"}


def fill_view(result) -> Group:
    parts = [Text(result.text, style="dim"), Text(result.filled, style="bold")]
    for number, slot in enumerate(result.masks, start=1):
        table = Table(box=None, pad_edge=False, header_style="bold",
                      title=_("mask {number} (position {index})").format(number=number, index=slot.index),
                      title_justify="left", title_style="bold")
        table.add_column(_("token"))
        table.add_column(_("id"), justify="right")
        table.add_column(_("prob"), justify="right")
        for candidate in slot.candidates:
            table.add_row(candidate.token, str(candidate.id), f"{candidate.probability:.3f}")
        parts.append(table)
    parts.append(Text(""))
    return Group(*parts)


def masking_view(demo) -> Group:
    kinds = {position.index: position.kind for position in demo.selected}
    chips = Text()
    for index, token in enumerate(demo.input_tokens):
        chips.append(f" {token} ", style=KIND_STYLES.get(kinds.get(index), "dim" if index in kinds else ""))
        chips.append(" ")
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("#", justify="right", style="dim")
    table.add_column(_("original"))
    table.add_column(_("model sees"))
    table.add_column(_("kind"))
    for position in demo.selected:
        table.add_row(str(position.index), position.token, position.replacement,
                      Text(position.kind, style=KIND_STYLES[position.kind]))
    counts = {kind: sum(position.kind == kind for position in demo.selected) for kind in KIND_STYLES}
    summary = _("{selected} of {candidates} tokens selected: {mask} [MASK], {random} random, {unchanged} "
                "unchanged; the loss is computed only at these positions").format(
        selected=len(demo.selected), candidates=demo.candidates, mask=counts["mask"], random=counts["random"],
        unchanged=counts["unchanged"])
    parts = [Text(demo.text, style="dim"), chips, table, Text(summary, style="dim")]
    if demo.words is not None:
        parts.append(Text(_("words ({segmenter}): {words}").format(segmenter=demo.segmenter,
                                                                  words=" / ".join(demo.words)), style="dim"))
    parts.append(Text(""))
    return Group(*parts)
