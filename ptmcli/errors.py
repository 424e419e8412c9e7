"""Exceptions that the CLI's error boundary turns into one `Error:` line and an exit code."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    INTERRUPTED = 130


class PtmError(Exception):
    """A failure with a message for the user and, where one exists, the next step to take."""

    exit_code = ExitCode.FAILURE

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(PtmError):
    """Invalid input or options: exit code 2, like a parsing error."""

    exit_code = ExitCode.USAGE


class ModelNotFoundError(PtmError):
    """A model reference that is neither a local path, a pack, nor reachable on the Hub or in its cache."""
