"""Options shared by several commands, defined once as Annotated aliases."""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ptmcli.cli.inputs import EncodingErrors
from ptmcli.cli.output import OutputFormat
from ptmcli.i18n import _

MODEL_PANEL = _("Model")
OUTPUT_PANEL = _("Output")
INPUT_PANEL = _("Input")


class Dtype(str, Enum):
    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


def complete_model(incomplete: str) -> list[str]:
    """Complete pack names and cached Hub ids without importing torch or touching the network."""
    from ptmcli.packs.catalog import PACKS

    names = list(PACKS)
    try:
        from ptmcli.engine.resolve import cached_model_ids

        names += cached_model_ids()
    except Exception:  # an error here would print into the user's shell prompt
        pass
    return [name for name in names if name.startswith(incomplete)]


TextsArg = Annotated[
    list[str] | None,
    typer.Argument(help=_("Texts to process; '-' or a pipe reads one text per line from standard input."),
                   show_default=False),
]
FileOpt = Annotated[
    Path | None,
    typer.Option("--file", "-f", help=_("Read one text per line from this UTF-8 file."),
                 rich_help_panel=INPUT_PANEL, show_default=False),
]
EncodingErrorsOpt = Annotated[
    EncodingErrors,
    typer.Option("--encoding-errors",
                 help=_("What to do with bytes that are not UTF-8: stop with an error, or replace them with U+FFFD."),
                 rich_help_panel=INPUT_PANEL),
]
RevisionOpt = Annotated[
    str | None,
    typer.Option("--revision", help=_("Hub branch, tag or commit to load."), rich_help_panel=MODEL_PANEL,
                 show_default=False),
]
TrustRemoteCodeOpt = Annotated[
    bool,
    typer.Option("--trust-remote-code", help=_("Allow a Hub model to run its own Python code. Off by default."),
                 rich_help_panel=MODEL_PANEL),
]
OfflineOpt = Annotated[
    bool,
    typer.Option("--offline", help=_("Use only local files: the Hub cache and prepared packs. No downloads."),
                 rich_help_panel=MODEL_PANEL),
]
DeviceOpt = Annotated[
    str,
    typer.Option("--device", help=_("auto, cpu, cuda, cuda:N or mps; auto picks CUDA, then MPS, then the CPU."),
                 rich_help_panel=MODEL_PANEL),
]
DtypeOpt = Annotated[
    Dtype,
    typer.Option("--dtype", help=_("Weight precision; auto is float32 on the CPU and the checkpoint's own "
                                   "elsewhere."),
                 rich_help_panel=MODEL_PANEL),
]
FormatOpt = Annotated[
    OutputFormat,
    typer.Option("--format", "-F",
                 help=_("auto is a table on a terminal and JSON Lines when piped."),
                 rich_help_panel=OUTPUT_PANEL),
]
