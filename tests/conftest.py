"""Shared fixtures. Tests never touch the user's data/ or mlflow.db."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from hyperforget.core.data import LabelledImages

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


def pytest_configure(config: pytest.Config) -> None:
    """The suite's xdist workers (addopts ``-n``) share the cores: each, and every ``kedro``
    process it starts, gets cores / workers torch threads instead of one per core each. (A
    hook, not import-time code: a process of a pool that imports this module keeps its own.)"""
    if getattr(config.option, "numprocesses", None) and "PYTEST_XDIST_WORKER" not in os.environ:
        return  # xdist's controller: it runs no test, its workers set their own
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    threads = max(1, (os.cpu_count() or 1) // workers)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def _test_logging_config() -> str:
    """The project's logging configuration with its log file in a temporary folder, so the
    tests never write info.log into the user's tree. Set before Kedro is first imported."""
    import tempfile

    import yaml

    config = yaml.safe_load((Path(__file__).parents[1] / "conf" / "logging.yml").read_text())
    folder = Path(tempfile.mkdtemp(prefix="hyperforget-test-logs-"))
    config["handlers"]["info_file"]["filename"] = str(folder / "info.log")
    path = folder / "logging.yml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


os.environ.setdefault("KEDRO_LOGGING_CONFIG", _test_logging_config())

# Importing kedro-mlflow's pyfunc model makes mlflow warn about its missing type hints, inside a
# `simplefilter("once")` that overrides ignore filters; record and drop it here, once.
with warnings.catch_warnings(record=True):
    import kedro_mlflow.mlflow.kedro_pipeline_model  # noqa: F401

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_images() -> LabelledImages:
    """30 random 4x4 images, 10 per class for 3 classes."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (30, 1, 4, 4), generator=generator, dtype=torch.uint8)
    labels = torch.arange(3).repeat_interleave(10)
    return LabelledImages(images=images, labels=labels, class_names=["a", "b", "c"], name="tiny")


@functools.cache
def _empty_tracking_database() -> Path:
    """An MLflow database with its tables made, once per test session: each copy of the project
    gets a copy, rather than every first run paying MLflow's migrations (seconds each)."""
    import tempfile

    import mlflow

    path = Path(tempfile.mkdtemp(prefix="hyperforget-test-mlflow-")) / "mlflow-test.db"
    mlflow.MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


def copy_project(destination: Path) -> Path:
    """Copy the project's configuration to ``destination`` (without conf/local).

    Run from there, relative catalog paths (data/...) and the test MLflow database land in
    ``destination``, never in the user's tree.
    """
    for name in ("conf", "pyproject.toml", ".telemetry"):
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("local"))
        else:
            shutil.copy(source, destination / name)
    (destination / "conf" / "local").mkdir(exist_ok=True)
    shutil.copy(_empty_tracking_database(), destination / "mlflow-test.db")  # conf/test/mlflow.yml
    # Kedro wants a source folder; the package itself is imported from the installed project.
    (destination / "src").mkdir()
    return destination


def run_kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    """``kedro <args>`` as a user types it, in ``project``, with this environment's kedro and
    the project's own logging configuration (its info.log inside ``project``)."""
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
