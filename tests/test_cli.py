"""`kedro run` through the project's CLI (a real subprocess, as a user types it): a refused run
ends with one clear line, and its traceback is in info.log."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import mlflow
import pytest

from hyperforget import cli
from tests.conftest import copy_project, run_kedro

BAD_CLASS = ["run", "--pipelines", "data_preparation", "--env", "test"]
BAD_CLASS += ["--params", "data_preparation.classes=[11]"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("cli"))


def test_runs_started_together_get_distinct_save_versions(tmp_path):
    """Kedro's timestamps have millisecond resolution: two runs started in the same millisecond
    would share a save version, and the later save of a shared output would fail."""
    lock = tmp_path / "versions.lock"
    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(lambda _: cli.unique_version(lock), range(100)))
    assert len(set(versions)) == 100
    assert lock.read_text() == max(versions)


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


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_is_killed_in_mlflow_never_finished(tmp_path, sig, code):
    project = copy_project(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "KEDRO_LOGGING_CONFIG"}
    env |= {"KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    kedro = str(Path(sys.executable).with_name("kedro"))
    process = subprocess.Popen(
        [kedro, "run", "--pipelines", "unlearn", "--env", "test"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = project / "info.log"
    deadline = time.monotonic() + 240
    while not (log.exists() and "Running node:" in log.read_text()):
        assert process.poll() is None and time.monotonic() < deadline, "the run never started"
        time.sleep(0.5)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code
    assert "Interrupted by" in stderr and "marked KILLED" in stderr
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow-test.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [run.info.status for run in runs] == ["KILLED"]
    assert not list((project / "data" / "09_runs").glob("*.json"))  # never a complete run


def test_an_unknown_environment_is_refused_naming_the_known_ones(project):
    done = run_kedro(project, "run", "--env", "nosuchenv")
    assert done.returncode == 1
    assert "Error: No environment 'nosuchenv': --env takes a folder of" in done.stderr
    assert "mnist4" in done.stderr and "test" in done.stderr


def _tracking_project(tmp_path: Path) -> Path:
    (tmp_path / "conf/base").mkdir(parents=True)
    (tmp_path / "conf/test").mkdir()
    (tmp_path / "conf/base/mlflow.yml").write_text(
        "server:\n  mlflow_tracking_uri: sqlite:///m.db\n"
    )
    (tmp_path / "conf/test/mlflow.yml").write_text(
        "server:\n  mlflow_tracking_uri: sqlite:///t.db\n"
    )
    return tmp_path


def test_a_malformed_tracking_database_is_refused_naming_it_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.chdir(_tracking_project(tmp_path))
    (tmp_path / "t.db").write_text("not a database")
    with pytest.raises(click.ClickException, match=r"t.db \(sqlite:///t.db, set in .*conf/test"):
        cli._check_tracking_store("test")
    with pytest.raises(click.ClickException, match=r"is not a database. Fix: move it aside"):
        cli._check_tracking_store("test")
    assert (tmp_path / "t.db").read_text() == "not a database"  # left as it was
    cli._check_tracking_store(None)  # local falls back to base's m.db: not there yet, fine


def test_a_locked_tracking_database_is_refused_naming_who_holds_it(tmp_path, monkeypatch):
    monkeypatch.chdir(_tracking_project(tmp_path))
    holder = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(click.ClickException, match=r"m.db .* database is locked. Fix: another"):
            cli._check_tracking_store(None)
    finally:
        holder.close()
    cli._check_tracking_store(None)


def test_the_version_lock_lives_in_the_project(tmp_path, monkeypatch):
    """A lock in the machine's temporary folder is shared by every project and user: another
    user's lock made every run crash."""
    monkeypatch.chdir(tmp_path)
    version = cli.unique_version()
    assert (tmp_path / "data/09_runs/.save-versions.lock").read_text() == version


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--params", "unlearning.run="], r"unlearning.run= has no value: give one"),
        (["--params", "unlearning.seed=1,unlearning.run= "], r"unlearning.run= has no value"),
        (["--async"], r"--async is not supported"),
    ],
)
def test_an_empty_value_and_async_are_refused_before_the_run(args, message):
    from click.testing import CliRunner

    result = CliRunner().invoke(cli.cli, ["run", *args])
    assert result.exit_code != 0
    assert re.search(message, result.output), result.output


def test_conf_local_skipped_by_another_environment_is_said(tmp_path, monkeypatch, capsys):
    """Kedro reads conf/base and one environment: under --env test a conf/local override is
    not read, silently."""
    for env in ("base", "local", "test"):
        (tmp_path / "conf" / env).mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    cli._check_env("test")
    assert capsys.readouterr().err == ""
    (tmp_path / "conf/local/parameters.yml").write_text("evaluation:\n  method_runs: 5\n")
    cli._check_env("test")
    assert "--env test reads conf/base and conf/test only, not conf/local (parameters.yml" in (
        capsys.readouterr().err
    )
    cli._check_env(None)
    assert capsys.readouterr().err == ""


def test_the_project_settings_load_without_torch_or_mlflow():
    """Every kedro command (``kedro --version``, ``--help``) loads the settings: they import
    neither torch nor MLflow (seconds each), which load when a dataset or node needs them."""
    code = "import sys, hyperforget.settings; print(sorted({'torch', 'mlflow'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
