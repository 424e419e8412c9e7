"""`ptm tokenize`: how one or more tokenizers split text into tokens and ids."""

import re
from enum import Enum
from typing import Annotated

import typer

from ptmcli.cli.inputs import EncodingErrors, read_texts
from ptmcli.cli.options import (
    INPUT_PANEL,
    MODEL_PANEL,
    OUTPUT_PANEL,
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
from ptmcli.i18n import _

HELP = _("Show how a tokenizer splits text: tokens, ids, offsets, special tokens and byte-level pieces.")
EPILOG = _(
    "Examples:\n\n"
    "  ptm tokenize -m bert-base-chinese \"我来自中国\"\n\n"
    "  ptm tokenize -m gpt2 \"我喜欢吃炸\" --format json\n\n"
    "  ptm tokenize -m bert-base-chinese -m gpt2 \"我爱NLP\"   (compare tokenizers)\n\n"
    "  cat lines.txt | ptm tokenize -m gpt2 --count\n\n"
    "  echo \"101 2769 102\" | ptm tokenize -m bert-base-chinese --decode"
)

DEFAULT_MODEL = "bert-base-chinese"


class Truncation(str, Enum):
    longest_first = "longest_first"
    only_first = "only_first"
    only_second = "only_second"
    do_not_truncate = "do_not_truncate"


class Padding(str, Enum):
    do_not_pad = "do_not_pad"
    longest = "longest"
    max_length = "max_length"


def command(
    texts: TextsArg = None,
    models: Annotated[list[str], typer.Option(
        "--model", "-m", autocompletion=complete_model, rich_help_panel=MODEL_PANEL,
        help=_("Tokenizer to use: a folder, a pack, or a Hub id. Repeat to compare tokenizers."))] = (DEFAULT_MODEL,),
    pairs: Annotated[list[str] | None, typer.Option(
        "--pair", help=_("Second sentence of a pair, one per text (BERT marks it with token_type_ids 1)."),
        rich_help_panel=INPUT_PANEL)] = None,
    truncation: Annotated[Truncation | None, typer.Option(
        help=_("Truncation strategy; longest_first when --max-length is given."))] = None,
    max_length: Annotated[int | None, typer.Option(
        "--max-length", min=1, help=_("Maximum number of tokens per input, special tokens included."))] = None,
    padding: Annotated[Padding, typer.Option(help=_("Pad the batch to its longest input or to --max-length."))]
    = Padding.do_not_pad,
    no_special_tokens: Annotated[bool, typer.Option(
        "--no-special-tokens", help=_("Do not add [CLS], [SEP], <s>, </s> and similar tokens."))] = False,
    ids_only: Annotated[bool, typer.Option("--ids", help=_("Output only the ids of each text."),
                                           rich_help_panel=OUTPUT_PANEL)] = False,
    tokens_only: Annotated[bool, typer.Option("--tokens", help=_("Output only the tokens of each text."),
                                              rich_help_panel=OUTPUT_PANEL)] = False,
    count_only: Annotated[bool, typer.Option("--count", help=_("Output only the number of tokens of each text."),
                                             rich_help_panel=OUTPUT_PANEL)] = False,
    decode: Annotated[bool, typer.Option(
        "--decode", help=_("Read ids (separated by spaces or commas) and decode them back to text."))] = False,
    skip_special_tokens: Annotated[bool, typer.Option(
        "--skip-special-tokens", help=_("With --decode, drop special tokens (this also drops [UNK]).")) ] = False,
    output_format: FormatOpt = OutputFormat.auto,
    file: FileOpt = None,
    encoding_errors: EncodingErrorsOpt = EncodingErrors.strict,
    revision: RevisionOpt = None,
    trust_remote_code: TrustRemoteCodeOpt = False,
    offline: OfflineOpt = False,
) -> None:
    out = Output(output_format)
    modes = [name for name, chosen in (("--ids", ids_only), ("--tokens", tokens_only), ("--count", count_only),
                                       ("--decode", decode)) if chosen]
    if len(modes) > 1:
        raise UsageError(_("{first} cannot be combined with {second}; choose one").format(
            first=modes[0], second=modes[1]))
    if modes:
        # --ids, --tokens, --count and --decode print one value per line, like ttok, unless a format is given.
        out.prefer_plain()
    texts = read_texts(texts, file, encoding_errors)
    id_lists = [_parse_ids(text) for text in texts] if decode else None
    if pairs and decode:
        raise UsageError(_("--pair cannot be used with --decode"))
    model_names = list(models)
    if decode and len(model_names) > 1:
        raise UsageError(_("--decode takes one --model"))

    from ptmcli.engine.loading import load_tokenizer
    from ptmcli.engine.resolve import resolve
    from ptmcli.engine.tokenize import TokenizeOptions, tokenize

    loaded = []
    for name in model_names:
        with out.status(_("loading tokenizer {name}").format(name=name)):
            source = resolve(name, offline=offline, revision=revision, progress=out.progress)
            loaded.append(load_tokenizer(source, trust_remote_code=trust_remote_code, progress=out.progress))

    if decode:
        _report_decoded(out, loaded[0], id_lists, skip_special_tokens)
        return
    options = TokenizeOptions(
        add_special_tokens=not no_special_tokens,
        truncation=truncation.value if truncation else None,
        max_length=max_length,
        padding=padding.value,
        detail=_detail(modes[0] if modes else None),
    )
    results = [(item, tokenize(item.tokenizer, texts, pairs, options)) for item in loaded]

    _report(out, results, modes[0] if modes else None)


def _detail(mode: str | None) -> str:
    """Return how much tokenize computes for a pipe mode: --tokens needs token strings, --ids and --count only ids."""
    if mode is None:
        return "pieces"
    return "tokens" if mode == "--tokens" else "ids"


def _parse_ids(text: str) -> list[int]:
    fields = [field for field in re.split(r"[\s,\[\]]+", text) if field]
    if not fields or not all(re.fullmatch(r"\d+", field) for field in fields):
        raise UsageError(
            _("'{text}' is not a list of token ids").format(text=text[:40]),
            hint=_("--decode reads ids separated by spaces or commas, for example: 101 2769 102"),
        )
    return [int(field) for field in fields]


def _report_decoded(out: Output, loaded, id_lists: list[list[int]], skip_special_tokens: bool) -> None:
    from ptmcli.engine.tokenize import decode

    decoded = [decode(loaded.tokenizer, ids, skip_special_tokens) for ids in id_lists]
    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records([{"model": loaded.source.reference, "ids": ids, "text": text}
                     for ids, text in zip(id_lists, decoded, strict=True)])
    else:
        for text in decoded:
            out.line(text)


def _report(out: Output, results, mode: str | None) -> None:
    if mode is not None:
        _report_selected(out, results, mode)
        return
    records = []
    for item, encodings in results:
        for encoding in encodings:
            record = encoding.as_record()
            record = {"model": item.source.reference, **record, "unknown_count": encoding.unknown_count}
            records.append(record)

    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records(records)
    elif out.format == OutputFormat.plain:
        for record in records:
            out.line(" ".join(record["tokens"]))
    else:
        from ptmcli.render.tokens import comparison_table, encoding_view

        if len(results) > 1:
            out.render(comparison_table(results))
        else:
            item, encodings = results[0]
            for encoding in encodings:
                out.render(encoding_view(item, encoding))


def _report_selected(out: Output, results, mode: str) -> None:
    key = {"--ids": "ids", "--tokens": "tokens", "--count": "count"}[mode]

    def value(encoding):
        return len(encoding.ids) if key == "count" else getattr(encoding, key)

    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records({"model": item.source.reference, "text": encoding.text, key: value(encoding)}
                    for item, encodings in results for encoding in encodings)
        return
    for _item, encodings in results:
        for encoding in encodings:
            selected = value(encoding)
            out.line(str(selected) if key == "count" else " ".join(str(part) for part in selected))
