"""Loading a 10,000-task pipeline: YAML, KFP's schema, flow's model and checks. Target: under 2 s.

Two shapes: the bare chain of engine_overhead.py, and a chain whose tasks pass a parameter from one to the
next through a component with typed inputs, outputs and a retry policy (the fields kfp writes for every
task). The baseline, measured in the same run, is what reading the same text with PyYAML's libyaml loader
alone costs (flow's loader before it checked the schema); the ratio is load / baseline. Each figure is the
best of `--repeat` runs, in CPU seconds of this process: on a shared machine wall time says more about the
neighbours than about the loader.

    python benchmarks/load_pipeline.py [--tasks 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import yaml

from runner.spec import load_text
from runner.spec.schema import check_pipeline
from runner.spec.yamldoc import dump_documents, parse_documents

TARGET_SECONDS = 2.0


def chain(tasks: int, typed: bool) -> str:
    """`tasks` steps, each after the one before; `typed` steps also pass a parameter along."""
    dag: dict[str, Any] = {}
    for i in range(tasks):
        task: dict[str, Any] = {"componentRef": {"name": "comp-step"}, "taskInfo": {"name": f"step-{i}"}}
        if i and typed:
            producer = {"producerTask": f"step-{i - 1}", "outputParameterKey": "Output"}
            task["inputs"] = {"parameters": {"n": {"taskOutputParameter": producer}}}
            task["dependentTasks"] = [f"step-{i - 1}"]
            task["cachingOptions"] = {"enableCache": True}
            task["retryPolicy"] = {"maxRetryCount": 2, "backoffDuration": "1s", "backoffFactor": 2}
        elif i:
            task["dependentTasks"] = [f"step-{i - 1}"]
        else:
            task["inputs"] = {"parameters": {"n": {"runtimeValue": {"constant": 0}}}} if typed else {}
        dag[f"step-{i}"] = task
    component: dict[str, Any] = {"executorLabel": "exec-step"}
    if typed:
        component["inputDefinitions"] = {"parameters": {"n": {"parameterType": "NUMBER_INTEGER"}}}
        component["outputDefinitions"] = {"parameters": {"Output": {"parameterType": "NUMBER_INTEGER"}}}
    return dump_documents(
        {
            "pipelineInfo": {"name": "bench-load"},
            "schemaVersion": "2.1.0",
            "sdkVersion": "kfp-2.17.3",
            "components": {"comp-step": component},
            "deploymentSpec": {
                "executors": {
                    "exec-step": {
                        "container": {
                            "image": "busybox",
                            "command": ["sh", "-c", 'echo $(( $0 + 1 )) > "$1"'],
                            "args": [
                                "{{$.inputs.parameters['n']}}" if typed else "0",
                                "{{$.outputs.parameters['Output'].output_file}}",
                            ],
                        }
                    }
                }
            },
            "root": {"dag": {"tasks": dag}},
        }
    )


def best_cpu(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        action()
        times.append(time.process_time() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for shape, typed in (("bare chain", False), ("typed chain", True)):
        text = chain(args.tasks, typed)
        document = parse_documents(text, "bench")[0]
        baseline = best_cpu(partial(yaml.load, text, Loader=yaml.CSafeLoader), args.repeat)
        parse = best_cpu(partial(parse_documents, text, "bench"), args.repeat)
        schema = best_cpu(partial(check_pipeline, document), args.repeat)
        load = best_cpu(partial(load_text, text, "bench"), args.repeat)
        verdict = "ok" if load < TARGET_SECONDS else "OVER TARGET"
        print(
            f"{shape}: {args.tasks} tasks, {len(text) / 1e6:.1f} MB: load {load:.2f} s ({verdict}), of which"
            f" YAML {parse:.2f} s and KFP's schema {schema:.2f} s; libyaml's loader alone {baseline:.2f} s;"
            f" ratio load/baseline {load / baseline:.2f}"
        )


if __name__ == "__main__":
    main()
