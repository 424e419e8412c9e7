"""Text-to-text generation with encoder-decoder models (T5 and other `AutoModelForSeq2SeqLM` checkpoints).

T5 reads a task prefix ("translate English to German: ...") and writes the answer as text. The
decoder starts from `decoder_start_token_id` (the pad token, id 0, for T5), so every output
sequence begins with it; the limit on new tokens counts decoder tokens only, never the input.
"""

import logging
import re
import unicodedata
from dataclasses import asdict, dataclass, field

from ptmcli.engine.generate import Candidate, GenerationSettings, Step, generation_options
from ptmcli.errors import PtmError, UsageError
from ptmcli.i18n import _, ngettext

log = logging.getLogger("ptmcli")

STOP_EOS = "eos_token"
STOP_LENGTH = "max_new_tokens"

SENTINEL = re.compile(r"<extra_id_(\d+)>")
_WHITESPACE_RUN = re.compile(r"\s{2,}|[\t\n\r\f\v]")


@dataclass(frozen=True)
class Task:
    """A prefix from the multi-task mixture that the original T5 checkpoints were trained on."""

    name: str
    prefix: str  # for pair tasks, "{first}" and "{second}" mark where the two texts go
    pair: bool = False

    def apply(self, text: str, second: str | None) -> str:
        if self.pair:
            return self.prefix.format(first=text, second=second)
        return self.prefix + text


# The first four names are those of `task_specific_params` in the original T5 configs; the GLUE
# prefixes follow the T5 paper's appendix (Raffel et al., 2020).
TASKS = {task.name: task for task in (
    Task("translation_en_to_de", "translate English to German: "),
    Task("translation_en_to_fr", "translate English to French: "),
    Task("translation_en_to_ro", "translate English to Romanian: "),
    Task("summarization", "summarize: "),
    Task("cola", "cola sentence: "),
    Task("sst2", "sst2 sentence: "),
    Task("stsb", "stsb sentence1: {first} sentence2: {second}", pair=True),
    Task("mrpc", "mrpc sentence1: {first} sentence2: {second}", pair=True),
    Task("qqp", "qqp question1: {first} question2: {second}", pair=True),
    Task("mnli", "mnli hypothesis: {first} premise: {second}", pair=True),
    Task("qnli", "qnli question: {first} sentence: {second}", pair=True),
    Task("rte", "rte sentence1: {first} sentence2: {second}", pair=True),
    Task("wnli", "wnli sentence1: {first} sentence2: {second}", pair=True),
)}
# Short names people type, mapped to the names above.
TASK_ALIASES = {"en-de": "translation_en_to_de", "en-fr": "translation_en_to_fr", "en-ro": "translation_en_to_ro",
                "summarize": "summarization"}
# Model types pre-trained on unlabeled text only: a task prefix means nothing to them until fine-tuning.
UNSUPERVISED_TYPES = {"mt5", "umt5", "byt5", "longt5"}


def task_names() -> list[str]:
    return list(TASKS) + list(TASK_ALIASES)


def find_task(name: str) -> Task:
    task = TASKS.get(TASK_ALIASES.get(name, name))
    if task is None:
        raise UsageError(_("unknown task '{name}'").format(name=name),
                         hint=_("choose one of: {names}").format(names=", ".join(task_names())))
    return task


@dataclass(frozen=True)
class Prepared:
    """An input with its task prefix applied, and the model's own settings for that task."""

    text: str
    source: str  # what the encoder reads
    task: str | None
    task_params: dict  # from the model config's task_specific_params; empty when it has none for this task


def prepare_inputs(texts: list[str], task: str | None, pairs: list[str] | None, config) -> list[Prepared]:
    """Apply the task prefix to each text; the model's task_specific_params prefix wins over the built-in one."""
    if task is None:
        if pairs:
            raise UsageError(_("--pair needs a --task that takes two sentences, such as stsb"))
        return [Prepared(text, text, None, {}) for text in texts]
    preset = find_task(task)
    if preset.pair and (not pairs or len(pairs) != len(texts)):
        raise UsageError(_("task '{task}' takes two sentences: give one --pair per text").format(task=preset.name),
                         hint=_("for example: ptm t5 --task stsb \"A cat sits.\" --pair \"A cat is sitting.\""))
    if not preset.pair and pairs:
        raise UsageError(_("task '{task}' takes one sentence, so --pair cannot be used").format(task=preset.name))
    params = dict(model_task_params(config).get(preset.name, {}))
    prepared = []
    for row, text in enumerate(texts):
        second = pairs[row] if preset.pair else None
        if params.get("prefix") and not preset.pair:
            source = params["prefix"] + text
        else:
            source = preset.apply(text, second)
        prepared.append(Prepared(text, source, preset.name, params))
    return prepared


def model_task_params(config) -> dict:
    return dict(getattr(config, "task_specific_params", None) or {})


# Keys of task_specific_params that map onto generate() arguments; "max_length" is left out because
# ptm limits new tokens with --max-new-tokens, and "prefix" is applied to the text instead.
TASK_GENERATE_KEYS = ("num_beams", "early_stopping", "length_penalty", "min_length", "no_repeat_ngram_size")
BEAM_KEYS = ("num_beams", "early_stopping", "length_penalty")


def task_generate_options(params: dict, settings: GenerationSettings, explicit: set[str]) -> dict:
    """The model's generate() settings for a task, minus those set on the command line.

    Beam settings are dropped when the user asked for sampling or for the greedy step view.
    """
    options = {}
    for key in TASK_GENERATE_KEYS:
        if key not in params or key in explicit:
            continue
        if key in BEAM_KEYS and (settings.do_sample or settings.show_top > 0):
            continue
        options[key] = params[key]
    return options


def input_warnings(config, tokenizer, prepared: list[Prepared]) -> list[str]:
    """Explain where the model or its tokenizer will not see the input as the user wrote it."""
    warnings = []
    model_type = getattr(config, "model_type", None)
    tasks = {item.task for item in prepared if item.task}
    if tasks and model_type in UNSUPERVISED_TYPES:
        warnings.append(_("{model_type} models were pre-trained on unlabeled text only, so the prefix of task "
                          "'{task}' means nothing to them until they are fine-tuned on it").format(
            model_type=model_type, task=", ".join(sorted(tasks))))
    elif tasks and model_type == "t5" and str(getattr(config, "feed_forward_proj", "")).startswith("gated"):
        warnings.append(_("this T5 v1.1-style model (gated feed-forward) was pre-trained without supervised tasks, so "
                          "the prefix of task '{task}' means nothing to it until it is fine-tuned").format(
            task=", ".join(sorted(tasks))))
    if model_type == "t5" and any(_has_cjk(item.source) for item in prepared):
        warnings.append(_("the original T5 was pre-trained on English text (C4) and its vocabulary has almost no "
                          "Chinese, Japanese or Korean characters, so they become <unk>; use a multilingual "
                          "model such as google/mt5-small and fine-tune it"))
    for item in prepared:
        details = describe_text(tokenizer, item.source)
        if details.unknown:
            warnings.append(ngettext("{count} part of '{text}' is not in the vocabulary and becomes {unk}: {parts}",
                                     "{count} parts of '{text}' are not in the vocabulary and become {unk}: {parts}",
                                     len(details.unknown)).format(
                count=len(details.unknown), text=_shorten(item.source), unk=tokenizer.unk_token,
                parts=" ".join(details.unknown)))
        if details.whitespace_collapsed:
            warnings.append(_("the tokenizer collapses newlines, tabs and repeated spaces in '{text}' into single "
                              "spaces, so the model cannot see them").format(text=_shorten(item.source)))
    return warnings


def _shorten(text: str, limit: int = 40) -> str:
    text = text.replace("\n", "\\n").replace("\t", "\\t")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _has_cjk(text: str) -> bool:
    return any(unicodedata.name(char, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL")) for char in text)


@dataclass(frozen=True)
class TokenView:
    """What the tokenizer makes of one input: tokens, ids, unknown parts, sentinels and special tokens."""

    text: str
    ids: list[int]
    tokens: list[str]
    special: list[int]  # positions of special tokens (</s>, <pad>, <unk>, sentinels)
    unknown: list[str]  # input characters that became the unknown token
    sentinels: list[dict]  # {"token": "<extra_id_0>", "id": 32099} in the order they appear
    whitespace_collapsed: bool  # the text had newlines, tabs or runs of spaces, which do not survive
    decoded: str  # decode(ids, skip_special_tokens=True): what a plain decode shows

    def as_record(self) -> dict:
        return asdict(self)


def describe_text(tokenizer, text: str) -> TokenView:
    encoding = tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    ids = encoding["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    special_ids = set(tokenizer.all_special_ids)
    unknown = []
    for token_id, (start, end) in zip(ids, encoding["offset_mapping"], strict=True):
        if token_id == tokenizer.unk_token_id and end > start:
            part = text[start:end]
            # A literal "<unk>" typed by the user is the token itself, not an unknown character.
            if part != tokenizer.unk_token:
                unknown.append(part)
    sentinels = [{"token": token, "id": token_id} for token, token_id in zip(tokens, ids, strict=True)
                 if SENTINEL.fullmatch(token)]
    return TokenView(
        text=text,
        ids=ids,
        tokens=tokens,
        special=[position for position, token_id in enumerate(ids) if token_id in special_ids],
        unknown=unknown,
        sentinels=sentinels,
        whitespace_collapsed=bool(_WHITESPACE_RUN.search(text.strip())) or text != text.strip(),
        decoded=tokenizer.decode(ids, skip_special_tokens=True),
    )


def sentinel_ids(tokenizer) -> list[int]:
    """Ids of <extra_id_0>, <extra_id_1>, ... in order; T5 puts them at the top of the vocabulary, counting down."""
    ids = []
    while True:
        token = f"<extra_id_{len(ids)}>"
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id:
            return ids
        ids.append(token_id)


@dataclass(frozen=True)
class T5Result:
    """The output for one input."""

    text: str  # as the user gave it, before the task prefix
    source: str  # what the encoder read
    task: str | None
    input_ids: list[int]
    input_tokens: list[str]
    output_ids: list[int]  # the decoder sequence as generate returns it: start token first, pads removed
    output_tokens: list[str]
    output: str  # decoded without the start, end and pad tokens; sentinels stay visible
    stop_reason: str
    steps: list[Step] = field(default_factory=list)

    @property
    def new_tokens(self) -> int:
        return len(self.output_ids) - 1

    @property
    def prompt(self) -> str:
        return self.source

    def as_record(self) -> dict:
        record = asdict(self)
        record["new_tokens"] = self.new_tokens
        return record


def check_seq2seq(model) -> None:
    if not getattr(model.config, "is_encoder_decoder", False):
        raise PtmError(
            _("model type '{model_type}' is not an encoder-decoder model").format(
                model_type=getattr(model.config, "model_type", "?")),
            hint=_("ptm t5 needs a seq2seq model such as T5, mT5 or BART; use 'ptm generate' for GPT-style models"),
        )


def run(model, tokenizer, prepared: list[Prepared], settings: GenerationSettings,
        task_options: dict | None = None) -> list[T5Result]:
    """Encode every input as one right-padded batch and generate each output with `model.generate`.

    `task_options` are extra generate() arguments, such as those of `task_generate_options`.
    """
    import torch
    import transformers

    check_seq2seq(model)
    # Encoders read the whole input at once, so right padding with an attention mask leaves each row's
    # output unchanged; only decoder-only models need left padding.
    tokenizer.padding_side = "right"
    sources = [item.source for item in prepared]
    inputs = tokenizer(sources, return_tensors="pt", padding=len(sources) > 1).to(model.device)
    _check_input_length(model, tokenizer, inputs["input_ids"].shape[1])

    if settings.seed is not None:
        transformers.set_seed(settings.seed)
    options = {**generation_options(settings), **(task_options or {})}
    record_steps = settings.show_top > 0 and options["num_beams"] == 1
    start_id = model.generation_config.decoder_start_token_id
    if start_id is None:
        start_id = model.config.decoder_start_token_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else start_id
    with torch.inference_mode():
        output = model.generate(
            **inputs,
            **options,
            pad_token_id=pad_id,
            return_dict_in_generate=True,
            output_logits=record_steps,
        )
    stop_ids = _stop_ids(model, tokenizer)
    results = []
    for row, item in enumerate(prepared):
        sequence = output.sequences[row].tolist()
        stop_reason = STOP_LENGTH
        # Position 0 is the decoder start token, which is the pad token for T5.
        for position in range(1, len(sequence)):
            if sequence[position] in stop_ids:
                sequence, stop_reason = sequence[:position + 1], STOP_EOS
                break
        length = int(inputs["attention_mask"][row].sum())
        input_ids = inputs["input_ids"][row, :length].tolist()
        results.append(T5Result(
            text=item.text,
            source=item.source,
            task=item.task,
            input_ids=input_ids,
            input_tokens=tokenizer.convert_ids_to_tokens(input_ids),
            output_ids=sequence,
            output_tokens=tokenizer.convert_ids_to_tokens(sequence),
            output=output_text(tokenizer, sequence, stop_ids),
            stop_reason=stop_reason,
            steps=_steps(tokenizer, output.logits, row, sequence[1:], settings.show_top, stop_ids)
            if record_steps else [],
        ))
    return results


def output_text(tokenizer, sequence: list[int], stop_ids: set[int]) -> str:
    """Decode a decoder sequence, keeping sentinels visible.

    `skip_special_tokens=True` would also delete the sentinels (they are additional special tokens),
    so only the leading start token, the end token and pads are removed.
    """
    hidden = set(stop_ids) | {tokenizer.pad_token_id}
    body = sequence[1:] if sequence else []
    return tokenizer.decode([token_id for token_id in body if token_id not in hidden],
                            skip_special_tokens=False).strip()


def _stop_ids(model, tokenizer) -> set[int]:
    configured = model.generation_config.eos_token_id
    if configured is None:
        configured = tokenizer.eos_token_id
    if configured is None:
        return set()
    return set(configured) if isinstance(configured, list) else {configured}


def _check_input_length(model, tokenizer, length: int) -> None:
    # T5's relative positions have no hard limit, but most other encoders (BART) do.
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and length > limit:
        raise PtmError(
            _("the input has {length} tokens, more than the model's limit of {limit}").format(length=length,
                                                                                           limit=limit),
            hint=_("shorten the input"),
        )


def _steps(tokenizer, logits, row: int, new_ids: list[int], show_top: int, stop_ids: set[int]) -> list[Step]:
    import torch

    hidden = set(stop_ids) | {tokenizer.pad_token_id}
    steps = []
    emitted = ""
    shown: list[int] = []
    for index, token_id in enumerate(new_ids):
        probabilities = torch.softmax(logits[index][row].float(), dim=-1)
        best = torch.topk(probabilities, k=min(show_top, probabilities.shape[-1]))
        if token_id not in hidden:
            shown.append(token_id)
        text = tokenizer.decode(shown, skip_special_tokens=False)
        added = text[len(emitted):] if text.startswith(emitted) else text
        emitted = text
        steps.append(Step(
            index=index,
            id=token_id,
            token=tokenizer.convert_ids_to_tokens(token_id),
            probability=float(probabilities[token_id]),
            text=added,
            bytes=None,
            pending=None,
            top=[Candidate(int(candidate), tokenizer.convert_ids_to_tokens(int(candidate)), float(probability))
                 for probability, candidate in zip(best.values, best.indices, strict=True)],
        ))
    return steps
