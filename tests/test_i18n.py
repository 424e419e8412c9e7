"""The zh_CN catalog: complete, placeholder-safe, compiled, and chosen by PTM_LANG or the locale.

The messages come from a fresh extraction of ptmcli/ with tools/catalog.py, so a string added to
the source without a translation fails here with its msgid listed.
"""

import argparse
import gettext
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

ROOT = Path(__file__).resolve().parent.parent
LOCALE = "zh_CN"
OPTION = re.compile(r"--[a-z][a-z-]*")

EMPTY_TEXT_ERROR_EN = "Error: text argument 1 is empty (pass a non-empty text)"
# The space before the hint comes from print_error, which joins message and hint with " ".
EMPTY_TEXT_ERROR_ZH = "错误：第 1 个文本参数为空（请传入非空文本）"


def _load_catalog_tool():
    spec = importlib.util.spec_from_file_location("catalog_tool", ROOT / "tools" / "catalog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


catalog_tool = _load_catalog_tool()


@pytest.fixture(scope="module")
def template() -> Catalog:
    return catalog_tool.extract_template()


@pytest.fixture(scope="module")
def zh_catalog() -> Catalog:
    return catalog_tool.read_catalog(catalog_tool.po_path(LOCALE), LOCALE)


def translated_messages(catalog: Catalog) -> list:
    return [message for message in catalog if message.id and all(catalog_tool.message_strings(message))]


def run_cli(*args: str, language: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `python -m ptmcli` with the conftest environment, minus PTM_LANG, plus `language`."""
    env = {key: value for key, value in os.environ.items() if key not in ("PTM_LANG", "PTM_DEBUG")}
    env.update(language)
    env["COLUMNS"] = "200"  # wide enough that Rich does not wrap the help lines checked below
    return subprocess.run([sys.executable, "-m", "ptmcli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, stdin=subprocess.DEVNULL, timeout=120)


# Extraction and completeness.

def test_extraction_finds_known_messages(template):
    assert "Error: {message}" in template
    assert template.get("{count} token").id == ("{count} token", "{count} tokens")
    assert all(path.startswith("ptmcli/") or path == "typer" for message in template for path, _ in message.locations)
    assert ("typer", 0) in template.get("[required]").locations


def test_every_source_message_in_po(template, zh_catalog):
    missing = [catalog_tool.display_id(message) for message in template
               if message.id and zh_catalog.get(message.id, context=message.context) is None]
    assert not missing, ("source messages missing from the zh_CN .po (run 'python tools/catalog.py extract', "
                         "then 'update', and translate them):\n" + "\n".join(missing))


def test_every_source_message_translated(template, zh_catalog):
    untranslated = []
    for message in template:
        entry = zh_catalog.get(message.id, context=message.context) if message.id else None
        if entry is not None and not all(catalog_tool.message_strings(entry)):
            untranslated.append(catalog_tool.display_id(message))
    assert not untranslated, "untranslated zh_CN messages:\n" + "\n".join(untranslated)


def test_no_fuzzy_translations(template, zh_catalog):
    fuzzy = []
    for message in template:
        entry = zh_catalog.get(message.id, context=message.context) if message.id else None
        if entry is not None and entry.fuzzy:
            fuzzy.append(catalog_tool.display_id(message))
    assert not fuzzy, ("fuzzy zh_CN messages, which the .mo leaves out (review each and remove the flag):\n"
                       + "\n".join(fuzzy))


def test_catalog_has_one_plural_form(zh_catalog):
    assert zh_catalog.plural_forms == "nplurals=1; plural=0;"
    plurals = [message for message in zh_catalog if isinstance(message.id, tuple)]
    assert plurals
    assert all(len(message.string) == 1 for message in plurals)


# What a translation must keep from its msgid.

def test_placeholder_pattern():
    assert catalog_tool.placeholders("{origin}: byte 0x{byte:02x} at {offset}, {origin}") == {
        "{origin}", "{byte:02x}", "{offset}"}
    assert catalog_tool.placeholders("Do not add [CLS] and </s>.") == set()


def test_translations_keep_placeholders(zh_catalog):
    mismatches = []
    for message in translated_messages(zh_catalog):
        expected = set().union(*(catalog_tool.placeholders(text) for text in catalog_tool.message_ids(message)))
        for text in catalog_tool.message_strings(message):
            if catalog_tool.placeholders(text) != expected:
                mismatches.append(f"{catalog_tool.display_id(message)} -> {text}")
    assert not mismatches, "translations that change {placeholders}:\n" + "\n".join(mismatches)


def test_translations_keep_option_names(zh_catalog):
    mismatches = []
    for message in translated_messages(zh_catalog):
        expected = set().union(*(OPTION.findall(text) for text in catalog_tool.message_ids(message)))
        for text in catalog_tool.message_strings(message):
            if not expected <= set(OPTION.findall(text)):
                mismatches.append(f"{catalog_tool.display_id(message)} -> {text}")
    assert not mismatches, "translations that drop --option names:\n" + "\n".join(mismatches)


def test_find_problems_reports_each_kind():
    template = Catalog(fuzzy=False)
    for msgid in ("missing {name}", "empty", "fuzzy", "placeholder {name}", "fine {name}"):
        template.add(msgid)
    catalog = Catalog(locale=LOCALE, fuzzy=False)
    catalog.add("empty", "")
    catalog.add("fuzzy", "模糊", flags=["fuzzy"])
    catalog.add("placeholder {name}", "占位符 {名称}")
    catalog.add("fine {name}", "正常 {name}")

    problems = {(problem.kind, problem.msgid) for problem in catalog_tool.find_problems(template, catalog)}

    assert problems == {("missing", "missing {name}"), ("untranslated", "empty"), ("fuzzy", "fuzzy"),
                        ("placeholders", "placeholder {name}")}


@pytest.fixture
def scratch_locale(tmp_path, monkeypatch):
    """Point tools/catalog.py at an empty locale folder under tmp_path."""
    monkeypatch.setattr(catalog_tool, "ROOT", tmp_path)
    monkeypatch.setattr(catalog_tool, "LOCALE_DIR", tmp_path / "locale")
    monkeypatch.setattr(catalog_tool, "TEMPLATE", tmp_path / "locale" / "ptmcli.pot")
    return argparse.Namespace(locales=[LOCALE])


def write_template(*messages) -> None:
    template = Catalog(fuzzy=False)
    for message in messages:
        template.add(message)
    catalog_tool.write_catalog(template, catalog_tool.TEMPLATE)


def test_update_creates_one_plural_form(scratch_locale):
    write_template("loading {model}", ("{count} token", "{count} tokens"))

    assert catalog_tool.command_update(scratch_locale) == 0

    created = catalog_tool.read_catalog(catalog_tool.po_path(LOCALE), LOCALE)
    assert created.plural_forms == "nplurals=1; plural=0;"
    assert created.get("loading {model}").string == ""
    assert created.get("{count} token").string == ("",)


def test_update_keeps_existing_translations(scratch_locale):
    write_template("loading {model}")
    catalog_tool.command_update(scratch_locale)
    existing = catalog_tool.read_catalog(catalog_tool.po_path(LOCALE), LOCALE)
    existing.get("loading {model}").string = "正在加载 {model}"
    catalog_tool.write_catalog(existing, catalog_tool.po_path(LOCALE))
    write_template("loading {model}", "generating")

    assert catalog_tool.command_update(scratch_locale) == 0
    assert catalog_tool.command_compile(scratch_locale) == 0

    updated = catalog_tool.read_catalog(catalog_tool.po_path(LOCALE), LOCALE)
    assert updated.get("loading {model}").string == "正在加载 {model}"
    assert updated.get("generating").string == ""
    compiled = catalog_tool.mo_messages(catalog_tool.mo_path(LOCALE).read_bytes())
    assert compiled["loading {model}"] == "正在加载 {model}"
    assert "generating" not in compiled


# The compiled catalog.

def test_committed_mo_matches_po(zh_catalog):
    committed = catalog_tool.mo_path(LOCALE).read_bytes()
    compiled = catalog_tool.compile_catalog(zh_catalog)
    assert catalog_tool.mo_messages(committed) == catalog_tool.mo_messages(compiled), (
        "the .mo is stale: run 'python tools/catalog.py compile'")


def test_mo_loads_with_gettext():
    translation = gettext.translation(catalog_tool.DOMAIN, catalog_tool.LOCALE_DIR, languages=[LOCALE])
    assert translation.gettext("Error: {message}") == "错误：{message}"
    assert translation.ngettext("{count} token", "{count} tokens", 1) == "{count} 个词元"
    assert translation.ngettext("{count} token", "{count} tokens", 5) == "{count} 个词元"


def test_catalog_check_command_passes():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "catalog.py"), "check"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# The language the CLI picks.

def test_help_in_chinese_with_ptm_lang():
    result = run_cli("--help", language={"PTM_LANG": LOCALE})
    assert result.returncode == 0
    assert "查看并使用 BERT、GPT 和 T5 预训练模型" in result.stdout
    assert "显示版本号并退出。" in result.stdout
    assert "Show the version and exit." not in result.stdout


def test_typer_labels_in_chinese():
    result = run_cli("bucket", "--help", language={"PTM_LANG": LOCALE, "COLUMNS": "200"})
    assert result.returncode == 0
    assert "╭─ 选项 " in result.stdout
    assert "[默认：10]" in result.stdout  # Typer's own "[default: {}]" label, for --size
    assert "[默认：32，或模型自身的值]" in result.stdout  # ptm's escaped default of --num-buckets
    assert "Options" not in result.stdout


def test_bracketed_defaults_in_english():
    # Unescaped, Rich would take "[default: 32, ...]" for a style tag and drop it.
    result = run_cli("bucket", "--help", language={"LANGUAGE": "en", "COLUMNS": "200"})
    assert "[default: 32, or the model's]" in result.stdout
    assert "╭─ Options " in result.stdout


def test_typer_error_panel_in_chinese():
    result = run_cli("tokenize", "--no-such-option", language={"PTM_LANG": LOCALE})
    assert result.returncode == 2
    assert "错误" in result.stderr
    assert "运行 'ptm tokenize -h' 查看帮助。" in result.stderr


def test_empty_text_error_in_chinese():
    result = run_cli("tokenize", "", language={"PTM_LANG": LOCALE})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [EMPTY_TEXT_ERROR_ZH]


def test_empty_text_error_in_english():
    result = run_cli("tokenize", "", language={"LANGUAGE": "en"})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [EMPTY_TEXT_ERROR_EN]


def test_language_variable_selects_chinese():
    result = run_cli("tokenize", "", language={"LANGUAGE": LOCALE})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [EMPTY_TEXT_ERROR_ZH]


def test_ptm_lang_overrides_language():
    result = run_cli("tokenize", "", language={"LANGUAGE": "en", "PTM_LANG": LOCALE})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [EMPTY_TEXT_ERROR_ZH]
