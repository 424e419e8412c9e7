"""`ptm inspect`: a model's config, architecture tree, parameter counts and tokenizer, without its weights."""

from typing import Annotated

import typer

from ptmcli.cli.options import OUTPUT_PANEL, FormatOpt, OfflineOpt, RevisionOpt, TrustRemoteCodeOpt, complete_model
from ptmcli.cli.output import Output, OutputFormat
from ptmcli.errors import UsageError
from ptmcli.i18n import _

HELP = _("Show a model's architecture as a tree, its parameter counts, its config and its tokenizer; weights are "
         "never loaded.")
EPILOG = _(
    "Examples:\n\n"
    "  ptm inspect minilm\n\n"
    "  ptm inspect minilm e5-small   (side by side)\n\n"
    "  ptm inspect smollm2 --depth 3\n\n"
    "  ptm inspect google-bert/bert-base-uncased --config-only\n\n"
    "  ptm inspect ./my-model --format json"
)

MAX_MODELS = 2


def command(
    models: Annotated[list[str], typer.Argument(
        help=_("One model, or two to compare: a folder, a .gguf file, a pack or a Hub id."),
        autocompletion=complete_model, metavar="MODEL", show_default=False)],
    config_only: Annotated[bool, typer.Option(
        "--config-only", help=_("Read only config.json: no architecture, no parameter counts, no tokenizer."))]
    = False,
    depth: Annotated[int | None, typer.Option(
        "--depth", min=1, help=_("Show this many levels of the architecture tree. \\[default: all]"),
        rich_help_panel=OUTPUT_PANEL, show_default=False)] = None,
    output_format: FormatOpt = OutputFormat.auto,
    revision: RevisionOpt = None,
    trust_remote_code: TrustRemoteCodeOpt = False,
    offline: OfflineOpt = False,
) -> None:
    out = Output(output_format)
    if len(models) > MAX_MODELS:
        raise UsageError(_("inspect takes one or two models, got {count}").format(count=len(models)),
                         hint=_("compare two models at a time"))

    from ptmcli.engine.inspect import inspect_model
    from ptmcli.engine.resolve import resolve

    inspections = []
    for model in models:
        with out.status(_("reading {model}").format(model=model)):
            source = resolve(model, offline=offline, revision=revision, progress=out.progress)
            inspections.append(inspect_model(source, config_only=config_only, trust_remote_code=trust_remote_code,
                                             progress=out.progress))

    records = [inspection.as_record() for inspection in inspections]
    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records(records)
    elif out.format == OutputFormat.plain:
        from ptmcli.render.inspect import plain_lines

        for line in plain_lines(records, depth):
            out.line(line)
    else:
        from ptmcli.render.inspect import inspect_view

        out.render(inspect_view(records, depth))
