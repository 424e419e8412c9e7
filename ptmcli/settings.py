"""Option defaults from environment variables and a TOML config file.

Precedence, highest first: the command-line option, an environment variable, the config file, the
built-in default. This module only reads and validates, and cli/config.py turns the result into
Click's `default_map` and shows it.
"""

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ptmcli.errors import UsageError
from ptmcli.i18n import _

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 has no tomllib, so it uses tomli, the same parser published on PyPI.
    import tomli as tomllib

# Keys allowed at the top of the file, applied to every command that has the option.
GLOBAL_KEYS = ("format", "device", "dtype")
# Keys allowed in a [command] table, applied to that command and its subcommands only.
COMMAND_KEYS = ("model", "format", "device", "dtype")

FORMATS = ("auto", "table", "json", "jsonl", "plain")
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")

BUILT_IN = "built-in"
ENV = "env"
FILE = "file"


@dataclass(frozen=True)
class FileValue:
    """One value set in the config file, with the line it is on (None where it cannot be located)."""

    value: str
    line: int | None


@dataclass(frozen=True)
class ConfigFile:
    """The parsed config file: top-level values and one table of values per command."""

    path: Path
    exists: bool
    top: dict[str, FileValue]
    tables: dict[str, dict[str, FileValue]]

    def where(self, value: FileValue) -> str:
        return f"{self.path}:{value.line}" if value.line else str(self.path)


@dataclass(frozen=True)
class Setting:
    """An effective default: its value, where it came from (env, file, built-in) and the exact origin."""

    value: str | None
    source: str
    origin: str | None = None


def config_path() -> Path:
    """Locate the config file: $PTM_CONFIG, else $XDG_CONFIG_HOME/ptm/config.toml, else ~/.config/ptm/config.toml."""
    explicit = os.environ.get("PTM_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ptm" / "config.toml"


def read_config(path: Path | None = None, commands: tuple[str, ...] | None = None) -> ConfigFile:
    """Read and validate the config file. A missing file sets nothing.

    `commands` names the valid [command] tables, and None accepts any table name.
    Raises UsageError naming the file, the line and the fix for invalid TOML, keys or values.
    """
    path = path or config_path()
    if not path.exists():
        return ConfigFile(path, False, {}, {})
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(_("cannot read the config file {path}: {reason}").format(path=path, reason=error),
                         hint=_("fix the file, or set PTM_CONFIG to another file")) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # Python 3.11 only puts the position in the message, "... (at line 3, column 5)".
        reason = str(error)
        found = re.search(r"\s*\(at line (\d+), column (\d+)\)", reason)
        location = str(path)
        if found:
            location = f"{path}:{found.group(1)}:{found.group(2)}"
            reason = reason[:found.start()] + reason[found.end():]
        raise UsageError(_("invalid TOML in {location}: {reason}").format(location=location, reason=reason),
                         hint=_("fix the syntax; values are quoted strings, for example device = \"cpu\"")) from None

    top: dict[str, FileValue] = {}
    tables: dict[str, dict[str, FileValue]] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            if commands is not None and key not in commands:
                raise _invalid(path, text, None, key, _("unknown command table [{name}]").format(name=key),
                               _("tables are named after commands: {names}").format(names=", ".join(commands)))
            tables[key] = {name: _file_value(path, text, key, name, item, COMMAND_KEYS)
                           for name, item in value.items()}
        else:
            top[key] = _file_value(path, text, None, key, value, GLOBAL_KEYS)
    return ConfigFile(path, True, top, tables)


def _file_value(path: Path, text: str, table: str | None, key: str, value, allowed: tuple[str, ...]) -> FileValue:
    if key not in allowed:
        if table is None and key == "model":
            hint = _("set the model per command, for example [generate] then model = \"smollm2\"")
        else:
            hint = _("valid keys here: {keys}").format(keys=", ".join(allowed))
        raise _invalid(path, text, table, key, _("unknown key '{key}'").format(key=key), hint)
    if not isinstance(value, str):
        raise _invalid(path, text, table, key, _("'{key}' must be a quoted string").format(key=key),
                       _("write it as {key} = \"...\"").format(key=key))
    problem = check_value(key, value)
    if problem:
        raise _invalid(path, text, table, key, problem[0], problem[1])
    return FileValue(value, find_line(text, table, key))


def check_value(key: str, value: str) -> tuple[str, str] | None:
    """Return (message, hint) when `value` is not valid for `key`, else None."""
    if key == "format" and value not in FORMATS:
        return (_("invalid format '{value}'").format(value=value),
                _("use one of: {names}").format(names=", ".join(FORMATS)))
    if key == "dtype" and value not in DTYPES:
        return (_("invalid dtype '{value}'").format(value=value),
                _("use one of: {names}").format(names=", ".join(DTYPES)))
    if key == "device" and not DEVICE_PATTERN.fullmatch(value):
        return (_("invalid device '{value}'").format(value=value), _("use auto, cpu, cuda, cuda:N or mps"))
    if key == "model" and not value.strip():
        return (_("the model name is empty"), _("name a folder, a pack or a Hub id"))
    return None


def _invalid(path: Path, text: str, table: str | None, key: str, message: str, hint: str) -> UsageError:
    line = find_line(text, table, key)
    location = f"{path}:{line}" if line else str(path)
    return UsageError(_("{location}: {message}").format(location=location, message=message), hint=hint)


def find_line(text: str, table: str | None, key: str) -> int | None:
    """Find the line that sets `key` (in `[table]` when given), for error messages.

    NOTE: only plain tables and `table.key = ...` dotted keys are located. A key inside an inline
    table is not, so its error message names the file without a line.
    """
    current = None
    quoted_key = rf"(?:{re.escape(key)}|\"{re.escape(key)}\")"
    quoted_table = rf"(?:{re.escape(table)}|\"{re.escape(table)}\")" if table else None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.fullmatch(r"\[\s*([^\[\]]+?)\s*\](\s*#.*)?", line)
        if header:
            current = header.group(1).strip('"')
            if table is None and current == key:
                return number
            continue
        if table is None and current is None and re.match(rf"{quoted_key}\s*=", line):
            return number
        if table is not None:
            if current == table and re.match(rf"{quoted_key}\s*=", line):
                return number
            if current is None and re.match(rf"{quoted_table}\s*\.\s*{quoted_key}\s*=", line):
                return number
            if current is None and re.match(rf"{quoted_table}\s*=", line):
                return number
    return None


def env_name(command: str | None, key: str) -> str:
    """Name the environment variable for a key: PTM_FORMAT, or PTM_GENERATE_MODEL for a command's model."""
    if command is None:
        return f"PTM_{key.upper()}"
    return f"PTM_{command.upper().replace('-', '_')}_{key.upper()}"


def env_value(name: str, key: str) -> str | None:
    """Read and validate an environment variable. An empty value counts as unset."""
    value = os.environ.get(name, "")
    if not value:
        return None
    problem = check_value(key, value)
    if problem:
        raise UsageError(_("{name}: {message}").format(name=name, message=problem[0]),
                         hint=_("{hint}, or unset {name}").format(hint=problem[1], name=name))
    return value


def resolve_setting(config: ConfigFile, command: str | None, key: str, built_in: str | None) -> Setting:
    """Resolve one default by precedence: environment variable, then [command] table, then top level."""
    # The model is set per command, while format, device and dtype have one variable for all commands.
    name = env_name(command, key) if key == "model" else env_name(None, key)
    value = env_value(name, key)
    if value is not None:
        return Setting(value, ENV, name)
    candidates = []
    if command is not None:
        candidates.append(config.tables.get(command, {}).get(key))
    if key != "model":
        candidates.append(config.top.get(key))
    for found in candidates:
        if found is not None:
            return Setting(found.value, FILE, config.where(found))
    return Setting(built_in, BUILT_IN)
