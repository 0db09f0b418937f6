"""Silences warnings that dependencies print at every run and a user of this project cannot act on.

Registered as a ``kedro.init`` entry point (pyproject.toml), so it runs before Kedro loads its
plugins, which is when the first of these warnings fire; ``settings.py`` calls it too for
sessions started from Python (tests, notebooks).
"""

from __future__ import annotations

import logging
import re
import warnings

# Substrings of Python warnings raised inside dependencies, not by this project's code.
UNACTIONABLE_WARNINGS: tuple[str, ...] = (
    # mlflow warns when kedro-mlflow defines its pyfunc model class at import time.
    "Add type hints to the `predict` method",
    # kedro and kedro-mlflow call omegaconf's deprecated resolver API.
    "register_new_resolver() is deprecated",
    # `kedro run --pipeline` is the documented command; Kedro 1.7 prefers `--pipelines`.
    "Option '--pipeline' is deprecated",
)

# (logger, message substring) of log records dependencies emit as warnings.
UNACTIONABLE_LOG_RECORDS: tuple[tuple[str, str], ...] = (
    # kedro-mlflow replaces its metrics datasets to bind them to the active MLflow run.
    ("kedro.io.data_catalog", "Replacing dataset"),
    # the runners recommend --async, which this project refuses (hyperforget.cli)
    ("kedro.runner.sequential_runner", "Use the --async flag"),
    ("kedro.runner.parallel_runner", "Use the --async flag"),
)


class _DropMessages(logging.Filter):
    def __init__(self, texts: tuple[str, ...]) -> None:
        super().__init__()
        self.texts = texts

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in self.texts)


def silence_unactionable_warnings() -> None:
    """Drop the listed warnings, both as Python warnings and once routed into logging.

    Kedro captures warnings into the ``py.warnings`` logger and re-orders ``warnings.filters``
    as it runs, so the logger filters are what holds during ``kedro run``.
    """
    for text in UNACTIONABLE_WARNINGS:
        warnings.filterwarnings("ignore", message=f".*{re.escape(text)}")
    records = [("py.warnings", text) for text in UNACTIONABLE_WARNINGS]
    for logger_name, text in [*records, *UNACTIONABLE_LOG_RECORDS]:
        logger = logging.getLogger(logger_name)
        if not any(isinstance(f, _DropMessages) and text in f.texts for f in logger.filters):
            logger.addFilter(_DropMessages((text,)))
