"""A figure is written once as a versioned PNG, and those bytes are the MLflow run's artifact."""

from __future__ import annotations

from pathlib import Path

import mlflow
from kedro.io import Version
from matplotlib.figure import Figure

from hyperforget.datasets.figure_dataset import FigureDataset


def figure() -> Figure:
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    return fig


def test_the_saved_png_is_the_logged_artifact(tracking, tmp_path, monkeypatch):
    drawn = []
    savefig = Figure.savefig
    monkeypatch.setattr(
        Figure, "savefig", lambda self, *a, **k: drawn.append(1) or savefig(self, *a, **k)
    )
    dataset = FigureDataset(
        filepath=str(tmp_path / "reporting" / "score.png"),
        artifact="plots/score.png",
        version=Version(None, "2026-12-07T00.00.00.000Z"),
    )
    with mlflow.start_run() as run:
        dataset.save(figure())
    saved = tmp_path / "reporting" / "score.png" / "2026-12-07T00.00.00.000Z" / "score.png"
    logged = Path(tracking.download_artifacts(run.info.run_id, "plots/score.png", str(tmp_path)))
    assert drawn == [1]  # drawn once, for both
    assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert logged.read_bytes() == saved.read_bytes()
    assert dataset.preview()  # kedro-viz's image preview reads the saved file


def test_without_a_run_only_the_file_is_written(tracking, tmp_path):
    FigureDataset(filepath=str(tmp_path / "a.png"), artifact="a.png").save(figure())
    assert (tmp_path / "a.png").stat().st_size > 0
    assert mlflow.active_run() is None
    assert not tracking.search_runs([mlflow.get_experiment_by_name("datasets").experiment_id])
