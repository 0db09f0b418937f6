"""`kedro run` through the project's CLI: a refused run ends with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from kedro.framework.cli.cli import KedroCLI

from tests.conftest import copy_project

BAD_CLASS = ["run", "--pipelines", "data_preparation", "--env", "test"]
BAD_CLASS += ["--params", "data_preparation.classes=[11]"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    path = copy_project(tmp_path / "project")
    monkeypatch.chdir(path)
    return path


def test_a_refused_run_prints_one_line_and_logs_the_traceback(project):
    result = CliRunner().invoke(KedroCLI(project_path=project), BAD_CLASS)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    last = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert last == [
        "Error: ValueError: data_preparation.classes contains [11], outside the valid range "
        "0..9 of embedded_mnist (10 classes)."
    ]
    assert "--verbose prints it" in result.output
    # in-process, logging keeps the file the session's first configuration named
    log_file = result.output.split("the traceback is in ")[1].split(";")[0]
    assert "select_classes" in Path(log_file).read_text().rsplit("kedro run failed", 1)[1]


def test_verbose_raises_the_error_itself(project):
    result = CliRunner().invoke(KedroCLI(project_path=project), [*BAD_CLASS, "--verbose"])
    assert result.exit_code == 1
    assert isinstance(result.exception, ValueError)
