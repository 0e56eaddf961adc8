"""Pipelines for the tests of the inspecting and removing commands: an artifact a later task reads and a later
run reuses from the cache, an input long enough to overflow a terminal's line, and a task that fails on its
first attempt and passes when retried."""

from __future__ import annotations

LONG_NOTE = "a note long enough that a table row holding it is wider than eighty columns, " * 2

DATASET = "{artifactType: {schemaTitle: system.Dataset, schemaVersion: 0.0.1}}"

SCRIPTED = f"""
pipelineInfo: {{name: scripted}}
schemaVersion: 2.1.0
components:
  comp-prepare-data:
    executorLabel: exec-prepare-data
    inputDefinitions: {{parameters: {{note: {{parameterType: STRING}}}}}}
    outputDefinitions: {{artifacts: {{out: {DATASET}}}}}
  comp-use: {{executorLabel: exec-use, inputDefinitions: {{artifacts: {{data: {DATASET}}}}}}}
  comp-flaky: {{executorLabel: exec-flaky}}
deploymentSpec:
  executors:
    exec-prepare-data:
      container:
        image: busybox:latest
        command: [sh, -c, 'echo prepared; echo data > "$0"', "{{{{$.outputs.artifacts['out'].path}}}}"]
    exec-use:
      container:
        image: busybox:latest
        command: [sh, -c, 'cat "$0"', "{{{{$.inputs.artifacts['data'].path}}}}"]
    exec-flaky:
      container:
        image: busybox:latest
        command:
        - sh
        - -c
        - n=$(cat "$0" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$0"; echo "attempt $n";
          if [ $n -eq 1 ]; then echo "attempt $n fails"; exit 3; fi
        - "{{{{$.pipeline_root}}}}/flaky-count"
root:
  inputDefinitions: {{parameters: {{note: {{parameterType: STRING, defaultValue: "{LONG_NOTE}"}}}}}}
  dag:
    tasks:
      prepare-data:
        componentRef: {{name: comp-prepare-data}}
        inputs: {{parameters: {{note: {{componentInputParameter: note}}}}}}
        cachingOptions: {{enableCache: true}}
      use:
        componentRef: {{name: comp-use}}
        dependentTasks: [prepare-data]
        inputs:
          artifacts: {{data: {{taskOutputArtifact: {{producerTask: prepare-data, outputArtifactKey: out}}}}}}
        cachingOptions: {{enableCache: false}}
      flaky:
        componentRef: {{name: comp-flaky}}
        retryPolicy: {{maxRetryCount: 2, backoffDuration: 0s}}
        cachingOptions: {{enableCache: false}}
"""
