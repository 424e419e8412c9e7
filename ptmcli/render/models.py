"""Terminal view of `ptm models list`."""

from rich.table import Table
from rich.text import Text

from ptmcli.i18n import _

STATE_STYLES = {"prepared": "green", "built-in": "green", "cached": "green", "not prepared": "yellow"}


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


# Below this terminal width the summary column would wrap into a few letters per line.
SUMMARY_MIN_WIDTH = 110


def models_table(records: list[dict], width: int = 200) -> Table:
    table = Table(header_style="bold", box=None, pad_edge=False)
    # Short columns keep their width; the licence and the summary wrap, because dataset licences are long.
    table.add_column(_("name"), no_wrap=True)
    table.add_column(_("kind"), no_wrap=True, min_width=9)
    table.add_column(_("state"), no_wrap=True, min_width=8)
    table.add_column(_("size"), justify="right", no_wrap=True, min_width=8)
    table.add_column(_("licence"), max_width=16, overflow="fold")
    with_summary = width >= SUMMARY_MIN_WIDTH
    if with_summary:
        table.add_column(_("what it is"), ratio=1, min_width=20)
    state_labels = {"prepared": _("prepared"), "built-in": _("built in"), "not prepared": _("not prepared"),
                    "cached": _("in Hub cache")}
    kind_labels = {"causal-lm": _("causal LM"), "encoder": _("encoder"), "tokenizer": _("tokenizer"),
                   "dataset": _("dataset"), "model": _("model")}
    for record in records:
        size = human_size(record["size_bytes"])
        if not size and record.get("prepared_mb"):
            size = _("~{mb} MB").format(mb=record["prepared_mb"])
        row = [
            record["name"],
            kind_labels.get(record["kind"], record["kind"]),
            Text(state_labels.get(record["state"], record["state"]), style=STATE_STYLES.get(record["state"], "")),
            size,
            record.get("license", ""),
        ]
        if with_summary:
            row.append(record.get("summary", ""))
        table.add_row(*row)
    return table
