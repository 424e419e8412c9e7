"""The root command, its subcommands and the error boundary."""

import os
import sys
from typing import Annotated

import typer

from ptmcli import __version__
from ptmcli.cli import bucket, embed, evaluate, finetune, generate, mask, models, t5, tokenize
from ptmcli.cli import config as config_command
from ptmcli.cli import env as env_command
from ptmcli.cli import inspect as inspect_command
from ptmcli.cli import output as output_module
from ptmcli.cli import pipeline as pipeline_command
from ptmcli.errors import ExitCode, PtmError
from ptmcli.i18n import _, translate_typer_labels

translate_typer_labels()
app = typer.Typer(
    name="ptm",
    help=_("See and use pretrained BERT, GPT and T5 models: tokens, ids, shapes and each decoding step."),
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
app.command("tokenize", help=tokenize.HELP, epilog=tokenize.EPILOG)(tokenize.command)
app.command("generate", help=generate.HELP, epilog=generate.EPILOG)(generate.command)
app.command("embed", help=embed.HELP, epilog=embed.EPILOG)(embed.command)
app.command("t5", help=t5.HELP, epilog=t5.EPILOG)(t5.command)
app.command("mask", help=mask.HELP, epilog=mask.EPILOG)(mask.command)
app.command("finetune", help=finetune.HELP, epilog=finetune.EPILOG)(finetune.command)
app.command("evaluate", help=evaluate.HELP, epilog=evaluate.EPILOG)(evaluate.command)
app.command("bucket", help=bucket.HELP, epilog=bucket.EPILOG)(bucket.command)
app.add_typer(models.app, name="models")
app.add_typer(config_command.app, name="config")
app.command("inspect", help=inspect_command.HELP, epilog=inspect_command.EPILOG)(inspect_command.command)
app.command("pipeline", help=pipeline_command.HELP, epilog=pipeline_command.EPILOG)(pipeline_command.command)
app.command("env", help=env_command.HELP, epilog=env_command.EPILOG)(env_command.command)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"ptm {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help=_("Show more detail on stderr, including library warnings; "
                                                "repeat for more."))] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=_("Show only errors on stderr."))] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help=_("Disable colours (NO_COLOR is honoured too)."))]
    = False,
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help=_("Show the version and exit."))] = False,
) -> None:
    output_module.settings.verbosity = -1 if quiet else verbose
    output_module.settings.no_color = no_color
    output_module.configure_logging(output_module.settings.verbosity)
    config_command.apply_defaults(ctx)


def main(argv: list[str] | None = None) -> None:
    """Run ptm, turning known failures into one error line and an exit code (PTM_DEBUG=1 re-raises)."""
    debug = os.environ.get("PTM_DEBUG", "") not in ("", "0")
    try:
        app(args=argv, prog_name="ptm")
    except PtmError as error:
        if debug:
            raise
        output_module.print_error(error.message, error.hint)
        sys.exit(error.exit_code)
    except BrokenPipeError:
        _quiet_broken_pipe()
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as error:  # the boundary: anything unexpected still gets one line
        if debug:
            raise
        output_module.print_error(
            _("unexpected {kind}: {message}").format(kind=type(error).__name__, message=error),
            _("run again with PTM_DEBUG=1 to see the traceback, and please report it"),
        )
        sys.exit(ExitCode.FAILURE)


def _quiet_broken_pipe() -> None:
    # The reader (for example `head -1`) has gone. Point stdout at /dev/null so that the flush at
    # interpreter shutdown does not raise a second time, and exit with status 1 as the Python
    # documentation's note on SIGPIPE recommends.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(ExitCode.FAILURE)
