"""Terminal views of `ptm embed`: output shapes, vector previews, token features and a similarity heat map."""

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ptmcli.i18n import _, ngettext

PREVIEW_VALUES = 6  # leading values of a vector shown in the table view
TOKEN_PREVIEW_VALUES = 4


def embedding_view(reference: str, info, plan, shapes, embeddings) -> Group:
    parts = [_header(reference, info, plan), _shapes_table(info, plan, shapes), Text("")]
    for item in embeddings:
        parts.append(_text_block(item))
        if item.tokens is not None:
            parts.append(_token_table(item))
        parts.append(Text(""))
    return Group(*parts)


def _header(reference: str, info, plan) -> Text:
    header = Text()
    header.append(reference, style="bold")
    header.append("  " + _("{type}, {layers} layers, hidden size {hidden}, at most {length} tokens").format(
        type=info.model_type, layers=info.num_layers, hidden=info.hidden_size, length=info.max_length),
        style="dim")
    header.append("\n" + _("pooling: {pooling}").format(pooling=plan.pooling))
    source_labels = {"option": _("chosen with --pooling"),
                     "sentence-transformers": _("the model's sentence-transformers setting"),
                     "model": _("the default for decoders"),
                     "bert": _("the BERT default; the model states no pooling")}
    header.append(" (" + source_labels.get(plan.pooling_source, plan.pooling_source) + ")", style="dim")
    if plan.needs_hidden_states:
        header.append("  " + _("layers: {layers}, {mix}").format(
            layers=", ".join(str(layer) for layer in plan.layers), mix=plan.layer_mix))
    if plan.normalize:
        header.append("  " + _("normalized (L2)"))
    if plan.prefix:
        header.append("  " + _("prefix: {prefix!r}").format(prefix=plan.prefix))
    return header


def _shapes_table(info, plan, shapes) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold", show_header=True)
    table.add_column(_("output"))
    table.add_column(_("shape"))
    table.add_column(_("what it is"), style="dim", overflow="fold")
    record = shapes.as_record()

    def add_row(name, shape, what: str) -> None:
        # Text, not a markup string: "[batch, seq_len, hidden]" would otherwise be read as a Rich style tag.
        table.add_row(name, shape, Text(what))

    add_row("last_hidden_state", _shape(record["last_hidden_state"]),
            _("[batch, seq_len, hidden]: one vector per token, last layer"))
    if record["pooler_output"] is not None:
        add_row("pooler_output", _shape(record["pooler_output"]),
                _("tanh(W·h_[CLS] + b), trained for next-sentence prediction"))
    elif info.pooler == "untrained":
        add_row("pooler_output", Text(_("not shown"), style="yellow"),
                _("the checkpoint has no pooler weights, so this output would be random"))
    if "hidden_states" in record:
        add_row("hidden_states", _shape(record["hidden_states"]),
                _("embedding output plus one entry per layer"))
    what = {"cls": _("last_hidden_state[:, 0], the [CLS] token"),
            "pooler": _("pooler_output"),
            "mean": _("mean over real tokens (padding masked out)"),
            "max": _("maximum over real tokens (padding masked out)")}[plan.pooling]
    add_row(Text(_("features"), style="bold"), _shape(record["features"]), what)
    if "token_type_ids" not in info.forward_inputs:
        add_row("token_type_ids", Text(_("not used"), style="dim"), _("this model takes no token_type_ids"))
    return table


def _shape(shape) -> str:
    return "[" + ", ".join(str(size) for size in shape) + "]"


def _text_block(item) -> Text:
    import numpy

    text = Text()
    text.append(f"{item.index + 1}  ", style="dim")
    text.append(item.text, style="bold")
    text_tokens = item.num_tokens - item.special_tokens
    text.append("\n   " + ngettext("{count} token", "{count} tokens", item.num_tokens).format(count=item.num_tokens)
                + " " + _("({text} text + {special} special)").format(text=text_tokens, special=item.special_tokens)
                + ", " + _("token features {shape}").format(shape=_shape([item.num_tokens, item.vector.shape[0]])),
                style="dim")
    if item.truncated_tokens:
        text.append("  " + _("{count} tokens cut").format(count=item.truncated_tokens), style="yellow")
    text.append("\n   " + _preview(item.vector, PREVIEW_VALUES))
    text.append("  " + _("norm {norm:.4f}").format(norm=float(numpy.linalg.norm(item.vector))), style="dim")
    return text


def _preview(vector, count: int) -> str:
    values = [f"{value: .4f}" for value in vector[:count]]
    if len(vector) > count:
        values.append("…")
    return "[" + ", ".join(values) + "]"


def _token_table(item) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("#", justify="right", style="dim")
    table.add_column(_("token"))
    table.add_column(_("id"), justify="right")
    table.add_column(_("features"))
    for token in item.tokens:
        style = "dim" if token.special else ""
        label = token.token + ("  " + _("(special)") if token.special else "")
        table.add_row(str(token.index), Text(label, style=style), str(token.id),
                      _preview(token.features, TOKEN_PREVIEW_VALUES))
    return table


def similarity_heat_map(texts: list[str], matrix: list[list[float]]) -> Group:
    """Show the cosine matrix with each cell coloured from blue (low) to red (high)."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("", no_wrap=True)
    table.add_column(_("text"), max_width=32, no_wrap=True, overflow="ellipsis")
    for column in range(len(texts)):
        table.add_column(str(column + 1), justify="right")
    for row, text in enumerate(texts):
        cells = [Text(f"{value:.3f}", style=_heat_style(value)) for value in matrix[row]]
        table.add_row(str(row + 1), text, *cells)
    caption = Text(_("cosine similarity: 1 means the same direction, 0 unrelated"), style="dim")
    return Group(table, caption)


def _heat_style(value: float) -> str:
    # Eight steps from blue to red on a 256-colour terminal; rich degrades them without colour.
    palette = ("grey23", "navy_blue", "blue3", "dodger_blue2", "dark_orange3", "orange_red1", "red3", "red1")
    position = min(max((value + 1) / 2, 0.0), 1.0)
    step = min(int(position * len(palette)), len(palette) - 1)
    return f"bold white on {palette[step]}"


def save_similarity_plot(path, texts: list[str], matrix: list[list[float]], title: str) -> bool:
    """Save the cosine matrix as a PNG heat map with the texts as axis labels.

    Returns False when some labels need a CJK font that this system lacks, so they show as boxes.
    """
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager, pyplot

    # Chinese labels need a CJK font; use one when the system has it, else the labels show boxes.
    cjk = [font.name for font in font_manager.fontManager.ttflist
           if any(key in font.name for key in ("Noto Sans CJK", "WenQuanYi", "SimHei", "Source Han", "PingFang"))]
    if cjk:
        matplotlib.rcParams["font.sans-serif"] = [cjk[0], *matplotlib.rcParams["font.sans-serif"]]
    labels = [text if len(text) <= 24 else text[:23] + "…" for text in texts]
    size = max(4.0, 0.6 * len(texts) + 2.5)
    figure, axes = pyplot.subplots(figsize=(size + 1.5, size))
    image = axes.imshow(matrix, cmap="coolwarm", vmin=-1, vmax=1)
    axes.set_xticks(range(len(texts)), labels=labels, rotation=45, ha="right")
    axes.set_yticks(range(len(texts)), labels=labels)
    if len(texts) <= 20:
        for row in range(len(texts)):
            for column in range(len(texts)):
                axes.text(column, row, f"{matrix[row][column]:.2f}", ha="center", va="center", fontsize=8)
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label=_("cosine similarity"))
    with warnings.catch_warnings():
        # Without a CJK font matplotlib warns once per missing glyph; the caller reports it once instead.
        warnings.simplefilter("ignore", UserWarning)
        figure.tight_layout()
        figure.savefig(path, dpi=120)
    pyplot.close(figure)
    needs_cjk = any("\u2e80" <= character <= "\U0002ffff" for text in texts for character in text)
    return bool(cjk) or not needs_cjk


class ProgressReporter:
    """Report embedding progress on stderr: a bar on a terminal, a line per tenth of the work otherwise."""

    def __init__(self, out, total: int):
        self.out = out
        self.total = total
        self.bar = None
        self.task = None
        self.next_report = 0.1

    def __enter__(self):
        if self.out.terminal.stderr_isatty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn(_("embedding")), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), console=self.out.stderr_console, transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task("embed", total=self.total)
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done)
        elif done / total >= self.next_report:
            self.out.progress(_("embedded {done} of {total} texts").format(done=done, total=total))
            while self.next_report <= done / total:
                self.next_report += 0.1

    def __exit__(self, *exc_info):
        if self.bar is not None:
            self.bar.__exit__(*exc_info)
        return False
