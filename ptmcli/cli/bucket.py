"""`ptm bucket`: T5 relative position buckets as a range table and a query × key heat map.

Nothing here imports torch or transformers, except AutoConfig when --model names a Hub model or a pack.
"""

from pathlib import Path
from typing import Annotated

import typer

from ptmcli.cli.options import MODEL_PANEL, OUTPUT_PANEL, FormatOpt, OfflineOpt, RevisionOpt, complete_model
from ptmcli.cli.output import Output, OutputFormat
from ptmcli.errors import UsageError
from ptmcli.i18n import _

HELP = _("Show how T5 maps relative positions (key − query) to attention buckets.")
EPILOG = _(
    "Examples:\n\n"
    "  ptm bucket\n\n"
    "  ptm bucket --causal --size 12\n\n"
    "  ptm bucket --relative=-1000,-91,-90,-1,0,1,90,91,1000 --format json\n\n"
    "  ptm bucket --num-buckets 8 --max-distance 16\n\n"
    "  ptm bucket --model ./my-t5-folder --plot buckets.png"
)

MAX_SIZE = 1024


def command(
    num_buckets: Annotated[int | None, typer.Option(
        "--num-buckets", help=_("Number of buckets (relative_attention_num_buckets). \\[default: 32, or the "
                                "model's]"), show_default=False)] = None,
    max_distance: Annotated[int | None, typer.Option(
        "--max-distance", help=_("Distance in tokens from which every key shares the last bucket "
                                 "(relative_attention_max_distance). \\[default: 128, or the model's]"),
        show_default=False)] = None,
    causal: Annotated[bool, typer.Option(
        "--causal", help=_("Causal attention, as in the decoder's self-attention; the default is bidirectional, "
                           "as in the encoder."))] = False,
    size: Annotated[int, typer.Option(
        "--size", help=_("Number of query and key positions in the heat map."))] = 10,
    relative: Annotated[str | None, typer.Option(
        "--relative", help=_("Also show the bucket of these relative positions (key − query), separated by "
                             "commas; write --relative=-1,0,1 when the first is negative."),
        show_default=False)] = None,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", autocompletion=complete_model, rich_help_panel=MODEL_PANEL,
        help=_("Read the bucket settings from this model's configuration: a folder, its config.json, a pack or "
               "a Hub id."), show_default=False)] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help=_("Also save the curve and the heat map as an image (PNG) at this path; needs "
                         "matplotlib."), rich_help_panel=OUTPUT_PANEL, show_default=False)] = None,
    output_format: FormatOpt = OutputFormat.auto,
    revision: RevisionOpt = None,
    offline: OfflineOpt = False,
) -> None:
    out = Output(output_format)
    if not 1 <= size <= MAX_SIZE:
        raise UsageError(_("--size must be between 1 and {maximum}, got {value}").format(maximum=MAX_SIZE,
                                                                                        value=size))
    positions = _parse_positions(relative) if relative is not None else []
    if plot is not None and plot.suffix.lower() != ".png":
        raise UsageError(_("--plot writes PNG images, so the path must end in .png, got '{path}'").format(path=plot))

    from ptmcli.engine.buckets import DEFAULT_MAX_DISTANCE, DEFAULT_NUM_BUCKETS, bucket_table, read_bucket_config

    if model is not None:
        config = read_bucket_config(model, offline=offline, revision=revision)
        num_buckets = config.num_buckets if num_buckets is None else num_buckets
        max_distance = config.max_distance if max_distance is None else max_distance

    table = bucket_table(
        DEFAULT_NUM_BUCKETS if num_buckets is None else num_buckets,
        DEFAULT_MAX_DISTANCE if max_distance is None else max_distance,
        bidirectional=not causal, size=size, relative=positions, model=model,
    )
    if plot is not None:
        from ptmcli.render.buckets import save_plot

        save_plot(table, plot)
        out.info(_("saved the plot to {path}").format(path=plot))

    _report(out, table)


def _parse_positions(text: str) -> list[int]:
    fields = [field.strip() for field in text.split(",") if field.strip()]
    try:
        return [int(field.replace("−", "-")) for field in fields]
    except ValueError:
        raise UsageError(_("--relative takes integers separated by commas, got '{value}'").format(value=text),
                         hint=_("for example --relative=-8,0,8")) from None


def _report(out: Output, table) -> None:
    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records([table.as_record()])
    elif out.format == OutputFormat.plain:
        # One value per line for requested positions, otherwise the matrix one query per line.
        if table.relative:
            for item in table.relative:
                out.line(str(item["bucket"]))
        else:
            for row in table.matrix:
                out.line(" ".join(str(bucket) for bucket in row))
    else:
        from ptmcli.render.buckets import bucket_view

        out.render(bucket_view(table))
