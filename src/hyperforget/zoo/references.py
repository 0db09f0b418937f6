"""The reference models every unlearning method is measured against: the original (all
classes) and one oracle per class (retrained without it) and per forgotten class set, each
trained alone and timed, and the oracle's replicas (the same recipe with other seeds), the
retrained distribution."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from hyperforget.core.compute import MapTasks, local_map
from hyperforget.core.devices import synchronize
from hyperforget.core.flat_params import flatten_module
from hyperforget.core.scenario import ForgetScenario
from hyperforget.zoo.plan import RunSpec, initial_params
from hyperforget.zoo.runs import Shard, train_runs, train_shard
from hyperforget.zoo.training import SGDConfig


def train_alone_timed(
    module: nn.Module,
    spec: RunSpec,
    images: Tensor,
    labels: Tensor,
    sgd: SGDConfig,
    epochs: float,
    build: Callable[[], nn.Module],
) -> tuple[Tensor, float]:
    """One run alone on all its data (no subset), timed: how an oracle is retrained in practice."""
    start = time.perf_counter()
    init = initial_params(build, [spec.seed])
    runs = train_runs(module, [spec], images, labels, sgd, epochs, 2, 1.0, init)
    synchronize(images.device)
    return runs.params[0, -1], time.perf_counter() - start


@dataclass
class ReferenceModels:
    """The original model (all classes) and one oracle per class (retrained without it), then
    one per class set (retrained without the set)."""

    original: Tensor
    original_seconds: float
    oracles: Tensor
    oracle_seconds: list[float]
    seeds: list[int]


def train_reference_models(
    build: Callable[[], nn.Module],
    train: tuple[Tensor, Tensor],
    num_classes: int,
    sgd: SGDConfig,
    epochs: float,
    seeds: Sequence[int],
    class_sets: Sequence[tuple[int, ...]] = (),
) -> ReferenceModels:
    """Train the original (``seeds[0]``), the oracle of class k (``seeds[k + 1]``) and that of
    class set j (``seeds[num_classes + 1 + j]``), each alone.

    Their wall-clock seconds are the reference for every later unlearning speed-up.
    """
    module = build()
    # Warm-up, untimed: the first optimizer pulls in torch's lazy imports (seconds on a CPU),
    # which would otherwise be billed to the original model.
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    original, original_seconds = train_alone_timed(
        module, RunSpec(-1, "learn", None, seeds[0]), *train, sgd, epochs, build
    )
    oracles, seconds = [], []
    forgotten = [*range(num_classes), *class_sets]
    for i, classes in enumerate(tqdm(forgotten, desc="reference oracles", mininterval=2)):
        spec = RunSpec(-1, "retain", classes, seeds[i + 1])
        params, took = train_alone_timed(module, spec, *train, sgd, epochs, build)
        oracles.append(params)
        seconds.append(took)
    return ReferenceModels(original, original_seconds, torch.stack(oracles), seconds, list(seeds))


def train_oracle_replicas(  # noqa: PLR0913 (the reference recipe, the replicas, where they run)
    build: Callable[[], nn.Module],
    train: tuple[Tensor, Tensor],
    sgd: SGDConfig,
    epochs: float,
    seeds: Sequence[Sequence[int]],
    classes: Sequence[int | tuple[int, ...]] | None = None,
    map_tasks: MapTasks | None = None,
) -> Tensor:
    """The oracle without class (or class set) ``classes[s]`` retrained with each seed of
    ``seeds[s]``: ``[S, J, P]`` (``classes`` defaults to 0..len(seeds)-1, one row per class).

    The oracle is one draw of a noisy process: on a small dataset, retraining moves its
    accuracy by about a point from seed to seed. Replicas trained exactly like it (all its
    retain data, the same steps; only the seed differs) measure that spread, against which a
    method's gap to the oracle can be read. The J replicas of a class train together, as one
    task of ``map_tasks`` (e.g. on a Dask cluster; default: one after another here).
    """
    images, labels = train
    init_row = flatten_module(build())
    classes = range(len(seeds)) if classes is None else classes
    shards = [
        Shard(
            [RunSpec(-1, "retain", k, int(s)) for s in class_seeds],
            initial_params(build, class_seeds),
        )
        for k, class_seeds in zip(classes, seeds, strict=True)
        if class_seeds
    ]
    trained = iter(
        (map_tasks or local_map)(
            train_shard,
            shards,
            "retrained models",
            build=build,
            images=images,
            labels=labels,
            device=str(images.device),
            recipe={"sgd": sgd, "epochs": epochs, "checkpoints": 2, "fraction": 1.0},
        )
    )
    empty = init_row.new_empty(0, init_row.numel())
    return torch.stack([next(trained).params[:, -1] if s else empty for s in seeds])


def forgotten(scenario: ForgetScenario) -> int | tuple[int, ...]:
    """What a class scenario's oracles are retrained without: its class, or its class set."""
    return scenario.single_class if len(scenario.classes) == 1 else scenario.classes


def replica_seeds_of(zoo_plan: Mapping[str, Any], scenario: ForgetScenario) -> list[int]:
    """The seeds of a class scenario's retrained distribution in ``zoo_plan`` (``plan_zoo``):
    its class's, or its class set's (which follow every class's)."""
    if len(scenario.classes) == 1:
        return zoo_plan["replica_seeds"][scenario.single_class]
    return zoo_plan["class_set_replica_seeds"][scenario.name]


def reference_row(oracle_weights: Mapping[str, Any], scenario: ForgetScenario) -> int:
    """The row of ``oracle_weights`` (``train_reference_models``' file) retrained for a class
    scenario: its class, or after the classes the row of its class set."""
    if len(scenario.classes) == 1:
        return scenario.single_class
    metadata = oracle_weights.get("__metadata__") or {}
    sets = json.loads(metadata.get("class_sets", "[]"))
    if scenario.name not in sets:
        raise ValueError(
            f"The oracle weights hold no oracle retrained without {scenario.name} (their class "
            f"sets: {sets}): rerun model_zoo with unlearning.forget_class_sets naming it."
        )
    return len(oracle_weights["params"]) - len(sets) + sets.index(scenario.name)
