"""Maintain ptm's gettext catalogs with Babel.

Subcommands, run from any folder:

  extract  collect the `_()` and `ngettext()` messages under ptmcli/ into ptmcli/locale/ptmcli.pot
  update   merge that template into each locale's .po, keeping existing translations
  compile  write each locale's .mo from its .po (fuzzy entries are left out, as gettext expects)
  check    exit 1 and list the source messages that a .po lacks, leaves untranslated or marks
           fuzzy, translations whose {placeholders} differ from the msgid, and a stale .mo

After source strings change: extract, update, translate the new entries in the .po, compile.
Locations in the .po files name the file without a line number, so that edits elsewhere in a
file do not churn the catalogs.
"""

import argparse
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = ROOT / "ptmcli"
LOCALE_DIR = SOURCE_DIR / "locale"
TEMPLATE = LOCALE_DIR / "ptmcli.pot"
DOMAIN = "ptmcli"
LOCALES = ("zh_CN",)
PROJECT = "ptmcli"
TRANSLATORS = "ptm maintainers"

# ptmcli.i18n exposes exactly these two functions. ngettext takes (singular, plural, n).
KEYWORDS = {"_": None, "ngettext": (1, 2)}
METHOD_MAP = [("**.py", "python")]
# A source comment starting with this tag is copied into the catalogs as a note for translators.
COMMENT_TAGS = ("TRANSLATORS:",)
HEADER_COMMENT = (
    "# Messages of ptm, the command-line toolkit for pretrained language models.\n"
    "# This file is distributed under the same license as the ptmcli package (Apache-2.0).\n"
    "#"
)

# Typer 0.29 passes these labels of its help and error panels through gettext (typer/rich_utils.py and
# typer/core.py), and ptm's CLI points gettext's process-wide domain at ptm's catalog, so they are
# translated here beside ptm's own messages. Re-read those two files when the typer pin moves.
TYPER_MESSAGES = (
    "Arguments", "Options", "Commands", "Error", "Aborted.", "Aborted!", "(deprecated) ", "[default: {}]",
    "[env var: {}]", "[required]", "Try [blue]'{command_path} {help_option}'[/] for help.", "(dynamic)",
    "default: {default}", "env var: {var}", "required", "Missing command.", "No such command {name!r}.",
)
TYPER_LOCATION = ("typer", 0)

# A str.format replacement field such as {name} or {byte:02x}. ptm's messages use no `{{` escapes.
PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"


def project_version() -> str:
    """Read __version__ from ptmcli/__init__.py without importing the package."""
    match = re.search(r'^__version__ = "([^"]+)"', (SOURCE_DIR / "__init__.py").read_text(encoding="utf-8"), re.M)
    return match.group(1) if match else "unknown"


def extract_template() -> Catalog:
    """Extract every translatable message under ptmcli/ into a new template catalog."""
    template = Catalog(project=PROJECT, version=project_version(), header_comment=HEADER_COMMENT,
                       charset="utf-8", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        SOURCE_DIR, METHOD_MAP, keywords=KEYWORDS, comment_tags=COMMENT_TAGS, strip_comment_tags=True,
    ):
        location = (Path(SOURCE_DIR.name, filename).as_posix(), lineno)
        template.add(message, None, [location], auto_comments=comments, context=context)
    for message in TYPER_MESSAGES:
        existing = template.get(message)
        if existing is not None:
            existing.locations.append(TYPER_LOCATION)
        else:
            template.add(message, None, [TYPER_LOCATION], auto_comments=["A label of Typer's help and errors."])
    return template


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with open(path, "rb") as handle:
        return read_po(handle, locale=locale, domain=DOMAIN)


def write_catalog(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog, include_lineno=False)
    path.write_bytes(buffer.getvalue())


def compile_catalog(catalog: Catalog) -> bytes:
    """Return the .mo bytes of a catalog, leaving out fuzzy entries."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def mo_messages(data: bytes) -> dict:
    """Map each message id of .mo bytes to its translation, the header (id "") included.

    Plural entries map the tuple of singular and plural to the tuple of translated forms.
    """
    messages = {}
    for message in read_mo(io.BytesIO(data)):
        key = tuple(message.id) if isinstance(message.id, (list, tuple)) else message.id
        value = tuple(message.string) if isinstance(message.string, (list, tuple)) else message.string
        messages[key] = value
    return messages


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def message_ids(message: Message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def message_strings(message: Message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def display_id(message: Message) -> str:
    """Show a message id on one line, with the plural form after ' | '."""
    return " | ".join(message_ids(message)).replace("\n", "\\n")


@dataclass(frozen=True)
class Problem:
    kind: str  # "missing", "untranslated", "fuzzy", "placeholders" or "stale .mo"
    msgid: str
    detail: str = ""


def find_problems(template: Catalog, catalog: Catalog) -> list[Problem]:
    """List the template's messages that the catalog lacks, leaves empty, marks fuzzy or mistranslates."""
    problems = []
    for expected in template:
        if not expected.id:
            continue
        translated = catalog.get(expected.id, context=expected.context)
        name = display_id(expected)
        if translated is None:
            problems.append(Problem("missing", name))
            continue
        if isinstance(expected.id, tuple) != isinstance(translated.id, tuple):
            detail = "the source and the .po entry disagree on whether it has a plural form"
            problems.append(Problem("missing", name, detail))
            continue
        strings = message_strings(translated)
        if not all(strings):
            problems.append(Problem("untranslated", name))
            continue
        if translated.fuzzy:
            problems.append(Problem("fuzzy", name))
        expected_fields = set().union(*(placeholders(text) for text in message_ids(expected)))
        for text in strings:
            found = placeholders(text)
            if found != expected_fields:
                detail = f"expected {sorted(expected_fields)}, found {sorted(found)} in '{text}'"
                problems.append(Problem("placeholders", name, detail))
    return problems


def command_extract(args: argparse.Namespace) -> int:
    template = extract_template()
    write_catalog(template, TEMPLATE)
    print(f"extracted {len(template)} messages into {TEMPLATE.relative_to(ROOT)}")
    return 0


def command_update(args: argparse.Namespace) -> int:
    if not TEMPLATE.is_file():
        print(f"error: {TEMPLATE.relative_to(ROOT)} not found (run 'python tools/catalog.py extract' first)",
              file=sys.stderr)
        return 1
    template = read_catalog(TEMPLATE)
    for locale in args.locales:
        path = po_path(locale)
        if path.is_file():
            catalog = read_catalog(path, locale)
            catalog.update(template)
            action = "updated"
        else:
            # Merging into an empty catalog gives each plural entry the locale's number of forms.
            catalog = Catalog(locale=locale, domain=DOMAIN, project=PROJECT, version=template.version,
                              header_comment=HEADER_COMMENT, last_translator=TRANSLATORS,
                              language_team=TRANSLATORS, charset="utf-8", fuzzy=False)
            catalog.update(template)
            catalog.revision_date = catalog.creation_date
            action = "created"
        write_catalog(catalog, path)
        print(f"{action} {path.relative_to(ROOT)}: {_summary(catalog)}")
    return 0


def command_compile(args: argparse.Namespace) -> int:
    for locale in args.locales:
        if not po_path(locale).is_file():
            print(f"error: {po_path(locale).relative_to(ROOT)} not found (run 'python tools/catalog.py update')",
                  file=sys.stderr)
            return 1
        catalog = read_catalog(po_path(locale), locale)
        mo_path(locale).write_bytes(compile_catalog(catalog))
        print(f"compiled {mo_path(locale).relative_to(ROOT)}: {_summary(catalog)}")
    return 0


def command_check(args: argparse.Namespace) -> int:
    template = extract_template()
    failed = False
    for locale in args.locales:
        path = po_path(locale)
        if not path.is_file():
            print(f"{locale}: {path.relative_to(ROOT)} not found (run 'python tools/catalog.py update')")
            failed = True
            continue
        catalog = read_catalog(path, locale)
        problems = find_problems(template, catalog)
        compiled = mo_path(locale)
        if not compiled.is_file() or mo_messages(compiled.read_bytes()) != mo_messages(compile_catalog(catalog)):
            problems.append(Problem("stale .mo", str(compiled.relative_to(ROOT)),
                                    "run 'python tools/catalog.py compile'"))
        for problem in problems:
            detail = f" ({problem.detail})" if problem.detail else ""
            print(f"{locale}: {problem.kind}: {problem.msgid}{detail}")
        if problems:
            failed = True
        else:
            print(f"{locale}: all {len(template)} source messages are translated and compiled")
    return 1 if failed else 0


def _summary(catalog: Catalog) -> str:
    messages = [message for message in catalog if message.id]
    fuzzy = sum(message.fuzzy for message in messages)
    untranslated = sum(not all(message_strings(message)) for message in messages)
    return f"{len(messages)} messages, {untranslated} untranslated, {fuzzy} fuzzy"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Maintain ptm's gettext catalogs with Babel.")
    subcommands = parser.add_subparsers(dest="command", required=True)
    subcommands.add_parser("extract", help="extract messages from ptmcli/ into ptmcli/locale/ptmcli.pot")
    for name, help_text in (
        ("update", "merge the template into each locale's .po, keeping existing translations"),
        ("compile", "write each locale's .mo from its .po"),
        ("check", "exit 1 when a source message is missing, untranslated or fuzzy, or a .mo is stale"),
    ):
        subparser = subcommands.add_parser(name, help=help_text)
        subparser.add_argument("--locale", dest="locales", action="append", choices=LOCALES,
                               help="only this locale (repeatable); default: all of " + ", ".join(LOCALES))
    args = parser.parse_args(argv)
    if getattr(args, "locales", None) is None:
        args.locales = list(LOCALES)
    commands = {"extract": command_extract, "update": command_update, "compile": command_compile,
                "check": command_check}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
