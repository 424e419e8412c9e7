"""`ptm mask`: fill [MASK] with a masked language model, or show BERT's pre-training masking."""

from typing import Annotated

import typer

from ptmcli.cli.inputs import EncodingErrors, read_texts
from ptmcli.cli.options import (
    MODEL_PANEL,
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
from ptmcli.i18n import _

HELP = _("Predict the tokens behind [MASK] with a masked language model, or show how BERT masks text for "
         "pre-training.")
EPILOG = _(
    "Examples:\n\n"
    "  ptm mask \"我来自[MASK]国\" --model bert-base-chinese\n\n"
    "  ptm mask \"The capital of France is [MASK].\" --model ./my-bert --top-k 3\n\n"
    "  ptm mask --show-masking \"我喜欢自然语言处理和深度学习\" --seed 1\n\n"
    "  ptm mask --show-masking \"Pretrained models learn from unlabeled text\" --whole-word --seed 3"
)

DEFAULT_MODEL = "bert-base-chinese"
MASKING_PANEL = _("Pre-training masking (--show-masking)")


def command(
    texts: TextsArg = None,
    model: Annotated[str, typer.Option(
        "--model", "-m", autocompletion=complete_model, rich_help_panel=MODEL_PANEL,
        help=_("Masked language model: a folder, a pack, or a Hub id. --show-masking needs only its tokenizer."))]
    = DEFAULT_MODEL,
    top_k: Annotated[int, typer.Option("--top-k", help=_("Number of fillers shown per mask."))] = 5,
    show_masking: Annotated[bool, typer.Option(
        "--show-masking", help=_("Mask each text as BERT pre-training does: 15% of the tokens selected, of which 80% "
                                 "become [MASK], 10% a random token and 10% stay unchanged."),
        rich_help_panel=MASKING_PANEL)] = False,
    whole_word: Annotated[bool, typer.Option(
        "--whole-word", help=_("Select whole words: the tokenizer's words, or jieba's words for Chinese text."),
        rich_help_panel=MASKING_PANEL)] = False,
    mlm_probability: Annotated[float, typer.Option(
        "--mlm-probability", help=_("Fraction of the tokens selected."), rich_help_panel=MASKING_PANEL)] = 0.15,
    seed: Annotated[int | None, typer.Option(help=_("Random seed for --show-masking."),
                                             rich_help_panel=MASKING_PANEL, show_default=False)] = None,
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
    if top_k < 1:
        raise UsageError(_("--top-k must be at least 1, got {value}").format(value=top_k))
    if not 0 < mlm_probability < 1:
        raise UsageError(_("--mlm-probability must be between 0 and 1 (exclusive), got {value}").format(
            value=mlm_probability))
    if (whole_word or seed is not None) and not show_masking:
        raise UsageError(_("--whole-word and --seed belong to --show-masking"),
                         hint=_("add --show-masking, or drop them to fill masks"))
    texts = read_texts(texts, file, encoding_errors)

    from ptmcli.engine import masking
    from ptmcli.engine.resolve import resolve

    if show_masking:
        from ptmcli.engine.loading import load_tokenizer

        with out.status(_("loading tokenizer {name}").format(name=model)):
            source = resolve(model, offline=offline, revision=revision, progress=out.progress)
            loaded = load_tokenizer(source, trust_remote_code=trust_remote_code, progress=out.progress)
        demos = [masking.show_masking(loaded.tokenizer, text, seed=None if seed is None else seed + row,
                                      whole_word=whole_word, mlm_probability=mlm_probability)
                 for row, text in enumerate(texts)]
        _report(out, source.reference, demos, masking_view=True)
        return

    from ptmcli.engine.device import resolve_device, resolve_dtype
    from ptmcli.engine.loading import load_model

    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype.value, torch_device)
    with out.status(_("loading {model}").format(model=model)):
        source = resolve(model, offline=offline, revision=revision, progress=out.progress)
        # No pack has MLM weights, so a not-found error gets the generic hint rather than a pack name.
        loaded = load_model(source, "AutoModelForMaskedLM", device=torch_device, dtype=torch_dtype,
                            trust_remote_code=trust_remote_code)
    masking.check_mlm_head(loaded.model, source.location, source.reference)

    results = masking.fill_mask(loaded.model, loaded.tokenizer, texts, top_k=top_k)

    _report(out, source.reference, results, masking_view=False)


def _report(out: Output, model: str, results, *, masking_view: bool) -> None:
    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records([{"model": model, **result.as_record()} for result in results])
    elif out.format == OutputFormat.plain:
        for result in results:
            out.line(" ".join(result.input_tokens) if masking_view else result.filled)
    else:
        from ptmcli.render import mask as views

        for result in results:
            out.render(views.masking_view(result) if masking_view else views.fill_view(result))
