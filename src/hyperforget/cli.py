"""Project commands: Kedro's own ``kedro run``, with a refused or failed run reported as one
line. The full traceback goes to ``info.log`` (conf/logging.yml), or to the terminal with
``--verbose``. An interrupted run (Ctrl-C, SIGTERM) ends its MLflow run as KILLED, never
FINISHED (mlflow's exit handler) or RUNNING (no handler at all), and exits with 130 / 143.
Kedro picks this module up as the project's ``cli.py``."""

from __future__ import annotations

import logging
import signal
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run

logger = logging.getLogger(__name__)


@click.group(name="hyperforget")
def cli() -> None:
    """HyperForget's project commands."""


@cli.command(
    name="run",
    help=kedro_run.help,
    context_settings=kedro_run.context_settings,
    params=[
        *kedro_run.params,
        click.Option(["--verbose"], is_flag=True, help="On failure, print the full traceback too."),
    ],
)
@click.pass_context
def run(ctx: click.Context, verbose: bool, **kwargs: Any) -> Any:
    _check_env(kwargs.get("env"))
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    # Ctrl-C raises KeyboardInterrupt even where the run was started with SIGINT ignored (a
    # background job of a non-interactive shell inherits that)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return ctx.invoke(kedro_run, **kwargs)
    except (KeyboardInterrupt, Terminated) as interrupt:
        by, code = ("SIGTERM", 143) if isinstance(interrupt, Terminated) else ("Ctrl-C", 130)
        tracked = _end_mlflow_run("KILLED")
        logger.error("kedro run interrupted by %s", by)
        click.echo(
            f"Interrupted by {by}" + (f"; MLflow run {tracked} marked KILLED." if tracked else "."),
            err=True,
        )
        ctx.exit(code)
    except Exception as error:
        if verbose:
            raise
        log_file = _log_to_file(error)
        where = f"the traceback is in {log_file}" if log_file else "the traceback"
        raise click.ClickException(
            f"{type(error).__name__}: {error}\n({where}; --verbose prints it)"
        ) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _check_env(env: str | None) -> None:
    """An environment that is not a folder of conf/ is refused, naming the ones there (Kedro
    would run with base alone, and MLflow fail on a backend it was never given)."""
    from pathlib import Path

    if env is None:
        return
    conf = Path.cwd() / "conf"
    known = sorted(p.name for p in conf.iterdir() if p.is_dir()) if conf.is_dir() else []
    if env not in known:
        raise click.ClickException(
            f"No environment {env!r}: --env takes a folder of {conf} ({', '.join(known)})."
        )


class Terminated(BaseException):
    """SIGTERM, raised where the run is, so it unwinds like Ctrl-C (not an ``Exception``: no
    node or hook may swallow it)."""


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Terminated


def _end_mlflow_run(status: str) -> str | None:
    """End the active MLflow run, if any, with ``status``; its id."""
    import mlflow

    active = mlflow.active_run()
    if active is None:
        return None
    mlflow.end_run(status=status)
    return active.info.run_id


def _log_to_file(error: Exception) -> str | None:
    """Write ``error`` with its traceback to the project's file handlers only (the terminal gets
    one line); the file's name, or None when logging has no file handler."""
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    record = logger.makeRecord(
        logger.name,
        logging.ERROR,
        __file__,
        0,
        "kedro run failed",
        (),
        (type(error), error, error.__traceback__),
    )
    for handler in files:
        handler.handle(record)
    return files[0].baseFilename if files else None
