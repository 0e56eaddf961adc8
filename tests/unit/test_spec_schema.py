"""What Kubeflow would refuse, flow refuses at load: KFP's schema, flow's references, safe YAML.

Every case is one line naming the place; the CLI's exit code and that nothing starts are in
tests/integration/test_cli.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format, struct_pb2, type_pb2
from irbuild import Pipeline, const, from_input, task

from runner.errors import ParameterError, SpecError
from runner.spec import load_text
from runner.spec.parameters import bind
from runner.spec.schema import Checker, SchemaError, kubernetes_schema, pipeline_schema

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "kfp-corpus" / "pipelines"
LOOPS = CORPUS / "pipeline_with_parallelfor_pipeline_param.yaml"


def loop() -> dict[str, Any]:
    """A ParallelFor over a pipeline input, as kfp compiles it."""
    doc = (
        Pipeline("loop")
        .container("comp-echo", inputs={"item": "STRING"})
        .dag(
            "comp-for-loop-1",
            {"echo": task("comp-echo", item=from_input("loop-item"))},
            inputs={"loop-item": "STRING", "items": "LIST"},
        )
        .root({"for-loop-1": task("comp-for-loop-1", items=from_input("items"))}, inputs={"items": "LIST"})
        .doc
    )
    doc["root"]["dag"]["tasks"]["for-loop-1"]["parameterIterator"] = {
        "itemInput": "loop-item",
        "items": {"inputParameter": "items"},
    }
    return doc


def simple() -> dict[str, Any]:
    return (
        Pipeline("simple")
        .container("comp-step", inputs={"n": "NUMBER_INTEGER"})
        .root({"step": task("comp-step", n=from_input("n"))}, inputs={"n": "NUMBER_INTEGER"})
        .doc
    )


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as info:
        load_text(text, "p.yaml")
    message = str(info.value)
    assert "\n" not in message and message.startswith("p.yaml"), message
    return message


def dumped(doc: Any, platform: Any = None) -> str:
    text = yaml.safe_dump(doc, sort_keys=False)
    return text if platform is None else text + "---\n" + yaml.safe_dump(platform, sort_keys=False)


def test_a_misspelled_field_is_refused_with_the_nearest_name() -> None:
    doc = simple()
    doc["root"]["dag"]["tasks"]["step"]["cachingOptons"] = {"enableCache": True}
    message = error_of(dumped(doc))
    assert "root.dag.tasks.step.cachingOptons: unknown field" in message
    assert "did you mean 'cachingOptions'?" in message


def test_a_snake_case_field_name_is_refused_with_its_json_name() -> None:
    doc = simple()
    doc["components"]["comp-step"]["executor_label"] = doc["components"]["comp-step"].pop("executorLabel")
    message = error_of(dumped(doc))
    assert "components.comp-step.executor_label: unknown field" in message
    assert "did you mean 'executorLabel'?" in message


def test_the_deployment_spec_is_checked_as_kfp_reads_it() -> None:
    """PipelineSpec holds deploymentSpec as a Struct; KFP's driver reads it as a PipelineDeploymentConfig."""
    doc = simple()
    container = doc["deploymentSpec"]["executors"]["exec-comp-step"]["container"]
    container["imagee"] = container.pop("image")
    message = error_of(dumped(doc))
    assert "deploymentSpec.executors.exec-comp-step.container.imagee: unknown field" in message
    assert "did you mean 'image'?" in message


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"maxRetryCount": "many"}, "retryPolicy.maxRetryCount: expected an integer, got 'many'"),
        ({"backoffDuration": "soon"}, "retryPolicy.backoffDuration: expected a duration"),
        ({"maxRetryCount": 2**40}, "retryPolicy.maxRetryCount: integer 1099511627776 is out of range"),
        ({"maxRetryCount": -1}, "retryPolicy.maxRetryCount: a retry count cannot be negative"),
        ({"backoffFactor": "Infinity"}, "retryPolicy.backoffFactor: a backoff factor is a finite number"),
        ({"backoffMaxDuration": "-5s"}, "retryPolicy.backoffMaxDuration: a backoff cannot be negative"),
    ],
)
def test_a_garbage_retry_policy_is_refused(policy: dict[str, Any], expected: str) -> None:
    doc = simple()
    doc["root"]["dag"]["tasks"]["step"]["retryPolicy"] = policy
    assert expected in error_of(dumped(doc))


def test_a_retry_policy_as_kfp_writes_it_loads() -> None:
    doc = simple()
    policy = {"maxRetryCount": 3, "backoffDuration": "1.5s", "backoffFactor": 2, "backoffMaxDuration": "60s"}
    doc["root"]["dag"]["tasks"]["step"]["retryPolicy"] = policy
    retry = load_text(dumped(doc)).root.dag.tasks["step"].retry  # type: ignore[union-attr]
    assert retry is not None and (retry.max_retries, retry.backoff_seconds, retry.backoff_max_seconds) == (
        3,
        1.5,
        60.0,
    )


def test_a_loop_over_an_input_that_does_not_exist_is_refused() -> None:
    doc = loop()
    doc["root"]["dag"]["tasks"]["for-loop-1"]["parameterIterator"]["items"]["inputParameter"] = "nope"
    message = error_of(dumped(doc))
    assert "root.dag.tasks.for-loop-1.parameterIterator.items.inputParameter" in message
    assert "the loop task has no input parameter 'nope'" in message


def test_a_loop_item_that_its_body_does_not_take_is_refused() -> None:
    doc = loop()
    doc["root"]["dag"]["tasks"]["for-loop-1"]["parameterIterator"]["itemInput"] = "nope"
    message = error_of(dumped(doc))
    assert "parameterIterator.itemInput: component 'comp-for-loop-1' has no input parameter 'nope'" in message


def test_raw_loop_items_that_are_not_a_json_list_are_refused() -> None:
    doc = loop()
    doc["root"]["dag"]["tasks"]["for-loop-1"]["parameterIterator"]["items"] = {"raw": '{"a": 1}'}
    assert "items.raw: the items to loop over are not a JSON list" in error_of(dumped(doc))


def test_an_iterator_and_its_oneof_sibling_are_refused_together() -> None:
    doc = loop()
    doc["root"]["dag"]["tasks"]["for-loop-1"]["artifactIterator"] = {
        "itemInput": "x",
        "items": {"inputArtifact": "y"},
    }
    message = error_of(dumped(doc))
    assert "'parameterIterator' and 'artifactIterator' are set, and only one of them may be" in message


@pytest.mark.parametrize("version", ["9.0.0", "2.2.0", "2.1", 2.1, None])
def test_a_schema_version_kfp_does_not_write_is_refused(version: Any) -> None:
    doc = simple()
    doc["schemaVersion"] = version
    if version is None:
        del doc["schemaVersion"]
    message = error_of(dumped(doc))
    assert "schemaVersion" in message


@pytest.mark.parametrize("version", ["2.0.0", "2.1.0", "2.1.7"])
def test_the_schema_versions_kfp_writes_load(version: str) -> None:
    doc = simple()
    doc["schemaVersion"] = version
    assert load_text(dumped(doc)).name == "simple"


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ({"platforms": [1, 2, 3]}, "platform spec: platforms: expected a mapping, got a list"),
        ([1, 2], "p.yaml: platform spec: expected a mapping (PlatformSpec), got a list"),
        ({"platform": {}}, "platform spec: platform: unknown field 'platform'"),
        (
            {
                "platforms": {
                    "kubernetes": {"deploymentSpec": {"executors": {"exec-comp-step": {"secretAsEnvv": []}}}}
                }
            },
            "executors.exec-comp-step.secretAsEnvv: unknown field",
        ),
        (
            {
                "platforms": {
                    "kubernetes": {"deploymentSpec": {"executors": {"exec-comp-step": {"nodeSelector": 3}}}}
                }
            },
            "executors.exec-comp-step.nodeSelector: expected a mapping (NodeSelector), got an integer",
        ),
    ],
)
def test_a_garbage_platform_document_is_refused(platform: Any, expected: str) -> None:
    assert kubernetes_schema() is not None, "kfp-kubernetes (a dev dependency) gives the Kubernetes schema"
    assert expected in error_of(dumped(simple(), platform))


def test_three_documents_are_refused() -> None:
    assert "more than two YAML documents" in error_of(dumped(simple(), {}) + "---\na: 1\n")


def test_an_alias_bomb_is_refused_at_once() -> None:
    """Nine aliases a level, seven levels deep, in a LIST default: about 1 KB that expands to 9**7 strings."""
    levels = ["&a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"&a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 8)]
    doc = simple()
    doc["root"]["inputDefinitions"]["parameters"]["n"] = {"parameterType": "LIST", "defaultValue": "BOMB"}
    text = dumped(doc).replace("defaultValue: BOMB", "defaultValue: [" + ", ".join(levels) + "]")
    assert len(text) < 3000
    assert "YAML alias *a0 is not allowed" in error_of(text)


def test_a_recursive_anchor_is_one_line() -> None:
    assert "YAML alias *loop is not allowed" in error_of("root: &loop {dag: *loop}\n")


def test_a_merge_key_is_refused() -> None:
    assert "merge keys" in error_of("root: {<<: {dag: {}}}\n")


def test_deep_nesting_is_one_line_not_a_crash() -> None:
    """libyaml's composer recurses in C: a deep enough document used to kill the process."""
    depth = 100_000
    assert "nest" in error_of("root: " + "[" * depth + "]" * depth + "\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("root: !foo x\n", "YAML tag '!foo' is not allowed"),
        ("root: !!python/object/apply:os.system [id]\n", "YAML tag 'tag:yaml.org,2002:python/object/apply"),
        ("root: !!set {a: null}\n", "YAML tag 'tag:yaml.org,2002:set' is not allowed"),
        ("pipelineInfo: {name: !!binary aGk=}\nroot: {}\n", "pipelineInfo.name: expected a string, got"),
    ],
)
def test_yaml_tags_beyond_plain_json_are_refused(text: str, expected: str) -> None:
    assert expected in error_of(text)


def test_a_default_beyond_64_bits_is_refused() -> None:
    doc = simple()
    doc["root"]["inputDefinitions"]["parameters"]["n"]["defaultValue"] = 2**63
    message = error_of(dumped(doc))
    assert "root.inputDefinitions.parameters.n.defaultValue" in message and "64-bit" in message


def test_a_default_of_the_wrong_type_is_refused() -> None:
    doc = simple()
    doc["root"]["inputDefinitions"]["parameters"]["n"]["defaultValue"] = "three"
    assert "a default that is not a NUMBER_INTEGER" in error_of(dumped(doc))


def test_a_given_value_beyond_64_bits_is_refused() -> None:
    spec = load_text(dumped(simple()))
    with pytest.raises(ParameterError, match="64-bit"):
        bind(spec, {"n": str(2**63)}, as_text=True)
    with pytest.raises(ParameterError, match="64-bit"):
        bind(spec, {"n": -(2**63) - 1})
    assert bind(spec, {"n": str(2**63 - 1)}, as_text=True) == {"n": 2**63 - 1}


def test_a_non_finite_double_is_refused() -> None:
    spec = load_text(
        dumped(
            Pipeline()
            .container("comp-step", inputs={"x": "NUMBER_DOUBLE"})
            .root({"s": task("comp-step", x=from_input("x"))}, inputs={"x": "NUMBER_DOUBLE"})
            .doc
        )
    )
    with pytest.raises(ParameterError, match="finite"):
        bind(spec, {"x": "nan"}, as_text=True)


def test_a_constant_that_is_not_json_is_refused() -> None:
    doc = simple()
    doc["root"]["dag"]["tasks"]["step"]["inputs"]["parameters"]["n"] = const(1)[1]
    text = dumped(doc).replace("constant: 1", "constant: .nan")
    assert "runtimeValue.constant: nan is not a JSON number" in error_of(text)


def test_what_kfp_compiles_in_the_corpus_fits_the_schema_exactly() -> None:
    """flow's reading of the schema agrees with protobuf's own parser on every corpus pipeline."""
    pb = pipeline_schema()
    for path in sorted(CORPUS.glob("*.yaml")):
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
        json_format.ParseDict(documents[0], pb.PipelineSpec())
        json_format.ParseDict(documents[0]["deploymentSpec"], pb.PipelineDeploymentConfig())
        load_text(path.read_text(), str(path))


def test_well_known_types_kfp_may_use_later_are_read_as_protobuf_reads_them() -> None:
    """Today's schema holds Struct, Value and Duration only; a later one may hold others (Any, ListValue)."""
    checker = Checker({})
    with pytest.raises(SchemaError, match="@type is missing") as no_type:
        checker.message({"name": "x", "value": {"a": 1}}, type_pb2.Option.DESCRIPTOR, "option")
    assert no_type.value.path == "option.value"
    with pytest.raises(SchemaError, match="expected a list, got an integer"):
        checker.message({"listValue": 3}, struct_pb2.Value.DESCRIPTOR, "")
    checker.message({"listValue": [1, "a", None]}, struct_pb2.Value.DESCRIPTOR, "")


def test_an_importer_uri_from_an_input_the_component_does_not_take_is_refused() -> None:
    doc = (
        Pipeline("imports")
        .container("comp-importer", inputs={"uri": "STRING"}, outputs={"artifact": "system.Dataset"})
        .root({"importer": task("comp-importer", uri=from_input("uri"))}, inputs={"uri": "STRING"})
        .doc
    )
    doc["deploymentSpec"]["executors"]["exec-comp-importer"] = {
        "importer": {
            "artifactUri": {"runtimeParameter": "url"},
            "typeSchema": {"schemaTitle": "system.Dataset"},
        }
    }
    message = error_of(dumped(doc))
    assert "deploymentSpec.executors.exec-comp-importer.importer.artifactUri.runtimeParameter" in message
    assert "component 'comp-importer' has no input parameter 'url'" in message
    doc["deploymentSpec"]["executors"]["exec-comp-importer"]["importer"]["artifactUri"][
        "runtimeParameter"
    ] = "uri"
    assert load_text(dumped(doc)).components["comp-importer"].inputs.parameters["uri"].type == "STRING"


def test_a_schema_whose_imports_are_missing_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """kfp-pipeline-spec imports google.rpc without requiring the package that has it."""
    from runner.spec import schema

    monkeypatch.setitem(sys.modules, "google.rpc", None)
    schema.pipeline_schema.cache_clear()
    try:
        with pytest.raises(SpecError, match=r"^flow: cannot read KFP's IR schema .* imports google\.rpc"):
            schema.pipeline_schema()
    finally:
        schema.pipeline_schema.cache_clear()
