"""Where trainings run: ``compute.backend: dask`` against real Dask processes (a ``dask
scheduler`` and two ``dask worker`` commands, as on a cluster, and a LocalCluster started by
the run), ``processes`` against a real pool, and the scoring threads."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
import torch

from hyperforget.core import compute
from hyperforget.core.config import ConfigError
from hyperforget.core.flat_params import flatten_module
from hyperforget.core.scenario import ForgetScenario
from hyperforget.core.targets import build_target
from hyperforget.datasets.safetensors_dataset import SafetensorsDataset
from hyperforget.unlearning.api import ForgetRequest
from hyperforget.unlearning.scenarios import run_scenarios
from hyperforget.zoo.plan import RunSpec, initial_params
from hyperforget.zoo.runs import train_regime
from tests.conftest import copy_project, run_kedro
from tests.recipes import sgd
from tests.unlearning.conftest import method_params

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
    # the repository on the workers' path, as on a cluster's machines (the tests' own tasks
    # are nested functions, sent by value)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    quiet = {
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
        "env": env,
        "start_new_session": True,  # a process group each: its nanny's worker goes with it
    }
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
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a nanny still restarting a killed worker
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def config(**overrides) -> compute.ComputeConfig:
    block = {"backend": "dask", "address": None, "workers": 2, "connect_timeout": 5}
    return compute.ComputeConfig(**{**block, **overrides})


# what goes to a cluster in the model_zoo pipeline (node: the weights it writes)
TRAININGS = {"train_zoo": "zoo_weights", "retrain_oracles": "retrained_weights"}


def versions(project: Path, name: str) -> list[Path]:
    return sorted((project / f"data/06_models/{name}.safetensors").glob(f"*/{name}.safetensors"))


def _trained_on(
    project: Path, *params: str, to: tuple[str, ...] = tuple(TRAININGS)
) -> tuple[dict[str, torch.Tensor], str]:
    """The weights the nodes ``to`` write in one run (each a new version, loaded) and its log."""
    names = [TRAININGS[node] for node in to]
    before = {name: len(versions(project, name)) for name in names}
    nodes = ",".join(f"model_zoo.{node}" for node in to)
    done = run_kedro(project, "run", "--env", "test", "--to-nodes", nodes, *params)
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    assert ("Dask: scheduler" in log or "A pool of" in log) == bool(params)
    trained = {}
    for name in names:
        files = versions(project, name)
        assert len(files) == before[name] + 1, name  # this run's own version, not an older one
        trained[name] = SafetensorsDataset(filepath=str(files[-1])).load()["params"]
    return trained, log


@pytest.fixture(scope="module")
def local_zoo(tmp_path_factory):
    """The test environment's data, zoo and retrained oracles (the model_zoo pipeline up to
    them), trained with the default local backend."""
    project = copy_project(tmp_path_factory.mktemp("compute_project"))
    return project, _trained_on(project)[0]


def test_a_zoo_regime_on_running_scheduler_and_workers_is_the_local_regime(scheduler_address):
    """A regime is cut into shards, one task each, sent to a running scheduler; a shard's batched
    matmuls have another batch size than the whole regime's, so float rounding differs (not bit
    for bit). The kedro run in a process pool (below) covers the stage end to end."""
    gen = torch.Generator().manual_seed(0)
    images, labels = torch.randn(120, 1, 4, 4, generator=gen), torch.arange(120) % 3
    build = partial(build_target, (1, 4, 4), 3, (6,))
    specs = [RunSpec(i, "retain", i % 3, 100 + i) for i in range(4)]
    init = initial_params(build, [s.seed for s in specs])
    recipe = {"sgd": sgd(batch_size=16), "epochs": 2, "checkpoints": 3, "fraction": 0.8}
    local = train_regime(build, specs, images, labels, init, recipe, "local")
    with compute.tasks(config(address=scheduler_address)) as map_tasks:
        remote = train_regime(build, specs, images, labels, init, recipe, "remote", map_tasks, 2)
    assert [s.run_id for s in remote.specs] == [s.run_id for s in specs]
    assert remote.steps == local.steps and remote.samples == local.samples
    torch.testing.assert_close(remote.params, local.params, rtol=0.0, atol=1e-5)


def test_the_zoo_in_the_process_pool_of_the_run_is_the_local_zoo(local_zoo):
    """``compute.backend: processes``: one pool for the run (the hook's, which opens a Dask
    LocalCluster the same way), both stages' tasks in it, each regime cut into shards (see
    above); a scenario's retrained oracles are one task, the batch they are locally."""
    project, local = local_zoo
    pooled, log = _trained_on(project, "--params", "compute.backend=processes")
    for name in TRAININGS.values():
        torch.testing.assert_close(pooled[name], local[name], rtol=0.0, atol=1e-5, msg=name)
    assert log.count("A pool of 2 processes for the run") == 1, log[-3000:]


def test_the_stages_of_a_run_share_its_local_cluster():
    """While a run's cluster is open (the hook's), each stage's tasks go to it; after it closes,
    a stage starts a cluster of its own again."""

    def scheduler(map_tasks) -> str:
        return map_tasks.args[0].scheduler.address

    compute.open_run_cluster(config(workers=1))
    try:
        with compute.tasks(config()) as first, compute.tasks(config()) as second:
            run_cluster = scheduler(first)
            assert scheduler(second) == run_cluster
            assert first(pow, [1, 2], "powers", exp=2) == [1, 4]
    finally:
        compute.close_run_cluster()
    with compute.tasks(config(workers=1)) as own:
        assert scheduler(own) != run_cluster


def test_an_unreachable_address_names_it_and_the_fix():
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(ConfigError, match=rf"{address}.*dask scheduler.*address: null"):
        compute.check_reachable(config(address=address, connect_timeout=2))


def test_torch_threads_sets_the_threads_inside_the_block_only():
    before = torch.get_num_threads()
    with compute.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with compute.torch_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), compute.torch_threads(1):
        raise RuntimeError("a failing run")
    assert torch.get_num_threads() == before


def test_thread_map_keeps_the_items_order_and_scores_in_the_pools_width():
    assert compute.thread_map(lambda x: x * x, range(7), threads=3) == [x * x for x in range(7)]
    assert compute.thread_map(str, [], threads=2) == []
    assert config(backend="processes", workers=3).scoring_threads == 3
    assert config(backend="local", workers=3).scoring_threads == 1


def test_run_threads_is_a_positive_count_or_null():
    assert config(run_threads=None).run_threads is None
    assert config(run_threads=1).run_threads == 1
    with pytest.raises(ConfigError, match="run_threads"):
        config(run_threads=0)


def test_the_local_backend_maps_in_order_without_dask():
    with compute.tasks(config(backend="local")) as map_tasks:
        assert map_tasks(pow, [1, 2, 3], "powers", exp=2) == [1, 4, 9]


def test_a_task_whose_worker_dies_is_rerun_on_another_worker(scheduler_address, tmp_path):
    marker = tmp_path / "died"

    def dies_once(item: int) -> int:  # nested: pickled by value, nothing to import on a worker
        if not marker.exists():
            marker.touch()
            os._exit(1)
        return 2 * item

    with compute.tasks(config(address=scheduler_address)) as map_tasks:
        assert map_tasks(dies_once, [1, 2, 3], "dies once") == [2, 4, 6]
    assert marker.exists()


def test_a_task_that_kills_every_worker_fails_the_map_clearly(scheduler_address):
    def always_dies(item: int) -> int:
        os._exit(1)

    with compute.tasks(config(address=scheduler_address)) as map_tasks:
        with pytest.raises(RuntimeError, match="worker died on every try.*nothing of this stage"):
            map_tasks(always_dies, [1], "always dies")


def _three_class_request() -> ForgetRequest:
    """A request on 300 random 28x28 images of 3 classes (no scenario yet), seed 4."""
    gen = torch.Generator().manual_seed(0)
    images, labels = torch.randn(300, 1, 28, 28, generator=gen), torch.arange(300) % 3
    build = partial(build_target, (1, 28, 28), 3, (10,))
    base = ForgetRequest(
        original=flatten_module(build()),
        scenario=None,
        train=(images[:200], labels[:200]),
        val=(images[200:], labels[200:]),
        num_classes=3,
        build=build,
        seed=4,
    )
    return base


def test_a_methods_seeded_runs_on_the_cluster_are_its_local_runs(scheduler_address):
    """Each (scenario, seed) run of a method is one task; the driver stacks their weights."""
    base = _three_class_request()
    scenarios = [ForgetScenario.of_classes([0]), ForgetScenario.of_classes([2])]
    rl = method_params("rl")
    local, _ = run_scenarios("rl", base, rl, scenarios, 2, {})
    with compute.tasks(config(address=scheduler_address)) as map_tasks:
        remote, metrics = run_scenarios("rl", base, rl, scenarios, 2, {}, map_tasks)
    assert remote["params"].shape == (2, 2, base.original.numel())
    torch.testing.assert_close(remote["params"], local["params"], rtol=0.0, atol=1e-6)
    assert (remote["seconds"] > 0).all() and "unlearning.rl.mean.seconds" in metrics
    diagnostics = json.loads(remote["__metadata__"]["diagnostics"])
    assert len(diagnostics["2"]["seconds"]) == 2


def processes(**overrides) -> compute.ComputeConfig:
    return config(backend="processes", run_threads=1, **overrides)


def test_a_methods_seeded_runs_in_a_process_pool_are_its_local_runs():
    """``compute.backend: processes``: the same (scenario, seed) tasks in spawned processes,
    sent by value (cloudpickle: the network's builder is a partial, the task a module
    function), the weights back in order."""
    base = _three_class_request()
    scenarios = [ForgetScenario.of_classes([k]) for k in range(3)]
    rl = method_params("rl")
    with compute.torch_threads(1):
        local, _ = run_scenarios("rl", base, rl, scenarios, 2, {})
    with compute.tasks(processes()) as map_tasks:
        pooled, _ = run_scenarios("rl", base, rl, scenarios, 2, {}, map_tasks)
    torch.testing.assert_close(pooled["params"], local["params"], rtol=0.0, atol=1e-6)
    assert (pooled["seconds"] > 0).all()


def test_the_stages_of_a_run_share_its_process_pool():
    def pool(map_tasks):
        return map_tasks.args[0]

    compute.open_run_cluster(processes())
    try:
        with compute.tasks(processes()) as first, compute.tasks(processes()) as second:
            assert pool(first) is pool(second)
            assert first(pow, list(range(10)), "powers", exp=2) == [i**2 for i in range(10)]
            # a process of the pool runs with run_threads torch threads
            assert first(_torch_threads, [0, 1], "threads") == [1, 1]
    finally:
        compute.close_run_cluster()
    assert not compute._RUN_POOL


def _torch_threads(_item: int) -> int:
    return torch.get_num_threads()


def test_a_process_that_dies_fails_the_map_clearly():
    with compute.tasks(processes(workers=1)) as map_tasks:
        with pytest.raises(RuntimeError, match="a process of the pool died.*nothing of this"):
            map_tasks(os._exit, [1], "exits")


def _shared_named_like_the_map(item, **shared):
    return item, shared


@pytest.mark.parametrize("backend", ["local", "pool"])
def test_shared_data_may_bear_the_names_of_the_maps_own_arguments(backend):
    """A task's shared data named ``pool``, ``items``, ``desc``, ``workers`` or ``task`` reaches
    the task (a zoo-distance task once shared its ``pool`` of networks into a clash)."""
    shared = {"pool": [1], "items": [2], "desc": "d", "workers": 3, "task": "t"}
    if backend == "local":
        done = compute.local_map(_shared_named_like_the_map, [7, 8], "map", **shared)
    else:  # the process pool's map, on threads (the same submit and as_completed)
        with ThreadPoolExecutor(1) as executor:
            done = compute._pool_map(
                executor, 1, _shared_named_like_the_map, [7, 8], "map", **shared
            )
    assert done == [(7, shared), (8, shared)]
