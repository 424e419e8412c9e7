"""`ptm env`: versions, devices, the Hub endpoint, caches and packs, for a bug report."""

from typing import Annotated

import typer

from ptmcli.cli.options import FormatOpt
from ptmcli.cli.output import Output, OutputFormat
from ptmcli.i18n import _

HELP = _("Show versions, devices, the Hub endpoint, caches, packs and language, ready to paste into a bug report.")
EPILOG = _(
    "Examples:\n\n"
    "  ptm env\n\n"
    "  ptm env --no-probe   (skip the connection test to the Hub endpoint)\n\n"
    "  ptm env --format json"
)


def command(
    probe: Annotated[bool, typer.Option(
        "--probe/--no-probe", help=_("Test whether the Hub endpoint accepts a TCP connection (2 s at most); "
                                     "nothing is sent."))] = True,
    output_format: FormatOpt = OutputFormat.auto,
) -> None:
    out = Output(output_format)
    out.prefer_plain()

    from ptmcli.engine.environment import collect

    with out.status(_("collecting the environment")):
        environment = collect(probe_hub=probe)

    record = environment.as_record()
    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records([record])
    else:
        from ptmcli.render.env import environment_lines

        for line in environment_lines(record):
            out.line(line)
