"""Every example in the docs runs, and the reference matches the app.

An example is a ```console block in README.md or docs/*.md (docs/reference.md excepted: it holds
usage lines, not examples). In a block, a line starting with `$ ` is a command, a line ending in
`\\` continues on the next line, and the lines after a command are its documented output.

A command runs in this process, on a terminal 100 columns wide without colour (as on a user's
terminal, so `--format auto` gives tables), with the test suite's PTM_HOME, no config file and an
unreachable Hub. `NAME=value ptm ...` sets variables and `echo TEXT | ptm ...` feeds standard
input. Other shell lines, and lines that set the language (PTM_LANG, LANGUAGE, LANG, LC_*), run
in bash, where stdout is a pipe. Each command must exit with status 0, and its documented output
must match:

- every documented line that is not on stderr must match stdout line by line, trailing spaces
  ignored, and a line `...` stands for any number of lines;
- a documented line may also be one of the lines on stderr (a warning or an error); stderr lines
  that are not documented, such as progress, are ignored.

HTML comments just before the block change this, one per line:

    <!-- exit: 2 -->                    the last command of the block exits with status 2
    <!-- output: not checked -->        run and check the exit status only (timings, sizes, paths)
    <!-- columns: 100 -->               terminal width for the block
    <!-- slow -->                       run only when slow tests run (marked slow)
    <!-- not run: REASON -->            never run; the test is reported as skipped with REASON,
                                        for example a model that is not available offline
"""

import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "README.md", *sorted(path for path in (ROOT / "docs").glob("*.md") if path.name != "reference.md")]
DIRECTIVE = re.compile(r"<!--\s*([a-z ]+?)\s*(?::\s*(.*?))?\s*-->")
KNOWN_DIRECTIVES = {"exit", "output", "columns", "slow", "not run"}
DEFAULT_COLUMNS = 100
ELLIPSIS = "..."
LANGUAGE_VARIABLES = ("PTM_LANG", "LANGUAGE", "LANG")


@dataclass
class Command:
    line: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Example:
    path: Path
    line: int
    commands: list[Command]
    directives: dict[str, str]

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def read_examples(path: Path) -> list[Example]:
    """Extract the ```console blocks of a Markdown file with the directives just above each."""
    examples = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```console":
            index += 1
            continue
        start = index
        directives = _directives_above(lines, start)
        index += 1
        body = []
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index])
            index += 1
        commands = _commands(body)
        if commands:
            examples.append(Example(path, start + 1, commands, directives))
        index += 1
    return examples


def _directives_above(lines: list[str], fence: int) -> dict[str, str]:
    directives = {}
    index = fence - 1
    while index >= 0 and (lines[index].strip() == "" or DIRECTIVE.fullmatch(lines[index].strip())):
        found = DIRECTIVE.fullmatch(lines[index].strip())
        if found and found.group(1) in KNOWN_DIRECTIVES:
            directives[found.group(1)] = found.group(2) or ""
        index -= 1
    return directives


def _commands(body: list[str]) -> list[Command]:
    commands: list[Command] = []
    index = 0
    while index < len(body):
        line = body[index]
        if line.startswith("$ "):
            text = line[2:]
            while text.endswith("\\") and index + 1 < len(body):
                index += 1
                text = text[:-1].rstrip() + " " + body[index].strip()
            commands.append(Command(text))
        elif commands:
            commands[-1].expected.append(line.rstrip())
        index += 1
    for command in commands:
        while command.expected and not command.expected[-1]:
            command.expected.pop()
    return commands


EXAMPLES = [example for path in SOURCES for example in read_examples(path)]


def _param(example: Example):
    marks = []
    if "slow" in example.directives:
        marks.append(pytest.mark.slow)
    return pytest.param(example, id=example.name, marks=marks)


# Running a command.

@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


def split_command(line: str) -> tuple[dict[str, str], str | None, list[str]] | None:
    """Split `[NAME=value ...] [echo TEXT |] ptm ARGS` into (variables, stdin, args); None for other shell."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    variables = {}
    while tokens and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", tokens[0]):
        name, _, value = tokens.pop(0).partition("=")
        variables[name] = value
    stdin = None
    if tokens and tokens[0] == "echo" and "|" in tokens:
        bar = tokens.index("|")
        stdin = " ".join(tokens[1:bar]) + "\n"
        tokens = tokens[bar + 1:]
    if not tokens or tokens[0] != "ptm" or any(token in ("|", ">", "<", "&&", ";", "&", "||") for token in tokens):
        return None
    if any(name in LANGUAGE_VARIABLES or name.startswith("LC_") for name in variables):
        # The message catalog is chosen once, when ptmcli.i18n is imported, so a new process must run.
        return None
    return variables, stdin, tokens[1:]


@pytest.fixture
def run_example(capsys, monkeypatch, tmp_path):
    """Run one documented command line as a user at a terminal would see it."""
    from ptmcli.cli import output
    from ptmcli.cli.app import main
    from ptmcli.engine import hub

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PTM_CONFIG", str(tmp_path / "no-config.toml"))
    for name in [name for name in os.environ if name.startswith("PTM_") and name.endswith(("_MODEL",))]:
        monkeypatch.delenv(name)
    for name in ("PTM_FORMAT", "PTM_DEVICE", "PTM_DTYPE", "PTM_LANG", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)

    def run(line: str, columns: int) -> Outcome:
        parsed = split_command(line)
        if parsed is None:
            return _run_in_bash(line, columns, tmp_path)
        variables, stdin, args = parsed
        with monkeypatch.context() as scoped:
            for name, value in variables.items():
                scoped.setenv(name, value)
            scoped.setenv("COLUMNS", str(columns))
            scoped.setattr(hub, "_reachable", None)
            scoped.setattr(hub, "_user_offline", False)
            scoped.setattr(output, "settings", output.RootSettings(
                terminal=output.Terminal(stdout_isatty=True, stderr_isatty=False, color=False)))
            scoped.setattr(sys, "stdin", _stdin(stdin))
            capsys.readouterr()
            try:
                main(args)
                code = 0
            except SystemExit as exit_:
                code = _exit_status(exit_.code)
            captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


def _exit_status(code) -> int:
    if isinstance(code, int):
        return code
    return 0 if code is None else 1


class _TerminalStdin(io.TextIOWrapper):
    def isatty(self) -> bool:
        return True


def _stdin(text: str | None):
    if text is None:
        # No pipe in the example: standard input is the user's terminal, so nothing is read from it.
        return _TerminalStdin(io.BytesIO(b""))
    return io.TextIOWrapper(io.BytesIO(text.encode("utf-8")))


def _run_in_bash(line: str, columns: int, cwd: Path) -> Outcome:
    environment = {**os.environ, "COLUMNS": str(columns),
                   "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    result = subprocess.run(["bash", "-c", line], capture_output=True, text=True, cwd=cwd, env=environment,
                            stdin=subprocess.DEVNULL, timeout=600)
    return Outcome(result.returncode, result.stdout, result.stderr)


# Comparing the output.

def mismatch(expected: list[str], outcome: Outcome) -> str | None:
    """Describe how the documented lines differ from the output, or return None when they match."""
    stdout = [line.rstrip() for line in outcome.stdout.splitlines()]
    while stdout and not stdout[-1]:
        stdout.pop()
    stderr = {line.rstrip() for line in outcome.stderr.splitlines()}
    on_stdout = [line for line in expected if line not in stderr or line in stdout]
    if _lines_match(on_stdout, stdout):
        return None
    return ("documented:\n" + "\n".join(expected) + "\n\nstdout:\n" + "\n".join(stdout)
            + "\n\nstderr:\n" + outcome.stderr)


def _lines_match(pattern: list[str], actual: list[str]) -> bool:
    if not pattern:
        return not actual
    if pattern[0] == ELLIPSIS:
        return any(_lines_match(pattern[1:], actual[start:]) for start in range(len(actual) + 1))
    return bool(actual) and pattern[0] == actual[0] and _lines_match(pattern[1:], actual[1:])


def test_reader_parses_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n<!-- exit: 2 -->\n<!-- columns: 120 -->\n```console\n"
        "$ ptm tokenize --ids \\\n    \"Hello world\"\n15496 995\n\n$ ptm bucket --size 3\n...\n```\n\n"
        "```sh\n$ ptm not-an-example\n```\n",
        encoding="utf-8",
    )
    [example] = read_examples(page)
    assert example.name == "page.md:5"
    assert example.directives == {"exit": "2", "columns": "120"}
    assert [command.line for command in example.commands] == ['ptm tokenize --ids "Hello world"', "ptm bucket --size 3"]
    assert example.commands[0].expected == ["15496 995"]
    assert example.commands[1].expected == ["..."]


def test_split_command_forms():
    assert split_command('ptm tokenize "a b"') == ({}, None, ["tokenize", "a b"])
    assert split_command("PTM_FORMAT=json ptm config show") == ({"PTM_FORMAT": "json"}, None, ["config", "show"])
    piped = split_command('echo "我来自中国" | ptm -q tokenize --ids')
    assert piped == ({}, "我来自中国\n", ["-q", "tokenize", "--ids"])
    assert split_command("printf 'x' > config.toml") is None
    assert split_command("ptm tokenize hi > out.txt") is None
    assert split_command("PTM_LANG=zh_CN ptm tokenize hi") is None


def test_mismatch_rules():
    outcome = Outcome(0, "one  \ntwo\nthree\n\n", "Warning: careful\nprogress 10%\n")
    assert mismatch(["Warning: careful", "one", "two", "three"], outcome) is None
    assert mismatch(["one", "...", "three"], outcome) is None
    assert mismatch(["...", "three"], outcome) is None
    assert mismatch(["one", "three"], outcome) is not None  # a missing line needs "..."
    assert mismatch(["one", "two"], outcome) is not None  # so does a missing tail
    assert mismatch(["one", "two", "three", "Warning: other"], outcome) is not None


def test_examples_found():
    assert EXAMPLES, "no ```console examples found in README.md or docs/*.md"


def test_directives_are_known():
    # A misspelt directive would silently change nothing, so every <!-- word: --> above a block is checked.
    for path in SOURCES:
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if line.strip() != "```console":
                continue
            above = number - 1
            while above >= 0 and lines[above].strip().startswith("<!--"):
                found = DIRECTIVE.fullmatch(lines[above].strip())
                assert found and found.group(1) in KNOWN_DIRECTIVES, f"{path.name}:{above + 1}: {lines[above]}"
                above -= 1


@pytest.mark.parametrize("example", [_param(example) for example in EXAMPLES])
def test_example(example: Example, run_example):
    reason = example.directives.get("not run")
    if reason is not None:
        pytest.skip(f"{example.name} not run: {reason}")
    expected_code = int(example.directives.get("exit", "0"))
    columns = int(example.directives.get("columns", DEFAULT_COLUMNS))
    check_output = example.directives.get("output") != "not checked"

    for number, command in enumerate(example.commands, start=1):
        outcome = run_example(command.line, columns)
        code = expected_code if number == len(example.commands) else 0
        assert outcome.exit_code == code, f"$ {command.line}\n{outcome.stderr}"
        if check_output:
            problem = mismatch(command.expected, outcome)
            assert problem is None, f"$ {command.line}\n{problem}"


# The generated command reference.

def test_reference_is_current():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import reference
    finally:
        sys.path.pop(0)
    current = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    assert current == reference.render(), "docs/reference.md is out of date: run python tools/reference.py"
