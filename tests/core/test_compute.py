"""``compute.backend: dask`` against real Dask processes: a ``dask scheduler`` and two ``dask
worker`` commands, as on a cluster, and a LocalCluster started by the run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hyperforget.core import compute
from hyperforget.core.config import ConfigError
from hyperforget.datasets.safetensors_dataset import SafetensorsDataset
from tests.conftest import copy_project, run_kedro

distributed = pytest.importorskip("distributed")

DASK = str(Path(sys.executable).with_name("dask"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def scheduler_address():
    """A scheduler and two single-thread workers, each its own process."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    # the workers import this module's tasks as tests.core.test_compute
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    port = address.rsplit(":", 1)[1]
    processes = [
        subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"], **quiet
        )
    ]
    worker = [DASK, "worker", address, "--nthreads", "1", "--no-dashboard"]
    processes += [subprocess.Popen([*worker, "--memory-limit", "0"], **quiet) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with distributed.Client(address, timeout=5) as client:
                    if len(client.scheduler_info()["workers"]) == 2:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the Dask processes did not start within 60 s"
            time.sleep(1)
        yield address
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def config(**overrides) -> compute.ComputeConfig:
    block = {"backend": "dask", "address": None, "workers": 2, "connect_timeout": 5}
    return compute.ComputeConfig(**{**block, **overrides})


def zoo_versions(project: Path) -> list[torch.Tensor]:
    root = project / "data/06_models/zoo_weights.safetensors"
    files = sorted(root.glob("*/zoo_weights.safetensors"))
    return [SafetensorsDataset(filepath=str(f)).load()["params"] for f in files]


@pytest.fixture(scope="module")
def local_zoo(tmp_path_factory):
    """The test environment's data and zoo (the model_zoo pipeline up to the zoo: the part that
    goes to a cluster), trained with the default local backend."""
    project = copy_project(tmp_path_factory.mktemp("dask_project"))
    done = run_kedro(project, "run", "--env", "test", "--to-nodes", "train_zoo")
    assert done.returncode == 0, done.stderr[-3000:]
    (zoo,) = zoo_versions(project)
    return project, zoo


def _zoo_on(project: Path, params: str) -> torch.Tensor:
    done = run_kedro(project, "run", "--env", "test", "--to-nodes", "train_zoo", "--params", params)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Dask: scheduler" in done.stdout + done.stderr
    return zoo_versions(project)[-1]


def test_the_zoo_on_running_scheduler_and_workers_is_the_local_zoo(local_zoo, scheduler_address):
    """Each regime is cut into shards, one task each; a shard's batched matmuls have another
    batch size than the whole regime's, so float rounding differs (not bit for bit)."""
    project, local = local_zoo
    remote = _zoo_on(project, f"compute.backend=dask,compute.address={scheduler_address}")
    torch.testing.assert_close(remote, local, rtol=0.0, atol=1e-5)


def test_the_zoo_on_a_local_cluster_of_the_run_is_the_local_zoo(local_zoo):
    project, local = local_zoo
    cluster = _zoo_on(project, "compute.backend=dask,compute.workers=2")
    torch.testing.assert_close(cluster, local, rtol=0.0, atol=1e-5)


def test_an_unreachable_address_names_it_and_the_fix():
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(ConfigError, match=rf"{address}.*dask scheduler.*address: null"):
        compute.check_reachable(config(address=address, connect_timeout=2))


def test_the_local_backend_maps_in_order_without_dask():
    with compute.tasks(config(backend="local")) as map_tasks:
        assert map_tasks(pow, [1, 2, 3], "powers", exp=2) == [1, 4, 9]
