"""ptm env: versions, devices, Hub probe, caches, packs and language."""

import json
import os
import socket
import subprocess
import sys
import threading
from importlib import metadata

import pytest


class LoopbackServer:
    """A TCP server on 127.0.0.1 that records each connection and the bytes it receives."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.stopped = threading.Event()
        self.port = self.listener.getsockname()[1]
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                connection, _address = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                data = b""
                try:
                    while chunk := connection.recv(4096):
                        data += chunk
                except OSError:
                    pass
                self.received.append(data)

    def close(self):
        self.stopped.set()
        self.thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def loopback(monkeypatch):
    server = LoopbackServer()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.port}")
    yield server
    server.close()


@pytest.fixture
def connections(monkeypatch):
    """Record every address that any socket in this process connects to."""
    addresses = []
    original = socket.socket.connect

    def connect(self, address):
        addresses.append(address)
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return addresses


def test_env_reports_versions(ptm):
    import torch

    record = ptm("env", "--no-probe", "--format", "json").json()
    assert record["packages"]["torch"] == metadata.version("torch")
    assert record["packages"]["transformers"] == metadata.version("transformers")
    assert record["packages"]["tokenizers"] == metadata.version("tokenizers")
    assert record["packages"]["huggingface_hub"] == metadata.version("huggingface_hub")
    assert record["packages"]["datasets"] == metadata.version("datasets")
    assert record["python_version"] == ".".join(str(part) for part in sys.version_info[:3])
    assert record["cpu_count"] == os.cpu_count()
    assert record["devices"]["cuda_available"] == torch.cuda.is_available()
    assert record["devices"]["mps_available"] == torch.backends.mps.is_available()
    assert record["devices"]["cuda_version"] == torch.version.cuda
    assert record["ptm_home"] == os.environ["PTM_HOME"]


def test_env_probe_connects_once_sends_nothing(ptm, loopback, connections):
    record = ptm("env", "--format", "json").json()
    loopback.close()
    assert record["hub"]["reachable"] is True
    assert record["hub"]["endpoint"] == f"http://127.0.0.1:{loopback.port}"
    assert record["hub"]["endpoint_from_environment"] is True
    assert connections == [("127.0.0.1", loopback.port)]
    assert loopback.received == [b""]


def test_env_closed_endpoint_unreachable(ptm):
    record = ptm("env", "--format", "json").json()
    assert record["hub"]["endpoint"] == "http://127.0.0.1:9"
    assert record["hub"]["reachable"] is False


def test_env_offline_skips_probe(ptm, loopback, connections, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    record = ptm("env", "--format", "json").json()
    assert record["hub"]["offline_requested"] is True
    assert record["hub"]["reachable"] is None
    assert connections == []
    assert "- Hub reachable: not checked (offline mode)" in ptm("env", "--format", "plain").stdout.splitlines()


def test_env_no_probe_connects_nowhere(ptm, loopback, connections):
    record = ptm("env", "--no-probe", "--format", "json").json()
    assert record["hub"]["reachable"] is None
    assert connections == []


def test_env_cache_size_counts_blobs_once(ptm, tmp_path, monkeypatch):
    from huggingface_hub import constants

    repo = tmp_path / "models--someone--tiny"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "abc").write_bytes(b"x" * 100)
    (repo / "snapshots" / "main").mkdir(parents=True)
    (repo / "snapshots" / "main" / "config.json").symlink_to(repo / "blobs" / "abc")
    (tmp_path / "datasets--someone--data").mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    cache = ptm("env", "--no-probe", "--format", "json").json()["hf_cache"]
    assert cache == {"path": str(tmp_path), "exists": True, "size_bytes": 100, "models": 1, "datasets": 1}


def test_env_pack_states(ptm):
    from ptmcli.packs.catalog import PACKS
    from ptmcli.packs.store import is_prepared

    packs = {pack["name"]: pack for pack in ptm("env", "--no-probe", "--format", "json").json()["packs"]}
    assert set(packs) == set(PACKS)
    assert packs["bert-base-chinese-tokenizer"]["state"] == "built-in"
    for name, pack in PACKS.items():
        if not pack.builtin:
            expected = "prepared" if is_prepared(pack) else "not prepared"
            assert packs[name]["state"] == expected, name


def test_env_markdown_for_bug_reports(ptm):
    result = ptm("env", "--no-probe")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "## ptm environment"
    assert f"- torch: {metadata.version('torch')}" in lines
    assert f"- transformers: {metadata.version('transformers')}" in lines
    assert "- Hub reachable: not checked (--no-probe)" in lines
    assert "- pack bert-base-chinese-tokenizer: built in" in lines
    assert result.stderr == ""


def test_env_language_follows_ptm_lang():
    environment = dict(os.environ, PTM_LANG="zh_CN")
    completed = subprocess.run([sys.executable, "-m", "ptmcli", "env", "--no-probe", "--format", "json"],
                               capture_output=True, text=True, env=environment, timeout=120)
    assert completed.returncode == 0, completed.stderr
    record = json.loads(completed.stdout)
    assert record["language"] == "zh_CN"
    assert record["language_settings"]["PTM_LANG"] == "zh_CN"
