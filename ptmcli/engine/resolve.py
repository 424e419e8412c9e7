"""Turn a --model reference into something from_pretrained can load.

Order of resolution: an existing local path (a model folder or a single .gguf file), the name of
an offline pack, then a Hugging Face Hub id through the normal cache, --revision, HF_HOME,
HF_ENDPOINT and HF_HUB_OFFLINE.
"""

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from ptmcli.engine import hub
from ptmcli.errors import ModelNotFoundError, UsageError
from ptmcli.i18n import _
from ptmcli.packs.catalog import PACKS, Pack
from ptmcli.packs.store import Progress, ensure_pack


@dataclass(frozen=True)
class ModelSource:
    """A resolved model reference: what the user typed and where from_pretrained should look."""

    reference: str
    location: str
    kind: str  # "folder", "gguf", "pack" or "hub"
    gguf_file: str | None = None
    revision: str | None = None
    pack: Pack | None = None

    def load_options(self) -> dict:
        options: dict = {}
        if self.gguf_file:
            options["gguf_file"] = self.gguf_file
        if self.revision and self.kind == "hub":
            options["revision"] = self.revision
        return options


# A folder that from_pretrained can load has at least one of these: a model config, a tokenizer
# in one of its formats, or a PEFT adapter.
FOLDER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "tokenizer.model",
                "spiece.model", "sentencepiece.bpe.model", "adapter_config.json")


def resolve(reference: str, *, offline: bool = False, revision: str | None = None,
            progress: Progress = lambda line: None) -> ModelSource:
    if offline:
        hub.request_offline()

    if not reference.strip():
        # Path("") is the current folder, which would turn an empty variable into a confusing load error.
        raise UsageError(_("the model reference is empty"), hint=_("pass a folder, a pack name or a Hub id"))
    path = Path(reference).expanduser()
    if path.exists():
        return _local_source(reference, path)
    if _looks_like_path(reference):
        raise ModelNotFoundError(
            _("model path '{path}' does not exist").format(path=reference),
            hint=_("check the path, or pass a pack name or a Hub id"),
        )

    if reference in PACKS:
        pack = PACKS[reference]
        folder = ensure_pack(pack, offline=hub.user_offline(), progress=progress)
        return ModelSource(reference, str(folder), "pack", pack=pack)

    if "/" in reference or not any(char.isspace() for char in reference):
        return ModelSource(reference, reference, "hub", revision=revision)
    raise UsageError(_("invalid model reference '{reference}'").format(reference=reference))


def suggest(reference: str) -> str | None:
    """Return the closest known name (packs, their Hub ids, cached models) to a mistyped reference."""
    names = list(PACKS) + [hub_id for pack in PACKS.values() for hub_id in pack.hub_ids] + cached_model_ids()
    matches = difflib.get_close_matches(reference, names, n=1, cutoff=0.7)
    return matches[0] if matches else None


def cached_model_ids() -> list[str]:
    """List model repositories in the Hugging Face cache without touching the network."""
    from huggingface_hub import constants

    cache = Path(constants.HF_HUB_CACHE)
    if not cache.is_dir():
        return []
    ids = []
    for entry in cache.iterdir():
        if entry.name.startswith("models--"):
            ids.append(entry.name.removeprefix("models--").replace("--", "/"))
    return sorted(ids)


def _local_source(reference: str, path: Path) -> ModelSource:
    if path.is_dir():
        # A training folder that contains only checkpoint-N folders gets a clearer message from the command.
        if not any((path / name).is_file() for name in FOLDER_FILES) and not any(path.glob("checkpoint-*")):
            raise ModelNotFoundError(
                _("folder '{path}' contains no model or tokenizer files such as config.json or tokenizer.json")
                .format(path=reference),
                hint=_("pass the folder that save_pretrained wrote, a .gguf file, a pack name or a Hub id"),
            )
        return ModelSource(reference, str(path), "folder")
    if path.suffix == ".gguf":
        return ModelSource(reference, str(path.parent), "gguf", gguf_file=path.name)
    raise UsageError(
        _("'{path}' is a file but not a .gguf file").format(path=reference),
        hint=_("pass the model's folder (with config.json) or a single .gguf file"),
    )


def _looks_like_path(reference: str) -> bool:
    windows_path = os.sep != "/" and os.sep in reference
    return reference.startswith((".", "/", "~")) or reference.count("/") > 1 or windows_path
