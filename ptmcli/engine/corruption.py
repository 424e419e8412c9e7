"""T5 span corruption: the pre-training objective that turns one text into an (input, target) pair.

A fraction `noise_density` of the tokens is dropped in spans of mean length `mean_span_length`.
The input keeps the other tokens and puts a sentinel (<extra_id_0>, <extra_id_1>, ...) where each
span was; the target lists each sentinel followed by the tokens it replaced, and ends with one
more sentinel. The span lengths follow `random_spans_noise_mask` of the T5 code base
(google-research/text-to-text-transfer-transformer, preprocessors.py): the number of noise tokens
and of spans is fixed by the length, and random partitions decide the span lengths. Pure Python,
seeded by `random.Random`, so that a seed gives the same pair everywhere.
"""

import random
from dataclasses import asdict, dataclass

from ptmcli.errors import UsageError
from ptmcli.i18n import _


@dataclass(frozen=True)
class Span:
    sentinel: str
    start: int  # index of the first corrupted token
    tokens: list[str]


@dataclass(frozen=True)
class CorruptedPair:
    """One span-corruption example over a token sequence."""

    tokens: list[str]  # the original sequence
    input_tokens: list[str]  # with each span replaced by its sentinel
    target_tokens: list[str]  # sentinel, span tokens, ..., final sentinel
    spans: list[Span]
    noise_density: float
    mean_span_length: float
    seed: int | None
    unit: str  # "sentencepiece" (pieces of a T5 tokenizer) or "word" (whitespace-separated words)

    @property
    def noise_tokens(self) -> int:
        return sum(len(span.tokens) for span in self.spans)

    def as_record(self) -> dict:
        record = asdict(self)
        record["noise_tokens"] = self.noise_tokens
        record["span_count"] = len(self.spans)
        return record


def validate(noise_density: float, mean_span_length: float) -> None:
    if not 0 < noise_density < 1:
        raise UsageError(_("--noise-density must be between 0 and 1 (exclusive), got {value}").format(
            value=noise_density))
    if mean_span_length < 1:
        raise UsageError(_("--mean-span-length must be at least 1, got {value}").format(value=mean_span_length))


def noise_mask(length: int, noise_density: float, mean_span_length: float, rng: random.Random) -> list[bool]:
    """Choose which of `length` tokens are noise, in alternating runs that start with kept tokens.

    The counts are fixed: round(length × density) noise tokens (at least 1, and at least one token
    kept) in round(noise tokens / mean span length) spans (at least 1).
    """
    if length < 2:
        raise UsageError(_("span corruption needs at least 2 tokens, got {count}").format(count=length))
    noise_count = min(max(round(length * noise_density), 1), length - 1)
    span_count = max(round(noise_count / mean_span_length), 1)
    kept_count = length - noise_count
    # Each span of noise needs a run of kept tokens before it.
    span_count = min(span_count, noise_count, kept_count)
    noise_lengths = _random_partition(noise_count, span_count, rng)
    kept_lengths = _random_partition(kept_count, span_count, rng)
    mask: list[bool] = []
    for kept, noise in zip(kept_lengths, noise_lengths, strict=True):
        mask += [False] * kept + [True] * noise
    return mask


def _random_partition(total: int, parts: int, rng: random.Random) -> list[int]:
    """Split `total` items into `parts` non-empty runs, every split equally likely."""
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    bounds = [0, *cuts, total]
    return [high - low for low, high in zip(bounds, bounds[1:], strict=False)]


def corrupt(tokens: list[str], sentinels: list[str], *, noise_density: float = 0.15, mean_span_length: float = 3.0,
            seed: int | None = None, unit: str = "word") -> CorruptedPair:
    """Build one (input, target) pair; `sentinels[i]` names the i-th span."""
    validate(noise_density, mean_span_length)
    rng = random.Random(seed)
    mask = noise_mask(len(tokens), noise_density, mean_span_length, rng)

    spans: list[Span] = []
    input_tokens: list[str] = []
    for index, (token, is_noise) in enumerate(zip(tokens, mask, strict=True)):
        if not is_noise:
            input_tokens.append(token)
        elif index > 0 and mask[index - 1]:
            spans[-1].tokens.append(token)
        else:
            if len(spans) + 1 >= len(sentinels):
                raise UsageError(
                    _("the text needs more than {count} sentinel tokens").format(count=len(sentinels) - 1),
                    hint=_("use a shorter text or a larger --mean-span-length"))
            spans.append(Span(sentinel=sentinels[len(spans)], start=index, tokens=[token]))
            input_tokens.append(spans[-1].sentinel)
    target_tokens: list[str] = []
    for span in spans:
        target_tokens += [span.sentinel, *span.tokens]
    target_tokens.append(sentinels[len(spans)])
    return CorruptedPair(tokens=list(tokens), input_tokens=input_tokens, target_tokens=target_tokens, spans=spans,
                         noise_density=noise_density, mean_span_length=mean_span_length, seed=seed, unit=unit)


def reconstruct(input_tokens: list[str], target_tokens: list[str], sentinels: list[str]) -> list[str]:
    """Put the target's spans back in place of the input's sentinels."""
    sentinel_set = set(sentinels)
    fills = split_spans(target_tokens, sentinels)
    restored: list[str] = []
    for token in input_tokens:
        restored += fills.get(token, []) if token in sentinel_set else [token]
    return restored


def word_sentinels(count: int) -> list[str]:
    return [f"<extra_id_{index}>" for index in range(count)]


def split_spans(tokens: list[str], sentinels: list[str]) -> dict[str, list[str]]:
    """Group a model's output tokens by the sentinel that precedes them."""
    sentinel_set = set(sentinels)
    spans: dict[str, list[str]] = {}
    current = None
    for token in tokens:
        if token in sentinel_set:
            current = token
            spans.setdefault(current, [])
        elif current is not None:
            spans[current].append(token)
    return spans


@dataclass(frozen=True)
class CorruptionExample:
    """A span-corruption pair for one text, as text and ids, with the model's prediction after --fill."""

    text: str
    model: str | None
    unit: str
    input: str
    target: str
    input_ids: list[int] | None  # None without a tokenizer; both id lists end with the end-of-sequence id
    target_ids: list[int] | None
    pair: CorruptedPair
    prediction: str | None = None  # the model's output for the input, sentinels kept
    predicted_spans: dict[str, str] | None = None  # sentinel → predicted text
    filled: str | None = None  # the input with the predicted spans put in place

    def as_record(self) -> dict:
        record = asdict(self)
        record["pair"] = self.pair.as_record()
        return record


def corruption_example(text: str, loaded=None, *, noise_density: float = 0.15, mean_span_length: float = 3.0,
                       seed: int | None = None) -> CorruptionExample:
    """Corrupt the pieces of a T5 tokenizer (`loaded.tokenizer`), or whitespace-separated words without one."""
    if loaded is None:
        words = text.split()
        pair = corrupt(words, word_sentinels(len(words) + 1), noise_density=noise_density,
                       mean_span_length=mean_span_length, seed=seed, unit="word")
        return CorruptionExample(text=text, model=None, unit="word", input=" ".join(pair.input_tokens),
                                 target=" ".join(pair.target_tokens), input_ids=None, target_ids=None, pair=pair)

    from ptmcli.engine.t5 import sentinel_ids

    tokenizer = loaded.tokenizer
    sentinels = tokenizer.convert_ids_to_tokens(sentinel_ids(tokenizer))
    if not sentinels:
        raise UsageError(
            _("the tokenizer of '{model}' has no sentinel tokens <extra_id_0>, <extra_id_1>, ...").format(
                model=loaded.source.reference),
            hint=_("use a T5-family tokenizer, or leave out --model to corrupt words"))
    pair = corrupt(tokenizer.tokenize(text), sentinels, noise_density=noise_density,
                   mean_span_length=mean_span_length, seed=seed, unit="sentencepiece")
    end = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    return CorruptionExample(
        text=text,
        model=loaded.source.reference,
        unit="sentencepiece",
        input=tokenizer.convert_tokens_to_string(pair.input_tokens),
        target=tokenizer.convert_tokens_to_string(pair.target_tokens),
        input_ids=tokenizer.convert_tokens_to_ids(pair.input_tokens) + end,
        target_ids=tokenizer.convert_tokens_to_ids(pair.target_tokens) + end,
        pair=pair,
    )


def fill_spans(model, tokenizer, example: CorruptionExample, max_new_tokens: int = 32) -> CorruptionExample:
    """Let a seq2seq model predict the corrupted spans, greedily."""
    from dataclasses import replace

    import torch

    from ptmcli.engine.t5 import check_seq2seq, output_text

    check_seq2seq(model)
    inputs = torch.tensor([example.input_ids], device=model.device)
    with torch.inference_mode():
        sequence = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs),
                                  max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                  pad_token_id=tokenizer.pad_token_id)[0].tolist()
    stop_ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for position in range(1, len(sequence)):
        if sequence[position] in stop_ids:
            sequence = sequence[:position + 1]
            break
    sentinels = [span.sentinel for span in example.pair.spans]
    sentinels.append(example.pair.target_tokens[-1])
    hidden = stop_ids | {tokenizer.pad_token_id}
    predicted = split_spans(tokenizer.convert_ids_to_tokens([i for i in sequence[1:] if i not in hidden]), sentinels)
    filled_tokens = reconstruct(example.pair.input_tokens,
                                [token for sentinel in sentinels[:-1]
                                 for token in [sentinel, *predicted.get(sentinel, [])]], sentinels)
    return replace(
        example,
        prediction=output_text(tokenizer, sequence, stop_ids),
        predicted_spans={sentinel: tokenizer.convert_tokens_to_string(predicted.get(sentinel, [])).strip()
                         for sentinel in sentinels[:-1]},
        filled=tokenizer.convert_tokens_to_string(filled_tokens),
    )
