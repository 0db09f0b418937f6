"""`kedro run` through the project's CLI (a real subprocess, as a user types it): a refused run
ends with one clear line, and its traceback is in info.log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_project

BAD_CLASS = ["run", "--pipelines", "data_preparation", "--env", "test"]
BAD_CLASS += ["--params", "data_preparation.classes=[11]"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("cli"))


def kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KEDRO_LOGGING_CONFIG"}
    env |= {"KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "COLUMNS": "200"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("kedro")), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_refused_run_prints_one_line_and_logs_the_traceback(project):
    done = kedro(project, *BAD_CLASS)
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
    done = kedro(project, *BAD_CLASS, "--verbose")
    assert done.returncode == 1
    assert "Traceback" in done.stdout + done.stderr
