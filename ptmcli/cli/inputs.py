"""Read input texts from arguments, --file or stdin, decoding UTF-8 explicitly.

Reading sys.stdin as text would either raise UnicodeDecodeError with a traceback or, in a C
locale, hand lone surrogates to the tokenizer, which then fails with an unrelated TypeError.
"""

import logging
import sys
from enum import Enum
from pathlib import Path

from ptmcli.errors import PtmError, UsageError
from ptmcli.i18n import _, ngettext

log = logging.getLogger("ptmcli")


class EncodingErrors(str, Enum):
    strict = "strict"
    replace = "replace"


def read_texts(texts: list[str] | None, file: Path | None,
               encoding_errors: EncodingErrors = EncodingErrors.strict) -> list[str]:
    """Collect the texts to process: each argument is one text, each line of a file or stdin is one."""
    texts = list(texts or [])
    if file is not None and texts and texts != ["-"]:
        raise UsageError(_("give texts as arguments or with --file, not both"))
    if file is not None:
        return _lines(read_file(file), str(file), encoding_errors)
    if texts == ["-"] or (not texts and not sys.stdin.isatty()):
        return _lines(sys.stdin.buffer.read(), _("standard input"), encoding_errors)
    if not texts:
        raise UsageError(_("no text given"), hint=_("pass TEXT, --file PATH, or pipe text on standard input"))
    decoded = []
    for position, text in enumerate(texts, start=1):
        # Python hands bytes of an argument that are not UTF-8 over as lone surrogates, which the
        # tokenizers reject with a TypeError, so they get the same check as a file or stdin.
        raw = text.encode("utf-8", errors="surrogateescape")
        text = decode_utf8(raw, _("text argument {position}").format(position=position), encoding_errors)
        if not text.strip():
            raise UsageError(
                _("text argument {position} is empty").format(position=position),
                hint=_("pass a non-empty text"),
            )
        decoded.append(text)
    return decoded


def read_file(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise UsageError(_("file '{path}' not found").format(path=file)) from None
    except IsADirectoryError:
        raise UsageError(_("'{path}' is a folder, not a text file").format(path=file)) from None
    except PermissionError:
        raise UsageError(_("file '{path}' cannot be read: permission denied").format(path=file)) from None


def _lines(data: bytes, origin: str, encoding_errors: EncodingErrors) -> list[str]:
    text = decode_utf8(data, origin, encoding_errors)
    lines = text.splitlines()
    texts = [line for line in lines if line.strip()]
    skipped = len(lines) - len(texts)
    if skipped:
        log.warning(ngettext("skipped {count} empty line in {origin}", "skipped {count} empty lines in {origin}",
                             skipped).format(count=skipped, origin=origin))
    if not texts:
        raise UsageError(_("no text in {origin}").format(origin=origin))
    return texts


def decode_utf8(data: bytes, origin: str, encoding_errors: EncodingErrors) -> str:
    try:
        text = data.decode("utf-8", errors=encoding_errors.value)
    except UnicodeDecodeError as error:
        raise PtmError(
            _("{origin} is not valid UTF-8: byte 0x{byte:02x} at offset {offset}").format(
                origin=origin, byte=data[error.start], offset=error.start
            ),
            hint=_("convert it to UTF-8 (for example: iconv -f GBK -t UTF-8), or pass --encoding-errors replace"),
        ) from None
    return text.removeprefix("\ufeff")
