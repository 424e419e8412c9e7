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


def models_table(records: list[dict]) -> Table:
    table = Table(header_style="bold", box=None, pad_edge=False)
    table.add_column(_("name"), no_wrap=True)
    table.add_column(_("kind"), no_wrap=True)
    table.add_column(_("state"), no_wrap=True)
    table.add_column(_("size"), justify="right", no_wrap=True)
    table.add_column(_("licence"), no_wrap=True)
    table.add_column(_("what it is"), ratio=1)
    state_labels = {"prepared": _("prepared"), "built-in": _("built in"), "not prepared": _("not prepared"),
                    "cached": _("in Hub cache")}
    for record in records:
        size = human_size(record["size_bytes"])
        if not size and record.get("download_mb"):
            size = _("~{mb} MB").format(mb=record["download_mb"])
        table.add_row(
            record["name"],
            record["kind"],
            Text(state_labels.get(record["state"], record["state"]), style=STATE_STYLES.get(record["state"], "")),
            size,
            record.get("license", ""),
            record.get("summary", ""),
        )
    return table
