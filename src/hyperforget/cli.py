"""Project commands: Kedro's own ``kedro run``, with a refused or failed run reported as one
line. The full traceback goes to ``info.log`` (conf/logging.yml), or to the terminal with
``--verbose``. An interrupted run (Ctrl-C, SIGTERM) ends its MLflow run as KILLED, never
FINISHED (mlflow's exit handler) or RUNNING (no handler at all), and exits with 130 / 143.
Kedro picks this module up as the project's ``cli.py``."""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.cli.utils import _split_params, split_string
from kedro.framework.session import session as kedro_session
from kedro.io.core import generate_timestamp

from hyperforget.interrupts import Terminated, raising_interrupts, received
from hyperforget.lineage import discard_unfinished
from hyperforget.run_manifests import RUNS

logger = logging.getLogger(__name__)


@click.group(name="hyperforget")
def cli() -> None:
    """HyperForget's project commands."""


def _split_params_strictly(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Kedro's ``--params`` parsing, refusing an item with no value (``unlearning.run=``):
    Kedro reads it as null, which for most parameters means "all"."""
    if isinstance(value, str):
        for item in split_string(ctx, param, value):
            key, equals, given = item.partition("=")
            if equals and not given.strip():
                raise click.BadParameter(
                    f"{key.strip()}= has no value: give one (e.g. {key.strip()}=[3]), or "
                    f"{key.strip()}=null for the default."
                )
    return _split_params(ctx, param, value)


def _strict(option: click.Parameter) -> click.Parameter:
    if option.name != "params":
        return option
    strict = copy.copy(option)
    strict.callback = _split_params_strictly
    return strict


@cli.command(
    name="run",
    help=kedro_run.help,
    context_settings=kedro_run.context_settings,
    params=[
        *map(_strict, kedro_run.params),
        click.Option(["--verbose"], is_flag=True, help="On failure, print the full traceback too."),
    ],
)
@click.pass_context
def run(ctx: click.Context, verbose: bool, **kwargs: Any) -> Any:
    if kwargs.get("is_async"):
        raise click.ClickException(
            "--async is not supported: kedro-mlflow logs a dataset's metrics from the thread "
            "that saves it, which --async moves out of the run's MLflow run. Run without it."
        )
    _check_env(kwargs.get("env"))
    _check_tracking_store(kwargs.get("env"))
    version = unique_version()
    kedro_session.generate_timestamp = lambda: version  # the session's id and save version
    try:
        with raising_interrupts():
            return ctx.invoke(kedro_run, **kwargs)
    except (KeyboardInterrupt, Terminated) as interrupt:
        _exit_interrupted(ctx, "SIGTERM" if isinstance(interrupt, Terminated) else "Ctrl-C")
    except Exception as error:
        discard_unfinished()  # what the run saved before it failed (kedro's error hook may not run)
        if received():  # a library turned the interrupt into an error of its own
            _exit_interrupted(ctx, received())
        if verbose:
            raise
        log_file = _log_to_file(error)
        where = f"the traceback is in {log_file}" if log_file else "the traceback"
        raise click.ClickException(
            f"{type(error).__name__}: {error}\n({where}; --verbose prints it)"
        ) from None
    finally:
        kedro_session.generate_timestamp = generate_timestamp


def unique_version(lock: Path | None = None) -> str:
    """A Kedro timestamp (the run's session id and save version) that no other run of this
    project was given. Kedro's have millisecond resolution, so two runs started together could
    get the same one, and the later save of a shared output would fail ("must not exist if
    versioning is enabled"). The last version handed out is kept in ``lock`` (the project's
    ``data/09_runs/.save-versions.lock``), under a file lock."""
    try:
        import fcntl
    except ImportError:  # no POSIX file locks (Windows): Kedro's own timestamp
        return generate_timestamp()
    lock = lock or Path.cwd() / RUNS / ".save-versions.lock"
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock, "a+")  # noqa: SIM115 (closed below)
    except OSError:  # a read-only project: the run is refused before its first save
        return generate_timestamp()
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        handle.seek(0)
        last = handle.read().strip()
        version = generate_timestamp()
        while version == last:  # under the lock each run reads the clock after the last
            time.sleep(0.001)
            version = generate_timestamp()
        handle.seek(0)
        handle.truncate()
        handle.write(version)
    return version


def _check_env(env: str | None) -> None:
    """An environment that is not a folder of conf/ is refused, naming the ones there (Kedro
    would run with base alone, and MLflow fail on a backend it was never given)."""
    if env is None:
        return
    conf = Path.cwd() / "conf"
    known = sorted(p.name for p in conf.iterdir() if p.is_dir()) if conf.is_dir() else []
    if env not in known:
        raise click.ClickException(
            f"No environment {env!r}: --env takes a folder of {conf} ({', '.join(known)})."
        )
    skipped = sorted(p.name for p in (conf / "local").glob("*.yml")) if env != "local" else []
    if skipped:
        click.echo(
            f"Warning: --env {env} reads conf/base and conf/{env} only, not conf/local "
            f"({', '.join(skipped)} are not read in this run); use --params or conf/{env}.",
            err=True,
        )


def _tracking_uri(env: str | None) -> tuple[str, Path] | None:
    """The MLflow tracking URI a run in ``env`` logs to and the file that sets it (the env's
    ``mlflow.yml`` over base's, as kedro-mlflow reads them)."""
    import yaml

    for folder in (env or "local", "base"):
        path = Path.cwd() / "conf" / folder / "mlflow.yml"
        if path.is_file():
            uri = ((yaml.safe_load(path.read_text()) or {}).get("server") or {}).get(
                "mlflow_tracking_uri"
            )
            if uri:
                return str(uri), path
    return None


def _check_tracking_store(env: str | None) -> None:
    """A sqlite tracking database that is not one, or that another process holds locked, is
    refused before the run starts, naming the file and the fix (MLflow would fail with an
    SQL error, after the run began)."""
    import sqlite3
    from contextlib import closing

    found = _tracking_uri(env)
    if found is None or not found[0].startswith("sqlite:///"):
        return
    uri, config = found
    database = Path(uri.removeprefix("sqlite:///"))
    if not database.is_file():
        return  # MLflow creates it
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as db:
            db.execute("SELECT name FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError as error:
        if "locked" in str(error):
            fix = (
                "another process holds it (a kedro run, or mlflow ui, writing to it): wait for it "
                "to finish or stop it"
            )
        else:
            fix = (
                f"move it aside (mv {database} {database}.broken) to start a new one, or set "
                f"server.mlflow_tracking_uri in conf/{env or 'local'}/mlflow.yml (read by this "
                "run) to another database"
            )
        raise click.ClickException(
            f"The MLflow tracking database {database} ({uri}, set in {config}) cannot be "
            f"used: {error}. Fix: {fix}. Nothing was run."
        ) from None


def _exit_interrupted(ctx: click.Context, by: str) -> None:
    """Remove what the run saved, end the MLflow run as KILLED and exit with 130 (Ctrl-C) or
    143 (SIGTERM)."""
    discard_unfinished()
    try:
        tracked = _end_mlflow_run("KILLED")
        marked = f"; MLflow run {tracked} marked KILLED." if tracked else "."
    except Exception as error:  # the interrupt may have cut an MLflow write short
        logger.exception("could not mark the MLflow run KILLED")
        marked = f"; the MLflow run could not be marked KILLED ({type(error).__name__}: {error})."
    logger.error("kedro run interrupted by %s", by)
    click.echo(f"Interrupted by {by}{marked}", err=True)
    ctx.exit(143 if by == "SIGTERM" else 130)


def _end_mlflow_run(status: str) -> str | None:
    """End the active MLflow run, if any, with ``status``; its id."""
    import mlflow

    active = mlflow.active_run()
    if active is None:
        return None
    try:
        mlflow.end_run(status=status)
    except Exception:  # retry through a new client, as nothing else will end it
        mlflow.MlflowClient().set_terminated(active.info.run_id, status)
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
