"""Detect an unreachable Hugging Face Hub once per run, before the libraries spend time in retries.

Without a reachable Hub, `AutoTokenizer.from_pretrained("gpt2")` retries for about 48 s before it
fails, while a socket connection to the endpoint fails in milliseconds. One short probe decides,
and the libraries then run in offline mode, where a cache miss fails at once.
"""

import logging
import os
import socket
import sys
from urllib.parse import urlparse

from ptmcli.i18n import _

log = logging.getLogger("ptmcli")

DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 2.0

_reachable: bool | None = None
_user_offline = False


def offline_requested() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in {"1", "true", "yes", "on"}


# Read before a failed probe sets HF_HUB_OFFLINE itself, so that a user's request stays distinguishable.
_offline_from_environment = offline_requested()


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


def request_offline() -> None:
    """Apply --offline: no Hub requests and no pack downloads."""
    global _user_offline
    _user_offline = True
    go_offline()


def user_offline() -> bool:
    """Tell whether the user asked for offline mode (--offline or HF_HUB_OFFLINE), not just a failed probe."""
    return _user_offline or _offline_from_environment


def go_offline() -> None:
    """Switch huggingface_hub and transformers to offline mode, whether or not they are imported yet."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    hub_constants = sys.modules.get("huggingface_hub.constants")
    if hub_constants is not None:
        # huggingface_hub reads HF_HUB_OFFLINE once, at import time.
        hub_constants.HF_HUB_OFFLINE = True


def hub_reachable() -> bool:
    """Probe the Hub endpoint (or the HTTPS proxy in front of it) once per process."""
    global _reachable
    if _reachable is None:
        if offline_requested():
            _reachable = False
        else:
            _reachable = _probe(endpoint())
            if not _reachable:
                log.info(_("the Hub at {endpoint} is not reachable, so ptm runs offline and uses the local cache")
                         .format(endpoint=endpoint()))
                go_offline()
    return _reachable


def _probe(url: str) -> bool:
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    target = urlparse(proxy if proxy else url)
    host = target.hostname
    if host is None:
        return False
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False
