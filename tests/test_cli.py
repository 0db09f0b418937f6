"""`kedro run` through the project's CLI (a real subprocess, as a user types it): a refused run
ends with one clear line, and its traceback is in info.log."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import copy_project, run_kedro

BAD_CLASS = ["run", "--pipelines", "data_preparation", "--env", "test"]
BAD_CLASS += ["--params", "data_preparation.classes=[11]"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("cli"))


def test_a_refused_run_prints_one_line_and_logs_the_traceback(project):
    done = run_kedro(project, *BAD_CLASS)
    output = done.stdout + done.stderr
    assert done.returncode == 1
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert errors == [
        "Error: ValueError: data_preparation.classes contains [11], outside the valid range "
        "0..9 of embedded_mnist (10 classes)."
    ]
    assert f"the traceback is in {project / 'info.log'}; --verbose prints it" in output
    logged = (project / "info.log").read_text().rsplit("kedro run failed", 1)[1]
    assert "Traceback" in logged and "select_classes" in logged


def test_verbose_prints_the_traceback(project):
    done = run_kedro(project, *BAD_CLASS, "--verbose")
    assert done.returncode == 1
    assert "Traceback" in done.stdout + done.stderr
