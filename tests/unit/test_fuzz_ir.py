"""Hostile input: random and mutated IR documents, fed to the loader and then to the engine.

Every outcome must be a loaded pipeline and a finished run, or one of flow's own errors with a one-line
message: never another exception (a traceback for the user), a hang, or a run left unfinished.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runner
from backends.fake import FakeBackend
from runner.errors import FlowError, SpecError
from runner.spec import load_text
from runner.spec.schema import pipeline_schema
from runner.spec.yamldoc import PlainDumper, parse_documents
from runner.store import SQLiteStore

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "kfp-corpus" / "pipelines"
SEEDS = sorted(CORPUS.glob("*.yaml"))[:12]
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["..", "../x", "/etc/passwd", "{{$}}", "{{$.inputs.parameters['x']}}", "comp-x", "a/b"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def kfp_rejects(document: Any) -> bool:
    """Whether protobuf's own JSON parser refuses the document as KFP reads it: a PipelineSpec whose
    deploymentSpec is a PipelineDeploymentConfig."""
    pb = pipeline_schema()
    try:
        json_format.ParseDict(document, pb.PipelineSpec())
        deployment = document.get("deploymentSpec")
        if deployment is not None:
            json_format.ParseDict(deployment, pb.PipelineDeploymentConfig())
    except Exception:  # ParseError mostly; TypeError, OverflowError... for odd values: refused all the same
        return True
    return False


def assert_flow_error(exc: FlowError) -> None:
    message = str(exc)
    assert message and "\n" not in message, f"not one line: {message!r}"


@FUZZ
@given(document=values)
def test_random_documents_load_or_fail_with_flow_errors(document: Any) -> None:
    try:
        load_text(yaml.safe_dump(document))
    except FlowError as exc:
        assert_flow_error(exc)


@FUZZ
@given(text=st.text(max_size=300))
def test_random_text_loads_or_fails_with_flow_errors(text: str) -> None:
    try:
        load_text(text)
    except FlowError as exc:
        assert_flow_error(exc)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a parsed document: keys of mappings and indexes of lists, depth first."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += paths(child, (*prefix, index))
    return found


def mutate(document: dict[str, Any], place: tuple[Any, ...], action: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    parent = changed
    for step in place[:-1]:
        parent = parent[step]
    last = place[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = value
    elif isinstance(parent, dict):  # rename the key: a reference that no longer resolves, or a new name
        parent[str(value)[:20] or "x"] = parent.pop(last)
    return changed


@pytest.mark.skipif(not SEEDS, reason="the shared kfp corpus is not next to the checkout")
@FUZZ
@given(data=st.data())
def test_mutated_kfp_pipelines_load_and_run_or_fail_with_flow_errors(
    data: st.DataObject, tmp_path: Path
) -> None:
    seed = data.draw(st.sampled_from(SEEDS))
    document = yaml.safe_load(seed.read_text())
    place = data.draw(st.sampled_from(paths(document)))
    action = data.draw(st.sampled_from(["delete", "replace", "rename"]))
    mutated = mutate(document, place, action, data.draw(values))
    workdir = tmp_path / f"run-{data.draw(st.integers(0, 10**9))}"
    if kfp_rejects(mutated):
        with pytest.raises(SpecError) as refused:
            load_text(yaml.safe_dump(mutated, sort_keys=False))
        assert_flow_error(refused.value)
        return
    try:
        spec = load_text(yaml.safe_dump(mutated, sort_keys=False))
        with SQLiteStore(workdir / "flow.db") as store:
            result = runner.run(spec, backend=FakeBackend(), root=workdir / "root", store=store)
            assert result.state.finished, f"run left {result.state} after {action} at {place}"
    except FlowError as exc:
        assert_flow_error(exc)


def misspelled(name: str, data: st.DataObject) -> str:
    """A slip of the keyboard: a letter dropped, doubled, swapped with the next or in the other case, or
    the name in snake_case (protobuf's own name for the field, which kfp never writes)."""
    at = data.draw(st.integers(0, max(0, len(name) - 1)))
    slips = [
        name[:at] + name[at + 1 :],
        name[:at] + name[at : at + 1] * 2 + name[at + 1 :],
        name[:at] + name[at + 1 : at + 2] + name[at : at + 1] + name[at + 2 :],
        name[:at] + name[at : at + 1].swapcase() + name[at + 1 :],
        "".join(f"_{c.lower()}" if c.isupper() else c for c in name),
    ]
    return data.draw(st.sampled_from([slip for slip in slips if slip and slip != name] or ["x"]))


@pytest.mark.skipif(not SEEDS, reason="the shared kfp corpus is not next to the checkout")
@FUZZ
@given(data=st.data())
def test_misspelled_field_names_are_refused_where_kfp_refuses_them(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(SEEDS))
    document = yaml.safe_load(seed.read_text())
    place = data.draw(st.sampled_from([p for p in paths(document) if isinstance(p[-1], str)]))
    mutated = mutate(document, place, "rename", misspelled(place[-1], data))
    text = yaml.safe_dump(mutated, sort_keys=False)
    if kfp_rejects(mutated):
        with pytest.raises(SpecError) as refused:
            load_text(text)
        assert_flow_error(refused.value)
        return
    try:  # kfp takes it (a renamed task, component or input): flow may still find a reference broken
        load_text(text)
    except FlowError as exc:
        assert_flow_error(exc)


def at(document: Any, place: tuple[Any, ...]) -> Any:
    for step in place:
        document = document[step]
    return document


@pytest.mark.skipif(not SEEDS, reason="the shared kfp corpus is not next to the checkout")
@FUZZ
@given(data=st.data())
def test_yaml_aliases_and_recursive_anchors_are_refused(data: st.DataObject) -> None:
    """One part of a pipeline put in a second place (PyYAML writes an anchor and an alias), possibly inside
    itself (a recursive anchor): refused in one line, whatever the part and the place."""
    seed = data.draw(st.sampled_from(SEEDS))
    document = yaml.safe_load(seed.read_text())
    shared = [p for p in paths(document) if isinstance(at(document, p), dict | list)]
    source = data.draw(st.sampled_from(shared))
    target = data.draw(
        st.sampled_from([p for p in paths(document) if p[: len(source)] != source or p != source])
    )
    parent = at(document, target[:-1])
    parent[target[-1]] = at(document, source)
    text = yaml.safe_dump(document, sort_keys=False)
    if "*id" not in text:  # the shared part replaced its only other place
        return
    with pytest.raises(SpecError, match="YAML alias") as refused:
        load_text(text)
    assert_flow_error(refused.value)


@FUZZ
@given(document=values, flow_style=st.booleans())
def test_the_pipeline_yaml_reader_reads_what_pyyaml_reads(document: Any, flow_style: bool) -> None:
    """flow reads YAML from libyaml's events itself (runner/spec/yamldoc.py): the same values as PyYAML's
    safe loader, for every kind of scalar and nesting either style writes."""
    text = yaml.dump(document, Dumper=PlainDumper, default_flow_style=flow_style)
    (read,) = parse_documents(text, "<fuzz>")
    assert yaml.safe_dump(read) == yaml.safe_dump(yaml.safe_load(text))  # as text: NaN is not NaN
