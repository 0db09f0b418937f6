"""Where a stage's independent trainings run (the ``compute`` block of ``parameters.yml``).

``local`` runs them one after another in this process. ``processes`` runs them side by side
in a pool of ``workers`` processes on this machine, ``run_threads`` torch threads each.
``dask`` sends each as a task to a Dask cluster: a ``distributed.LocalCluster`` (``address:
null``; one thread per worker process) or a running scheduler (``address: tcp://host:8786``).
A pool or LocalCluster is started once for a whole ``kedro run`` by a hook
(``open_run_cluster``), or else for the stage. Tasks take and return tensors; the caller keeps
writing every output, so nothing a worker computes is saved by it. A map whose process dies
raises (on Dask, once the task has failed on ``allowed-failures`` workers), so a stage never
returns a partial result as if it were complete.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import cloudpickle
import torch
from tqdm.auto import tqdm

from hyperforget.core.config import Config, ConfigError, setting

logger = logging.getLogger(__name__)

BACKENDS = ("local", "processes", "dask")


@dataclass(frozen=True, kw_only=True)
class ComputeConfig(Config):
    backend: str = setting(choices=BACKENDS)
    address: str | None = setting()  # a running scheduler; null: a LocalCluster for the stage
    workers: int = setting(ge=1)  # tasks a batch of trainings is cut into (processes: the
    # pool's processes; dask, address: null: the LocalCluster's worker processes)
    connect_timeout: float = setting(gt=0.0)  # seconds to reach the scheduler at address
    run_threads: int | None = setting(None, ge=1)  # torch threads of a run on the target
    # network (here, or in each process of the pool); null: torch's default, one per core

    @property
    def shards(self) -> int | None:
        """How many tasks a batch of trainings is cut into (local: None, it is trained whole in
        this process; processes and dask: at least one, so even a single worker's batch runs
        there)."""
        return None if self.backend == "local" else self.workers

    @property
    def scoring_threads(self) -> int:
        """Threads of this process that score runs side by side (``thread_map``): the pool's
        ``workers`` (backend ``processes``: the cores the run may use), else one."""
        return self.workers if self.backend == "processes" else 1


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Torch computes on the CPU with ``threads`` threads inside the block (None: unchanged).

    A network as small as the MNIST MLP gains nothing from a second thread: its matmuls are too
    small to split, so the second thread mostly waits, and doubles the CPU time of the work."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class MapTasks(Protocol):
    def __call__(
        self, task: Callable[..., Any], items: Sequence[Any], desc: str, /, **shared: Any
    ) -> list[Any]:
        """``[task(item, **shared) for item in items]``, in order; ``shared`` is sent once (its
        names are the task's: the map's own arguments are positional only)."""


def local_map(
    task: Callable[..., Any], items: Sequence[Any], desc: str, /, **shared: Any
) -> list[Any]:
    bar = tqdm(items, desc=desc, disable=len(items) < 2, mininterval=2)
    return [task(item, **shared) for item in bar]


def thread_map(func: Callable[[Any], Any], items: Sequence[Any], threads: int) -> list[Any]:
    """``[func(item) for item in items]`` in ``threads`` threads of this process, in order: for
    work that releases the GIL (libsvm's fits, torch's operators), with nothing to copy."""
    if threads <= 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(func, items))


def _threads_of_worker(task: Callable[..., Any], item: Any, shared: dict[str, Any]) -> Any:
    """Run ``task`` with as many torch threads as the worker has task threads (so two workers
    on two cores do not each start a thread per core)."""
    from distributed import get_worker

    torch.set_num_threads(max(1, get_worker().state.nthreads))
    return task(item, **shared)


def _dask_map(
    client, task: Callable[..., Any], items: Sequence[Any], desc: str, /, **shared: Any
) -> list[Any]:
    from distributed import KilledWorker, as_completed

    # hash=False: each map its own copy, so one map's release cannot take another's data away;
    # [value]: one future per value (scatter would send a dict's items one by one)
    sent = {
        name: client.scatter([value], broadcast=True, hash=False)[0]
        for name, value in shared.items()
    }
    # the shared data as one dict argument: some names (resources, workers, key) are submit's own
    futures = [client.submit(_threads_of_worker, task, item, sent, pure=False) for item in items]
    order = {future.key: i for i, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    try:
        for future in tqdm(as_completed(futures), total=len(futures), desc=f"{desc} (dask)"):
            results[order[future.key]] = future.result()
    except KilledWorker as error:
        client.cancel(futures)
        raise RuntimeError(
            f"{desc}: a task's worker died on every try (Dask's "
            "distributed.scheduler.allowed-failures); nothing of this stage was saved. Read "
            "the workers' logs (out of memory? raise `dask worker --memory-limit`) and rerun."
        ) from error
    except BaseException:
        client.cancel(futures)  # nothing of a failed or interrupted map keeps running
        raise
    return results


def connect(address: str, timeout: float):
    """A client of the scheduler at ``address``, or a :class:`ConfigError` naming it and the fix."""
    from distributed import Client

    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as error:
        raise ConfigError(
            f"compute.address: no Dask scheduler answered at {address} within {timeout:g} s "
            f"({type(error).__name__}). Start one there (`dask scheduler`, then `dask worker "
            f"{address}` on each machine), fix the address, or set compute.address: null for a "
            "local cluster (compute.backend: local runs without Dask)."
        ) from error


def _dask_installed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as error:
        raise ConfigError(
            "compute.backend is dask but Dask is not installed; install the extra "
            "(`uv sync --extra dask`, or `pip install 'dask[distributed]'`) or set "
            "compute.backend: local."
        ) from error


def _start_pool_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _process_pool(config: ComputeConfig) -> ProcessPoolExecutor:
    """``config.workers`` spawned processes (a fork would copy torch's thread pools), each with
    ``run_threads`` torch threads (null: one, so the workers share the cores)."""
    return ProcessPoolExecutor(
        config.workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_pool_worker,
        initargs=(config.run_threads or 1,),
    )


def _run_chunk(payload: bytes, items: list[Any]) -> bytes:
    """In a pool's process: ``task`` on each of ``items``, the results pickled by value."""
    task, shared = cloudpickle.loads(payload)
    return cloudpickle.dumps([task(item, **shared) for item in items])


def _pool_map(
    pool: ProcessPoolExecutor,
    workers: int,
    task: Callable[..., Any],
    items: Sequence[Any],
    desc: str,
    /,
    **shared: Any,
) -> list[Any]:
    # cloudpickle: tasks and shared data may hold closures (a network's builder); by value, not
    # through torch's shared-memory file descriptors; a few chunks per process balance the load
    payload = cloudpickle.dumps((task, shared))
    size = max(1, math.ceil(len(items) / (4 * workers)))
    chunks = [list(items[i : i + size]) for i in range(0, len(items), size)]
    futures = {pool.submit(_run_chunk, payload, chunk): i for i, chunk in enumerate(chunks)}
    results: list[list[Any]] = [[] for _ in chunks]
    bar = tqdm(total=len(items), desc=f"{desc} ({workers} processes)", mininterval=2)
    try:
        for future in as_completed(futures):
            results[futures[future]] = cloudpickle.loads(future.result())
            bar.update(len(results[futures[future]]))
    except BrokenProcessPool as error:
        raise RuntimeError(
            f"{desc}: a process of the pool died (out of memory?); nothing of this stage was "
            "saved. Lower compute.workers, or set compute.backend: local, and rerun."
        ) from error
    except BaseException:
        for future in futures:
            future.cancel()  # nothing of a failed or interrupted map keeps running
        raise
    finally:
        bar.close()
    return [result for chunk in results for result in chunk]


# the process pool or LocalCluster every stage of the current run sends its tasks to
_RUN_POOL: list[tuple[ProcessPoolExecutor, int]] = []  # with its number of processes
_RUN_CLUSTER: list = []


def _local_cluster(workers: int):
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    )


def open_run_cluster(config: ComputeConfig) -> None:
    """Start the process pool (``backend: processes``) or LocalCluster (``backend: dask``,
    ``address: null``) of a run, so that its stages share one instead of each starting its own;
    ``close_run_cluster`` ends it."""
    if config.backend == "processes" and not _RUN_POOL:
        _RUN_POOL.append((_process_pool(config), config.workers))
        logger.info("A pool of %d processes for the run's trainings", config.workers)
    if config.backend != "dask" or config.address is not None or _RUN_CLUSTER:
        return
    _dask_installed()
    cluster = _local_cluster(config.workers)
    _RUN_CLUSTER.append(cluster)
    logger.info("Dask: a LocalCluster for the run, dashboard %s", cluster.dashboard_link)


def close_run_cluster() -> None:
    while _RUN_POOL:
        _RUN_POOL.pop()[0].shutdown(cancel_futures=True)
    while _RUN_CLUSTER:
        _RUN_CLUSTER.pop().close()


@contextmanager
def tasks(config: ComputeConfig) -> Iterator[MapTasks]:
    """A map over independent tasks on ``config``'s backend, for the length of the block."""
    if config.backend == "local":
        yield local_map
        return
    if config.backend == "processes":
        if _RUN_POOL:
            yield partial(_pool_map, *_RUN_POOL[0])
            return
        with _process_pool(config) as pool:
            yield partial(_pool_map, pool, config.workers)
        return
    _dask_installed()
    from distributed import Client

    cluster = None
    if config.address is None and _RUN_CLUSTER:
        client = Client(_RUN_CLUSTER[0])
    elif config.address is None:
        cluster = _local_cluster(config.workers)
        client = Client(cluster)
    else:
        client = connect(config.address, config.connect_timeout)
    workers = len(client.scheduler_info()["workers"])
    logger.info(
        "Dask: scheduler %s with %d workers; dashboard %s",
        client.scheduler.address,
        workers,
        client.dashboard_link,
    )
    try:
        yield partial(_dask_map, client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def check_reachable(config: ComputeConfig) -> None:
    """Refuse, before a run writes anything, a ``dask`` backend that cannot be used: Dask not
    installed, or no scheduler at ``address`` within ``connect_timeout``."""
    if config.backend != "dask":
        return
    _dask_installed()
    if config.address is not None:
        connect(config.address, config.connect_timeout).close()
