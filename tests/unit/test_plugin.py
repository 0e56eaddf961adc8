"""The pytest plugin, tested the way users meet it: test files run by pytester."""

from __future__ import annotations

import pytest

from runner.testing.shellsteps import Step, pipeline

pytest_plugins = ["pytester"]

PASSING = pipeline({"hello": Step("echo hello")})
FAILING = pipeline({"boom": Step("echo preparing; echo about to fail; exit 3")})
EXPENSIVE = """
pipelineInfo: {name: expensive}
schemaVersion: 2.1.0
components:
  comp-train:
    executorLabel: exec-train
    outputDefinitions: {parameters: {score: {parameterType: NUMBER_DOUBLE}}}
  comp-report:
    executorLabel: exec-report
    inputDefinitions: {parameters: {score: {parameterType: NUMBER_DOUBLE}}}
deploymentSpec:
  executors:
    exec-train: {container: {image: busybox, command: [sh, -c, "echo training for hours; exit 1"]}}
    exec-report:
      container: {image: busybox, command: [sh, -c, "echo score=$0", "{{$.inputs.parameters['score']}}"]}
root:
  dag:
    tasks:
      train: {componentRef: {name: comp-train}, taskInfo: {name: train}}
      report:
        componentRef: {name: comp-report}
        taskInfo: {name: report}
        inputs: {parameters: {score: {taskOutputParameter: {producerTask: train, outputParameterKey: score}}}}
"""
GREET = """
pipelineInfo: {name: greet}
schemaVersion: 2.1.0
components:
  comp-greet:
    executorLabel: exec-greet
    inputDefinitions: {parameters: {who: {parameterType: STRING}}}
    outputDefinitions: {parameters: {greeting: {parameterType: STRING}}}
deploymentSpec:
  executors:
    exec-greet:
      container:
        image: busybox
        command: [sh, -c, 'printf "hello %s" "$0" > "$1"', "{{$.inputs.parameters['who']}}",
                  "{{$.outputs.parameters['greeting'].output_file}}"]
root:
  dag:
    tasks:
      greet:
        componentRef: {name: comp-greet}
        taskInfo: {name: greet}
        inputs: {parameters: {who: {runtimeValue: {constant: world}}}}
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    for name, text in {
        "passing": PASSING,
        "failing": FAILING,
        "expensive": EXPENSIVE,
        "greet": GREET,
    }.items():
        (pytester.path / f"{name}.yaml").write_text(text)
    return pytester


def test_a_passing_pipeline_test_passes(project: pytest.Pytester) -> None:
    project.makepyfile("""
        from runner.testing import assert_succeeded

        def test_hello(flow_run):
            result = flow_run("passing.yaml")
            assert_succeeded(result)
            assert result.tasks["hello"].log() == "hello\\n"
    """)
    outcome = project.runpytest("-v", "-p", "no:cacheprovider")
    outcome.assert_outcomes(passed=1)
    outcome.stdout.fnmatch_lines(["*test_hello?process? PASSED*"])


def test_a_failing_pipeline_fails_with_the_task_and_its_last_lines(project: pytest.Pytester) -> None:
    project.makepyfile("""
        from runner.testing import assert_succeeded

        def test_boom(flow_run):
            assert_succeeded(flow_run("failing.yaml"))
    """)
    outcome = project.runpytest("-p", "no:cacheprovider")
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(
        ["*ended FAILED*", "*task boom failed: exited with code 3*", "*about to fail*"]
    )


def test_a_mocked_component_is_not_executed(project: pytest.Pytester) -> None:
    project.makepyfile("""
        def test_report_without_training(flow_run, flow_mock):
            flow_mock["train"] = {"score": 0.97}
            result = flow_run("expensive.yaml")
            assert result.succeeded, result.error
            assert result.tasks["train"].log() == ""
            assert "score=0.97" in result.tasks["report"].log()

        def test_mock_as_a_function(flow_run):
            result = flow_run("expensive.yaml", mock={"comp-train": lambda inputs: {"score": 0.5}})
            assert "score=0.5" in result.tasks["report"].log()
    """)
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_backend_selection_by_option_marker_and_ini(project: pytest.Pytester) -> None:
    project.makepyfile("""
        import pytest

        def test_everywhere(flow_run, flow_backend):
            assert flow_run("passing.yaml").succeeded

        @pytest.mark.flow_backends("fake")
        def test_pinned(flow_backend):
            assert flow_backend == "fake"
    """)
    outcome = project.runpytest(
        "-v", "-p", "no:cacheprovider", "--flow-backend", "process", "--flow-backend", "fake"
    )
    outcome.assert_outcomes(passed=3)
    outcome.stdout.fnmatch_lines_random(
        ["*test_everywhere?process? PASSED*", "*test_everywhere?fake? PASSED*", "*test_pinned?fake? PASSED*"]
    )
    project.makeini("[pytest]\nflow_backends = fake\n")
    by_ini = project.runpytest("-v", "-p", "no:cacheprovider", "-k", "everywhere")
    by_ini.assert_outcomes(passed=1)
    by_ini.stdout.fnmatch_lines(["*test_everywhere?fake? PASSED*"])


def test_one_component_with_inputs(project: pytest.Pytester) -> None:
    project.makepyfile("""
        def test_greet(flow_component):
            task = flow_component("greet.yaml", who="tester")
            assert task.outputs == {"greeting": "hello tester"}
    """)
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
