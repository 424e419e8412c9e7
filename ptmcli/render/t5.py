"""Terminal views of `ptm t5`: the tokenizer's view of an input, text-to-text results, span corruption."""

import re

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ptmcli.i18n import _, ngettext
from ptmcli.render.steps import steps_table, summary_line

SENTINEL = re.compile(r"(<extra_id_\d+>)")
CHIP_STYLES = ("black on bright_cyan", "black on bright_yellow", "black on bright_green", "black on bright_magenta")
SENTINEL_STYLE = "bold black on bright_red"


def _chips(tokens: list[str], ids: list[int] | None = None, special_ids: set[int] | None = None) -> Text:
    chips = Text()
    for index, token in enumerate(tokens):
        if SENTINEL.fullmatch(token):
            style = SENTINEL_STYLE
        elif special_ids is not None and ids is not None and ids[index] in special_ids:
            style = "dim reverse"
        else:
            style = CHIP_STYLES[index % len(CHIP_STYLES)]
        chips.append(f" {token} ", style=style)
        chips.append(" ")
    return chips


def token_view(model: str, view) -> Group:
    header = Text()
    header.append(model, style="bold")
    header.append("  " + ngettext("{count} token", "{count} tokens", len(view.ids)).format(count=len(view.ids)),
                  style="dim")
    special_ids = {view.ids[position] for position in view.special}
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("#", justify="right", style="dim")
    table.add_column(_("token"))
    table.add_column(_("id"), justify="right")
    table.add_column(_("note"), style="dim")
    unknown = iter(view.unknown)
    for index, (token, token_id) in enumerate(zip(view.tokens, view.ids, strict=True)):
        note = ""
        if SENTINEL.fullmatch(token):
            note = _("sentinel")
        elif token == "<unk>" and view.unknown:
            note = _("unknown: {text}").format(text=next(unknown, "?"))
        elif token_id in special_ids:
            note = _("special")
        table.add_row(str(index), Text(token), str(token_id), note)
    decoded = Text(_("decode(skip_special_tokens=True): {text}").format(text=repr(view.decoded)), style="dim")
    return Group(header, _chips(view.tokens, view.ids, special_ids), table, decoded, Text(""))


def _highlight_sentinels(text: str, style: str = "bold") -> Text:
    result = Text()
    for part in SENTINEL.split(text):
        if SENTINEL.fullmatch(part):
            result.append(part, style=SENTINEL_STYLE)
        elif part:
            result.append(part, style=style)
    return result


def result_view(result, with_steps: bool) -> Group:
    source = Text(result.source, style="dim")
    parts = [source]
    if with_steps:
        parts.append(Text(_("encoder input"), style="bold"))
        parts.append(_chips(result.input_tokens))
    parts.append(_highlight_sentinels(result.output or _("(empty output)")))
    if with_steps:
        parts.append(Text(_("decoder steps (the decoder starts from {token}, id {id})").format(
            token=result.output_tokens[0], id=result.output_ids[0]), style="bold"))
        parts.append(steps_table(result))
    parts.append(summary_line(result))
    parts.append(Text(""))
    return Group(*parts)


def corruption_view(example) -> Group:
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row(_("original"), Text(example.text))
    table.add_row(_("input"), _highlight_sentinels(example.input, style=""))
    table.add_row(_("target"), _highlight_sentinels(example.target, style=""))
    if example.prediction is not None:
        table.add_row(_("prediction"), _highlight_sentinels(example.prediction, style=""))
        table.add_row(_("filled"), Text(example.filled or ""))
    pair = example.pair
    spans = len(pair.spans)
    if example.unit == "sentencepiece":
        message = ngettext("{noise} of {total} pieces corrupted in {spans} span: density {density:.3f}, mean span "
                           "length {mean:.2f} (requested {requested_density}, {requested_mean})",
                           "{noise} of {total} pieces corrupted in {spans} spans: density {density:.3f}, mean span "
                           "length {mean:.2f} (requested {requested_density}, {requested_mean})", spans)
    else:
        message = ngettext("{noise} of {total} words corrupted in {spans} span: density {density:.3f}, mean span "
                           "length {mean:.2f} (requested {requested_density}, {requested_mean})",
                           "{noise} of {total} words corrupted in {spans} spans: density {density:.3f}, mean span "
                           "length {mean:.2f} (requested {requested_density}, {requested_mean})", spans)
    summary = Text(message.format(
        noise=pair.noise_tokens, total=len(pair.tokens), spans=spans,
        density=pair.noise_tokens / len(pair.tokens), mean=pair.noise_tokens / max(len(pair.spans), 1),
        requested_density=pair.noise_density, requested_mean=pair.mean_span_length), style="dim")
    return Group(table, summary, Text(""))
