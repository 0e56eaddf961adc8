"""The pipeline root's file operations on an S3 bucket (the real S3-compatible server scripts/s3-up.sh
starts, never a mock): the unit tests' root-file cases run here again, and an unreachable bucket or server is
one line."""

from __future__ import annotations

import pytest

from backends.base import BackendError
from roots.files import RootFiles
from roots.s3.files import S3RootFiles
from tests.cases import cases_taking
from tests.unit import test_rootfiles

globals().update(cases_taking(test_rootfiles, "files"))


@pytest.fixture
def files(s3_root: str) -> RootFiles:
    return S3RootFiles(s3_root)


def test_an_s3_root_that_cannot_be_reached_is_a_one_line_error(
    s3_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = S3RootFiles(s3_root.replace("flow-tests", "no-such-bucket-here"))
    with pytest.raises(BackendError, match="bucket does not exist") as caught:
        missing.check()
    assert "\n" not in str(caught.value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    with pytest.raises(BackendError, match="does not answer") as caught:
        S3RootFiles(s3_root).check()
    assert "\n" not in str(caught.value)
