"""Every fenced block of README.md is run here, or says why it cannot be.

The line before each block is an HTML comment, `<!-- readme-test: KIND -->`, saying how:
- `shell`: each line a command, run by sh in the checkout; a `pip install -e '.[EXTRA]'` in it is not run
  (the checkout under test is installed already), but it and every other `pip install` of the README must
  name this project and extras pyproject.toml declares;
- `python`: a script, run by this Python in the checkout;
- `pipeline-file`: a Python file defining a pipeline, run by `flow run FILE --backend process`;
- `pytest`: a test file, run by pytester on the process backend in a folder holding the checkout's examples;
- `flow.yaml`: a settings file, in the working folder of a `flow run`;
- `synopsis`: `flow` commands with placeholders for the reader's files and runs (`flow show RUN`): not run,
  but each command and option (those in `[...]` too) must be one the CLI has;
- `skip: REASON`: not run, for REASON (a cluster or a server it needs, a diagram).
A block without one fails, so no example goes untested by accident. The commands share one FLOW_HOME, as
a reader's would.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from markdown_it import MarkdownIt

import runner.dsl  # noqa: F401  loaded before pytester's in-process runs, whose end unloads what they loaded
from runner.cli.main import main
from runner.testing.shellsteps import Step, pipeline

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MARKER = re.compile(r"^<!--\s*readme-test:\s*(?P<kind>[\w.-]+)(?::\s*(?P<reason>.*?))?\s*-->\s*$")
RUNNABLE = ("shell", "python", "pipeline-file", "pytest", "flow.yaml", "synopsis")
# `pip install` of a project with extras, as the README writes it: -e '.[dev]', 'flow-pipelines[k8s]'.
PIP_INSTALL = re.compile(r"pip install (?:-e )?'?([\w.-]+)\[([^\]]+)\]")
DEADLINE = 600  # seconds for one block: a hung example fails instead of holding the suite


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, counted from 1
    kind: str  # from the marker; "" when the block has none
    reason: str
    text: str

    def __str__(self) -> str:
        return f"README.md:{self.line}"


def readme_blocks() -> list[Block]:
    tokens = MarkdownIt("commonmark").parse(README.read_text(encoding="utf-8"))
    blocks = []
    for before, token in zip([None, *tokens], tokens, strict=False):
        if token.type != "fence" or token.map is None:
            continue
        found = (
            MARKER.match(before.content.strip())
            if before is not None and before.type == "html_block"
            else None
        )
        kind, reason = (found["kind"], found["reason"] or "") if found else ("", "")
        blocks.append(Block(line=token.map[0] + 1, kind=kind, reason=reason, text=token.content))
    return blocks


BLOCKS = readme_blocks()


def test_every_block_says_how_it_is_tested() -> None:
    unmarked = [str(b) for b in BLOCKS if b.kind not in RUNNABLE and not (b.kind == "skip" and b.reason)]
    assert not unmarked, (
        f"blocks without `<!-- readme-test: {' | '.join(RUNNABLE)} | skip: REASON -->` on the line before: "
        + ", ".join(unmarked)
    )
    assert any(b.kind in RUNNABLE for b in BLOCKS)


@pytest.fixture(scope="module")
def reader_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A reader's environment: the checkout's flow first on the path, one FLOW_HOME for all blocks."""
    env = {k: v for k, v in os.environ.items() if k != "FLOW_STORE"}
    env["FLOW_HOME"] = str(tmp_path_factory.mktemp("readme-home"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run(command: list[str], cwd: Path, env: dict[str, str], block: Block) -> None:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=DEADLINE)
    assert done.returncode == 0, (
        f"{block} ({block.kind}) exited {done.returncode}: {command}\n{done.stdout}\n{done.stderr}"
    )


def test_every_pip_install_names_this_project_and_its_extras() -> None:
    """In blocks and in the text: `pip install -e '.[dev]'`, `pip install 'flow-pipelines[k8s]'`."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = set(project.get("optional-dependencies", {}))
    installs = PIP_INSTALL.findall(README.read_text(encoding="utf-8"))
    assert installs
    for name, wanted in installs:
        assert name in (".", project["name"]), f"pip install {name}[{wanted}]: not this project"
        unknown = {extra.strip() for extra in wanted.split(",")} - extras
        assert not unknown, f"pip install {name}[{wanted}]: pyproject.toml has no extra {sorted(unknown)}"


def shell_commands(block: Block) -> Iterator[str]:
    """The block's commands, its `pip install`s of the checkout taken out (the test above checks them)."""
    for line in block.text.splitlines():
        steps = [step.strip() for step in line.split("&&") if step.strip()]
        kept = [step for step in steps if not step.startswith("pip install")]
        if kept and not kept[0].startswith("#"):
            yield " && ".join(kept)


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.kind in RUNNABLE], ids=lambda b: f"{b.kind}-line{b.line}"
)
def test_readme_block(
    block: Block, reader_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if block.kind == "shell":
        commands = list(shell_commands(block))
        assert commands, f"{block} has no command to run"
        for command in commands:
            run(["sh", "-ec", command], REPO, reader_env, block)
    elif block.kind == "python":
        run([sys.executable, "-c", block.text], REPO, reader_env, block)
    elif block.kind == "pipeline-file":
        (tmp_path / "readme_pipeline.py").write_text(block.text, encoding="utf-8")
        run(["flow", "run", "readme_pipeline.py", "--backend", "process"], tmp_path, reader_env, block)
    elif block.kind == "synopsis":
        check_synopsis(block)
    elif block.kind == "flow.yaml":
        (tmp_path / "flow.yaml").write_text(block.text, encoding="utf-8")
        (tmp_path / "p.yaml").write_text(pipeline({"hello": Step("echo hello")}), encoding="utf-8")
        run(["flow", "run", "p.yaml", "--backend", "process"], tmp_path, reader_env, block)
    else:
        run_pytest_example(block, request.getfixturevalue("pytester"))


def run_pytest_example(block: Block, pytester: pytest.Pytester) -> None:
    (pytester.path / "examples").symlink_to(REPO / "examples")
    pytester.makepyfile(test_readme_example=block.text)
    outcome = pytester.runpytest("-p", "no:cacheprovider", "--flow-backend", "process")
    counts = outcome.parseoutcomes()
    assert counts.get("passed", 0) > 0 and not counts.get("failed") and not counts.get("errors"), (
        f"{block}: {counts}\n" + "\n".join(outcome.outlines)
    )


def check_synopsis(block: Block) -> None:
    group = click.Context(main)
    for line in block.text.splitlines():
        words = [word.strip("[]") for word in shlex.split(line, comments=True)]
        words = [word for word in words if word and word != "|"]
        if not words:
            continue
        assert words[0] == "flow", f"{block}: {line!r} is not a flow command"
        at, named = next(((i, w) for i, w in enumerate(words) if i and not w.startswith("-")), (0, ""))
        command = main.get_command(group, named)
        assert command is not None, f"{block}: {line!r}: flow has no command {named!r}"
        options = [w for w in words[at + 1 :] if w.startswith("-")]
        given = [(w, main) for w in words[1:at]] + [(w, command) for w in options]
        unknown = [word for word, where in given if word.split("=")[0] not in options_of(where)]
        assert not unknown, f"{block}: {line!r}: flow {named} has no option {unknown}"


def options_of(command: click.Command) -> set[str]:
    """Its options, those made when it is used too (the backends' settings)."""
    params = command.get_params(click.Context(command))
    return {name for param in params for name in [*param.opts, *param.secondary_opts]}
