"""What an artifact file looks like in the page: its kind, and the part of it a preview shows."""

from __future__ import annotations

import csv
import io
import json
import posixpath
from typing import Any

from markdown_it import MarkdownIt

PREVIEW_BYTES = 1 << 20  # the page previews the first MiB of a file
CSV_ROWS = 200

_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
_KIND_BY_TYPE = {"system.HTML": "html", "system.Markdown": "markdown"}
_KIND_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
}

# For HTML and Markdown shown in the page: no script at all, and nothing loaded from anywhere.
SANDBOX_POLICY = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def image_type(head: bytes) -> str | None:
    """The media type of a PNG, JPEG, GIF or WebP image from its first bytes; SVG is not one (it may
    carry script)."""
    for magic, media_type in _IMAGE_MAGIC.items():
        if head.startswith(magic):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def kind(path: str, artifact_type: str, head: bytes) -> str:
    """How the page shows a file: html, markdown, image, csv, json, text or binary."""
    if artifact_type in _KIND_BY_TYPE:
        return _KIND_BY_TYPE[artifact_type]
    if image_type(head):
        return "image"
    text = _text(head)
    if text is None:
        return "binary"
    by_suffix = _KIND_BY_SUFFIX.get(posixpath.splitext(path)[1].lower())
    if by_suffix:
        return by_suffix
    stripped = text.lstrip()
    if stripped[:1] in ("{", "[") and _parses_as_json(text):
        return "json"
    return "csv" if _looks_like_csv(text) else "text"


def preview(file_kind: str, head: bytes, size: int) -> dict[str, Any]:
    """The JSON the page renders for a file of `file_kind` whose first bytes are `head`."""
    truncated = size > len(head)
    shown: dict[str, Any] = {"kind": file_kind, "size": size, "truncated": truncated}
    text = _text(head)
    if file_kind == "csv" and text is not None:
        rows = _csv_rows(text, drop_last=truncated)
        shown["rows"] = rows[: CSV_ROWS + 1]
        shown["more_rows"] = truncated or len(rows) > CSV_ROWS + 1
    elif file_kind == "json" and text is not None and not truncated and _parses_as_json(text):
        shown["text"] = json.dumps(json.loads(text), indent=2)
    elif file_kind in ("text", "json") and text is not None:
        shown["text"] = text
    return shown


def markdown_page(text: str) -> str:
    """Markdown as a page of its own; raw HTML in it is shown as text, never run."""
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    return (
        '<!doctype html><html><head><meta charset="utf-8"><style>'
        "body{font:14px/1.5 system-ui,sans-serif;margin:12px;color:#222}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
        "pre{background:#f4f4f4;padding:6px;overflow:auto}"
        f"</style></head><body>{body}</body></html>"
    )


def _text(data: bytes) -> str | None:
    """The bytes as UTF-8 text (a character cut at the end of a preview is forgiven), or None."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8")
        return None


def _parses_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _looks_like_csv(text: str) -> bool:
    """Several lines with the same number of commas (or tabs), at least one."""
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) < 2:
        return False
    for separator in (",", "\t"):
        counts = {line.count(separator) for line in lines}
        if len(counts) == 1 and counts != {0}:
            return True
    return False


def _csv_rows(text: str, drop_last: bool) -> list[list[str]]:
    if drop_last:  # the preview may end inside a row
        text = text[: text.rfind("\n") + 1]
    separator = "\t" if text.count("\t") > text.count(",") else ","
    return list(csv.reader(io.StringIO(text), delimiter=separator))
