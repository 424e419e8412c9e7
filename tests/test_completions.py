"""Shell completion: the checked-in scripts match the app, and completing --model stays light and offline."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "datasets", "evaluate", "accelerate", "gguf")

# Runs ptm's completion in a fresh interpreter and reports, on stderr, which heavy modules were
# imported and which addresses any socket connected to (an audit hook sees every connect).
PROBE = f"""
import json, sys
connections = []
sys.addaudithook(lambda event, args: connections.append(repr(args[1])) if event == "socket.connect" else None)
from ptmcli.cli.app import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(name for name in sys.modules if name.split(".")[0] in {set(HEAVY)})
sys.stderr.write("\\n" + json.dumps({{"heavy": heavy, "connections": connections}}))
"""


@pytest.fixture(scope="module")
def completions_tool():
    spec = importlib.util.spec_from_file_location("completions_tool", ROOT / "tools" / "completions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def hf_home(tmp_path):
    """A Hugging Face cache with one model in it, as huggingface_hub lays it out."""
    home = tmp_path / "hf"
    (home / "hub" / "models--google-bert--bert-base-uncased" / "snapshots").mkdir(parents=True)
    (home / "hub" / "datasets--someone--data").mkdir(parents=True)
    return home


def _complete(shell_variables: dict[str, str], hf_home: Path, *args: str) -> tuple[list[str], dict]:
    environment = dict(os.environ, HF_HOME=str(hf_home), **shell_variables)
    environment.pop("HF_HUB_OFFLINE", None)
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=environment,
                            cwd=ROOT, timeout=60)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    return result.stdout.splitlines(), report


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_scripts_match_app(completions_tool, shell):
    path = completions_tool.script_path(shell)
    assert path.is_file(), f"{path} is missing: run 'python tools/completions.py'"
    assert path.read_text(encoding="utf-8") == completions_tool.render(shell), (
        f"{path.name} is out of date: run 'python tools/completions.py'")


def test_scripts_call_ptm_complete(completions_tool):
    assert "_PTM_COMPLETE=complete_bash" in completions_tool.script_path("bash").read_text()
    assert "compdef _ptm_completion ptm" in completions_tool.script_path("zsh").read_text()
    assert "_PTM_COMPLETE=complete_fish" in completions_tool.script_path("fish").read_text()


def test_model_completion_bash_light_offline(hf_home):
    words, report = _complete({"_PTM_COMPLETE": "complete_bash", "COMP_WORDS": "ptm generate --model sm",
                               "COMP_CWORD": "3"}, hf_home)
    assert words == ["smollm2"]
    assert report["heavy"] == []
    assert report["connections"] == []


def test_probe_records_connections(hf_home):
    """The audit hook does see a connection, so the empty lists above mean something."""
    _lines, report = _complete({"HF_ENDPOINT": "http://127.0.0.1:9"}, hf_home, "env", "--format", "json")
    assert report["connections"] == ["('127.0.0.1', 9)"]
    assert "torch" in report["heavy"]


def test_model_completion_lists_hub_cache(hf_home):
    words, report = _complete({"_PTM_COMPLETE": "complete_bash", "COMP_WORDS": "ptm embed -m goo",
                               "COMP_CWORD": "3"}, hf_home)
    assert words == ["google-bert/bert-base-uncased"]
    assert report["connections"] == []


def test_model_completion_zsh(hf_home):
    lines, report = _complete({"_PTM_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "ptm embed --model mini"},
                              hf_home)
    assert "minilm" in "\n".join(lines)
    assert report["heavy"] == []


def test_model_completion_fish(hf_home):
    lines, report = _complete({"_PTM_COMPLETE": "complete_fish", "_TYPER_COMPLETE_FISH_ACTION": "get-args",
                               "_TYPER_COMPLETE_ARGS": "ptm inspect e5"}, hf_home)
    assert [line.split("\t")[0] for line in lines] == ["e5-small"]
    assert report["heavy"] == []


def test_command_completion(hf_home):
    words, _report = _complete({"_PTM_COMPLETE": "complete_bash", "COMP_WORDS": "ptm ins", "COMP_CWORD": "1"},
                               hf_home)
    assert words == ["inspect"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_script_completes_in_bash(hf_home, tmp_path):
    """Source the checked-in script in a real bash and call its completion function as bash would."""
    script = (f"source {ROOT / 'completions' / 'ptm.bash'}\n"
              "COMP_WORDS=(ptm generate --model sm); COMP_CWORD=3\n"
              "_ptm_completion ptm\n"
              "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    executable = tmp_path / "bin" / "ptm"
    executable.parent.mkdir()
    executable.write_text(f"#!/bin/sh\nexec {sys.executable} -m ptmcli \"$@\"\n")
    executable.chmod(0o755)
    environment = dict(os.environ, HF_HOME=str(hf_home), PATH=f"{executable.parent}{os.pathsep}{os.environ['PATH']}",
                       PYTHONPATH=str(ROOT))
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                            env=environment, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["smollm2"]


@pytest.mark.parametrize(("shell", "installed"), [("bash", ".bash_completions/ptm.sh"), ("zsh", ".zfunc/_ptm"),
                                                  ("fish", ".config/fish/completions/ptm.fish")])
def test_install_completion_into_home(tmp_path, shell, installed):
    # Typer's own switch to take the shell as a value instead of detecting the running shell.
    environment = dict(os.environ, HOME=str(tmp_path), _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    result = subprocess.run([sys.executable, "-m", "ptmcli", "--install-completion", shell], capture_output=True,
                            text=True, env=environment, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    script = tmp_path / installed
    assert script.is_file()
    assert script.read_text().strip() == (ROOT / "completions" / f"ptm.{shell}").read_text().strip()
    if shell == "bash":
        assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()
    if shell == "zsh":
        assert "fpath+=~/.zfunc" in (tmp_path / ".zshrc").read_text()
