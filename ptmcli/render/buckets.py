"""Views of T5 relative position buckets: the range table, a coloured query × key heat map, a PNG plot."""

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ptmcli.i18n import _

# Dark blue through green to yellow, like matplotlib's viridis, so that near and far buckets stay apart.
GRADIENT = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def bucket_view(table) -> Group:
    parts = [_header(table), _ranges_table(table), Text("")]
    if table.relative:
        parts += [_relative_table(table), Text("")]
    parts += [Text(_("bucket of each query (row) and key (column)"), style="bold"), heat_map(table), _footer(table)]
    return Group(*parts)


def _header(table) -> Text:
    header = Text()
    mode = _("bidirectional (encoder self-attention)") if table.bidirectional else _(
        "causal (decoder self-attention)")
    header.append(_("T5 relative position buckets"), style="bold")
    header.append("  " + _("num_buckets={num_buckets} max_distance={max_distance}, {mode}").format(
        num_buckets=table.num_buckets, max_distance=table.max_distance, mode=mode), style="dim")
    if table.model:
        header.append("  " + _("from {model}").format(model=table.model), style="dim")
    return header


def _format_range(item) -> str:
    low = "−∞" if item.min_relative is None else _signed(item.min_relative)
    high = "+∞" if item.max_relative is None else _signed(item.max_relative)
    return low if low == high else f"{low} … {high}"


def _signed(value: int) -> str:
    return f"+{value}" if value > 0 else str(value).replace("-", "−")


def _ranges_table(table) -> Table:
    view = Table(box=None, pad_edge=False, header_style="bold")
    view.add_column(_("bucket"), justify="right")
    view.add_column(_("key − query"))
    view.add_column(_("distances"), justify="right")
    view.add_column(_("kind"), style="dim")
    for item in table.ranges:
        if item.max_distance is None:
            count = "∞"
            kind = _("everything farther")
        else:
            count = str(item.max_distance - item.min_distance + 1)
            kind = _("exact") if item.exact else _("logarithmic")
        if not table.bidirectional and item.bucket == 0:
            kind = _("this position and all later keys (masked)")
        view.add_row(Text(str(item.bucket), style=_style(item.bucket, table.num_buckets)), _format_range(item),
                     count, kind)
    return view


def _relative_table(table) -> Table:
    view = Table(box=None, pad_edge=False, header_style="bold")
    view.add_column(_("key − query"), justify="right")
    view.add_column(_("bucket"), justify="right")
    for item in table.relative:
        view.add_row(_signed(item["relative"]), Text(str(item["bucket"]),
                                                     style=_style(item["bucket"], table.num_buckets)))
    return view


def heat_map(table) -> Table:
    """The bucket of every (query, key) pair as coloured cells, queries down and keys across."""
    view = Table(box=None, pad_edge=False, show_header=True, header_style="dim", padding=(0, 0))
    view.add_column("q\\k", justify="right", style="dim")
    size = len(table.matrix)
    for key in range(size):
        view.add_column(str(key), justify="right", min_width=3)
    for query, row in enumerate(table.matrix):
        view.add_row(str(query), *[Text(f"{bucket:>3}", style=_style(bucket, table.num_buckets)) for bucket in row])
    return view


def _footer(table) -> Text:
    lines = []
    if table.unused_buckets:
        lines.append(_("unused buckets: {buckets} (distance 0 takes bucket 0, so no key after the query "
                       "gets the first bucket of the upper half)").format(
            buckets=", ".join(str(bucket) for bucket in table.unused_buckets)))
    lines.append(_("distances below {max_exact} have a bucket each; every distance from {last} on shares the "
                   "last bucket (max_distance is {max_distance})").format(
        max_exact=table.max_exact, last=table.last_bucket_distance, max_distance=table.max_distance))
    lines.append(_("cross-attention (decoder to encoder) has no position bias"))
    return Text("\n".join(lines), style="dim")


def _style(bucket: int, num_buckets: int) -> str:
    red, green, blue = _colour(bucket / max(num_buckets - 1, 1))
    foreground = "black" if (red * 299 + green * 587 + blue * 114) / 1000 > 140 else "white"
    return f"{foreground} on rgb({red},{green},{blue})"


def _colour(fraction: float) -> tuple[int, int, int]:
    position = min(max(fraction, 0.0), 1.0) * (len(GRADIENT) - 1)
    index = min(int(position), len(GRADIENT) - 2)
    weight = position - index
    start, end = GRADIENT[index], GRADIENT[index + 1]
    return tuple(round(low + (high - low) * weight) for low, high in zip(start, end, strict=True))


def save_plot(table, path) -> None:
    """Write a PNG: the bucket against key − query, and the query × key heat map."""
    try:
        import matplotlib
    except ImportError as error:
        from ptmcli.errors import PtmError

        raise PtmError(_("--plot needs matplotlib, which is not installed"),
                       hint=_("pip install matplotlib")) from error
    matplotlib.use("Agg")  # no display is needed to write a file
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from ptmcli.engine.buckets import relative_position_bucket

    figure, (curve, grid) = plt.subplots(1, 2, figsize=(12, 4.8))
    limit = table.max_distance * 2
    positions = list(range(-limit, limit + 1))
    buckets = [relative_position_bucket(value, bidirectional=table.bidirectional, num_buckets=table.num_buckets,
                                        max_distance=table.max_distance) for value in positions]
    curve.step(positions, buckets, where="mid")
    for mark in (-table.max_distance, table.max_distance):
        curve.axvline(mark, color="grey", linestyle=":", linewidth=1)
    curve.set_xlabel(_("key − query"))
    curve.set_ylabel(_("bucket"))
    curve.set_title(_("num_buckets={num_buckets}, max_distance={max_distance}").format(
        num_buckets=table.num_buckets, max_distance=table.max_distance))

    image = grid.imshow(table.matrix, cmap="viridis", vmin=0, vmax=table.num_buckets - 1)
    grid.xaxis.set_major_locator(MaxNLocator(integer=True))
    grid.yaxis.set_major_locator(MaxNLocator(integer=True))
    grid.set_xlabel(_("key position"))
    grid.set_ylabel(_("query position"))
    grid.set_title(_("bidirectional") if table.bidirectional else _("causal"))
    figure.colorbar(image, ax=grid, label=_("bucket"))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
