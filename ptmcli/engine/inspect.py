"""Describe a model without loading its weights: config facts, architecture tree, parameter counts, tokenizer.

The architecture is built from config.json on the meta device, so a 7B model costs no memory and no
download beyond its config and tokenizer, and the counts equal those of the real model class.
"""

import json
import logging
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ptmcli.errors import PtmError
from ptmcli.i18n import _

log = logging.getLogger("ptmcli")

# Norm placement by model family, because configs do not state it. Post-LN adds the residual first
# and normalizes after (original Transformer, BERT); pre-LN normalizes each sublayer's input.
POST_LN_TYPES = {"bert", "roberta", "xlm-roberta", "electra", "camembert", "ernie", "albert", "distilbert",
                 "bart", "marian"}
PRE_LN_TYPES = {"gpt2", "gpt_neo", "gpt_neox", "gptj", "llama", "mistral", "mixtral", "qwen2", "qwen3", "phi3",
                "t5", "mt5", "umt5", "longt5", "mbart", "smollm3", "olmo2"}
# Families whose norms are RMSNorm even where the config calls the epsilon layer_norm_epsilon.
RMS_NORM_TYPES = {"t5", "mt5", "umt5", "longt5"}
# Families with both a pre-norm and a post-norm around each sublayer.
SANDWICH_NORM_TYPES = {"gemma2", "gemma3", "gemma3_text"}
# A tokenizer that declares a longer limit than this has no real limit (transformers uses 1e30).
UNBOUNDED_LENGTH = 10**9
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "tokenizer.model",
                   "sentencepiece.bpe.model", "tokenizer_config.json")


@dataclass(frozen=True)
class ConfigSummary:
    """The architecture facts from config.json, named as transformers names them where possible."""

    model_type: str
    architectures: tuple[str, ...]
    layers: int | None
    decoder_layers: int | None  # encoder-decoder models only
    hidden_size: int | None
    attention_heads: int | None
    key_value_heads: int | None  # fewer than attention_heads means grouped-query attention
    intermediate_size: int | None
    vocab_size: int | None
    max_positions: int | None  # None where positions are relative and unbounded
    position_embedding: str  # "absolute", "relative_buckets", "rotary", "relative_key", ... or "unknown"
    relative_buckets: int | None
    relative_max_distance: int | None
    rope_theta: float | None
    normalization: str | None  # "post-LN", "pre-LN", "sandwich" or None when the family is unknown
    norm_kind: str | None  # "LayerNorm" or "RMSNorm"
    activation: str | None
    tie_word_embeddings: bool | None
    dtype: str | None
    is_encoder_decoder: bool


@dataclass(frozen=True)
class ModuleCount:
    """Parameters of one top-level module; `shared` counts tensors already owned by the `shared_with` modules."""

    name: str
    type: str
    parameters: int
    shared: int = 0
    shared_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class TreeNode:
    """One module of the architecture; `repeat` > 1 is a run of identical siblings folded into one node."""

    name: str
    type: str
    extra: str
    parameters: int  # of one instance
    repeat: int = 1
    children: tuple["TreeNode", ...] = ()

    def as_record(self) -> dict:
        record = {"name": self.name, "type": self.type, "extra": self.extra, "parameters": self.parameters,
                  "repeat": self.repeat}
        if self.children:
            record["children"] = [child.as_record() for child in self.children]
        return record


@dataclass(frozen=True)
class TokenizerSummary:
    """The tokenizer's algorithm, size, length limit and special tokens."""

    kind: str  # "WordPiece", "BPE", "byte-level BPE", "Unigram", "WordLevel" or a class name
    class_name: str
    vocab_size: int
    model_max_length: int | None
    special_tokens: dict[str, dict] = field(default_factory=dict)  # role -> {"token": ..., "id": ...}


@dataclass(frozen=True)
class Inspection:
    """Everything `ptm inspect` reports about one model."""

    reference: str
    source: str  # "folder", "gguf", "pack" or "hub"
    location: str
    config: ConfigSummary
    model_class: str | None = None
    total_parameters: int | None = None
    modules: tuple[ModuleCount, ...] = ()
    checkpoint_values: int | None = None  # numbers stored in local safetensors files, saved buffers included
    tree: TreeNode | None = None
    tokenizer: TokenizerSummary | None = None

    def as_record(self) -> dict:
        return {
            "model": self.reference,
            "source": self.source,
            "location": self.location,
            "config": asdict(self.config) | {"architectures": list(self.config.architectures)},
            "model_class": self.model_class,
            "total_parameters": self.total_parameters,
            "modules": [asdict(module) | {"shared_with": list(module.shared_with)} for module in self.modules],
            "checkpoint_values": self.checkpoint_values,
            "tokenizer": asdict(self.tokenizer) if self.tokenizer is not None else None,
            "tree": self.tree.as_record() if self.tree is not None else None,
        }


def load_config(source, *, trust_remote_code: bool = False):
    """Read only the config of a resolved source (config.json, or a GGUF file's metadata)."""
    from transformers import AutoConfig

    from ptmcli.engine import hub
    from ptmcli.engine.loading import _not_found

    if source.kind == "hub":
        hub.hub_reachable()
    try:
        return AutoConfig.from_pretrained(source.location, trust_remote_code=trust_remote_code,
                                          **source.load_options())
    except OSError as error:
        if source.kind == "hub":
            raise _not_found(source, error, purpose="model") from error
        raise PtmError(
            _("cannot read the config of '{reference}': {reason}").format(
                reference=source.reference, reason=str(error).strip().splitlines()[0] if str(error).strip() else
                type(error).__name__),
            hint=_("a model folder needs a config.json"),
        ) from error
    except ValueError as error:
        raise PtmError(_("'{reference}' has a config that transformers does not understand: {reason}").format(
            reference=source.reference, reason=str(error).splitlines()[0])) from error


def summarize_config(config) -> ConfigSummary:
    model_type = getattr(config, "model_type", "") or ""
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    encoder_decoder = bool(getattr(config, "is_encoder_decoder", False))
    position, buckets, distance, theta = _position_embedding(text_config, model_type)
    placement, norm_kind = _normalization(text_config, model_type)
    dtype = getattr(config, "dtype", None)
    return ConfigSummary(
        model_type=model_type,
        architectures=tuple(getattr(config, "architectures", None) or ()),
        layers=_first(text_config, "num_hidden_layers", "num_layers", "n_layer"),
        decoder_layers=_first(text_config, "num_decoder_layers", "decoder_layers") if encoder_decoder else None,
        hidden_size=_first(text_config, "hidden_size", "d_model", "n_embd"),
        attention_heads=_first(text_config, "num_attention_heads", "num_heads", "n_head"),
        key_value_heads=_first(text_config, "num_key_value_heads"),
        intermediate_size=_first(text_config, "intermediate_size", "d_ff", "n_inner", "ffn_dim"),
        vocab_size=_first(text_config, "vocab_size"),
        max_positions=_first(text_config, "max_position_embeddings", "n_positions") if position != "relative_buckets"
        else None,
        position_embedding=position,
        relative_buckets=buckets,
        relative_max_distance=distance,
        rope_theta=theta,
        normalization=placement,
        norm_kind=norm_kind,
        activation=_first(text_config, "hidden_act", "activation_function", "feed_forward_proj",
                          "hidden_activation"),
        tie_word_embeddings=getattr(config, "tie_word_embeddings", None),
        dtype=str(dtype).removeprefix("torch.") if dtype is not None else None,
        is_encoder_decoder=encoder_decoder,
    )


def _first(config, *names):
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    return None


def _position_embedding(config, model_type: str) -> tuple[str, int | None, int | None, float | None]:
    buckets = getattr(config, "relative_attention_num_buckets", None)
    if buckets is not None:
        return "relative_buckets", buckets, getattr(config, "relative_attention_max_distance", None), None
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    theta = getattr(config, "rope_theta", None)
    if isinstance(rope, dict) and theta is None:
        theta = rope.get("rope_theta")
    if theta is not None or rope:
        return "rotary", None, None, float(theta) if theta is not None else None
    declared = getattr(config, "position_embedding_type", None)
    if declared:
        return str(declared), None, None, None
    if _first(config, "max_position_embeddings", "n_positions") is not None:
        return "absolute", None, None, None
    return "unknown", None, None, None


def _normalization(config, model_type: str) -> tuple[str | None, str | None]:
    if getattr(config, "rms_norm_eps", None) is not None or model_type in RMS_NORM_TYPES:
        kind = "RMSNorm"
    elif _first(config, "layer_norm_eps", "layer_norm_epsilon", "layernorm_epsilon") is not None:
        kind = "LayerNorm"
    else:
        kind = None
    if model_type in SANDWICH_NORM_TYPES:
        return "sandwich", kind
    if model_type in POST_LN_TYPES:
        return "post-LN", kind
    if model_type in PRE_LN_TYPES:
        return "pre-LN", kind
    return None, kind


def build_empty_model(config, *, trust_remote_code: bool = False):
    """Build the checkpoint's model class on the meta device: real shapes, no memory, no weights read."""
    import torch
    import transformers

    names = getattr(config, "architectures", None) or ()
    model_class = getattr(transformers, names[0], None) if names else None
    with torch.device("meta"):
        if model_class is not None:
            return model_class(config)
        # No class named in the config (or one transformers lacks): the bare Auto model is the best guess.
        return transformers.AutoModel.from_config(config, trust_remote_code=trust_remote_code)


def count_parameters(model) -> tuple[int, tuple[ModuleCount, ...]]:
    """Count parameters in total and per top-level module, each tensor once even when tied.

    A task model (LlamaForCausalLM, BertForMaskedLM) is listed through its base model's modules, so the
    embedding, the layers and the head appear side by side.
    """
    owners: dict[int, str] = {}
    counts = []
    for name, module in _top_modules(model):
        own = shared = 0
        shared_with: list[str] = []
        for parameter in module.parameters():
            owner = owners.get(id(parameter))
            if owner is None:
                owners[id(parameter)] = name
                own += parameter.numel()
            else:
                shared += parameter.numel()
                if owner not in shared_with:
                    shared_with.append(owner)
        counts.append(ModuleCount(name, type(module).__name__, own, shared, tuple(shared_with)))
    for parameter in model.parameters(recurse=False):
        if id(parameter) not in owners:
            owners[id(parameter)] = "(root)"
            counts.append(ModuleCount("(root)", type(model).__name__, parameter.numel()))
    total = sum(parameter.numel() for parameter in model.parameters())
    return total, tuple(counts)


def _top_modules(model):
    prefix = getattr(model, "base_model_prefix", "")
    base = getattr(model, prefix, None) if prefix else None
    for name, child in model.named_children():
        if child is base and list(base.named_children()):
            for inner_name, inner in base.named_children():
                yield f"{name}.{inner_name}", inner
        else:
            yield name, child


def module_tree(module, name: str = "") -> TreeNode:
    """Describe a module as print(model) does, with runs of identical siblings folded into one node."""
    children = list(module.named_children())
    nodes = []
    index = 0
    while index < len(children):
        child_name, child = children[index]
        text = repr(child)
        end = index + 1
        # ModuleList entries are named 0, 1, 2...; fold a run whose printed form is identical.
        while (child_name.isdigit() and end < len(children) and children[end][0].isdigit()
               and repr(children[end][1]) == text):
            end += 1
        node = module_tree(child, child_name)
        if end - index > 1:
            node = TreeNode(f"{child_name}-{children[end - 1][0]}", node.type, node.extra, node.parameters,
                            end - index, node.children)
        nodes.append(node)
        index = end
    parameters = sum(parameter.numel() for parameter in module.parameters())
    return TreeNode(name, type(module).__name__, module.extra_repr(), parameters, 1, tuple(nodes))


def checkpoint_values(location: str) -> int | None:
    """Count the values stored in a local folder's safetensors files, reading only their headers."""
    folder = Path(location)
    if not folder.is_dir():
        return None
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for path in files:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            count = 1
            for size in entry["shape"]:
                count *= size
            total += count
    return total


def summarize_tokenizer(tokenizer) -> TokenizerSummary:
    from ptmcli.engine.pieces import tokenizer_algorithm

    algorithm, byte_level = tokenizer_algorithm(tokenizer)
    kind = "byte-level BPE" if algorithm == "BPE" and byte_level else algorithm
    special = {}
    for role, token in _special_tokens(tokenizer).items():
        special[role] = {"token": token, "id": tokenizer.convert_tokens_to_ids(token)}
    limit = getattr(tokenizer, "model_max_length", None)
    return TokenizerSummary(
        kind=kind,
        class_name=type(tokenizer).__name__,
        vocab_size=len(tokenizer),
        model_max_length=int(limit) if limit is not None and limit < UNBOUNDED_LENGTH else None,
        special_tokens=special,
    )


def _special_tokens(tokenizer) -> dict[str, str]:
    roles = {}
    for role in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
        token = getattr(tokenizer, role, None)
        if token is not None:
            roles[role.removesuffix("_token")] = str(token)
    extra = getattr(tokenizer, "additional_special_tokens", None) or []
    if extra:
        roles["additional"] = f"{len(extra)} tokens, first {extra[0]}"
    return roles


def _has_tokenizer_files(folder: Path) -> bool:
    # transformers 5 builds a T5Tokenizer of 104 special tokens from a folder with none of these files,
    # which would be described as if it were the model's tokenizer.
    return any((folder / name).is_file() for name in TOKENIZER_FILES)


def inspect_model(source, *, config_only: bool = False, trust_remote_code: bool = False,
                  progress=lambda line: None) -> Inspection:
    """Inspect a resolved source: the config always; the architecture and the tokenizer unless config_only."""
    config = load_config(source, trust_remote_code=trust_remote_code)
    summary = summarize_config(config)
    if config_only:
        return Inspection(source.reference, source.kind, source.location, summary)

    model = build_empty_model(config, trust_remote_code=trust_remote_code)
    total, modules = count_parameters(model)
    stored = checkpoint_values(source.location) if source.kind in ("folder", "pack") else None
    tokenizer = None
    if source.kind in ("folder", "pack") and not _has_tokenizer_files(Path(source.location)):
        log.warning(_("no tokenizer files in {folder}, so the tokenizer is not described").format(
            folder=source.location))
        return Inspection(source.reference, source.kind, source.location, summary, type(model).__name__, total,
                          modules, stored, module_tree(model), None)
    try:
        from ptmcli.engine.loading import load_tokenizer

        loaded = load_tokenizer(source, trust_remote_code=trust_remote_code, progress=progress)
        tokenizer = summarize_tokenizer(loaded.tokenizer)
    except (PtmError, OSError, ValueError) as error:
        log.warning(_("no tokenizer for '{reference}': {reason}").format(
            reference=source.reference, reason=getattr(error, "message", None) or str(error).splitlines()[0]))
    return Inspection(source.reference, source.kind, source.location, summary, type(model).__name__, total,
                      modules, stored, module_tree(model), tokenizer)
