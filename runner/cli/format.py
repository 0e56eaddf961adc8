"""Renderings shared by the CLI commands: human-readable values, tables, and JSON or YAML for scripts."""

from __future__ import annotations

import datetime
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click
import yaml

F = TypeVar("F", bound=Callable[..., Any])
# kubectl's habit: a table, a table with more columns, or the whole record for scripts.
OUTPUTS = ("table", "wide", "json", "yaml")
MACHINE_OUTPUTS = ("json", "yaml")
_COLUMN_GAP = "  "


def output_option(command: F) -> F:
    """The `-o/--output` option of a command that prints records."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(OUTPUTS),
        default="table",
        show_default=True,
        help="A table, a wider one with more columns, or JSON or YAML for scripts (times in ISO 8601, UTC).",
    )(command)


def when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else "-"


def iso(timestamp: float | None) -> str | None:
    """A time for scripts: ISO 8601 in UTC, with its offset."""
    if not timestamp:
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat(timespec="milliseconds")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def size(num_bytes: int | None) -> str:
    if num_bytes is None:
        return "-"
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def values(mapping: dict[str, Any], limit: int | None = 60) -> str:
    """`a=1, b="x"`, shortened to `limit` characters when one is given."""
    text = ", ".join(f"{k}={json.dumps(v)}" for k, v in mapping.items())
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def digest(value: str) -> str:
    """A content digest as git shows a commit: its first 12 hex digits, enough to tell versions apart."""
    return value.removeprefix("sha256:")[:12] or "-"


def on_terminal() -> bool:
    return sys.stdout.isatty()


def emit(data: Any, output: str) -> None:
    """Print `data` as JSON or YAML."""
    if output == "json":
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1 << 20), nl=False)


def line(text: str, style: str = "") -> None:
    """One line, styled on a terminal; never wrapped, and never read as markup (names and errors come from
    pipeline files and containers)."""
    if on_terminal():  # rich loads only here and in `table`: piped output and the live view's text need none
        from rich.console import Console
        from rich.markup import escape

        shown = f"[{style}]{escape(text)}[/]" if style else escape(text)
        Console(soft_wrap=True, highlight=False).print(shown)
    else:
        click.echo(text)


def table(columns: Sequence[str], rows: Iterable[Sequence[str]], *, fit: bool = True) -> None:
    """A table: with `fit`, fitted to a terminal's width; piped, or without `fit` (`-o wide`, as kubectl's),
    every cell whole in aligned columns, so that `grep` and `awk` find what they look for."""
    if fit and on_terminal():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        shown = Table(box=None)
        for column in columns:
            shown.add_column(column, no_wrap=column == "component")  # a digest cut short names no version
        for row in rows:
            shown.add_row(*(Text(cell) for cell in row))
        Console().print(shown)
        return
    cells = [list(columns), *([cell.replace("\n", " ") for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        click.echo(
            _COLUMN_GAP.join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
