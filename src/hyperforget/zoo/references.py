"""The reference models every unlearning method is measured against: the original (all
classes) and one oracle per class (retrained without it) and per other forget scenario (a class
set, or chosen training samples), each trained alone and timed, and the oracle's replicas (the
same recipe with other seeds), the retrained distribution."""

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

# what an oracle is retrained without: a class, a class set, or a sample-wise scenario's samples
Without = int | tuple[int, ...] | ForgetScenario


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
    after_classes: Sequence[Without] = (),
) -> ReferenceModels:
    """Train the original (``seeds[0]``), the oracle of class k (``seeds[k + 1]``) and that of
    the j-th other scenario's forget set (``after_classes[j]``: a class set or a sample-wise
    scenario; ``seeds[num_classes + 1 + j]``), each alone.

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
    forgotten = [*range(num_classes), *after_classes]
    for i, without in enumerate(tqdm(forgotten, desc="reference oracles", mininterval=2)):
        spec = oracle_spec(without, seeds[i + 1])
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
    classes: Sequence[Without] | None = None,
    map_tasks: MapTasks | None = None,
) -> Tensor:
    """The oracle without ``classes[s]`` (a class, a class set or a sample-wise scenario's
    samples) retrained with each seed of ``seeds[s]``: ``[S, J, P]`` (``classes`` defaults to
    0..len(seeds)-1, one row per class).

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
            [oracle_spec(k, int(s)) for s in class_seeds],
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


def oracle_spec(without: Without, seed: int) -> RunSpec:
    """The run that retrains an oracle from scratch without ``without``."""
    if isinstance(without, ForgetScenario):
        if without.kind == "sample":
            return RunSpec(-1, "retain", None, seed, without.sample_ids)
        without = forgotten(without)
    return RunSpec(-1, "retain", without, seed)


def forgotten(scenario: ForgetScenario) -> Without:
    """What a scenario's oracles are retrained without: its class, its class set, or (a
    sample-wise scenario) the scenario itself, whose samples ``oracle_spec`` leaves out."""
    if scenario.kind == "sample":
        return scenario
    return scenario.single_class if len(scenario.classes) == 1 else scenario.classes


def after_classes(scenarios: Sequence[ForgetScenario]) -> list[ForgetScenario]:
    """The scenarios whose oracles follow the one-per-class oracles: class sets, then the
    sample-wise scenarios, in the order planned."""
    sets = [s for s in scenarios if s.kind == "class" and len(s.classes) > 1]
    return sets + [s for s in scenarios if s.kind == "sample"]


def replica_seeds_of(zoo_plan: Mapping[str, Any], scenario: ForgetScenario) -> list[int]:
    """The seeds of a scenario's retrained distribution in ``zoo_plan`` (``plan_zoo``): its
    class's, or its class set's or sample set's (which follow every class's)."""
    if scenario.kind == "class" and len(scenario.classes) == 1:
        return zoo_plan["replica_seeds"][scenario.single_class]
    return zoo_plan["after_classes_replica_seeds"][scenario.name]


def reference_row(oracle_weights: Mapping[str, Any], scenario: ForgetScenario) -> int:
    """The row of ``oracle_weights`` (``train_reference_models``' file) retrained for a
    scenario: its class, or after the classes the row of its class set or sample set."""
    if scenario.kind == "class" and len(scenario.classes) == 1:
        return scenario.single_class
    metadata = oracle_weights.get("__metadata__") or {}
    names = json.loads(metadata.get("after_classes", metadata.get("class_sets", "[]")))
    if scenario.name not in names:
        key = "sample_fractions" if scenario.kind == "sample" else "forget_class_sets"
        raise ValueError(
            f"The oracle weights hold no oracle retrained without {scenario.name} (their "
            f"scenarios after the classes: {names}): rerun model_zoo with unlearning.{key} "
            "naming it."
        )
    return len(oracle_weights["params"]) - len(names) + names.index(scenario.name)
