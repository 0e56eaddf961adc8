"""Store URLs (FLOW_STORE): which store a URL names, and how to show one without its password."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

from backends.extras import missing_extra
from runner.errors import UsageError
from runner.store.base import Store
from runner.store.sqlite import SQLiteStore

POSTGRES_SCHEMES = ("postgresql", "postgres")
_FORMS = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:///PATH"
# A password in libpq's keyword form (`host=db password=secret`, or quoted: password='a b'), which is not
# a URL but is what a user may write.
_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)", re.IGNORECASE)


def hide_password(url: str) -> str:
    """The URL with any password (in its user part, its query, or a keyword form) shown as ***."""
    if "://" not in url:
        return _KEYWORD_PASSWORD.sub(r"\1***", url)
    parts = urllib.parse.urlsplit(url)
    in_query = "password" in urllib.parse.parse_qs(parts.query)
    if parts.password is None and not in_query:
        return url  # as given: splitting and joining again would drop an empty host (sqlite:///PATH)
    netloc, query = parts.netloc, parts.query
    if parts.password is not None:
        user_info, _, host = netloc.rpartition("@")
        netloc = f"{user_info.partition(':')[0]}:***@{host}"
    if in_query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = urllib.parse.urlencode([(k, "***" if k == "password" else v) for k, v in pairs], safe="*")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def sqlite_path(url: str) -> Path:
    """The file a sqlite: URL names: sqlite:///abs/path.db (as a file: URL), or sqlite:relative.db."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc or not parts.path or parts.query:
        raise UsageError(f"expected sqlite:///PATH, got {url!r}", "FLOW_STORE")
    return Path(urllib.parse.unquote(parts.path)).expanduser()


def open_url(url: str) -> Store:
    """The store a URL names: PostgreSQL (postgresql:// or postgres://) or a SQLite file (sqlite:///PATH).

    A URL of another kind is a UsageError; a store that cannot be reached or opened is a StoreError.
    """
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in POSTGRES_SCHEMES:
        missing = missing_extra("psycopg", "postgres", "a PostgreSQL store")
        if missing:
            raise UsageError(missing, "FLOW_STORE")
        from runner.store.postgres import PostgresStore  # psycopg is loaded only for a PostgreSQL store

        return PostgresStore(url)
    if scheme == "sqlite":
        return SQLiteStore(sqlite_path(url))
    raise UsageError(f"not a store URL: {hide_password(url)!r} (expected {_FORMS})", "FLOW_STORE")
