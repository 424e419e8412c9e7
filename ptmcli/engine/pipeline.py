"""Run common tasks on an explicitly chosen model, through `transformers.pipeline` where it still has the task.

transformers 5 removed the question-answering, summarization, translation and text2text-generation
pipelines. For those, this module runs the same steps itself (extractive span search; seq2seq
generate) and returns the field names the old pipelines used, so scripts written against them still work.
"""

import logging
import re
from dataclasses import dataclass
from typing import Any

from ptmcli.errors import PtmError, UsageError
from ptmcli.i18n import _

log = logging.getLogger("ptmcli")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    auto_class: str
    heads: tuple[str, ...]  # architecture name endings whose checkpoints carry this task's head
    suggestions: str  # models to name when --model is missing
    runner: str  # "pipeline", "question-answering" or "seq2seq"


SEQ2SEQ_HEADS = ("ForConditionalGeneration", "MTModel")
TASKS = {spec.name: spec for spec in (
    TaskSpec("fill-mask", "AutoModelForMaskedLM", ("ForMaskedLM", "ForPreTraining", "WithLMHead"),
             _("google-bert/bert-base-uncased, bert-base-chinese (Hub, with their MLM heads)"), "pipeline"),
    TaskSpec("text-generation", "AutoModelForCausalLM", ("ForCausalLM", "LMHeadModel"),
             _("smollm2 (offline pack) or gpt2 (Hub)"), "pipeline"),
    TaskSpec("feature-extraction", "AutoModel", (), _("minilm or e5-small (offline packs)"), "pipeline"),
    TaskSpec("text-classification", "AutoModelForSequenceClassification", ("ForSequenceClassification",),
             _("a folder from 'ptm finetune --task text-classification', or a fine-tuned Hub model"), "pipeline"),
    TaskSpec("token-classification", "AutoModelForTokenClassification", ("ForTokenClassification",),
             _("a folder from 'ptm finetune --task token-classification', or a fine-tuned Hub model"), "pipeline"),
    TaskSpec("question-answering", "AutoModelForQuestionAnswering", ("ForQuestionAnswering",),
             _("a folder from 'ptm finetune --task question-answering', or a SQuAD model from the Hub"),
             "question-answering"),
    TaskSpec("summarization", "AutoModelForSeq2SeqLM", SEQ2SEQ_HEADS,
             _("google-t5/t5-small or facebook/bart-large-cnn (Hub)"), "seq2seq"),
    TaskSpec("translation", "AutoModelForSeq2SeqLM", SEQ2SEQ_HEADS,
             _("google-t5/t5-small with translation_en_to_de, or Helsinki-NLP/opus-mt-en-zh (Hub)"), "seq2seq"),
    TaskSpec("text2text-generation", "AutoModelForSeq2SeqLM", SEQ2SEQ_HEADS, _("google-t5/t5-small (Hub)"), "seq2seq"),
)}
TASK_ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}
TRANSLATION_PAIR = re.compile(r"^translation_[a-z]{2,3}_to_[a-z]{2,3}$")
OUTPUT_KEYS = {"summarization": "summary_text", "translation": "translation_text",
               "text2text-generation": "generated_text"}
MAX_ANSWER_TOKENS = 30  # maximum length of an answer span, in tokens; longer spans are not considered


@dataclass(frozen=True)
class PipelineOptions:
    max_new_tokens: int = 20
    top_k: int | None = None
    aggregation: str = "simple"
    context: str | None = None
    num_beams: int = 1


@dataclass(frozen=True)
class PipelineResult:
    """One input and what the task made of it, in the pipeline's own field names."""

    task: str
    model: str
    index: int
    input: str
    output: Any

    def as_record(self) -> dict:
        return {"task": self.task, "model": self.model, "index": self.index, "input": self.input,
                "output": self.output}


def task_names() -> list[str]:
    return list(TASKS) + list(TASK_ALIASES)


def find_task(name: str) -> TaskSpec:
    """Look a task up by name, alias or translation pair (translation_en_to_de)."""
    name = TASK_ALIASES.get(name, name)
    if TRANSLATION_PAIR.match(name):
        return TASKS["translation"]
    spec = TASKS.get(name)
    if spec is None:
        raise UsageError(_("unknown task '{task}'").format(task=name),
                         hint=_("choose one of: {names}").format(names=", ".join(task_names())))
    return spec


def check_head(spec: TaskSpec, config, reference: str) -> None:
    """Reject a checkpoint whose saved architecture lacks the task's head, whose weights would be random."""
    names = getattr(config, "architectures", None) or ()
    if not spec.heads or not names:
        return
    if not any(name.endswith(spec.heads) for name in names):
        raise PtmError(
            _("'{model}' has no {task} head: its checkpoint is {architecture}, so the head would be random "
              "weights").format(model=reference, task=spec.name, architecture=", ".join(names)),
            hint=_("use a model trained for {task}, for example {suggestions}").format(
                task=spec.name, suggestions=spec.suggestions))


def run(task: str, model, tokenizer, reference: str, texts: list[str], options: PipelineOptions
        ) -> list[PipelineResult]:
    spec = find_task(task)
    if spec.runner == "question-answering":
        outputs = [answer_question(model, tokenizer, text, options.context) for text in texts]
    elif spec.runner == "seq2seq":
        outputs = _seq2seq(task, spec, model, tokenizer, texts, options)
    else:
        outputs = _pipeline(spec, model, tokenizer, texts, options)
    return [PipelineResult(spec.name if not TRANSLATION_PAIR.match(task) else task, reference, index, text,
                           _plain(output)) for index, (text, output) in enumerate(zip(texts, outputs, strict=True))]


def _pipeline(spec: TaskSpec, model, tokenizer, texts: list[str], options: PipelineOptions) -> list:
    from transformers import pipeline

    runner = pipeline(spec.name, model=model, tokenizer=tokenizer)
    arguments: dict = {}
    if spec.name == "text-generation":
        # do_sample=False overrides a generation config that samples, so the same input gives the same output.
        arguments = {"max_new_tokens": options.max_new_tokens, "do_sample": False, "return_full_text": False,
                     "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None
                     else tokenizer.eos_token_id}
    elif spec.name in ("fill-mask", "text-classification") and options.top_k is not None:
        arguments = {"top_k": options.top_k}
    elif spec.name == "token-classification":
        arguments = {"aggregation_strategy": options.aggregation}
    if spec.name == "fill-mask":
        _check_mask(tokenizer, texts)
    return [runner(text, **arguments) for text in texts]


def _check_mask(tokenizer, texts: list[str]) -> None:
    mask = tokenizer.mask_token
    if mask is None:
        raise UsageError(_("this model's tokenizer has no mask token, so it cannot fill a mask"),
                         hint=_("use a masked language model such as bert-base-chinese or minilm"))
    for text in texts:
        if text.count(mask) != 1:
            raise UsageError(_("fill-mask needs exactly one {mask} in each input: '{text}'").format(
                mask=mask, text=text), hint=_("for example: \"Paris is the {mask} of France.\"").format(mask=mask))


def answer_question(model, tokenizer, question: str, context: str) -> dict:
    """Find the context span with the highest start × end probability, start <= end, as the answer."""
    import torch

    encoded = tokenizer(question, context, return_tensors="pt", truncation="only_second",
                        return_offsets_mapping=True)
    offsets = encoded.pop("offset_mapping")[0].tolist()
    sequence_ids = encoded.sequence_ids(0)
    with torch.no_grad():
        output = model(**{key: value.to(model.device) for key, value in encoded.items()})
    start_logits = output.start_logits[0].float().cpu()
    end_logits = output.end_logits[0].float().cpu()
    context_positions = [index for index, segment in enumerate(sequence_ids) if segment == 1]
    if not context_positions:
        raise UsageError(_("the question leaves no room for the context within the model's input length"))
    start_probabilities = torch.softmax(start_logits, dim=-1)
    end_probabilities = torch.softmax(end_logits, dim=-1)
    best = None
    in_context = set(context_positions)
    for start in context_positions:
        for end in range(start, start + MAX_ANSWER_TOKENS):
            if end not in in_context:
                break
            score = float(start_probabilities[start] * end_probabilities[end])
            if best is None or score > best[0]:
                best = (score, start, end)
    score, start, end = best
    begin, finish = offsets[start][0], offsets[end][1]
    return {"score": round(score, 6), "start": begin, "end": finish, "answer": context[begin:finish]}


def _seq2seq(task: str, spec: TaskSpec, model, tokenizer, texts: list[str], options: PipelineOptions) -> list:
    import torch

    if not getattr(model.config, "is_encoder_decoder", False):
        raise PtmError(_("{task} needs an encoder-decoder (seq2seq) model, and this one is {type}").format(
            task=spec.name, type=model.config.model_type), hint=_("use for example {suggestions}").format(
            suggestions=spec.suggestions))
    key = OUTPUT_KEYS[spec.name]
    outputs = []
    for text in texts:
        source = _task_prefix(task, model.config) + text
        encoded = tokenizer(source, return_tensors="pt", truncation=True).to(model.device)
        with torch.no_grad():
            generated = model.generate(**encoded, max_new_tokens=options.max_new_tokens, num_beams=options.num_beams,
                                       do_sample=False)
        outputs.append([{key: tokenizer.decode(generated[0], skip_special_tokens=True).strip()}])
    return outputs


def _task_prefix(task: str, config) -> str:
    """Return the prefix a T5-style model expects for this task (\"summarize: \"), or nothing."""
    from ptmcli.engine import t5

    params = t5.model_task_params(config)
    if task in params:
        return params[task].get("prefix", "")
    if getattr(config, "model_type", "") == "t5" and task in t5.TASKS:
        return t5.TASKS[task].prefix
    return ""


def _plain(value):
    """Convert numpy and torch values in pipeline output into JSON types."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return value


def nested_shape(value) -> list[int]:
    """Return the shape of a nested list, as feature-extraction outputs are."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape
