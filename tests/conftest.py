"""Shared fixtures: an in-process `ptm` runner, the offline packs, and tiny models.

Packs are cached in $PTM_HOME (default ~/.cache/ptmcli), so only the first run downloads them.
The Hub endpoint points at a closed loopback port, so every test sees an unreachable Hub, as on
a machine behind a firewall, without waiting for a network time-out.
"""

import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

CLOSED_ENDPOINT = "http://127.0.0.1:9"

os.environ.setdefault("PTM_HOME", str(Path.home() / ".cache" / "ptmcli"))
os.environ["HF_ENDPOINT"] = CLOSED_ENDPOINT
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ.pop("PTM_LANG", None)
os.environ["LANGUAGE"] = "en"
os.environ["HF_HOME"] = str(Path(os.environ["PTM_HOME"]) / "test-hf-home")
# A developer's own config file and PTM_* defaults must not change what the tests see.
os.environ["PTM_CONFIG"] = str(Path(os.environ["PTM_HOME"]) / "no-such-config.toml")
for _name in [name for name in os.environ if name in ("PTM_FORMAT", "PTM_DEVICE", "PTM_DTYPE")
              or (name.startswith("PTM_") and name.endswith("_MODEL"))]:
    del os.environ[_name]


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)

    def jsonl(self) -> list:
        return [json.loads(line) for line in self.stdout.splitlines()]


@pytest.fixture
def ptm(capsys, monkeypatch):
    """Run ptm in this process as if piped: stdout and stderr are not terminals."""
    from ptmcli.cli import output
    from ptmcli.cli.app import main
    from ptmcli.engine import hub

    def run(*args: str, stdin: bytes = b"") -> Result:
        monkeypatch.setattr(hub, "_reachable", None)
        monkeypatch.setattr(hub, "_user_offline", False)
        monkeypatch.setattr(output, "settings", output.RootSettings(
            terminal=output.Terminal(stdout_isatty=False, stderr_isatty=False, color=False)))
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def pack_folder(name: str) -> Path:
    from ptmcli.packs.catalog import PACKS
    from ptmcli.packs.store import prepare_pack

    return prepare_pack(PACKS[name], progress=lambda line: None)


@pytest.fixture(scope="session")
def gpt2_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(pack_folder("gpt2-tokenizer")))


@pytest.fixture(scope="session")
def bbc_tokenizer():
    from transformers import AutoTokenizer

    from ptmcli.packs.catalog import BUILTIN_DIR

    return AutoTokenizer.from_pretrained(str(BUILTIN_DIR / "bert-base-chinese"))


@pytest.fixture(scope="session")
def smollm2():
    """The real SmolLM2-135M pack: (folder, tokenizer, model)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = pack_folder("smollm2")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype="float32").eval()
    return folder, tokenizer, model


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory, gpt2_tokenizer):
    """A random-weight 2-layer GPT-2 with the real GPT-2 tokenizer, saved as a model folder."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(gpt2_tokenizer), n_positions=128, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=50256, eos_token_id=50256)
    model = GPT2LMHeadModel(config).eval()
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    model.save_pretrained(folder)
    gpt2_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(autouse=True)
def hub_online_at_start(monkeypatch):
    """Undo the offline switch that a failed Hub probe makes, so each test probes afresh."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    from ptmcli.engine import hub

    monkeypatch.setattr(hub, "_reachable", None)
    monkeypatch.setattr(hub, "_user_offline", False)
    monkeypatch.setattr(hub, "_offline_from_environment", False)
