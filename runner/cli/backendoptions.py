"""The options of the backends, made from their settings dataclasses (backends.settings) for the commands
that make a backend, and shown in their help grouped by the backends that take them.

Options are made when a command is used, not when `flow` starts: declaring them loads every backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from backends.settings import Kind
from runner.config import load_config, parse_image_map
from runner.errors import UsageError
from runner.plugins import Declared, declared_settings
from runner.selection import CLUSTER, LOCAL

SETTINGS_ARGUMENT = "backend_settings"


class BackendOptionsCommand(click.Command):
    """A command that takes the backends' options too, handed to its callback as one dict argument
    (`backend_settings`) of those given; `backend_fields` limits them to some settings."""

    def __init__(self, *args: Any, backend_fields: tuple[str, ...] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fields = backend_fields
        self._made: dict[str, tuple[click.Option, Declared]] | None = None

    def _backend_options(self) -> dict[str, tuple[click.Option, Declared]]:
        if self._made is None:
            self._made = {
                item.name: (_option(item), item)
                for item in declared_settings()
                if item.option.cli and (self._fields is None or item.name in self._fields)
            }
            self.params.extend(option for option, _ in self._made.values())
        return self._made

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        self._backend_options()
        return super().get_params(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        given = {}
        for name in self._backend_options():
            value = ctx.params.pop(name, None)
            if value not in (None, (), False):
                given[name] = value
        ctx.params[SETTINGS_ARGUMENT] = given
        return super().invoke(ctx)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        made = self._backend_options()
        theirs = {id(option) for option, _ in made.values()}
        own = [param.get_help_record(ctx) for param in self.get_params(ctx) if id(param) not in theirs]
        with formatter.section("Options"):
            formatter.write_dl([record for record in own if record is not None])
        groups: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        for option, item in made.values():
            record = option.get_help_record(ctx)
            if record is not None:
                groups.setdefault(item.backends, []).append(record)
        for backends, records in groups.items():
            with formatter.section(
                f"Options of the {' and '.join(backends)} backend{'s' * (len(backends) > 1)}"
            ):
                formatter.write_dl(records)


def _option(item: Declared) -> click.Option:
    flag = f"--{item.name.replace('_', '-')}"
    option = item.option
    if option.kind == Kind.FLAG:
        return click.Option([flag], is_flag=True, help=option.help)
    if option.kind == Kind.CHOICE:
        return click.Option(
            [flag], type=click.Choice(option.choices), metavar=option.metavar, help=option.help
        )
    if option.kind == Kind.SECONDS:
        return click.Option([flag], type=click.FloatRange(min=0), metavar="SECONDS", help=option.help)
    if option.kind == Kind.IMAGE_MAP:
        return click.Option([flag], multiple=True, metavar=option.metavar, help=option.help)
    return click.Option([flag], metavar=option.metavar, help=option.help)


def backend_option_values(given: Mapping[str, Any]) -> dict[str, Any]:
    """The backend settings of a command: the config files', under those given on the command line; an
    image map given adds to theirs."""
    values = dict(load_config().backend)
    kinds = {item.name: item.option.kind for item in declared_settings()}
    for name, value in given.items():
        if kinds.get(name) == Kind.IMAGE_MAP:
            values[name] = {**values.get(name, {}), **parse_image_map(list(value))}
        else:
            values[name] = value
    return values


def check_backend_settings(given: Mapping[str, Any], backend: str, where: str) -> None:
    """Refuse the options that only backends other than `backend` take (`local` is Docker or processes).
    The options several backends share are for any: a backend that runs no images ignores an image map."""
    candidates = {"docker", "process"} if backend == LOCAL else {backend}
    declared = {item.name: item.backends for item in declared_settings()}
    for name in given:
        backends = declared.get(name, ())
        if len(backends) == 1 and backends[0] not in candidates:
            only = "--cluster" if backends[0] == CLUSTER else f"--backend {backends[0]}"
            raise UsageError(f"--{name.replace('_', '-')}: only for {only}", where)


def given_flags(given: Mapping[str, Any]) -> list[str]:
    """The options of `given`, as they were written."""
    return [f"--{name.replace('_', '-')}" for name in given]
