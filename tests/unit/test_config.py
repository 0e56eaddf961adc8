"""The config files: the user's ($XDG_CONFIG_HOME/flow/config.yaml) under the working folder's flow.yaml,
both under the command line; a bad key is one line naming the file; a file another user could have written
is ignored with one warning line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli.backendoptions import backend_option_values
from runner.cli.main import main
from runner.config import load_config, user_config_path
from runner.errors import UsageError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "iris" / "pipeline.yaml"


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's config file (not written yet), with a working folder of its own."""
    monkeypatch.chdir(tmp_path)
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "flow" / "config.yaml"
    path.parent.mkdir(parents=True)
    return path


def someone_elses(path: Path) -> None:
    """Make `path` a file of another user: given away as root, else a link to a file root owns."""
    if os.geteuid() == 0:
        path.write_text("pull: always\n")
        os.chown(path, 65534, 65534)
    else:
        path.symlink_to("/etc/hostname")


def test_the_working_folders_keys_win_over_the_users_and_the_command_line_over_both(
    user_config: Path,
) -> None:
    user_config.write_text(
        "image_map: {python:3.11: user/python:3.11, busybox: user/busybox}\npull: never\n"
        "max_parameter_size: 2Mi\n"
    )
    Path("flow.yaml").write_text("image_map: {busybox: project/busybox}\npull: always\n")

    config = load_config()
    assert config.backend == {
        "image_map": {"python:3.11": "user/python:3.11", "busybox": "project/busybox"},
        "pull": "always",
    }
    assert config.max_parameter_bytes == 2 << 20  # the user's, which flow.yaml does not set
    assert config.sources == [str(user_config), "flow.yaml"]
    given = {"image_map": ("busybox=cli/busybox",), "pull": "missing"}
    assert backend_option_values(given) == {
        "image_map": {"python:3.11": "user/python:3.11", "busybox": "cli/busybox"},
        "pull": "missing",
    }


def test_the_user_config_is_under_dot_config_without_xdg_config_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert user_config_path() == tmp_path / ".config" / "flow" / "config.yaml"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/folder")  # not absolute: ignored, as XDG says
    assert user_config_path() == tmp_path / ".config" / "flow" / "config.yaml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "pul: never\n",
            "unknown key 'pul' (the keys: image_map, pull, max_parameter_size); did you mean 'pull'?",
        ),
        ("colour: blue\n", "unknown key 'colour' (the keys: image_map, pull, max_parameter_size)"),
        ("namespace: team\n", "namespace is a command-line option only (--namespace), not a config key"),
        ("pull: sometimes\n", "pull: must be one of never, missing, always, not 'sometimes'"),
        ("max_parameter_size: lots\n", "max_parameter_size: expected a size such as 1048576 or 4Mi"),
        ("[pull, never]\n", "the config file must be a mapping"),
        ("pull: [never\n", "not YAML: while parsing a flow sequence"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_it(user_config: Path, text: str, message: str) -> None:
    user_config.write_text(text)
    with pytest.raises(UsageError) as refused:
        load_config()
    assert str(refused.value).startswith(f"{user_config}: {message}")

    user_config.unlink()
    Path("flow.yaml").write_text(text)
    done = CliRunner().invoke(main, ["run", str(EXAMPLE), "--backend", "process"])
    assert done.exit_code == 2
    assert done.output.startswith(f"error: flow.yaml: {message}") and done.output.count("\n") == 1


def test_a_config_file_of_another_user_is_ignored_with_one_warning(
    user_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user_config.write_text("pull: never\n")
    someone_elses(Path("flow.yaml"))

    assert load_config().backend == {"pull": "never"}
    assert load_config().sources == [str(user_config)]
    warning = capsys.readouterr().err
    assert warning.startswith("warning: ignoring the config file flow.yaml: it belongs to another user (uid ")
    assert warning.count("\n") == 1  # once, however often the files are read


def test_a_config_file_every_user_may_write_is_ignored(
    user_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user_config.write_text("pull: never\n")
    user_config.chmod(0o646)
    assert load_config().backend == {}
    assert capsys.readouterr().err == (
        f"warning: ignoring the config file {user_config}: every user may write it (mode 646): "
        "chmod o-w it to use it\n"
    )


def test_a_fifo_named_flow_yaml_is_ignored_without_waiting_on_it(
    user_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo("flow.yaml")
    assert load_config().backend == {}
    assert "ignoring the config file flow.yaml: not a regular file" in capsys.readouterr().err
