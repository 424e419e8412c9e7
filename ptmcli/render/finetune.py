"""Terminal views of `ptm finetune` and `ptm evaluate`: metric tables, run summaries and --dry-run examples."""

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ptmcli.i18n import _

ENTITY_FIELDS = ("precision", "recall", "f1", "number")


def format_number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.1f}"


def metrics_table(values: dict, title: str | None = None) -> RenderableType:
    """Show flat metric values as rows, and entity-type dictionaries as one row per type."""
    table = _metric_rows(values)
    # The title goes on a line of its own because Rich wraps a table's title to the table's width.
    return Group(Text(title, style="bold"), table) if title else table


def _metric_rows(values: dict) -> Table:
    table = Table(header_style="bold", box=None, pad_edge=False)
    nested = {key: value for key, value in values.items() if isinstance(value, dict)}
    if nested:
        table.add_column(_("type"), no_wrap=True)
        for name in ENTITY_FIELDS:
            table.add_column(_(name), justify="right", no_wrap=True)
        for kind, scores in nested.items():
            table.add_row(kind, *(format_number(scores.get(name, "")) for name in ENTITY_FIELDS))
        flat = {key: value for key, value in values.items() if not isinstance(value, dict)}
        if flat:
            table.add_row("", "", "", "", "")
            for key, value in flat.items():
                table.add_row(key, "", "", format_number(value), "")
        return table
    table.add_column(_("metric"), no_wrap=True)
    table.add_column(_("value"), justify="right", no_wrap=True)
    for key, value in values.items():
        if isinstance(value, list):
            value = ", ".join(format_number(item) for item in value)
        table.add_row(key, format_number(value))
    return table


def run_summary(record: dict) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    rows = [
        (_("saved to"), record["output_dir"]),
        (_("task"), record["task"]),
        (_("labels"), ", ".join(record["labels"]) or "-"),
        (_("rows"), _("{train} train, {eval} validation").format(train=record["train_rows"],
                                                                  eval=record["eval_rows"])),
        (_("steps"), _("{steps} ({epochs} epochs)").format(steps=record["steps"], epochs=record["epochs"])),
        (_("speed"), _("{rate} samples/s, {seconds} s").format(rate=record["samples_per_second"],
                                                              seconds=record["train_seconds"])),
        (_("curve"), record["curve"] or "-"),
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    return table


def preview_view(examples: list[dict], labels: list[str]) -> list:
    """Show each example as token/id/label columns, then the label mapping."""
    views = []
    for example in examples:
        table = Table(title=_("example {index}").format(index=example["index"]), header_style="bold", box=None,
                      pad_edge=False, title_justify="left")
        table.add_column(_("token"), no_wrap=True)
        table.add_column(_("id"), justify="right", no_wrap=True)
        table.add_column(_("label"), no_wrap=True)
        per_token = isinstance(example["labels"], list)
        for position, (token, token_id) in enumerate(zip(example["tokens"], example["input_ids"], strict=True)):
            label = example["labels"][position] if per_token else ""
            table.add_row(token, str(token_id), Text(label or ("-100" if per_token else ""), style=""
                                                     if label else "dim"))
        if not per_token:
            table.caption = _("label: {label}").format(label=example["labels"])
            table.caption_justify = "left"
        views.append(table)
    mapping = Table(title=_("label mapping"), header_style="bold", box=None, pad_edge=False, title_justify="left")
    mapping.add_column(_("id"), justify="right")
    mapping.add_column(_("label"))
    for index, name in enumerate(labels):
        mapping.add_row(str(index), name)
    views.append(mapping)
    return views
