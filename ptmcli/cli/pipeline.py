"""`ptm pipeline`: run a common task (fill-mask, text-generation, ...) on a model you name."""

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

HELP = _("Run a transformers pipeline task (fill-mask, text-generation, feature-extraction, text-classification, "
         "token-classification, question-answering, summarization, translation, text2text-generation) on a "
         "model you name.")
EPILOG = _(
    "Examples:\n\n"
    "  ptm pipeline text-generation \"I like eating fried\" -m smollm2 --max-new-tokens 5\n\n"
    "  ptm pipeline feature-extraction \"I like tea\" -m minilm --format json\n\n"
    "  ptm pipeline fill-mask \"Paris is the [MASK] of France.\" -m google-bert/bert-base-uncased\n\n"
    "  ptm pipeline question-answering \"Who wrote it?\" --context \"Ada wrote the notes.\" -m ./my-qa-model\n\n"
    "  ptm pipeline translation_en_to_de \"The house is wonderful.\" -m google-t5/t5-small"
)

TASK_PANEL = _("Task")
FEATURE_VALUES_SHOWN = 4  # leading values of a feature vector shown in the table view


def _complete_task(incomplete: str) -> list[str]:
    from ptmcli.engine.pipeline import task_names

    return [name for name in task_names() if name.startswith(incomplete)]


def command(
    task: Annotated[str, typer.Argument(
        help=_("fill-mask, text-generation, feature-extraction, text-classification (sentiment-analysis), "
               "token-classification (ner), question-answering, summarization, translation, "
               "translation_XX_to_YY or text2text-generation."),
        autocompletion=_complete_task, show_default=False)],
    texts: TextsArg = None,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", autocompletion=complete_model, rich_help_panel=MODEL_PANEL, show_default=False,
        help=_("The model to run: a folder, a pack or a Hub id. Required: ptm never picks one for you."))] = None,
    context: Annotated[str | None, typer.Option(
        "--context", help=_("The passage that question-answering searches for each question's answer."),
        rich_help_panel=TASK_PANEL, show_default=False)] = None,
    max_new_tokens: Annotated[int, typer.Option(
        "--max-new-tokens", min=1, help=_("Tokens to generate (text-generation and the seq2seq tasks)."),
        rich_help_panel=TASK_PANEL)] = 20,
    num_beams: Annotated[int, typer.Option(
        "--num-beams", min=1, help=_("Beam search width for the seq2seq tasks; 1 is greedy."),
        rich_help_panel=TASK_PANEL)] = 1,
    top_k: Annotated[int | None, typer.Option(
        "--top-k", min=1, help=_("Candidates to return (fill-mask, text-classification). \\[default: the "
                                 "pipeline's own: 5 for fill-mask, 1 for text-classification]"),
        rich_help_panel=TASK_PANEL, show_default=False)] = None,
    aggregation: Annotated[str, typer.Option(
        "--aggregation", help=_("How token-classification joins sub-word tokens into entities: none, simple, "
                                "first, average or max."), rich_help_panel=TASK_PANEL)] = "simple",
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
    from ptmcli.engine import pipeline as engine

    spec = engine.find_task(task)
    if model is None:
        raise UsageError(_("{task} needs --model: ptm never picks a model for you").format(task=spec.name),
                         hint=_("for {task}, try {suggestions}").format(task=spec.name, suggestions=spec.suggestions))
    if spec.name == "question-answering" and not context:
        raise UsageError(_("question-answering needs --context, the passage to search"),
                         hint=_("ptm pipeline question-answering \"Who wrote it?\" --context \"Ada wrote it.\" "
                                "-m MODEL"))
    if context and spec.name != "question-answering":
        raise UsageError(_("--context belongs to question-answering, not {task}").format(task=spec.name))
    if aggregation not in ("none", "simple", "first", "average", "max"):
        raise UsageError(_("invalid --aggregation '{value}'").format(value=aggregation),
                         hint=_("use none, simple, first, average or max"))
    texts = read_texts(texts, file, encoding_errors)

    from ptmcli.engine.device import resolve_device, resolve_dtype
    from ptmcli.engine.inspect import load_config
    from ptmcli.engine.loading import load_model
    from ptmcli.engine.resolve import resolve

    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype.value, torch_device)
    with out.status(_("loading {model}").format(model=model)):
        source = resolve(model, offline=offline, revision=revision, progress=out.progress)
        engine.check_head(spec, load_config(source, trust_remote_code=trust_remote_code), model)
        loaded = load_model(source, spec.auto_class, device=torch_device, dtype=torch_dtype,
                            trust_remote_code=trust_remote_code)

    options = engine.PipelineOptions(max_new_tokens=max_new_tokens, top_k=top_k, aggregation=aggregation,
                                     context=context, num_beams=num_beams)
    with out.status(_("running {task}").format(task=spec.name)):
        results = engine.run(task, loaded.model, loaded.tokenizer, model, texts, options)

    records = [result.as_record() for result in results]
    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records(records)
    elif out.format == OutputFormat.plain:
        for record in records:
            out.line(_plain_value(spec.name, record["output"]))
    else:
        out.render(*[_table(spec.name, record) for record in records])


def _plain_value(task: str, output) -> str:
    """Return the one value per input that a shell script wants: the text, the label, the answer, the shape."""
    from ptmcli.engine.pipeline import OUTPUT_KEYS, nested_shape

    if task == "feature-extraction":
        return "x".join(str(size) for size in nested_shape(output))
    if task == "question-answering":
        return output["answer"]
    if task == "token-classification":
        return " ".join(f"{entity.get('word')}/{entity.get('entity_group') or entity.get('entity')}"
                        for entity in output)
    first = output[0] if isinstance(output, list) and output else output
    if isinstance(first, list):  # text-classification with --top-k returns a list per input
        first = first[0]
    for key in ("generated_text", OUTPUT_KEYS.get(task, ""), "token_str", "label"):
        if isinstance(first, dict) and key in first:
            return str(first[key])
    return str(first)


def _table(task: str, record: dict):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from ptmcli.engine.pipeline import nested_shape

    output = record["output"]
    # The input goes above the table rather than in its title, which would wrap at the table's width.
    heading = Text(record["input"], style="bold")
    table = Table(header_style="bold", box=None, pad_edge=False)
    if task == "feature-extraction":
        table.add_column(_("shape"))
        table.add_column(_("first values of the first token"))
        vector = output[0][0] if output and output[0] else []
        table.add_row(str(nested_shape(output)),
                      ", ".join(f"{value:.4f}" for value in vector[:FEATURE_VALUES_SHOWN]) + ", ...")
        return Group(heading, table, Text(""))
    rows = output if isinstance(output, list) else [output]
    rows = [row for group in rows for row in (group if isinstance(group, list) else [group])]
    columns = list(rows[0]) if rows else []
    for column in columns:
        table.add_column(column)
    for row in rows:
        # Generated text may hold line breaks, which would split a table row; show them as \n.
        table.add_row(*[f"{row[column]:.4f}" if isinstance(row[column], float)
                        else str(row[column]).replace("\n", "\\n") for column in columns])
    return Group(heading, table, Text(""))
