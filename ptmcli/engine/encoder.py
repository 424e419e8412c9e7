"""Facts about a loaded encoder that decide how `embed` may use it.

Which inputs its forward takes, how many tokens fit, whether its pooler was trained, which pooling
its authors intended and whether it is an encoder at all.
"""

import inspect
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from ptmcli.engine.tokenize import model_max_length
from ptmcli.errors import PtmError
from ptmcli.i18n import _

log = logging.getLogger("ptmcli")

POOLER_TRAINED = "trained"
POOLER_UNTRAINED = "untrained"  # the model has a pooler but the checkpoint has no weights for it
POOLER_NONE = "none"  # the architecture has no pooler (DistilBERT, GPT-2)
POOLER_UNKNOWN = "unknown"  # the checkpoint files could not be read


@dataclass(frozen=True)
class EncoderInfo:
    model_type: str
    kind: str  # "encoder", "decoder" or "encoder-decoder"
    num_layers: int
    hidden_size: int
    max_length: int
    max_length_source: str  # "tokenizer", "sentence-transformers" or "config"
    forward_inputs: tuple[str, ...]
    pooler: str
    default_pooling: str
    default_pooling_source: str  # "sentence-transformers", "model" or "bert"

    @property
    def takes_token_type_ids(self) -> bool:
        return "token_type_ids" in self.forward_inputs

    def as_record(self) -> dict:
        record = asdict(self)
        record["forward_inputs"] = list(self.forward_inputs)
        return record


def inspect_encoder(model, tokenizer, location: str | None) -> EncoderInfo:
    config = model.config
    folder = Path(location) if location and Path(location).is_dir() else None
    max_length, source = _max_length(tokenizer, config, folder)
    pooling, pooling_source = _default_pooling(folder, _kind(config))
    return EncoderInfo(
        model_type=getattr(config, "model_type", "unknown"),
        kind=_kind(config),
        num_layers=_num_layers(config),
        hidden_size=_hidden_size(config),
        max_length=max_length,
        max_length_source=source,
        forward_inputs=forward_input_names(model),
        pooler=_pooler_state(model, folder),
        default_pooling=pooling,
        default_pooling_source=pooling_source,
    )


def forward_input_names(model) -> tuple[str, ...]:
    """Return the named parameters of model.forward.

    A catch-all **kwargs does not count: DistilBertModel.forward has one in transformers 5 and still
    cannot use token_type_ids, so only inputs that the signature names are passed.
    """
    parameters = inspect.signature(model.forward).parameters.values()
    return tuple(parameter.name for parameter in parameters
                 if parameter.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL))


def require_encoder(info: EncoderInfo, reference: str, allow_decoder: bool) -> None:
    """Reject models whose hidden states are not encoder features, unless the user chose them explicitly."""
    if info.kind == "encoder-decoder":
        raise PtmError(
            _("'{reference}' is an encoder-decoder model ({type}); embed runs encoders such as BERT").format(
                reference=reference, type=info.model_type),
            hint=_("use a BERT-family model, for example --model e5-small or --model minilm"),
        )
    if info.kind == "decoder" and not allow_decoder:
        raise PtmError(
            _("'{reference}' is a decoder-only model ({type}): each token sees only the tokens before it, so its "
              "hidden states are not [CLS] or sentence features").format(reference=reference, type=info.model_type),
            hint=_("use an encoder such as --model e5-small, or pass --allow-decoder to pool its last hidden state "
                   "anyway"),
        )


def _kind(config) -> str:
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model_type = getattr(config, "model_type", "")
    # BERT and RoBERTa have causal-LM heads too, so a masked-LM head is what marks an encoder.
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return "decoder"
    if getattr(config, "is_decoder", False):
        return "decoder"
    return "encoder"


def _num_layers(config) -> int:
    for name in ("num_hidden_layers", "n_layers", "n_layer", "num_layers"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return 0


def _hidden_size(config) -> int:
    for name in ("hidden_size", "dim", "n_embd", "d_model"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return 0


def _max_length(tokenizer, config, folder: Path | None) -> tuple[int, str]:
    """Find how many tokens one input may have.

    Tokenizers without a known limit report a huge sentinel as model_max_length, and then the
    position table (config.max_position_embeddings) is the real limit. A sentence-transformers
    folder states the length its pooling was trained with (256 for all-MiniLM-L6-v2).
    """
    positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    limit = model_max_length(tokenizer)
    source = "tokenizer"
    if limit is None:
        if positions is None:
            raise PtmError(_("cannot tell the maximum input length of this model"),
                           hint=_("set model_max_length in its tokenizer_config.json"))
        limit, source = int(positions), "config"
    elif positions is not None and limit > positions:
        limit, source = int(positions), "config"
    st_length = _sentence_transformers_setting(folder, "sentence_bert_config.json", "max_seq_length")
    if isinstance(st_length, int) and 0 < st_length < limit:
        limit, source = st_length, "sentence-transformers"
    return limit, source


def _default_pooling(folder: Path | None, kind: str) -> tuple[str, str]:
    pooling_config = _read_json(folder / "1_Pooling" / "config.json") if folder else None
    if pooling_config:
        for mode in ("cls", "mean", "max"):
            key = "pooling_mode_cls_token" if mode == "cls" else f"pooling_mode_{mode}_tokens"
            if pooling_config.get(key):
                return mode, "sentence-transformers"
    if kind == "decoder":
        return "mean", "model"
    return "cls", "bert"


def _sentence_transformers_setting(folder: Path | None, file_name: str, key: str):
    settings = _read_json(folder / file_name) if folder else None
    return settings.get(key) if settings else None


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _pooler_state(model, folder: Path | None) -> str:
    if getattr(model, "pooler", None) is None:
        return POOLER_NONE
    names = checkpoint_weight_names(folder) if folder else _hub_weight_names(model)
    if names is None:
        return POOLER_UNKNOWN
    if any(name.endswith("pooler.dense.weight") for name in names):
        return POOLER_TRAINED
    return POOLER_UNTRAINED


def checkpoint_weight_names(folder: Path) -> set[str] | None:
    """Read the tensor names stored in a checkpoint folder, without loading the tensors."""
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if files:
        names: set[str] = set()
        for file in files:
            with safe_open(str(file), framework="pt") as handle:
                names.update(handle.keys())
        return names
    legacy = folder / "pytorch_model.bin"
    if legacy.is_file():
        import torch

        return set(torch.load(str(legacy), map_location="meta", weights_only=True, mmap=True))
    return None


def _hub_weight_names(model) -> set[str] | None:
    # A Hub model was loaded from the local cache, so its files are there without another download.
    from huggingface_hub import try_to_load_from_cache

    reference = getattr(model, "name_or_path", None) or getattr(model.config, "_name_or_path", None)
    if not reference:
        return None
    for file_name in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"):
        try:
            path = try_to_load_from_cache(reference, file_name)
        except Exception:  # an invalid repository id: the state is simply unknown
            return None
        if isinstance(path, str):
            return checkpoint_weight_names(Path(path).parent)
    return None
