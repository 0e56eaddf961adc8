"""Kubernetes task settings: the platform document is what kfp-kubernetes writes, and both SDKs read it."""

# No `from __future__ import annotations`: kfp reads the components' annotations as real types.
# mypy: disable-error-code="no-untyped-def,valid-type"

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import kfp.dsl
import kfp.kubernetes
import pytest
import yaml
from kfp import compiler, components

import runner
from runner import kubernetes
from runner.dsl import DefinitionError
from runner.spec import load_text

# What kfp-kubernetes 2.17 writes for the settings of `settings_pipeline`, written out by hand from its
# KubernetesExecutorConfig message (names as constants, then as an input parameter spec; int64 as text).
EXPECTED = """
platforms:
  kubernetes:
    deploymentSpec:
      executors:
        exec-echo:
          activeDeadlineSeconds: '60'
          configMapAsEnv:
          - configMapName: settings
            configMapNameParameter: {runtimeValue: {constant: settings}}
            keyToEnv:
            - {configMapKey: mode, envVar: MODE}
            optional: false
          configMapAsVolume:
          - configMapName: files
            configMapNameParameter: {runtimeValue: {constant: files}}
            mountPath: /etc/files
            optional: true
          imagePullPolicy: Always
          imagePullSecret:
          - secretName: registry
            secretNameParameter: {runtimeValue: {constant: registry}}
          nodeSelector:
            labels: {disk: ssd}
          podMetadata:
            annotations: {owner: data-team}
            labels: {team: ml}
          pvcMount:
          - constant: shared
            mountPath: /data
            pvcNameParameter: {runtimeValue: {constant: shared}}
          - constant: shared
            mountPath: /models
            pvcNameParameter: {runtimeValue: {constant: shared}}
            subPath: models
          secretAsEnv:
          - keyToEnv:
            - {envVar: DB_PASSWORD, secretKey: password}
            - {envVar: DB_USER, secretKey: user}
            optional: false
            secretName: db
            secretNameParameter: {runtimeValue: {constant: db}}
          secretAsVolume:
          - mountPath: /etc/tls
            optional: false
            secretName: tls
            secretNameParameter: {runtimeValue: {constant: tls}}
          tolerations:
          - {effect: NoExecute, key: gpu, operator: Equal, tolerationSeconds: '30', value: 'true'}
          - {operator: Exists}
        exec-echo-2:
          pvcMount:
          - componentInputParameter: claim
            mountPath: /in
            pvcNameParameter: {componentInputParameter: claim}
          - mountPath: /out
            pvcNameParameter:
              taskOutputParameter: {outputParameterKey: Output, producerTask: echo}
            taskOutputParameter: {outputParameterKey: Output, producerTask: echo}
          secretAsEnv:
          - keyToEnv:
            - {envVar: TOKEN, secretKey: token}
            optional: false
            secretNameParameter: {componentInputParameter: claim}
        exec-echo-3:
          pvcMount:
          - componentInputParameter: pipelinechannel--claim
            mountPath: /in
            pvcNameParameter: {componentInputParameter: pipelinechannel--claim}
"""


def settings_pipeline(dsl: ModuleType, k8s: ModuleType) -> Any:
    options: dict[str, Any] = {"base_image": "python:3.11"}
    if dsl is kfp.dsl:
        options["install_kfp_package"] = False

    @dsl.component(**options)
    def echo(text: str) -> str:
        return text

    @dsl.pipeline(name="settings")
    def settings(claim: str = "shared"):
        task = echo(text="a")
        k8s.use_secret_as_env(
            task, secret_name="db", secret_key_to_env={"password": "DB_PASSWORD", "user": "DB_USER"}
        )
        k8s.use_secret_as_volume(task, secret_name="tls", mount_path="/etc/tls")
        k8s.use_config_map_as_env(task, config_map_name="settings", config_map_key_to_env={"mode": "MODE"})
        k8s.use_config_map_as_volume(task, config_map_name="files", mount_path="/etc/files", optional=True)
        k8s.mount_pvc(task, pvc_name="shared", mount_path="/data")
        k8s.mount_pvc(task, pvc_name="shared", mount_path="/models", sub_path="models")
        k8s.add_node_selector(task, label_key="disk", label_value="ssd")
        k8s.add_toleration(
            task, key="gpu", operator="Equal", value="true", effect="NoExecute", toleration_seconds=30
        )
        k8s.add_toleration(task, operator="Exists")
        k8s.set_image_pull_secrets(task, ["registry"])
        k8s.set_image_pull_policy(task, "Always")
        k8s.add_pod_label(task, "team", "ml")
        k8s.add_pod_annotation(task, "owner", "data-team")
        k8s.set_timeout(task, 60)
        runtime = echo(text="b")  # names known at run time: a pipeline parameter, a task output
        k8s.mount_pvc(runtime, pvc_name=claim, mount_path="/in")
        k8s.mount_pvc(runtime, pvc_name=task.output, mount_path="/out")
        k8s.use_secret_as_env(runtime, secret_name=claim, secret_key_to_env={"token": "TOKEN"})
        with dsl.ParallelFor([1, 2]):
            k8s.mount_pvc(echo(text="c"), pvc_name=claim, mount_path="/in")

    return settings


def documents(text: str) -> list[Any]:
    return list(yaml.safe_load_all(text))


def test_each_setting_is_written_as_kfp_kubernetes_writes_it() -> None:
    spec, platform = documents(runner.compile_to_text(settings_pipeline(runner, kubernetes)))

    assert platform == yaml.safe_load(EXPECTED)
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["echo-2"]["dependentTasks"] == ["echo"]  # the PVC's name is the output of `echo`
    loop = spec["components"][tasks["for-loop-2"]["componentRef"]["name"]]
    assert loop["inputDefinitions"]["parameters"]["pipelinechannel--claim"] == {"parameterType": "STRING"}
    assert tasks["for-loop-2"]["inputs"]["parameters"]["pipelinechannel--claim"] == {
        "componentInputParameter": "claim"
    }


def test_flow_writes_the_platform_document_the_real_kfp_kubernetes_writes(tmp_path: Path) -> None:
    path = tmp_path / "kfp.yaml"
    compiler.Compiler().compile(settings_pipeline(kfp.dsl, kfp.kubernetes), str(path))
    theirs = documents(path.read_text())
    mine = documents(runner.compile_to_text(settings_pipeline(runner, kubernetes)))

    assert mine[1] == theirs[1]
    assert mine[0]["root"]["dag"]["tasks"]["echo-2"]["dependentTasks"] == ["echo"]
    assert theirs[0]["root"]["dag"]["tasks"]["echo-2"]["dependentTasks"] == ["echo"]


def test_the_compiled_settings_load_in_kfp_and_in_flow(tmp_path: Path) -> None:
    path = runner.compile_to_file(settings_pipeline(runner, kubernetes), tmp_path / "settings.yaml")

    components.load_component_from_file(str(path))
    spec = load_text(path.read_text())
    platform = yaml.safe_load(EXPECTED)["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for label, settings in platform.items():
        assert spec.kubernetes_executor(label) == settings
    assert spec.kubernetes_executor("exec-none") == {}
    echo = spec.component(spec.root.dag.tasks["echo"].component)  # type: ignore[union-attr]
    assert spec.kubernetes_executor(echo.executor_label)["imagePullPolicy"] == "Always"


def test_a_loaded_component_keeps_its_settings_and_adds_the_tasks() -> None:
    @runner.component
    def work(x: int) -> int:
        return x

    @runner.pipeline(name="work")
    def labelled(x: int) -> int:
        task = work(x=x)
        kubernetes.add_pod_label(task, "kind", "loaded")
        return task.output

    loaded = runner.load_component_from_text(runner.compile_to_text(labelled))

    @runner.pipeline(name="user")
    def user():
        kubernetes.set_image_pull_policy(loaded(x=1), "Never")
        loaded(x=2)

    platform = documents(runner.compile_to_text(user))[1]
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors == {
        "exec-work": {"imagePullPolicy": "Never", "podMetadata": {"labels": {"kind": "loaded"}}},
        "exec-work-2": {"podMetadata": {"labels": {"kind": "loaded"}}},
    }


@runner.component
def step(x: int) -> str:
    return str(x)


def define(body: Callable[..., None]) -> None:
    runner.pipeline(name="p")(body)


ERRORS: list[tuple[Callable[..., None], str]] = [
    (
        lambda: kubernetes.set_image_pull_policy(step(x=1), "Sometimes"),
        "p: task 'step': kubernetes.set_image_pull_policy: policy must be one of Always, Never, IfNotPresent",
    ),
    (
        lambda: kubernetes.add_toleration(step(x=1), key="k", operator="Maybe"),
        "kubernetes.add_toleration: operator must be one of Equal, Exists, got 'Maybe'",
    ),
    (
        lambda: kubernetes.add_toleration(step(x=1), effect="NoRun"),
        "kubernetes.add_toleration: effect must be one of NoExecute, NoSchedule, PreferNoSchedule",
    ),
    (
        lambda: kubernetes.add_toleration(step(x=1), toleration_seconds="10"),
        "kubernetes.add_toleration: toleration_seconds must be an int, got '10'",
    ),
    (
        lambda: kubernetes.use_secret_as_env(step(x=1), secret_name="", secret_key_to_env={"a": "A"}),
        "kubernetes.use_secret_as_env: secret_name must be a non-empty str, got ''",
    ),
    (
        lambda: kubernetes.use_secret_as_env(step(x=1), secret_name="s", secret_key_to_env={}),
        "kubernetes.use_secret_as_env: secret_key_to_env must be a non-empty dict of str to str",
    ),
    (
        lambda: kubernetes.mount_pvc(step(x=1), pvc_name=step(x=2).output, mount_path=""),
        "kubernetes.mount_pvc: mount_path must be a non-empty str",
    ),
    (
        lambda: kubernetes.mount_pvc(step(x=1), pvc_name=3, mount_path="/d"),
        "kubernetes.mount_pvc: pvc_name must be a non-empty str, got 3",
    ),
    (
        lambda: kubernetes.add_node_selector(runner.importer(artifact_uri="/x"), "a", "b"),
        "kubernetes.add_node_selector applies to a task that runs a container, not to <",
    ),
    (
        lambda: kubernetes.set_image_pull_secrets(step(x=1), []),
        "kubernetes.set_image_pull_secrets: secret_names must be a non-empty list",
    ),
    (lambda: kubernetes.add_pod_label("step", "a", "b"), "kubernetes.add_pod_label takes a task, got 'step'"),
]


@pytest.mark.parametrize(("body", "message"), ERRORS, ids=[m.split(":")[0] for _, m in ERRORS])
def test_wrong_settings_are_definition_errors(body: Callable[..., None], message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        define(body)
    assert message in str(caught.value)


def test_a_name_from_an_artifact_or_a_number_is_a_definition_error() -> None:
    @runner.component
    def made(out: runner.Output[runner.Dataset]) -> int:
        return 1

    def by_artifact():
        kubernetes.mount_pvc(step(x=1), pvc_name=made().outputs["out"], mount_path="/d")

    def by_number():
        kubernetes.use_config_map_as_volume(
            step(x=1), config_map_name=made().outputs["Output"], mount_path="/d"
        )

    for body in (by_artifact, by_number):
        with pytest.raises(DefinitionError, match="must be a str or a str-typed pipeline value"):
            define(body)
