"""`ptm config` shows the config file and the defaults in effect. apply_defaults hands them to Click."""

import sys

import typer

from ptmcli import settings as settings_module
from ptmcli.cli.options import FormatOpt
from ptmcli.cli.output import Output, OutputFormat
from ptmcli.errors import PtmError, UsageError
from ptmcli.i18n import _

HELP = _("Show where the config file is and the defaults that it and the PTM_* variables set.")
EPILOG = _(
    "Examples:\n\n"
    "  ptm config path\n\n"
    "  ptm config show\n\n"
    "  PTM_GENERATE_MODEL=./my-model ptm config show --format json"
)

app = typer.Typer(help=HELP, epilog=EPILOG, no_args_is_help=True)

# Config keys and the command-line option that each one gives a default to.
OPTION_FLAGS = {"model": "--model", "format": "--format", "device": "--device", "dtype": "--dtype"}
BUILT_IN_DEFAULT = "auto"


def apply_defaults(ctx: typer.Context) -> None:
    """Set the root context's default_map, which Click hands down to each subcommand's options."""
    try:
        config = _read(ctx.command)
        ctx.default_map = default_map(ctx.command, config)
    except PtmError:
        # `ptm config` must still run with a broken file: it is how the user finds the error.
        if ctx.invoked_subcommand == "config":
            return
        raise


def default_map(root, config: settings_module.ConfigFile) -> dict:
    """Build {command: {parameter name: default}}, nested for groups, from env vars and the file."""
    result = {}
    for name, command in root.commands.items():
        entry = _command_defaults(command, config, name)
        if entry:
            result[name] = entry
    return result


def _command_defaults(command, config, table: str) -> dict:
    subcommands = getattr(command, "commands", None)
    if subcommands is not None:
        nested = {name: _command_defaults(sub, config, table) for name, sub in subcommands.items()}
        return {name: entry for name, entry in nested.items() if entry}
    entry = {}
    for key, flag in OPTION_FLAGS.items():
        param = _option(command, flag)
        if param is None:
            continue
        found = settings_module.resolve_setting(config, table, key, None)
        if found.source == settings_module.BUILT_IN:
            continue
        entry[param.name] = [found.value] if param.multiple else found.value
    return entry


def _read(root) -> settings_module.ConfigFile:
    config = settings_module.read_config(commands=tuple(root.commands))
    for table, values in config.tables.items():
        flags = _flags(root.commands[table])
        for key, value in values.items():
            if OPTION_FLAGS[key] not in flags:
                raise UsageError(
                    _("{location}: ptm {command} has no {flag} option").format(
                        location=config.where(value), command=table, flag=OPTION_FLAGS[key]),
                    hint=_("remove '{key}' from [{command}]").format(key=key, command=table))
    return config


def _option(command, flag: str):
    return next((param for param in command.params if flag in getattr(param, "opts", ())), None)


def _flags(command) -> set[str]:
    subcommands = getattr(command, "commands", None)
    if subcommands is not None:
        return set().union(*(_flags(sub) for sub in subcommands.values())) if subcommands else set()
    return {opt for param in command.params for opt in getattr(param, "opts", ())}


def _built_in_model(command) -> str | None:
    param = _option(command, "--model")
    if param.default is not None and not param.multiple:
        return str(param.default)
    # Commands whose option defaults to None apply their DEFAULT_MODEL inside the function.
    module = sys.modules.get(getattr(command.callback, "__module__", ""), None)
    return getattr(module, "DEFAULT_MODEL", None)


@app.command("path", help=_("Print the location of the config file and whether it exists."))
def path_command(output_format: FormatOpt = OutputFormat.auto) -> None:
    out = Output(output_format)
    out.prefer_plain()

    location = settings_module.config_path()
    exists = location.exists()

    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records([{"path": str(location), "exists": exists}])
        return
    out.line(str(location))
    if not exists:
        out.info(_("(the file does not exist: ptm uses the PTM_* variables and built-in defaults)"))


@app.command("show", help=_("Show each default with its value and source: env, file or built-in."))
def show_command(ctx: typer.Context, output_format: FormatOpt = OutputFormat.auto) -> None:
    out = Output(output_format)

    root = ctx.find_root().command
    config = _read(root)

    records = []
    for key in settings_module.GLOBAL_KEYS:
        records.append(_record(key, settings_module.resolve_setting(config, None, key, BUILT_IN_DEFAULT)))
    for name, command in root.commands.items():
        flags = _flags(command)
        if "--model" in flags:
            records.append(_record(f"{name}.model",
                                   settings_module.resolve_setting(config, name, "model", _built_in_model(command))))
        for key in ("format", "device", "dtype"):
            if key in config.tables.get(name, {}):
                records.append(_record(f"{name}.{key}",
                                       settings_module.resolve_setting(config, name, key, BUILT_IN_DEFAULT)))

    _report(out, config, records)


def _record(key: str, found: settings_module.Setting) -> dict:
    return {"key": key, "value": found.value, "source": found.source, "origin": found.origin}


def _report(out: Output, config: settings_module.ConfigFile, records: list[dict]) -> None:
    if out.format in (OutputFormat.json, OutputFormat.jsonl):
        out.records(records)
        return
    if out.format == OutputFormat.plain:
        for record in records:
            out.line(f"{record['key']}={record['value'] or ''}")
        return

    from rich.table import Table

    table = Table()
    table.add_column(_("key"))
    table.add_column(_("value"))
    table.add_column(_("source"))
    table.add_column(_("from"))
    for record in records:
        table.add_row(record["key"], record["value"] or "-", record["source"], record["origin"] or "")
    state = _("exists") if config.exists else _("does not exist")
    out.info(_("Config file: {path} ({state})").format(path=config.path, state=state))
    out.render(table)
    out.info(_("Options given on the command line override every value shown here."))
