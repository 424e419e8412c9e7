"""Terminal views of generation: the step table and the continuation."""

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ptmcli.i18n import _


def stop_reason_label(reason: str) -> str:
    return {"eos_token": _("end-of-sequence token"), "max_new_tokens": _("reached the number of new tokens")}.get(
        reason, reason)


def summary_line(result) -> Text:
    return Text(_("{count} new tokens, stopped: {reason}").format(
        count=result.new_tokens, reason=stop_reason_label(result.stop_reason)), style="dim")


def generation_view(result, with_steps: bool) -> Group:
    continuation = Text()
    continuation.append(result.prompt, style="dim")
    continuation.append(result.text, style="bold")
    parts = [continuation]
    if with_steps:
        parts.append(steps_table(result))
    parts.append(summary_line(result))
    parts.append(Text(""))
    return Group(*parts)


def steps_table(result) -> Table:
    # Bytes matter for tokens that are not plain ASCII, such as the pieces of a CJK character.
    has_bytes = any(_shows_bytes(step) for step in result.steps)
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column(_("step"), justify="right", style="dim")
    table.add_column(_("token"))
    table.add_column(_("id"), justify="right")
    table.add_column(_("prob"), justify="right")
    if has_bytes:
        table.add_column(_("bytes"))
    table.add_column(_("text"))
    table.add_column(_("alternatives"), style="dim")
    for step in result.steps:
        row = [str(step.index + 1), Text(repr(step.token)[1:-1]), str(step.id), f"{step.probability:.3f}"]
        if has_bytes:
            row.append(step.bytes if _shows_bytes(step) else "")
        if step.pending:
            row.append(Text(_("waiting: {bytes}").format(bytes=step.pending), style="yellow"))
        else:
            row.append(Text(repr(step.text)[1:-1]))
        alternatives = "  ".join(
            f"{repr(candidate.token)[1:-1]} {candidate.probability:.3f}" for candidate in step.top
            if candidate.id != step.id
        )
        row.append(Text(alternatives))
        table.add_row(*row)
    return table


def _shows_bytes(step) -> bool:
    return bool(step.bytes) and not bytes.fromhex(step.bytes).isascii()
