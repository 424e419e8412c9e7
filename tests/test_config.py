"""Option defaults from the config file and PTM_* variables, their precedence, and `ptm config`."""

import json
from pathlib import Path

import pytest
import typer

from ptmcli import settings
from ptmcli.cli import config as config_command

GPT2_HELLO_WORLD = [15496, 995]
BBC_HELLO_WORLD = [101, 100, 8572, 102]
VARIABLES = ("PTM_FORMAT", "PTM_DEVICE", "PTM_DTYPE", "PTM_TOKENIZE_MODEL", "PTM_GENERATE_MODEL",
             "PTM_EMBED_MODEL", "XDG_CONFIG_HOME")


@pytest.fixture(autouse=True)
def config_file(tmp_path, monkeypatch) -> Path:
    """Point PTM_CONFIG at a file that does not exist yet, and clear the other PTM_* defaults."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "config.toml"
    monkeypatch.setenv("PTM_CONFIG", str(path))
    return path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def root_command():
    from ptmcli.cli.app import app

    return typer.main.get_command(app)


# Location of the file.

def test_path_from_ptm_config(config_file):
    assert settings.config_path() == config_file


def test_path_from_xdg_config_home(monkeypatch, tmp_path):
    monkeypatch.delenv("PTM_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert settings.config_path() == tmp_path / "xdg" / "ptm" / "config.toml"


def test_path_defaults_to_home(monkeypatch, tmp_path):
    monkeypatch.delenv("PTM_CONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert settings.config_path() == tmp_path / ".config" / "ptm" / "config.toml"


def test_config_path_command(ptm, config_file):
    result = ptm("config", "path")
    assert result.exit_code == 0
    assert result.stdout == f"{config_file}\n"
    assert "does not exist" in result.stderr

    write(config_file, 'format = "json"\n')
    assert ptm("config", "path", "--format", "json").json() == {"path": str(config_file), "exists": True}


# The default map that Click hands to each command.

def test_default_map_per_command(config_file):
    write(config_file, 'format = "json"\ndevice = "cpu"\n[tokenize]\nmodel = "gpt2"\n[generate]\ndtype = "float32"\n')
    root = root_command()
    defaults = config_command.default_map(root, settings.read_config())
    assert defaults["tokenize"]["models"] == ["gpt2"]  # a repeatable option takes a list
    assert defaults["tokenize"]["output_format"] == "json"
    assert "device" not in defaults["tokenize"]  # tokenize has no --device
    assert defaults["generate"]["device"] == "cpu"
    assert defaults["generate"]["dtype"] == "float32"
    assert "model" not in defaults["generate"]
    assert "dtype" not in defaults["embed"]  # [generate] dtype stays in generate
    assert defaults["models"]["list"] == {"output_format": "json"}  # nested subcommands


def test_default_map_empty_without_settings():
    assert config_command.default_map(root_command(), settings.read_config()) == {}


# Precedence with real commands: option > environment variable > config file > built-in.

def test_tokenize_model_from_file(ptm, config_file):
    write(config_file, '[tokenize]\nmodel = "gpt2"\n')
    result = ptm("tokenize", "--ids", "Hello world")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "15496 995\n"


def test_tokenize_model_env_beats_file(ptm, config_file, monkeypatch):
    write(config_file, '[tokenize]\nmodel = "gpt2"\n')
    monkeypatch.setenv("PTM_TOKENIZE_MODEL", "bert-base-chinese")
    result = ptm("tokenize", "--format", "json", "Hello world")
    assert result.json()["ids"] == BBC_HELLO_WORLD


def test_tokenize_model_option_beats_env(ptm, config_file, monkeypatch):
    write(config_file, '[tokenize]\nmodel = "bert-base-chinese"\n')
    monkeypatch.setenv("PTM_TOKENIZE_MODEL", "bert-base-chinese")
    result = ptm("tokenize", "-m", "gpt2", "--format", "json", "Hello world")
    assert result.json()["ids"] == GPT2_HELLO_WORLD


def test_tokenize_built_in_model_without_settings(ptm):
    result = ptm("tokenize", "--format", "json", "Hello world")
    assert result.json()["model"] == "bert-base-chinese"


def test_format_from_file(ptm, config_file):
    write(config_file, 'format = "plain"\n')
    result = ptm("tokenize", "-m", "gpt2", "Hello world")
    assert result.stdout == "Hello Ġworld\n"


def test_format_env_beats_file(ptm, config_file, monkeypatch):
    write(config_file, 'format = "plain"\n')
    monkeypatch.setenv("PTM_FORMAT", "json")
    result = ptm("tokenize", "-m", "gpt2", "Hello world")
    assert result.stdout.startswith("{\n  ")  # indented JSON, not the piped default of JSON Lines
    assert result.json()["ids"] == GPT2_HELLO_WORLD


def test_format_option_beats_env(ptm, monkeypatch):
    monkeypatch.setenv("PTM_FORMAT", "json")
    result = ptm("tokenize", "-m", "gpt2", "--format", "plain", "Hello world")
    assert result.stdout == "Hello Ġworld\n"


def test_command_table_format_beats_top_level(ptm, config_file):
    write(config_file, 'format = "json"\n[tokenize]\nformat = "plain"\n')
    assert ptm("tokenize", "-m", "gpt2", "Hello world").stdout == "Hello Ġworld\n"


def test_format_reaches_nested_subcommand(ptm, monkeypatch):
    monkeypatch.setenv("PTM_FORMAT", "json")
    result = ptm("models", "list")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert isinstance(document, list)
    assert "smollm2" in {record.get("name") for record in document}


def test_device_env_reaches_generate(ptm, monkeypatch, tiny_gpt2):
    # No Linux machine has MPS, so an error here proves that the variable reached --device.
    monkeypatch.setenv("PTM_DEVICE", "mps")
    result = ptm("generate", "-m", str(tiny_gpt2), "--max-new-tokens", "2", "Hello")
    assert result.exit_code == 2
    assert "device 'mps' is not available" in result.stderr


def test_device_option_beats_env(ptm, monkeypatch, tiny_gpt2):
    monkeypatch.setenv("PTM_DEVICE", "mps")
    result = ptm("generate", "-m", str(tiny_gpt2), "--device", "cpu", "--max-new-tokens", "2", "--format",
                 "json", "Hello")
    assert result.exit_code == 0, result.stderr
    assert result.json()["prompt"] == "Hello"


def test_generate_model_from_env(ptm, monkeypatch, tiny_gpt2):
    monkeypatch.setenv("PTM_GENERATE_MODEL", str(tiny_gpt2))
    result = ptm("generate", "--max-new-tokens", "2", "--format", "json", "Hello")
    assert result.exit_code == 0, result.stderr
    assert result.json()["model"] == str(tiny_gpt2)


def test_help_shows_configured_default(ptm, config_file):
    write(config_file, '[generate]\nmodel = "my-model"\n')
    result = ptm("generate", "--help")
    assert "[default: my-model]" in result.stdout


def test_tokenize_help_shows_one_default(ptm, config_file):
    assert "[default: bert-base-chinese]" in ptm("tokenize", "--help").stdout
    write(config_file, '[tokenize]\nmodel = "gpt2"\n')
    result = ptm("tokenize", "--help")
    assert "[default: gpt2]" in result.stdout
    assert "[default: bert-base-chinese]" not in result.stdout


# Invalid settings: one line naming the file, the line and the fix; exit code 2.

@pytest.mark.parametrize(("text", "expected"), [
    ('device = "cpu"\nformat = json\n', "invalid TOML in {path}:2:10: Invalid value (fix the syntax"),
    ('format = "xml"\n', "{path}:1: invalid format 'xml' (use one of: auto, table, json, jsonl, plain)"),
    ('format = 3\n', "{path}:1: 'format' must be a quoted string"),
    ('device = "gpu"\n', "{path}:1: invalid device 'gpu' (use auto, cpu, cuda, cuda:N or mps)"),
    ('[generate]\ndtype = "int8"\n', "{path}:2: invalid dtype 'int8'"),
    ('[generate]\nmodle = "x"\n', "{path}:2: unknown key 'modle' (valid keys here: model, format, device, dtype)"),
    ('model = "gpt2"\n', "{path}:1: unknown key 'model' (set the model per command"),
    ('\n[genrate]\nmodel = "x"\n', "{path}:2: unknown command table [genrate]"),
    ('[bucket]\ndevice = "cpu"\n', "{path}:2: ptm bucket has no --device option (remove 'device' from [bucket])"),
    ('generate.dtype = "int8"\n', "{path}:1: invalid dtype 'int8'"),
])
def test_invalid_file_is_one_line(ptm, config_file, text, expected):
    write(config_file, text)
    result = ptm("tokenize", "-m", "gpt2", "hi")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("Error: " + expected.format(path=config_file))


def test_invalid_env_names_variable(ptm, monkeypatch):
    monkeypatch.setenv("PTM_FORMAT", "xml")
    result = ptm("tokenize", "-m", "gpt2", "hi")
    assert result.exit_code == 2
    assert result.stderr == ("Error: PTM_FORMAT: invalid format 'xml' (use one of: auto, table, json, jsonl, plain, "
                             "or unset PTM_FORMAT)\n")


def test_empty_env_counts_as_unset(ptm, monkeypatch):
    monkeypatch.setenv("PTM_FORMAT", "")
    result = ptm("tokenize", "-m", "gpt2", "--ids", "Hello world")
    assert result.stdout == "15496 995\n"


def test_config_path_works_with_invalid_file(ptm, config_file):
    write(config_file, 'format = "xml"\n')
    result = ptm("config", "path")
    assert result.exit_code == 0
    assert result.stdout == f"{config_file}\n"
    assert ptm("config", "show").exit_code == 2


# ptm config show.

def test_show_sources(ptm, config_file, monkeypatch):
    write(config_file, '# defaults\nformat = "table"\n[generate]\nmodel = "smollm2"\ndevice = "cpu"\n')
    monkeypatch.setenv("PTM_DTYPE", "float32")
    monkeypatch.setenv("PTM_EMBED_MODEL", "minilm")
    records = {record["key"]: record for record in ptm("config", "show", "--format", "jsonl").jsonl()}
    assert records["format"] == {"key": "format", "value": "table", "source": "file", "origin": f"{config_file}:2"}
    assert records["dtype"] == {"key": "dtype", "value": "float32", "source": "env", "origin": "PTM_DTYPE"}
    assert records["device"] == {"key": "device", "value": "auto", "source": "built-in", "origin": None}
    assert records["generate.model"]["origin"] == f"{config_file}:4"
    assert records["generate.device"] == {"key": "generate.device", "value": "cpu", "source": "file",
                                          "origin": f"{config_file}:5"}
    assert records["embed.model"] == {"key": "embed.model", "value": "minilm", "source": "env",
                                      "origin": "PTM_EMBED_MODEL"}
    # Built-in models, including those that a command applies inside its function.
    assert records["tokenize.model"] == {"key": "tokenize.model", "value": "bert-base-chinese",
                                         "source": "built-in", "origin": None}
    assert records["t5.model"]["value"] == "google-t5/t5-small"
    assert "bucket.device" not in records


def test_show_table(ptm, config_file):
    write(config_file, 'device = "cpu"\n')
    result = ptm("config", "show", "--format", "table")
    assert result.exit_code == 0
    assert f"Config file: {config_file} (exists)" in result.stderr
    row = next(line for line in result.stdout.splitlines() if "device" in line)
    assert "cpu" in row
    assert "file" in row
    assert "override" in result.stderr


def test_show_plain(ptm, monkeypatch):
    monkeypatch.setenv("PTM_GENERATE_MODEL", "gpt2")
    lines = ptm("config", "show", "--format", "plain").stdout.splitlines()
    assert lines[:3] == ["format=auto", "device=auto", "dtype=auto"]
    assert "generate.model=gpt2" in lines
    assert "bucket.model=" in lines
