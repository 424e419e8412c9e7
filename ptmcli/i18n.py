"""gettext set-up shared by every layer.

The language comes from PTM_LANG when it is set, otherwise from the usual locale variables
(LANGUAGE, LC_ALL, LC_MESSAGES, LANG), which is what gettext reads by itself.
"""

import gettext
import os
from pathlib import Path

DOMAIN = "ptmcli"
LOCALE_DIR = Path(__file__).parent / "locale"


def _languages() -> list[str] | None:
    requested = os.environ.get("PTM_LANG")
    return [requested] if requested else None


translation = gettext.translation(DOMAIN, LOCALE_DIR, languages=_languages(), fallback=True)
_ = translation.gettext
ngettext = translation.ngettext


def translate_typer_labels() -> None:
    """Let Typer's own help labels ("Options", "[required]", "Aborted.") come from ptm's catalog.

    Typer 0.29 calls the module-level gettext.gettext, which reads only the process-wide domain and
    the locale variables, so the CLI points that domain at ptm's catalog and passes PTM_LANG on as
    LANGUAGE. Only the CLI calls this: a notebook importing the engine keeps its own gettext domain.
    Typer's vendored Click writes "Usage:", "Show this message and exit." and its usage errors as
    plain English strings, so those stay English.
    """
    requested = os.environ.get("PTM_LANG")
    if requested:
        os.environ["LANGUAGE"] = requested
    gettext.bindtextdomain(DOMAIN, LOCALE_DIR)
    gettext.textdomain(DOMAIN)
