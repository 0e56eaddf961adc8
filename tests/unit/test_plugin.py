"""The pytest plugin, tested the way users meet it: test files run by pytester."""

from __future__ import annotations

import pytest

import runner.dsl  # noqa: F401  loaded before pytester's in-process runs, whose end unloads what they loaded
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

# kfp's names for `def pick_best`, run by two tasks; `train` runs comp-fit while comp-train is run by
# `train-model`; the DAG `inner` runs comp-fit again, as `fit-inside`.
PICK = """
pipelineInfo: {name: pick}
schemaVersion: 2.1.0
components:
  comp-pick-best:
    executorLabel: exec-pick-best
    outputDefinitions: {parameters: {best: {parameterType: STRING}}}
  comp-fit:
    executorLabel: exec-fit
    outputDefinitions: {parameters: {score: {parameterType: NUMBER_DOUBLE}}}
  comp-train:
    executorLabel: exec-fit
    outputDefinitions: {parameters: {score: {parameterType: NUMBER_DOUBLE}}}
  comp-inner:
    dag:
      tasks:
        fit-inside: {componentRef: {name: comp-fit}, taskInfo: {name: fit-inside}}
deploymentSpec:
  executors:
    exec-pick-best:
      container:
        image: busybox
        command: [sh, -c, 'echo picking for real; printf real > "$0"',
                  "{{$.outputs.parameters['best'].output_file}}"]
    exec-fit:
      container:
        image: busybox
        command: [sh, -c, 'echo fitting for real; printf 1 > "$0"',
                  "{{$.outputs.parameters['score'].output_file}}"]
root:
  dag:
    tasks:
      pick-best: {componentRef: {name: comp-pick-best}, taskInfo: {name: pick-best}}
      pick-best-2: {componentRef: {name: comp-pick-best}, taskInfo: {name: pick-best-2}}
      train: {componentRef: {name: comp-fit}, taskInfo: {name: train}}
      train-model: {componentRef: {name: comp-train}, taskInfo: {name: train-model}}
      inner: {componentRef: {name: comp-inner}, taskInfo: {name: inner}}
"""
STEPS = """
from runner import component, pipeline


@component(base_image="python:3.11")
def pick_best(scores: list) -> float:
    return max(scores)


@component(base_image="python:3.11")
def divide(a: float, b: float) -> float:
    print("dividing", a, "by", b)
    return a / b


@pipeline
def steps(b: float = 2.0) -> float:
    return divide(a=pick_best(scores=[1.0, 3.0]).output, b=b).output
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    for name, text in {
        "passing": PASSING,
        "failing": FAILING,
        "expensive": EXPENSIVE,
        "greet": GREET,
        "pick": PICK,
    }.items():
        (pytester.path / f"{name}.yaml").write_text(text)
    (pytester.path / "steps.py").write_text(STEPS)
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


def test_mocks_by_task_component_python_name_or_place(project: pytest.Pytester) -> None:
    project.makepyfile("""
        def outputs(result):
            assert result.succeeded, result.error
            return {path: task.outputs for path, task in result.tasks.items() if task.kind != "dag"}

        def test_python_name_answers_every_task_of_its_component(flow_run):
            result = flow_run("pick.yaml", mock={"pick_best": {"best": "mocked"}})
            assert outputs(result) == {
                "pick-best": {"best": "mocked"},
                "pick-best-2": {"best": "mocked"},
                "train": {"score": 1.0},
                "train-model": {"score": 1.0},
                "inner/fit-inside": {"score": 1.0},
            }
            assert result.tasks["pick-best"].log() == ""

        def test_task_name_answers_that_task(flow_run):
            mock = {"pick-best-2": {"best": "mocked"}, "fit-inside": {"score": 0.5}}
            result = flow_run("pick.yaml", mock=mock)
            produced = outputs(result)
            assert produced["pick-best"] == {"best": "real"}
            assert produced["pick-best-2"] == {"best": "mocked"}
            assert produced["inner/fit-inside"] == {"score": 0.5}
            assert produced["train"] == {"score": 1.0}

        def test_component_name_answers_its_tasks(flow_run):
            produced = outputs(flow_run("pick.yaml", mock={"comp-train": {"score": 0.5}}))
            assert produced["train-model"] == {"score": 0.5}
            assert produced["train"] == {"score": 1.0}

        def test_a_place_answers_one_task_of_a_component_several_run(flow_run):
            produced = outputs(flow_run("pick.yaml", mock={"inner/fit-inside": {"score": 0.25}}))
            assert produced["inner/fit-inside"] == {"score": 0.25}
            assert produced["train"] == {"score": 1.0}

        def test_flow_sdk_pipeline_by_function_name(flow_run):
            result = flow_run("steps.py", mock={"divide": lambda inputs: {"Output": inputs["a"] * 10}})
            assert result.outputs == {"Output": 30.0}
    """)
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=5)


def test_a_mock_naming_no_task_is_one_error_listing_tasks_and_components(project: pytest.Pytester) -> None:
    project.makepyfile("""
        def test_typo(flow_run, flow_mock):
            flow_mock["pick_bset"] = {"best": "mocked"}
            flow_run("pick.yaml")
    """)
    outcome = project.runpytest("-p", "no:cacheprovider")
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(
        [
            "E * pick.yaml: mock 'pick_bset' (did you mean 'pick-best'?) names no task or component of the"
            " pipeline; its tasks: pick-best, pick-best-2, train, train-model, inner/fit-inside;"
            " its components: comp-fit, comp-pick-best, comp-train"
        ]
    )
    outcome.stdout.no_fnmatch_line("*picking for real*")


def test_a_mock_that_could_mean_several_things_is_refused(project: pytest.Pytester) -> None:
    project.makepyfile("""
        import pytest
        from runner.errors import UsageError

        @pytest.mark.parametrize("mock", [
            {"fit-inside": {"score": 0.5}, "comp-fit": {"score": 0.5}},
            {"pick-best": {"best": "x"}, "pick_best": {"best": "y"}},
            {"inner": {}},
        ])
        def test_refused(flow_run, mock):
            with pytest.raises(UsageError) as refused:
                flow_run("pick.yaml", mock=mock)
            print("REFUSED", refused.value)
    """)
    outcome = project.runpytest("-p", "no:cacheprovider", "-s")
    outcome.assert_outcomes(passed=3)
    outcome.stdout.fnmatch_lines(
        [
            "*REFUSED pick.yaml: mocks 'fit-inside' and 'comp-fit' both answer task inner/fit-inside",
            "*REFUSED pick.yaml: mocks 'pick-best' and 'pick_best' both answer task pick-best",
            "*REFUSED pick.yaml: mock 'inner' names the DAG task inner, which runs no container of its own;"
            " mock the tasks in it: inner/fit-inside",
        ]
    )


def test_a_name_matching_tasks_of_several_components_is_ambiguous(project: pytest.Pytester) -> None:
    """`train` is a task running comp-fit and the name of comp-train: which one is meant is not guessed."""
    project.makepyfile("""
        def test_ambiguous(flow_run):
            flow_run("pick.yaml", mock={"train": {"score": 0.5}, "pick_best": {"best": "x"}})
    """)
    outcome = project.runpytest("-p", "no:cacheprovider")
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(
        [
            "E * mock 'train' is ambiguous: it names tasks of 2 components: train (comp-fit), "
            "train-model (comp-train); key it by one of the components' names (comp-fit, comp-train)"
        ]
    )


def test_a_failing_component_raises_with_its_error_and_output(project: pytest.Pytester) -> None:
    project.makepyfile("""
        import pytest
        from runner.testing import ComponentFailedError

        def test_divide_by_zero(flow_component):
            flow_component("steps.py", "divide", a=1.0, b=0.0)

        def test_caught(flow_component):
            with pytest.raises(ComponentFailedError) as failed:
                flow_component("steps.py", "comp-divide", a=1.0, b=0.0)
            assert failed.value.task.state.value == "FAILED"
            assert "ZeroDivisionError" in failed.value.task.log()

        def test_by_python_name(flow_component):
            assert flow_component("steps.py", "pick_best", scores=[2, 5]).outputs == {"Output": 5.0}
    """)
    outcome = project.runpytest("-p", "no:cacheprovider")
    outcome.assert_outcomes(failed=1, passed=2)
    outcome.stdout.fnmatch_lines(
        [
            "E *ComponentFailedError: task divide of run * ended FAILED: *",
            "E * --- its last output lines:",
            "E * dividing 1.0 by 0.0",
            "E * ZeroDivisionError: float division by zero",
        ]
    )
