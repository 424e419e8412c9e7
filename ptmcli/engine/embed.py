"""Sentence and token features from an encoder, batched by length, returned in input order.

Texts are taken in chunks of a few thousand. Each chunk is tokenized once, sorted by length so
that a batch carries little padding, run through the model, then put back in input order before
it is handed on. Memory therefore stays bounded by the chunk, however long the input is.
"""

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ptmcli.engine import pooling as pooling_ops
from ptmcli.engine.encoder import POOLER_NONE, POOLER_TRAINED, POOLER_UNKNOWN, EncoderInfo
from ptmcli.engine.tokenize import ensure_pad_token
from ptmcli.errors import PtmError, UsageError
from ptmcli.i18n import _, ngettext

log = logging.getLogger("ptmcli")

CHUNK_BATCHES = 64  # batches per chunk: enough texts for length sorting to pay off
TRUNCATION_WARNINGS = 3  # single-text warnings before the rest are only counted

# Progress callback: texts done, texts in total.
OnProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class EmbedOptions:
    pooling: str = "auto"  # cls, pooler, mean, max, or auto (the model's own choice)
    layers: tuple[int, ...] | None = None  # indices into hidden_states (0 = embeddings); None = last layer
    layer_mix: str = "concat"
    normalize: bool = False
    prefix: str = ""
    tokens: bool = False
    batch_size: int = 32


@dataclass(frozen=True)
class Plan:
    """Options made concrete for one model: the pooling and layers that will really be used."""

    pooling: str
    pooling_source: str  # "option", "sentence-transformers", "model" or "bert"
    layers: tuple[int, ...]  # non-negative indices into hidden_states
    layer_mix: str
    normalize: bool
    prefix: str
    tokens: bool
    batch_size: int
    dim: int
    needs_hidden_states: bool  # False when the last layer alone is used, read from last_hidden_state

    def as_record(self) -> dict:
        return {"pooling": self.pooling, "layers": list(self.layers), "layer_mix": self.layer_mix,
                "normalized": self.normalize, "prefix": self.prefix, "dim": self.dim}


@dataclass(frozen=True)
class TokenFeature:
    index: int
    token: str
    id: int
    special: bool
    start: int | None  # character offsets into the prefixed text; None for special tokens
    end: int | None
    features: object  # numpy float32 [dim]


@dataclass(frozen=True)
class Embedding:
    """The features of one input text."""

    index: int  # position in the input
    text: str
    vector: object  # numpy float32 [dim]
    num_tokens: int  # after truncation, special tokens included
    special_tokens: int
    truncated_tokens: int
    pooler_output: object | None = None  # numpy float32 [hidden] when the pooler is trained
    tokens: tuple[TokenFeature, ...] | None = None

    def as_record(self, decimals: int = 7) -> dict:
        record = {
            "index": self.index,
            "text": self.text,
            "dim": int(self.vector.shape[0]),
            "num_tokens": self.num_tokens,
            "truncated_tokens": self.truncated_tokens,
            "embedding": _rounded(self.vector, decimals),
        }
        if self.tokens is not None:
            record["token_features_shape"] = [len(self.tokens), int(self.vector.shape[0])]
            record["tokens"] = [
                {"index": token.index, "token": token.token, "id": token.id, "special": token.special,
                 "start": token.start, "end": token.end, "features": _rounded(token.features, decimals)}
                for token in self.tokens
            ]
        return record


@dataclass(frozen=True)
class Shapes:
    """Shapes of the model outputs for a run, as a single padded batch would have them."""

    batch: int
    seq_len: int  # longest input in tokens, after truncation
    hidden: int
    num_hidden_states: int | None  # layers + 1, when hidden_states were requested
    has_pooler_output: bool
    features: tuple[int, int]

    def as_record(self) -> dict:
        record = {"last_hidden_state": [self.batch, self.seq_len, self.hidden],
                  "pooler_output": [self.batch, self.hidden] if self.has_pooler_output else None,
                  "features": list(self.features)}
        if self.num_hidden_states is not None:
            record["hidden_states"] = [self.num_hidden_states, self.batch, self.seq_len, self.hidden]
        return record


def parse_layers(spec: str) -> tuple[int, ...]:
    """Parse --layers: comma-separated indices and ranges, for example '-4,-3,-2,-1', '9:13' or '-4:'."""
    layers: list = []  # an int per index, a ("range", start, stop) tuple per range
    for field in (part.strip() for part in spec.split(",")):
        if not field:
            continue
        try:
            if ":" in field:
                start, _colon, stop = field.partition(":")
                layers.append(("range", int(start) if start else 0, int(stop) if stop else None))
            else:
                layers.append(int(field))
        except ValueError:
            raise UsageError(
                _("invalid --layers value '{value}'").format(value=spec),
                hint=_("give layer indices separated by commas, for example -4,-3,-2,-1 or a range such as -4:"),
            ) from None
    if not layers:
        raise UsageError(_("--layers is empty"), hint=_("give at least one layer index, for example -1"))
    return tuple(layers)


def plan(info: EncoderInfo, options: EmbedOptions, layer_spec: tuple | None = None) -> Plan:
    """Resolve automatic choices and check the options against what this model has."""
    pooling, source = options.pooling, "option"
    if pooling == "auto":
        pooling, source = info.default_pooling, info.default_pooling_source
    if pooling not in pooling_ops.POOLINGS:
        raise UsageError(_("unknown pooling '{pooling}'").format(pooling=pooling),
                         hint=_("use one of: {names}").format(names=", ".join(pooling_ops.POOLINGS)))
    if options.layer_mix not in pooling_ops.LAYER_MIXES:
        raise UsageError(_("unknown layer mix '{mix}'").format(mix=options.layer_mix),
                         hint=_("use one of: {names}").format(names=", ".join(pooling_ops.LAYER_MIXES)))
    layers = _layer_indices(layer_spec, info.num_layers)
    if pooling == "pooler":
        _check_pooler(info, layers)
    if info.kind == "decoder" and pooling in ("cls", "pooler"):
        raise UsageError(
            _("--pooling {pooling} needs an encoder: the first token of a decoder has seen no other token").format(
                pooling=pooling),
            hint=_("use --pooling mean or --pooling max"),
        )
    if options.batch_size < 1:
        raise UsageError(_("--batch-size must be at least 1, got {value}").format(value=options.batch_size))
    width = len(layers) if options.layer_mix == "concat" else 1
    return Plan(pooling=pooling, pooling_source=source, layers=layers, layer_mix=options.layer_mix,
                normalize=options.normalize, prefix=options.prefix, tokens=options.tokens,
                batch_size=options.batch_size, dim=info.hidden_size * width,
                needs_hidden_states=layers not in ((info.num_layers,), (-1,)))


def _layer_indices(layer_spec: tuple | None, num_layers: int) -> tuple[int, ...]:
    # hidden_states holds the embedding output and then one entry per layer.
    count = num_layers + 1
    if layer_spec is None:
        return (num_layers,) if num_layers else (-1,)
    indices: list[int] = []
    for item in layer_spec:
        if isinstance(item, tuple):
            _kind, start, stop = item
            indices.extend(range(count)[slice(start, stop)])
            if not range(count)[slice(start, stop)]:
                raise _layer_out_of_range(f"{start}:{'' if stop is None else stop}", num_layers)
            continue
        if not -count <= item < count:
            raise _layer_out_of_range(str(item), num_layers)
        indices.append(item % count)
    return tuple(indices)


def _layer_out_of_range(value: str, num_layers: int) -> UsageError:
    return UsageError(
        _("--layers {value} is out of range: this model has {layers} layers, so hidden_states has indices 0 "
          "(embeddings) to {last}, or -{count} to -1").format(value=value, layers=num_layers, last=num_layers,
                                                              count=num_layers + 1),
        hint=_("for the last four layers use --layers -4:"),
    )


def _check_pooler(info: EncoderInfo, layers: tuple[int, ...]) -> None:
    if info.pooler == POOLER_NONE:
        raise UsageError(
            _("this model ({type}) has no pooler, so there is no pooler_output").format(type=info.model_type),
            hint=_("use --pooling cls for the [CLS] vector, or --pooling mean"),
        )
    if info.pooler not in (POOLER_TRAINED, POOLER_UNKNOWN):
        raise PtmError(
            _("the checkpoint has no trained pooler weights (pooler.dense.weight is missing), so pooler_output "
              "would come from random weights and change between runs"),
            hint=_("use --pooling cls for the raw [CLS] vector, or --pooling mean"),
        )
    if layers != (info.num_layers,):
        raise UsageError(_("--pooling pooler reads the last layer only and cannot be combined with --layers"),
                         hint=_("use --pooling cls or mean with --layers"))


def describe_shapes(info: EncoderInfo, plan_: Plan, embeddings: list[Embedding]) -> Shapes:
    return Shapes(
        batch=len(embeddings),
        seq_len=max((item.num_tokens for item in embeddings), default=0),
        hidden=info.hidden_size,
        num_hidden_states=info.num_layers + 1 if plan_.needs_hidden_states else None,
        has_pooler_output=info.pooler == POOLER_TRAINED,
        features=(len(embeddings), plan_.dim),
    )


def embed(model, tokenizer, texts: list[str], info: EncoderInfo, plan_: Plan,
          on_progress: OnProgress | None = None) -> Iterator[Embedding]:
    """Yield one Embedding per text, in input order, computing a chunk of texts at a time."""
    import torch

    if tokenizer.pad_token is None:
        ensure_pad_token(tokenizer)
    chunk_size = plan_.batch_size * CHUNK_BATCHES
    truncated = 0
    done = 0
    with torch.inference_mode():
        for start in range(0, len(texts), chunk_size):
            chunk = texts[start:start + chunk_size]
            results = _embed_chunk(model, tokenizer, chunk, start, info, plan_, on_progress, done, len(texts))
            for result in results:
                if result.truncated_tokens:
                    truncated += 1
                    if truncated <= TRUNCATION_WARNINGS:
                        _warn_truncated(result, info)
                yield result
            done += len(chunk)
    if truncated > TRUNCATION_WARNINGS:
        log.warning(ngettext("{count} input was truncated in total", "{count} inputs were truncated in total",
                             truncated).format(count=truncated))


def _warn_truncated(result: Embedding, info: EncoderInfo) -> None:
    full = result.num_tokens + result.truncated_tokens
    log.warning(
        _("input {index} has {full} tokens, more than the model's maximum ({full} > {limit}); the last {cut} tokens "
          "were cut").format(index=result.index + 1, full=full, limit=info.max_length, cut=result.truncated_tokens)
    )


def _embed_chunk(model, tokenizer, texts, offset, info, plan_, on_progress, done, total) -> list[Embedding]:
    prefixed = [plan_.prefix + text for text in texts]
    encoded = _encode(tokenizer, prefixed, info.max_length)
    order = sorted(range(len(texts)), key=lambda row: len(encoded[row]["input_ids"]))
    results: list[Embedding | None] = [None] * len(texts)
    for batch_start in range(0, len(order), plan_.batch_size):
        rows = order[batch_start:batch_start + plan_.batch_size]
        batch_results = _embed_batch(model, tokenizer, [encoded[row] for row in rows], info, plan_)
        for row, (vector, pooler_vector, token_features) in zip(rows, batch_results, strict=True):
            item = encoded[row]
            results[row] = Embedding(
                index=offset + row,
                text=texts[row],
                vector=vector,
                num_tokens=len(item["input_ids"]),
                special_tokens=sum(item["special_tokens_mask"]),
                truncated_tokens=item["truncated_tokens"],
                pooler_output=pooler_vector,
                tokens=_token_features(tokenizer, item, token_features) if plan_.tokens else None,
            )
        if on_progress is not None:
            on_progress(done + batch_start + len(rows), total)
    return results


def _encode(tokenizer, texts: list[str], limit: int) -> list[dict]:
    """Tokenize without padding, truncating to the model's limit and recording how much was cut."""
    common = dict(add_special_tokens=True, return_special_tokens_mask=True, return_attention_mask=True)
    if getattr(tokenizer, "is_fast", False):
        common["return_offsets_mapping"] = True
    full = tokenizer(texts, truncation=False, **common)
    encoded = [{key: full[key][row] for key in full.keys()} for row in range(len(texts))]
    too_long = [row for row, item in enumerate(encoded) if len(item["input_ids"]) > limit]
    if too_long:
        # Long inputs are rare, so only they are tokenized a second time, with truncation.
        cut = tokenizer([texts[row] for row in too_long], truncation=True, max_length=limit, **common)
        for position, row in enumerate(too_long):
            full_length = len(encoded[row]["input_ids"])
            encoded[row] = {key: cut[key][position] for key in cut.keys()}
            encoded[row]["truncated_tokens"] = full_length - len(encoded[row]["input_ids"])
    for item in encoded:
        item.setdefault("truncated_tokens", 0)
    return encoded


def _embed_batch(model, tokenizer, items: list[dict], info: EncoderInfo, plan_: Plan) -> list[tuple]:
    model_inputs = [{key: value for key, value in item.items() if key in info.forward_inputs}
                    for item in items]
    batch = tokenizer.pad(model_inputs, padding="longest", return_tensors="pt")
    # Inputs must sit on the model's device, or torch fails with "Expected all tensors to be on the same device".
    batch = {key: value.to(model.device) for key, value in batch.items() if key in info.forward_inputs}
    try:
        outputs = model(**batch, output_hidden_states=plan_.needs_hidden_states, return_dict=True)
    except (RuntimeError, IndexError) as error:
        raise PtmError(_("the model failed on a batch: {reason}").format(reason=str(error).splitlines()[0]),
                       hint=_("try --batch-size 1 to find the input, or --device cpu")) from error

    mask = batch["attention_mask"]
    if plan_.needs_hidden_states:
        features = pooling_ops.mix_layers(outputs.hidden_states, list(plan_.layers), plan_.layer_mix)
    else:
        features = outputs.last_hidden_state
    pooler_output = getattr(outputs, "pooler_output", None) if info.pooler == POOLER_TRAINED else None
    if plan_.pooling == "pooler" and info.pooler == POOLER_UNKNOWN:
        pooler_output = getattr(outputs, "pooler_output", None)
    vectors = pooling_ops.pool(features, mask, plan_.pooling, pooler_output)
    if plan_.normalize:
        vectors = pooling_ops.l2_normalize(vectors)

    vectors = vectors.float().cpu().numpy()
    pooler_vectors = pooler_output.float().cpu().numpy() if pooler_output is not None else None
    token_arrays = features.float().cpu().numpy() if plan_.tokens else None
    results = []
    for row, item in enumerate(items):
        length = len(item["input_ids"])
        tokens = token_arrays[row, :length] if token_arrays is not None else None
        results.append((vectors[row], pooler_vectors[row] if pooler_vectors is not None else None, tokens))
    return results


def _token_features(tokenizer, item: dict, features) -> tuple[TokenFeature, ...]:
    ids = item["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    offsets = item.get("offset_mapping")
    special = item["special_tokens_mask"]
    result = []
    for index, token_id in enumerate(ids):
        is_special = bool(special[index])
        start, end = (offsets[index] if offsets is not None and not is_special else (None, None))
        result.append(TokenFeature(index=index, token=tokens[index], id=int(token_id), special=is_special,
                                   start=start, end=end, features=features[index]))
    return tuple(result)


def similarity_matrix(embeddings: list[Embedding]):
    """Cosine similarity of every pair of texts, as a nested list [n][n]."""
    import numpy
    import torch

    vectors = torch.from_numpy(numpy.stack([item.vector for item in embeddings]))
    return pooling_ops.cosine_matrix(vectors).tolist()


def _rounded(vector, decimals: int) -> list[float]:
    return vector.astype("float64").round(decimals).tolist()
