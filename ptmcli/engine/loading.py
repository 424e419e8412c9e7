"""Load tokenizers and models from a resolved source, with clear failures for missing Hub models."""

import logging
from dataclasses import dataclass, replace

from ptmcli.engine import hub
from ptmcli.engine.resolve import ModelSource, suggest
from ptmcli.errors import ModelNotFoundError, PtmError, UsageError
from ptmcli.i18n import _
from ptmcli.packs.catalog import tokenizer_pack_for
from ptmcli.packs.store import Progress, ensure_pack

log = logging.getLogger("ptmcli")


@dataclass(frozen=True)
class Loaded:
    """A tokenizer (and model, when one was requested) with the source they came from."""

    source: ModelSource
    tokenizer: object
    model: object | None = None


def load_tokenizer(source: ModelSource, *, trust_remote_code: bool = False,
                   progress: Progress = lambda line: None) -> Loaded:
    """Load a tokenizer; a Hub tokenizer that cannot be fetched falls back to its exact offline copy."""
    from transformers import AutoTokenizer

    if source.kind == "hub":
        hub.hub_reachable()
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source.location, trust_remote_code=trust_remote_code, **source.load_options()
        )
        return Loaded(source, tokenizer)
    except OSError as error:
        if source.kind != "hub":
            raise _load_failed(source, error) from error
        pack = tokenizer_pack_for(source.reference)
        if pack is None or hub.hub_reachable():
            raise _not_found(source, error, purpose="tokenizer") from error
        folder = ensure_pack(pack, offline=hub.user_offline(), progress=progress)
        log.warning(_("the Hub is not reachable and '{reference}' is not in the local cache, so its identical "
                      "offline copy '{pack}' is used").format(reference=source.reference, pack=pack.name))
        fallback = replace(source, location=str(folder), kind="pack", pack=pack)
        return Loaded(fallback, AutoTokenizer.from_pretrained(str(folder)))


def load_model(source: ModelSource, auto_class: str, *, device: str, dtype, trust_remote_code: bool = False,
               suggestion: str | None = None) -> Loaded:
    """Load a tokenizer and a model of the given Auto class (for example AutoModelForCausalLM)."""
    import transformers

    if source.pack is not None and source.pack.kind == "dataset":
        raise UsageError(
            _("pack '{name}' is a dataset, not a model").format(name=source.pack.name),
            hint=_("pass it as --dataset to ptm finetune or ptm evaluate"),
        )
    if source.pack is not None and not source.pack.has_weights:
        raise PtmError(
            _("pack '{name}' has a tokenizer but no weights").format(name=source.pack.name),
            hint=_("use a pack with weights, for example '{suggestion}'").format(suggestion=suggestion or "smollm2"),
        )
    if source.kind == "hub":
        hub.hub_reachable()
    loader = getattr(transformers, auto_class)
    options = source.load_options()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            source.location, trust_remote_code=trust_remote_code, **options
        )
        model = loader.from_pretrained(
            source.location, trust_remote_code=trust_remote_code, dtype=dtype, **options
        )
    except OSError as error:
        if source.kind == "hub":
            raise _not_found(source, error, purpose="model", suggestion=suggestion) from error
        raise _load_failed(source, error) from error
    except ValueError as error:
        # transformers raises ValueError when a config has no model of the requested kind.
        raise PtmError(
            _("'{reference}' cannot be loaded as {kind}: {reason}").format(
                reference=source.reference, kind=auto_class, reason=_first_line(error)
            )
        ) from error
    model.to(device)
    model.eval()
    return Loaded(source, tokenizer, model)


def _not_found(source: ModelSource, error: Exception, *, purpose: str,
               suggestion: str | None = None) -> ModelNotFoundError:
    name = source.reference
    if _caused_by(error, "RevisionNotFoundError"):
        return ModelNotFoundError(
            _("revision '{revision}' of model '{name}' was not found on the Hub at {endpoint}").format(
                revision=source.revision, name=name, endpoint=hub.endpoint()),
            hint=_("check the branch, tag or commit passed to --revision"),
        )
    if hub.user_offline():
        return ModelNotFoundError(
            _("model '{name}' is not in the local cache, and offline mode (--offline or HF_HUB_OFFLINE) "
              "prevents downloading it").format(name=name),
            hint=_("run once without --offline to download it, or use an offline pack (see 'ptm models list')"),
        )
    if not hub.hub_reachable():
        message = _("model '{name}' is not in the local cache and the Hub at {endpoint} cannot be reached").format(
            name=name, endpoint=hub.endpoint()
        )
    else:
        message = _("model '{name}' was not found on the Hub at {endpoint} or in the local cache").format(
            name=name, endpoint=hub.endpoint()
        )
    close = suggest(name)
    if close and close != name:
        hint = _("did you mean '{close}'?").format(close=close)
    elif suggestion:
        hint = _("use the offline pack '{pack}' (--model {pack}), set HF_ENDPOINT to a mirror, or pass a local "
                 "folder").format(pack=suggestion)
    else:
        hint = _("see 'ptm models list' for offline packs, set HF_ENDPOINT to a mirror, or pass a local folder")
    return ModelNotFoundError(message, hint=hint)


def _caused_by(error: BaseException, class_name: str) -> bool:
    """Tell whether a huggingface_hub error of this class is anywhere in the exception's chain."""
    current: BaseException | None = error
    while current is not None:
        if type(current).__name__ == class_name:
            return True
        current = current.__cause__ or current.__context__
    return False


def _load_failed(source: ModelSource, error: Exception) -> PtmError:
    return PtmError(
        _("cannot load '{reference}': {reason}").format(reference=source.reference, reason=_first_line(error)),
        hint=_("a model folder needs config.json and its weights; a tokenizer needs tokenizer.json or its "
               "vocabulary files"),
    )


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
