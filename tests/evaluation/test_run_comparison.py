"""The notebook's comparison of the last two MLflow runs, method by method."""

from __future__ import annotations

import mlflow
import pytest

from hyperforget.evaluation.run_comparison import compare_last_runs, project_tracking_uri


def test_a_relative_sqlite_database_is_the_projects_wherever_the_kernel_starts(tmp_path):
    assert (
        project_tracking_uri("sqlite:///mlflow.db", tmp_path) == f"sqlite:///{tmp_path}/mlflow.db"
    )
    assert project_tracking_uri("sqlite:////data/m.db", tmp_path) == "sqlite:////data/m.db"
    assert project_tracking_uri("http://host:5000", tmp_path) == "http://host:5000"


def _log_run(client: mlflow.MlflowClient, experiment: str, name: str, commit: str, scores: dict):
    run = client.create_run(experiment, run_name=name, tags={"git_commit": commit})
    for method, (final, relative_f, retain) in scores.items():
        client.log_metric(run.info.run_id, f"{method}.final_score", final)
        client.log_metric(run.info.run_id, f"{method}.relative_f", relative_f)
        client.log_metric(run.info.run_id, f"{method}.retain_test", retain)
        client.log_metric(run.info.run_id, f"{method}.train_loss", 0.0)
        client.log_metric(run.info.run_id, f"spm.{method}.final_score", 0.0)
    client.set_terminated(run.info.run_id)


def test_the_last_two_evaluated_runs_side_by_side_per_method(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("hyperforget")
    _log_run(client, experiment, "old", "a" * 40, {"ft": (0.1, 0.2, 80.0)})
    _log_run(
        client, experiment, "before", "b" * 40, {"ft": (0.3, 0.4, 85.0), "ga": (0.5, 0.6, 70.0)}
    )
    _log_run(
        client, experiment, "newest", "c" * 40, {"ft": (0.7, 0.8, 90.0), "ga": (0.9, 1.0, 75.0)}
    )
    client.set_terminated(client.create_run(experiment, run_name="no-eval").info.run_id)

    table = compare_last_runs(uri)

    assert list(table.index) == ["ft", "ga"]
    assert list(table.columns.get_level_values("run").unique()) == [
        "newest @ ccccccc",
        "before @ bbbbbbb",
    ]
    assert table.loc["ga", ("newest @ ccccccc", "relative_f")] == 1.0
    assert table.loc["ft", ("before @ bbbbbbb", "retain_test")] == 85.0
    assert table.notna().all().all()


def test_too_few_evaluated_runs_name_the_command_that_makes_one(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(ValueError, match="No MLflow experiment 'hyperforget'.*kedro run"):
        compare_last_runs(uri)
    client = mlflow.MlflowClient(uri)
    _log_run(client, client.create_experiment("hyperforget"), "only", "d" * 40, {"ft": (0, 0, 0)})
    with pytest.raises(ValueError, match="1 run.*comparing needs 2.*kedro run"):
        compare_last_runs(uri)
