"""Options every command shares: `-p NAME=VALUE`, `--config FILE`, `--print-config`, and the field flags.

A settings file is loaded by an eager `--config` callback into click's `default_map`, so its values act as the
command's defaults: converted by the same option types, and overridden by any flag given on the command line.
Its `params` section and the `-p` assignments become two layers of component parameters (file, then command
line), and shared scorer/target options (`--model`, `--embedder`, ...) join the layer they came from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from click.core import ParameterSource
from rich.console import Console
from rich.markup import escape

from thresher.components import Assignment, parse_assignment, shared_layer
from thresher.config import load_settings
from thresher.errors import ThresherError

stdout = Console()
stderr = Console(stderr=True)

USER_ERROR_EXIT = 2


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a `ThresherError` into one line on stderr and exit code 2; Ctrl-C into exit code 130."""
    try:
        yield
    except ThresherError as error:
        stderr.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(USER_ERROR_EXIT) from None
    except KeyboardInterrupt:
        stderr.print("interrupted; rerun the same command to resume", highlight=False)
        raise typer.Exit(130) from None


_CONFIG_PARAMS = "thresher.config_params"
# Options of a command that a settings file cannot set.
_NOT_SETTINGS = {"config", "param", "print_config"}


def _load_config(ctx: typer.Context, value: Path | None) -> Path | None:
    if value is None:
        return None
    command = ctx.info_name or ""
    allowed = {param.name for param in ctx.command.params if param.name and param.name not in _NOT_SETTINGS}
    with user_errors():  # runs while click parses, outside the command's own handler
        settings = load_settings(value, command, allowed)
    multiple = {param.name for param in ctx.command.params if getattr(param, "multiple", False)}
    defaults = {
        name: ",".join(map(str, option)) if isinstance(option, list) and name not in multiple else option
        for name, option in settings.options.items()
    }
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    ctx.meta[_CONFIG_PARAMS] = settings.params
    return value


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Settings file (YAML; or a manifest / results.json to repeat a run); flags override it.",
        is_eager=True,
        callback=_load_config,
    ),
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "-p",
        "--param",
        help="Component parameter NAME=VALUE (component.NAME for one component), repeatable.",
        metavar="NAME=VALUE",
    ),
]
PrintConfigOption = Annotated[
    bool, typer.Option("--print-config", help="Print the resolved settings as YAML and stop.")
]


def param_layers(
    ctx: typer.Context,
    params: Sequence[str] | None,
    shared: Mapping[str, Any] | None = None,
    flags: Mapping[str, str] | None = None,
) -> list[list[Assignment]]:
    """[settings-file layer, command-line layer] of component parameters, shared options in the layer they came
    from (a value from the settings file, or a flag)."""
    file_layer = list(ctx.meta.get(_CONFIG_PARAMS, []))
    command_line = [parse_assignment(text) for text in params or ()]
    for name, value in (shared or {}).items():
        if value is None:
            continue
        layer = file_layer if ctx.get_parameter_source(name) is ParameterSource.DEFAULT_MAP else command_line
        layer.extend(shared_layer({name: value}, flags or {}))
    return [file_layer, command_line]


def print_settings(command: str, settings: Mapping[str, Any]) -> None:
    """The resolved settings as a settings file (YAML) on stdout."""
    import yaml

    click.echo(yaml.safe_dump({command: dict(settings)}, sort_keys=False, allow_unicode=True), nl=False)
