"""Pipeline YAML text to plain documents, safely: no aliases, bounded nesting, one-line errors.

kfp writes plain YAML: no anchors used, no merge keys, no custom tags. An alias lets a small file expand
into gigabytes once something walks it (a tree of aliases nested a few levels deep), and a recursive
anchor makes a structure no JSON or protobuf code can walk, so aliases and merge keys are refused.
libyaml's own composer recurses in C on nesting and overflows the C stack on a deeply nested file, which
kills the process (the UI's inspect route included), so the document is built here from libyaml's
events with an explicit stack and a bounded depth.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from runner.errors import SpecError

# Far deeper than any pipeline (kfp nests a handful of levels per DAG); far shallower than C's stack.
MAX_DEPTH = 256

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_Parser: Any = getattr(yaml, "CSafeLoader", None)


class _Scalars:
    """Plain and tagged scalars to Python values exactly as yaml.safe_load makes them."""

    def __init__(self) -> None:
        self.constructor = SafeConstructor()
        self.plain: dict[str, Any] = {}  # pipelines repeat the same few plain scalars many times

    def tag_of_plain(self, value: str) -> str:
        table = Resolver.yaml_implicit_resolvers
        for tag, pattern in [*table.get(value[:1], []), *table.get(None, [])]:
            if pattern.match(value):
                return str(tag)
        return _STR

    def value(self, event: yaml.ScalarEvent, source: str) -> Any:
        plain = event.implicit[0] and event.tag in (None, "!")
        if plain:
            try:
                return self.plain[event.value]
            except KeyError:
                pass
            tag = self.tag_of_plain(event.value)
        elif event.tag in (None, "!"):
            return event.value
        else:
            tag = event.tag
        if tag == _STR:
            result: Any = event.value
        elif tag == _MERGE:
            raise SpecError("YAML merge keys ('<<') are not allowed in pipeline files", _where(source, event))
        elif tag in self.constructor.yaml_constructors and tag not in (_MAP, _SEQ):
            node = ScalarNode(tag, event.value, style=event.style)  # errors are placed by the caller
            try:
                result = self.constructor.yaml_constructors[tag](self.constructor, node)
            except (yaml.YAMLError, ValueError) as exc:
                problem = f"bad {tag.rsplit(':', 1)[-1]} value {event.value!r}: {exc}"
                raise SpecError(problem, _where(source, event)) from None
        else:
            raise SpecError(f"YAML tag {tag!r} is not allowed in pipeline files", _where(source, event))
        if plain:
            self.plain[event.value] = result
        return result


class PlainDumper(yaml.SafeDumper):
    """yaml.safe_dump's output without aliases: an object used twice in a document is written out twice."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_documents(*documents: Any) -> str:
    """Documents as YAML text that `parse_documents` reads back (keys in their order, no aliases)."""
    return yaml.dump_all(documents, Dumper=PlainDumper, sort_keys=False)


def _where(source: str, event: yaml.Event) -> str:
    mark = event.start_mark
    return f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source


def _check_collection_tag(event: yaml.Event, default: str, source: str) -> None:
    tag = getattr(event, "tag", None)
    if tag not in (None, "!", default):
        raise SpecError(f"YAML tag {tag!r} is not allowed in pipeline files", _where(source, event))


def parse_documents(text: str, source: str) -> list[Any]:
    """Every document of a YAML stream as plain data (dict, list, str, int, float, bool, None...)."""
    # Without libyaml, PyYAML's own parser: slower, and like libyaml's it keeps its nesting on a list.
    return _documents(_Parser(text) if _Parser is not None else yaml.SafeLoader(text), source)


def _documents(parser: Any, source: str) -> list[Any]:
    scalars = _Scalars()
    documents: list[Any] = []
    # The open collections, innermost last: [the dict or list, the key read for a dict's next value, its
    # start event]. Types are compared exactly: this loop runs once for every node of the file.
    stack: list[list[Any]] = []
    scalar, mapping_start, sequence_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    plain = scalars.plain
    try:
        while True:
            event = parser.get_event()
            kind = type(event)
            if kind is scalar:
                if event.tag is None and event.value in plain and event.implicit[0]:
                    value: Any = plain[event.value]
                elif event.tag is None and not event.implicit[0]:  # quoted, untagged: a string
                    value = event.value
                else:
                    value = scalars.value(event, source)
            elif kind is mapping_start or kind is sequence_start:
                if len(stack) >= MAX_DEPTH:
                    raise SpecError(f"nested deeper than {MAX_DEPTH} levels", _where(source, event))
                is_map = kind is mapping_start
                if event.tag not in (None, "!"):
                    _check_collection_tag(event, _MAP if is_map else _SEQ, source)
                stack.append([{} if is_map else [], _NO_KEY, event])
                continue
            elif kind in ends:
                value, _, event = stack.pop()  # errors below point at where the collection starts
            elif kind is yaml.AliasEvent:
                raise SpecError(
                    f"YAML alias *{event.anchor} is not allowed in pipeline files (kfp never writes one)",
                    _where(source, event),
                )
            elif kind is yaml.StreamEndEvent:
                return documents
            else:  # stream and document starts and ends
                continue
            if not stack:
                documents.append(value)
                continue
            top = stack[-1]
            collection = top[0]
            if type(collection) is list:
                collection.append(value)
            elif top[1] is _NO_KEY:
                if isinstance(value, list | dict):
                    raise SpecError("a collection used as a mapping key", _where(source, event))
                top[1] = value
            else:
                collection[top[1]] = value
                top[1] = _NO_KEY
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"malformed YAML: {problem}", where) from None
    finally:
        dispose = getattr(parser, "dispose", None)
        if dispose is not None:
            dispose()


_NO_KEY: Any = object()
