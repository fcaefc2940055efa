"""The ``geogan`` command as a click command, for sphinx-click (``docs/cli.md``).

The CLI is a typer app (``geogan.cli.app``, a ``typer.Typer``); sphinx-click documents click commands, so this
module converts it once with ``typer.main.get_command``. Typer releases before 0.29 return
click objects, which are used as they are. Typer 0.29 and later build on a copy of click of
their own (``typer._click``), whose classes sphinx-click does not recognise: their commands,
options and arguments are then rebuilt as plain click objects with the same names, help
texts, defaults, choices and metavars (those ``geogan COMMAND --help`` prints).

sphinx-click reads help texts as reStructuredText, where plain help such as "below |v|" is
markup (a substitution): the characters reStructuredText would take for markup are escaped,
so the page shows the text ``--help`` prints.
"""

from __future__ import annotations

import re
from typing import Literal, get_args, get_origin

import click
import typer.main

from geogan.cli import app


_RST_MARKUP = re.compile(r"([\\`*|])|(?<=\w)_(?=\s|$|[.,;:)])")


def _rst(text: str | None) -> str | None:
    """Plain help text made literal for reStructuredText (``|v|`` is not a substitution)."""
    return _RST_MARKUP.sub(lambda m: "\\" + m.group(0), text) if text else text


def _escape_help(command: click.Command) -> click.Command:
    command.help, command.short_help, command.epilog = (
        _rst(command.help), _rst(command.short_help), _rst(command.epilog))
    for param in command.params:
        if getattr(param, "help", None):
            param.help = _rst(param.help)
    for sub in getattr(command, "commands", {}).values():
        _escape_help(sub)
    return command


def _help_record(param, ctx) -> tuple[str, str]:
    try:
        return param.get_help_record(ctx) or ("", "")
    except Exception:  # noqa: BLE001 - the record only supplies a metavar; fall back to the name
        return ("", "")


def _metavar(param, ctx) -> str | None:
    """The argument's placeholder as ``--help`` prints it (``<int>``, ``<alad|vae|...>``)."""
    shown = re.search(r"<([^<>]*)>$", _help_record(param, ctx)[0])
    if not shown:
        return None
    # a repeatable option's <list[float]>: sphinx-click would cut the bracket, and the help says
    # "repeatable"
    return "<" + re.sub(r"^(?:list|tuple)\[(.*)\]$", r"\1", shown.group(1)) + ">"


def _choices(param) -> list[str]:
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if get_origin(annotation) is Literal:
        return [str(v) for v in get_args(annotation)]
    return [str(v) for v in getattr(getattr(param, "type", None), "choices", None) or []]


def _option(param, ctx) -> click.Option:
    primary, secondary = list(param.opts), list(param.secondary_opts)
    decls = [param.name] + [f"{p}/{s}" for p, s in zip(primary, secondary)] + primary[len(secondary):]
    kwargs = dict(help=param.help, default=param.default, show_default=param.show_default,
                  required=param.required, hidden=param.hidden, multiple=param.multiple)
    if param.is_flag:
        kwargs["is_flag"] = True
    else:
        choices = _choices(param)
        kwargs["type"] = click.Choice(choices) if choices else click.STRING
        kwargs["metavar"] = _metavar(param, ctx)
    return click.Option(decls, **kwargs)


def _argument(param, ctx) -> click.Argument:
    arg = click.Argument([param.name], required=param.required, nargs=param.nargs,
                         metavar=param.metavar or param.name.upper())
    arg.help = param.help  # read by sphinx-click, as typer's own arguments carry it
    return arg


def _to_click(command, parent=None) -> click.Command:
    if isinstance(command, click.Command):
        return command
    from typer._click.core import Context  # typer >= 0.29 only

    ctx = Context(command, info_name=command.name, parent=parent)
    params = [_option(p, ctx) if hasattr(p, "is_flag") else _argument(p, ctx) for p in command.params]
    kwargs = dict(name=command.name, params=params, help=command.help, epilog=command.epilog,
                  short_help=command.short_help, hidden=command.hidden,
                  deprecated=bool(getattr(command, "deprecated", False)))
    if hasattr(command, "commands"):
        subcommands = {name: _to_click(sub, ctx) for name, sub in command.commands.items()}
        return click.Group(commands=subcommands, **kwargs)
    return click.Command(**kwargs)


command = _escape_help(_to_click(typer.main.get_command(app)))
