"""A matplotlib figure saved as a versioned PNG and logged to the MLflow run, drawn once."""

from __future__ import annotations

import io
import posixpath
import tempfile
from pathlib import Path
from typing import Any

from kedro_datasets.matplotlib import MatplotlibDataset
from matplotlib.figure import Figure


class FigureDataset(MatplotlibDataset):
    """``MatplotlibDataset`` (same arguments, versioning and kedro-viz preview) whose saved PNG
    is also the MLflow run's artifact ``artifact`` (e.g. ``plots/final_score.png``) while a run
    is active: the bytes written are the bytes logged, so a figure is drawn once, not again by
    ``mlflow.log_figure``."""

    def __init__(self, *, artifact: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._artifact = artifact

    def _save_to_fs(self, full_key_path: str, plot: Figure) -> None:
        png = io.BytesIO()
        plot.savefig(png, **self._save_args)
        with self._fs.open(full_key_path, **self._fs_open_args_save) as file:
            file.write(png.getvalue())
        if self._artifact:
            log_artifact_bytes(png.getvalue(), self._artifact)


def log_artifact_bytes(content: bytes, artifact: str) -> None:
    """``content`` as the active MLflow run's file ``artifact`` (nothing without a run)."""
    import mlflow

    if mlflow.active_run() is None:
        return
    folder, name = posixpath.split(artifact)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch, name)
        path.write_bytes(content)
        mlflow.log_artifact(str(path), folder or None)
