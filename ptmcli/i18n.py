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
