"""`ptm embed`: sentence and token features from an encoder, with shapes, pooling and similarity."""

import logging
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ptmcli.cli.inputs import EncodingErrors, decode_utf8, read_texts
from ptmcli.cli.options import (
    INPUT_PANEL,
    MODEL_PANEL,
    OUTPUT_PANEL,
    DeviceOpt,
    Dtype,
    DtypeOpt,
    EncodingErrorsOpt,
    FileOpt,
    FormatOpt,
    OfflineOpt,
    RevisionOpt,
    TextsArg,
    TrustRemoteCodeOpt,
    complete_model,
)
from ptmcli.cli.output import Output, OutputFormat
from ptmcli.errors import UsageError
from ptmcli.i18n import _, ngettext

HELP = _("Run an encoder and output features: [CLS], pooler, mean or max pooling, chosen layers, token "
         "features, shapes and cosine similarity.")
EPILOG = _(
    "Examples:\n\n"
    "  ptm embed \"我来自中国\" \"I come from China\" --prefix \"query: \" --similarity\n\n"
    "  ptm embed -m minilm --pooling cls \"I like tea\" \"Tea is nice\"\n\n"
    "  ptm embed -m minilm --tokens --format json \"I like tea\"\n\n"
    "  ptm embed -m minilm --layers -4: --layer-mix mean \"I like tea\"\n\n"
    "  ptm embed -m minilm --file lines.txt --normalize --output vectors.npy"
)

log = logging.getLogger("ptmcli")

DEFAULT_MODEL = "e5-small"
FEATURES_PANEL = _("Features")
MAX_SIMILARITY_TEXTS = 500  # an n x n matrix beyond this is neither readable nor small
WRITE_EVERY = 1024  # embeddings buffered before a write to --output
# Packs trained with a task prefix, and the prefixes they expect.
PREFIXED_PACKS = {"e5-small": ("query: ", "passage: ")}


class Pooling(str, Enum):
    auto = "auto"
    cls = "cls"
    pooler = "pooler"
    mean = "mean"
    max = "max"


class LayerMix(str, Enum):
    concat = "concat"
    sum = "sum"
    mean = "mean"


def command(
    texts: TextsArg = None,
    model: Annotated[str, typer.Option(
        "--model", "-m", autocompletion=complete_model, rich_help_panel=MODEL_PANEL,
        help=_("Encoder: a folder, a pack, or a Hub id."))] = DEFAULT_MODEL,
    pooling: Annotated[Pooling, typer.Option(
        help=_("How token features become one vector: cls ([CLS], the first token), pooler (tanh layer on [CLS]), "
               "mean or max over real tokens; auto uses the model's own setting, else cls."),
        rich_help_panel=FEATURES_PANEL)] = Pooling.auto,
    layers: Annotated[str | None, typer.Option(
        help=_("Hidden layers to use: indices into hidden_states (0 is the embedding output), for example "
               "-4,-3,-2,-1 or -4: for the last four. \\[default: the last layer]"),
        rich_help_panel=FEATURES_PANEL, show_default=False)] = None,
    layer_mix: Annotated[LayerMix, typer.Option(
        "--layer-mix", help=_("How several --layers combine: concat (dimension times the layer count), sum or "
                              "mean."), rich_help_panel=FEATURES_PANEL)] = LayerMix.concat,
    tokens: Annotated[bool, typer.Option(
        "--tokens", help=_("Also output token features \\[seq_len, dim], one row per token, special tokens marked."),
        rich_help_panel=FEATURES_PANEL)] = False,
    normalize: Annotated[bool, typer.Option(
        "--normalize", help=_("Scale each sentence vector to length 1 (L2)."), rich_help_panel=FEATURES_PANEL)]
    = False,
    prefix: Annotated[str, typer.Option(
        help=_("Text put before every input, for example \"query: \" or \"passage: \" for e5 models."),
        rich_help_panel=FEATURES_PANEL)] = "",
    allow_decoder: Annotated[bool, typer.Option(
        "--allow-decoder", help=_("Pool the last hidden state of a decoder-only model such as GPT-2 (mean or max)."),
        rich_help_panel=FEATURES_PANEL)] = False,
    similarity: Annotated[bool, typer.Option(
        "--similarity", help=_("Output the cosine similarity matrix of the inputs (a heat map on a terminal)."),
        rich_help_panel=OUTPUT_PANEL)] = False,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help=_("Save the similarity matrix as a PNG picture (implies --similarity)."),
        rich_help_panel=OUTPUT_PANEL, show_default=False)] = None,
    output_file: Annotated[Path | None, typer.Option(
        "--output", "-o", help=_("Write the vectors to a .jsonl, .npy, .safetensors or .parquet file, in input "
                                 "order."), rich_help_panel=OUTPUT_PANEL, show_default=False)] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help=_("Texts per forward pass; texts are sorted by length so that batches carry "
                                      "little padding."), rich_help_panel=INPUT_PANEL)] = 32,
    skip_empty: Annotated[bool, typer.Option(
        "--skip-empty", help=_("Skip empty lines of --file or standard input instead of stopping; records keep "
                               "their line numbers."), rich_help_panel=INPUT_PANEL)] = False,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = Dtype.auto,
    output_format: FormatOpt = OutputFormat.auto,
    file: FileOpt = None,
    encoding_errors: EncodingErrorsOpt = EncodingErrors.strict,
    revision: RevisionOpt = None,
    trust_remote_code: TrustRemoteCodeOpt = False,
    offline: OfflineOpt = False,
) -> None:
    out = Output(output_format)
    from ptmcli.engine.embed import parse_layers
    from ptmcli.engine.features_io import check_output_path

    layer_spec = parse_layers(layers) if layers is not None else None
    if output_file is not None:
        check_output_path(output_file, tokens)
    if plot is not None:
        _check_plot_path(plot)
        similarity = True
    if similarity and tokens:
        raise UsageError(_("--similarity compares sentence vectors and cannot be combined with --tokens"))
    texts, lines = _read_inputs(texts, file, encoding_errors, skip_empty)
    if similarity and len(texts) > MAX_SIMILARITY_TEXTS:
        raise UsageError(_("--similarity takes at most {limit} texts, got {count}").format(
            limit=MAX_SIMILARITY_TEXTS, count=len(texts)), hint=_("compare fewer texts, or write vectors with "
                                                                  "--output and compare them there"))

    from ptmcli.engine.device import resolve_device, resolve_dtype
    from ptmcli.engine.embed import EmbedOptions, plan
    from ptmcli.engine.encoder import inspect_encoder, require_encoder
    from ptmcli.engine.loading import load_model
    from ptmcli.engine.resolve import resolve

    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype.value, torch_device)
    with out.status(_("loading {model}").format(model=model)):
        source = resolve(model, offline=offline, revision=revision, progress=out.progress)
        loaded = load_model(source, "AutoModel", device=torch_device, dtype=torch_dtype,
                            trust_remote_code=trust_remote_code, suggestion=DEFAULT_MODEL)
    info = inspect_encoder(loaded.model, loaded.tokenizer, source.location)
    require_encoder(info, model, allow_decoder)
    options = EmbedOptions(pooling=pooling.value, layer_mix=layer_mix.value, normalize=normalize, prefix=prefix,
                           tokens=tokens, batch_size=batch_size)
    run_plan = plan(info, options, layer_spec)
    _notices(model, loaded.tokenizer, info, run_plan)

    streaming = output_file is None and out.format == OutputFormat.jsonl and not similarity
    keep = similarity or (output_file is None and not streaming)
    embeddings, count = _run(out, loaded, texts, info, run_plan, source.reference, lines, output_file,
                             keep=keep, streaming=streaming)

    if output_file is not None:
        out.info(ngettext("wrote {count} vector of dimension {dim} to {path}",
                          "wrote {count} vectors of dimension {dim} to {path}", count)
                 .format(count=count, dim=run_plan.dim, path=output_file))
    if similarity:
        _report_similarity(out, source.reference, run_plan, embeddings, plot)
    elif keep:
        _report(out, source.reference, info, run_plan, embeddings, lines)


def _check_plot_path(plot: Path) -> None:
    if plot.suffix.lower() != ".png":
        raise UsageError(_("--plot writes a PNG picture, so its file name must end in .png: '{path}'").format(
            path=plot))
    if not plot.parent.is_dir():
        raise UsageError(_("the folder of plot file '{path}' does not exist").format(path=plot),
                         hint=_("create it first: mkdir -p {folder}").format(folder=plot.parent))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(_("--plot needs matplotlib"), hint=_("pip install matplotlib")) from None


def _read_inputs(texts, file, encoding_errors, skip_empty) -> tuple[list[str], list[int] | None]:
    """Read texts, keeping the line number of each text that came from a file or standard input.

    Vectors are written one per input line, so an empty line stops the run unless --skip-empty says
    otherwise: dropping it silently would shift every later vector against its line.
    """
    from_stdin = file is None and (texts == ["-"] or (not texts and not sys.stdin.isatty()))
    if file is None and not from_stdin:
        return read_texts(texts, None, encoding_errors), None
    if file is not None and texts and texts != ["-"]:
        raise UsageError(_("give texts as arguments or with --file, not both"))
    if file is not None:
        from ptmcli.cli.inputs import read_file

        origin, data = str(file), read_file(file)
    else:
        origin, data = _("standard input"), sys.stdin.buffer.read()
    all_lines = decode_utf8(data, origin, encoding_errors).splitlines()
    empty = [number for number, line in enumerate(all_lines, start=1) if not line.strip()]
    if empty and not skip_empty:
        shown = ", ".join(str(number) for number in empty[:5]) + (", ..." if len(empty) > 5 else "")
        raise UsageError(
            ngettext("{origin} has {count} empty line (line {lines}); each line becomes one vector",
                     "{origin} has {count} empty lines (lines {lines}); each line becomes one vector",
                     len(empty)).format(origin=origin, count=len(empty), lines=shown),
            hint=_("remove them, or pass --skip-empty to skip them and keep line numbers in the records"),
        )
    if empty:
        log.warning(ngettext("skipped {count} empty line in {origin}", "skipped {count} empty lines in {origin}",
                             len(empty)).format(count=len(empty), origin=origin))
    numbered = [(number, line) for number, line in enumerate(all_lines, start=1) if line.strip()]
    if not numbered:
        raise UsageError(_("no text in {origin}").format(origin=origin))
    return [line for _number, line in numbered], [number for number, _line in numbered]


def _notices(reference, tokenizer, info, run_plan) -> None:
    from ptmcli.engine.tokenize import uses_token_type_ids

    if uses_token_type_ids(tokenizer) and not info.takes_token_type_ids:
        log.info(_("token_type_ids: not used by this model ({type}), so they are not passed").format(
            type=info.model_type))
    expected = PREFIXED_PACKS.get(reference)
    if expected and not run_plan.prefix.startswith(expected):
        log.warning(_("{model} was trained with the prefixes {prefixes}; pass --prefix \"{first}\" for queries and "
                      "short texts").format(model=reference, prefixes=" / ".join(f'"{p}"' for p in expected),
                                             first=expected[0]))


def _run(out, loaded, texts, info, run_plan, reference, lines, output_file, *, keep: bool,
         streaming: bool) -> tuple[list, int]:
    """Embed every text, streaming records to --output or to stdout, and keep what the report needs."""
    from ptmcli.engine.embed import embed

    writer = _open_writer(output_file, reference, len(texts), run_plan) if output_file is not None else None
    kept, pending, count = [], [], 0
    try:
        with _progress(out, len(texts), run_plan.batch_size) as on_progress:
            for item in embed(loaded.model, loaded.tokenizer, texts, info, run_plan, on_progress=on_progress):
                count += 1
                if streaming:
                    out.records([_record(reference, run_plan, item, lines)])
                if writer is not None:
                    pending.append(item)
                    if len(pending) >= WRITE_EVERY:
                        _write(writer, reference, run_plan, pending, lines)
                        pending = []
                if keep:
                    kept.append(item)
        if writer is not None and pending:
            _write(writer, reference, run_plan, pending, lines)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.close()
    return kept, count


def _open_writer(path, reference, rows, run_plan):
    from ptmcli.engine.features_io import open_writer

    metadata = {"model": reference, "pooling": run_plan.pooling, "normalized": str(run_plan.normalize).lower(),
                "layers": ",".join(str(layer) for layer in run_plan.layers), "layer_mix": run_plan.layer_mix,
                "prefix": run_plan.prefix}
    return open_writer(path, rows, run_plan.dim, metadata)


def _write(writer, reference, run_plan, items, lines) -> None:
    import numpy

    records = [_record(reference, run_plan, item, lines) for item in items]
    writer.write(records, numpy.stack([item.vector for item in items]))


def _record(reference, run_plan, item, lines) -> dict:
    record = item.as_record()
    head = {"model": reference, "index": record.pop("index")}
    if lines is not None:
        head["line"] = lines[item.index]
    head["text"] = record.pop("text")
    head.update({"pooling": run_plan.pooling, "layers": list(run_plan.layers), "normalized": run_plan.normalize})
    return {**head, **record}


def _progress(out, total: int, batch_size: int):
    from contextlib import nullcontext

    # A bar only pays off for work of several batches; short runs show the spinner of loading only.
    if total <= batch_size * 4 or out.verbosity < 0:
        return nullcontext(None)
    from ptmcli.render.embed import ProgressReporter

    return ProgressReporter(out, total)


def _report(out, reference, info, run_plan, embeddings, lines) -> None:
    records = [_record(reference, run_plan, item, lines) for item in embeddings]
    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records(records)
    elif out.format == OutputFormat.plain:
        for record in records:
            out.line(" ".join(repr(value) for value in record["embedding"]))
    else:
        from ptmcli.engine.embed import describe_shapes
        from ptmcli.render.embed import embedding_view

        shapes = describe_shapes(info, run_plan, embeddings)
        out.render(embedding_view(reference, info, run_plan, shapes, embeddings))


def _report_similarity(out, reference, run_plan, embeddings, plot) -> None:
    from ptmcli.engine.embed import similarity_matrix

    matrix = similarity_matrix(embeddings)
    texts = [item.text for item in embeddings]
    if plot is not None:
        from ptmcli.render.embed import save_similarity_plot

        if not save_similarity_plot(plot, texts, matrix, title=f"{reference} ({run_plan.pooling})"):
            log.warning(_("no CJK font was found, so Chinese labels in {path} show as boxes; install one, for "
                          "example fonts-noto-cjk").format(path=plot))
        out.info(_("saved the similarity heat map to {path}").format(path=plot))
    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records([{"model": reference, "pooling": run_plan.pooling, "texts": texts,
                      "similarity": [[round(value, 6) for value in row] for row in matrix]}])
    elif out.format == OutputFormat.plain:
        for row in matrix:
            out.line(" ".join(f"{value:.4f}" for value in row))
    else:
        from ptmcli.render.embed import similarity_heat_map

        out.render(similarity_heat_map(texts, matrix))
