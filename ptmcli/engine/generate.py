"""Causal-LM generation through `model.generate`, with each decoding step recorded for display.

The step view reads the per-step logits that `generate` returns (`output_logits=True`). So it runs
the library's own loop with its KV cache instead of feeding the whole sequence at every step, and
its greedy choices are exactly those of a plain `model.generate` call.
"""

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from ptmcli.engine.pieces import StreamDecoder, is_byte_level, token_bytes
from ptmcli.engine.tokenize import ensure_pad_token
from ptmcli.errors import PtmError, UsageError
from ptmcli.i18n import _

log = logging.getLogger("ptmcli")

STOP_EOS = "eos_token"
STOP_LENGTH = "max_new_tokens"


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding options, named as in transformers' GenerationConfig."""

    max_new_tokens: int = 32
    do_sample: bool = False
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    num_beams: int = 1
    repetition_penalty: float | None = None
    no_repeat_ngram_size: int | None = None
    seed: int | None = None
    show_top: int = 5  # alternatives recorded per step; 0 records no steps
    chat: bool = False


@dataclass(frozen=True)
class Candidate:
    id: int
    token: str
    probability: float


@dataclass(frozen=True)
class Step:
    """One decoding step: the chosen token, its probability and the best alternatives."""

    index: int
    id: int
    token: str
    probability: float  # softmax of the model's raw logits, before sampling adjustments
    text: str  # characters this token completed; empty while a character's bytes are pending
    bytes: str | None  # hex bytes of a byte-level token
    pending: str | None  # hex bytes still waiting for the rest of their character
    top: list[Candidate] = field(default_factory=list)


@dataclass(frozen=True)
class Generation:
    """The result for one prompt."""

    prompt: str
    text: str  # whole characters only; see incomplete_bytes
    prompt_tokens: int
    new_token_ids: list[int]
    stop_reason: str
    steps: list[Step]
    incomplete_bytes: str | None = None  # hex bytes of a character cut off by the token limit

    @property
    def new_tokens(self) -> int:
        return len(self.new_token_ids)

    def as_record(self) -> dict:
        record = asdict(self)
        record["new_tokens"] = self.new_tokens
        return record


def validate(settings: GenerationSettings) -> None:
    """Reject settings that cannot run, before any model is loaded."""
    if settings.max_new_tokens < 1:
        raise UsageError(
            _("the number of new tokens must be at least 1, got {value}").format(value=settings.max_new_tokens)
        )
    if settings.temperature is not None and settings.temperature < 0:
        raise UsageError(_("--temperature must be 0 or more, got {value}").format(value=settings.temperature))
    if settings.top_p is not None and not 0 < settings.top_p <= 1:
        raise UsageError(_("--top-p must be in (0, 1], got {value}").format(value=settings.top_p))
    if settings.top_k is not None and settings.top_k < 1:
        raise UsageError(_("--top-k must be at least 1, got {value}").format(value=settings.top_k))
    if settings.num_beams < 1:
        raise UsageError(_("--num-beams must be at least 1, got {value}").format(value=settings.num_beams))
    if settings.num_beams > 1 and settings.do_sample:
        raise UsageError(_("beam search and sampling cannot be combined"),
                         hint=_("drop --num-beams or the sampling options"))
    if settings.repetition_penalty is not None and settings.repetition_penalty <= 0:
        raise UsageError(_("--repetition-penalty must be positive, got {value}")
                         .format(value=settings.repetition_penalty))


def build_prompts(tokenizer, prompts: list[str], chat: bool) -> list[str]:
    """Wrap each prompt in the model's chat template when --chat is on."""
    if not chat:
        return prompts
    if not getattr(tokenizer, "chat_template", None):
        raise UsageError(_("this model has no chat template, so --chat cannot be used"),
                         hint=_("drop --chat, or use an instruction-tuned model such as smollm2"))
    return [
        tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                      tokenize=False)
        for prompt in prompts
    ]


def generate(model, tokenizer, prompts: list[str], settings: GenerationSettings,
             on_text: Callable[[str], None] | None = None) -> list[Generation]:
    """Generate a continuation for each prompt, as one left-padded batch.

    `on_text` receives whole characters as they are decoded; it streams a single prompt only.
    """
    import torch
    import transformers

    texts = build_prompts(tokenizer, prompts, settings.chat)
    # Decoder-only models must be padded on the left, so that every row's last position is a real
    # token, and the attention mask keeps the pads out of attention.
    tokenizer.padding_side = "left"
    if len(texts) > 1:
        ensure_pad_token(tokenizer)
    inputs = tokenizer(texts, return_tensors="pt", padding=len(texts) > 1,
                       add_special_tokens=not settings.chat).to(model.device)
    prompt_length = inputs["input_ids"].shape[1]
    _check_context(model, prompt_length, settings.max_new_tokens)

    if settings.seed is not None:
        transformers.set_seed(settings.seed)
    streamer = _Streamer(tokenizer, on_text) if on_text and len(texts) == 1 and settings.num_beams == 1 else None
    record_steps = settings.show_top > 0 and settings.num_beams == 1
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.inference_mode():
        output = model.generate(
            **inputs,
            **generation_options(settings),
            pad_token_id=pad_id,
            return_dict_in_generate=True,
            output_logits=record_steps,
            streamer=streamer,
        )
    stop_ids = _stop_ids(model, tokenizer)
    results = []
    for row, prompt in enumerate(prompts):
        new_ids = output.sequences[row, prompt_length:].tolist()
        stop_reason = STOP_LENGTH
        for position, token_id in enumerate(new_ids):
            if token_id in stop_ids:
                new_ids, stop_reason = new_ids[:position + 1], STOP_EOS
                break
        steps = _steps(tokenizer, output.logits, row, new_ids, settings.show_top) if record_steps else []
        text, incomplete = _whole_characters(tokenizer, new_ids)
        results.append(Generation(
            prompt=prompt,
            text=text,
            incomplete_bytes=incomplete.hex(" ") or None,
            prompt_tokens=int(inputs["attention_mask"][row].sum()),
            new_token_ids=new_ids,
            stop_reason=stop_reason,
            steps=steps,
        ))
    return results


def generation_options(settings: GenerationSettings) -> dict:
    options = {"max_new_tokens": settings.max_new_tokens, "do_sample": settings.do_sample,
               "num_beams": settings.num_beams}
    if settings.do_sample:
        for name in ("temperature", "top_k", "top_p"):
            value = getattr(settings, name)
            if value is not None:
                options[name] = value
    if settings.repetition_penalty is not None:
        options["repetition_penalty"] = settings.repetition_penalty
    if settings.no_repeat_ngram_size:
        options["no_repeat_ngram_size"] = settings.no_repeat_ngram_size
    return options


def _check_context(model, prompt_length: int, max_new_tokens: int) -> None:
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    if limit and prompt_length + max_new_tokens > limit:
        raise PtmError(
            _("the prompt ({prompt} tokens) plus {new} new tokens exceeds the model's context of {limit} tokens")
            .format(prompt=prompt_length, new=max_new_tokens, limit=limit),
            hint=_("shorten the prompt or lower --max-new-tokens"),
        )


def _stop_ids(model, tokenizer) -> set[int]:
    configured = model.generation_config.eos_token_id
    if configured is None:
        configured = tokenizer.eos_token_id
    if configured is None:
        return set()
    return set(configured) if isinstance(configured, list) else {configured}


def _whole_characters(tokenizer, ids: list[int]) -> tuple[str, bytes]:
    """Decode ids, leaving out the bytes of a last character that the token limit cut off."""
    decoder = StreamDecoder(tokenizer)
    for token_id in ids:
        decoder.push(token_id)
    incomplete = decoder.flush()
    text = tokenizer.decode(ids, skip_special_tokens=True)
    if incomplete:
        text = text.rstrip("\ufffd")
    return text, incomplete


def _steps(tokenizer, logits, row: int, new_ids: list[int], show_top: int) -> list[Step]:
    import torch

    decoder = StreamDecoder(tokenizer)
    byte_level = is_byte_level(tokenizer)
    steps = []
    for index, token_id in enumerate(new_ids):
        probabilities = torch.softmax(logits[index][row].float(), dim=-1)
        best = torch.topk(probabilities, k=min(show_top, probabilities.shape[-1]))
        token = tokenizer.convert_ids_to_tokens(token_id)
        raw = token_bytes(token, byte_level) if byte_level else None
        text = decoder.push(token_id)
        steps.append(Step(
            index=index,
            id=token_id,
            token=token,
            probability=float(probabilities[token_id]),
            text=text,
            bytes=raw.hex(" ") if raw is not None else None,
            pending=decoder.pending.hex(" ") or None,
            top=[
                Candidate(int(candidate), tokenizer.convert_ids_to_tokens(int(candidate)), float(probability))
                for probability, candidate in zip(best.values, best.indices, strict=True)
            ],
        ))
    return steps


class _Streamer:
    """A transformers streamer that forwards whole decoded characters to a callback."""

    def __init__(self, tokenizer, on_text: Callable[[str], None]):
        self.decoder = StreamDecoder(tokenizer)
        self.on_text = on_text
        self.prompt_seen = False

    def put(self, value) -> None:
        # generate() first sends the prompt ids, then one new id per step.
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for token_id in value.reshape(-1).tolist():
            text = self.decoder.push(token_id)
            if text:
                self.on_text(text)

    def end(self) -> None:
        # Bytes of a cut-off character are dropped here and reported in Generation.incomplete_bytes.
        self.decoder.flush()
