"""The one place that writes to stdout and stderr.

stdout carries data only: a Rich view on a terminal, JSON, JSON Lines or plain text otherwise.
Messages, warnings, progress and errors go to stderr.
"""

import json
import logging
import os
import sys
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ptmcli.i18n import _


class OutputFormat(str, Enum):
    auto = "auto"
    table = "table"
    json = "json"
    jsonl = "jsonl"
    plain = "plain"


@dataclass(frozen=True)
class Terminal:
    """Terminal facts that decide the output: which streams are terminals, and whether colour is allowed.

    Tests replace it to act as a pipe or a terminal.
    """

    stdout_isatty: bool
    stderr_isatty: bool
    color: bool

    @classmethod
    def detect(cls, no_color: bool = False) -> "Terminal":
        return cls(
            stdout_isatty=sys.stdout.isatty(),
            stderr_isatty=sys.stderr.isatty(),
            color=not no_color and "NO_COLOR" not in os.environ,
        )


@dataclass
class RootSettings:
    """Options of the root command that every subcommand's output follows."""

    verbosity: int = 0  # -1 quiet, 0 normal, 1 and more verbose
    no_color: bool = False
    terminal: Terminal | None = None


settings = RootSettings()


class Output:
    def __init__(self, output_format: OutputFormat = OutputFormat.auto):
        self.terminal = settings.terminal or Terminal.detect(settings.no_color)
        self.requested_format = output_format
        if output_format == OutputFormat.auto:
            output_format = OutputFormat.table if self.terminal.stdout_isatty else OutputFormat.jsonl
        self.format = output_format
        self.verbosity = settings.verbosity
        self._stdout_console = None
        self._stderr_console = None

    @property
    def human(self) -> bool:
        return self.format == OutputFormat.table

    def prefer_plain(self) -> None:
        """Use plain lines unless a format was requested, for modes whose output is one value per line."""
        if self.requested_format == OutputFormat.auto:
            self.format = OutputFormat.plain

    # Data on stdout.

    def records(self, records: Iterable[dict[str, Any]]) -> None:
        """Write results as JSON (one object, or an array for several) or JSON Lines (one per line).

        JSON Lines writes each record as it comes, so a generator of records never keeps them all in memory.
        """
        if self.format == OutputFormat.json:
            records = list(records)
            document = records[0] if len(records) == 1 else records
            self.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        else:
            for record in records:
                self.write(json.dumps(record, ensure_ascii=False) + "\n")

    def line(self, text: str) -> None:
        self.write(text + "\n")

    def write(self, text: str) -> None:
        sys.stdout.write(text)

    def stream(self, text: str) -> None:
        """Write text as soon as it is generated, for readers at the other end of a pipe."""
        sys.stdout.write(text)
        sys.stdout.flush()

    def render(self, *renderables) -> None:
        for renderable in renderables:
            self.stdout_console.print(renderable)

    @property
    def stdout_console(self):
        if self._stdout_console is None:
            from rich.console import Console

            self._stdout_console = Console(file=sys.stdout, no_color=not self.terminal.color,
                                           highlight=False, soft_wrap=False)
        return self._stdout_console

    # Messages on stderr.

    @property
    def stderr_console(self):
        if self._stderr_console is None:
            self._stderr_console = _stderr_console(self.terminal)
        return self._stderr_console

    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            self.stderr_console.print(message, markup=False, highlight=False, soft_wrap=True)

    def progress(self, message: str) -> None:
        """Report a step of long work; shown on stderr unless -q."""
        self.info(message)

    @contextmanager
    def status(self, message: str):
        """Show a spinner on a terminal while slow work runs; silent when piped or quiet."""
        if self.verbosity >= 0 and self.terminal.stderr_isatty and self.human:
            with self.stderr_console.status(message):
                yield
        else:
            yield


def _stderr_console(terminal: Terminal):
    from rich.console import Console

    return Console(file=sys.stderr, no_color=not terminal.color, highlight=False,
                   force_terminal=True if terminal.stderr_isatty and terminal.color else None)


def print_error(message: str, hint: str | None = None) -> None:
    terminal = settings.terminal or Terminal.detect(settings.no_color)
    console = _stderr_console(terminal)
    if hint:
        line = _("Error: {message} ({hint})").format(message=message, hint=hint)
    else:
        line = _("Error: {message}").format(message=message)
    console.print(line, style="bold red" if terminal.color else None, markup=False, highlight=False,
                  soft_wrap=True)


class StderrLogHandler(logging.Handler):
    """Show ptm's notices and the libraries' warnings as short lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        terminal = settings.terminal or Terminal.detect(settings.no_color)
        console = _stderr_console(terminal)
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            text = _("Warning: {message}").format(message=message)
            style = "yellow" if terminal.color else None
        else:
            text, style = message, None
        console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


def configure_logging(verbosity: int) -> None:
    """Route logging by -v/-q: ptm's warnings by default, library warnings only with -v."""
    handler = StderrLogHandler()
    ptm_log = logging.getLogger("ptmcli")
    ptm_log.handlers[:] = [handler]
    ptm_log.propagate = False
    ptm_log.setLevel(_level(verbosity, quiet=logging.ERROR, normal=logging.WARNING, verbose=logging.INFO))

    logging.captureWarnings(True)
    for name in ("py.warnings", "transformers", "huggingface_hub", "accelerate", "torch"):
        library_log = logging.getLogger(name)
        library_log.handlers[:] = [handler]
        library_log.propagate = False
        library_log.setLevel(logging.WARNING if verbosity > 0 else logging.ERROR)
    # The libraries' own progress bars are off unless -v: ptm reports its own progress.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1" if verbosity <= 0 else "0")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "warning" if verbosity > 0 else "error")
    transformers_logging = sys.modules.get("transformers.utils.logging")
    if transformers_logging is not None:
        # Already imported (a notebook, or the tests), so the variables above came too late.
        transformers_logging.set_verbosity(logging.WARNING if verbosity > 0 else logging.ERROR)
        if verbosity > 0 and os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS") != "1":
            transformers_logging.enable_progress_bar()
        else:
            transformers_logging.disable_progress_bar()
    if verbosity < 0 or not sys.stderr.isatty():
        # Some converters (GGUF dequantization) use plain tqdm, which only this variable silences.
        os.environ.setdefault("TQDM_DISABLE", "1")


def _level(verbosity: int, *, quiet: int, normal: int, verbose: int) -> int:
    if verbosity < 0:
        return quiet
    if verbosity > 0:
        return verbose
    return normal
