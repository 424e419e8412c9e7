"""Collect the facts a bug report needs: versions, devices, the Hub endpoint, caches, packs and language.

Nothing here sends data anywhere. The only network action is the Hub probe of engine/hub.py, which
opens one TCP connection to the endpoint (or to the HTTPS proxy) and closes it without writing.
"""

import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "transformers", "tokenizers", "huggingface_hub", "datasets", "accelerate", "safetensors",
            "evaluate", "typer", "rich")


@dataclass(frozen=True)
class Devices:
    cuda_available: bool
    cuda_version: str | None  # the CUDA version torch was built with
    cuda_devices: tuple[str, ...]
    mps_available: bool


@dataclass(frozen=True)
class HubState:
    endpoint: str
    endpoint_from_environment: bool  # HF_ENDPOINT is set, for example to a mirror
    offline_requested: bool  # HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set
    reachable: bool | None  # None when offline mode skipped the probe
    proxy: str | None


@dataclass(frozen=True)
class CacheState:
    path: str
    exists: bool
    size_bytes: int
    models: int
    datasets: int


@dataclass(frozen=True)
class PackState:
    name: str
    kind: str
    state: str  # "prepared", "built-in" or "not prepared"
    size_bytes: int | None


@dataclass(frozen=True)
class Environment:
    """Everything `ptm env` reports."""

    ptm_version: str
    python_version: str
    python_implementation: str
    python_executable: str
    os: str
    machine: str
    cpu_count: int | None
    packages: dict[str, str | None]
    devices: Devices
    hub: HubState
    hf_cache: CacheState
    ptm_home: str
    packs: tuple[PackState, ...]
    language: str  # the catalog in use: "en" or a locale such as "zh_CN"
    language_settings: dict[str, str] = field(default_factory=dict)  # PTM_LANG and the locale variables set

    def as_record(self) -> dict:
        record = asdict(self)
        record["devices"]["cuda_devices"] = list(self.devices.cuda_devices)
        record["packs"] = [asdict(pack) for pack in self.packs]
        return record


def collect(*, probe_hub: bool = True) -> Environment:
    """Collect the environment; probe_hub=False skips the one TCP connection to the Hub endpoint."""
    from ptmcli import __version__
    from ptmcli.packs.store import ptm_home

    return Environment(
        ptm_version=__version__,
        python_version=platform.python_version(),
        python_implementation=platform.python_implementation(),
        python_executable=sys.executable,
        os=platform.platform(),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        packages={name: _version(name) for name in PACKAGES},
        devices=_devices(),
        hub=_hub_state(probe_hub),
        hf_cache=_hf_cache(),
        ptm_home=str(ptm_home()),
        packs=_packs(),
        language=_language(),
        language_settings={name: os.environ[name] for name in ("PTM_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES",
                                                               "LANG") if os.environ.get(name)},
    )


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _devices() -> Devices:
    try:
        import torch
    except ImportError:
        return Devices(False, None, (), False)
    cuda = torch.cuda.is_available()
    names = tuple(torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())) if cuda else ()
    return Devices(cuda, torch.version.cuda, names, torch.backends.mps.is_available())


def _hub_state(probe: bool) -> HubState:
    from ptmcli.engine import hub

    offline = hub.offline_requested()
    reachable = hub.hub_reachable() if probe and not offline else None
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    return HubState(hub.endpoint(), "HF_ENDPOINT" in os.environ, offline, reachable, proxy)


def _hf_cache() -> CacheState:
    from huggingface_hub import constants

    cache = Path(constants.HF_HUB_CACHE)
    if not cache.is_dir():
        return CacheState(str(cache), False, 0, 0, 0)
    size = 0
    # Snapshots are symbolic links into blobs/, so counting regular files only counts each file once.
    for root, _folders, files in os.walk(cache):
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                size += path.stat().st_size
    names = [entry.name for entry in cache.iterdir()]
    return CacheState(str(cache), True, size,
                      sum(name.startswith("models--") for name in names),
                      sum(name.startswith("datasets--") for name in names))


def _packs() -> tuple[PackState, ...]:
    from ptmcli.packs.catalog import PACKS
    from ptmcli.packs.store import folder_size, is_prepared, pack_path

    states = []
    for pack in PACKS.values():
        if pack.builtin:
            states.append(PackState(pack.name, pack.kind, "built-in", None))
        elif is_prepared(pack):
            states.append(PackState(pack.name, pack.kind, "prepared", folder_size(pack_path(pack))))
        else:
            states.append(PackState(pack.name, pack.kind, "not prepared", None))
    return tuple(states)


def _language() -> str:
    from ptmcli import i18n

    info = i18n.translation.info() if hasattr(i18n.translation, "info") else {}
    language = info.get("language")
    # An English run has no catalog, so gettext falls back to the strings in the code.
    return language or "en"
