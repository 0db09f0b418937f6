"""The model zoo: many target-network training runs whose checkpoints cover every per-class loss
profile the hypernetworks will be asked for.

Regimes (docs/architecture.md, Pipelines):
* ``learn``: from random init on all classes (all losses fall);
* ``retain``: from random init without class k (the shape of a perfect unlearning of k);
* ``forget``: from a trained ``learn`` run, bounded ascent on class k and descent on the rest
  (the loss on k rises while the others stay low);
* ``refit``: a trained ``learn`` run retrained without class k on its own features: its last
  layer drawn anew, then the whole network trained on the data without k. Its checkpoint 0 is
  the learn run's final network, the point a request "forget k" starts from; its final one is a
  network the forgetting score can hardly tell from one retrained from scratch.

Every run trains on its own random subset of its allowed data, with its own seed and minibatch
order; runs of a regime are trained together by ``training.train_batched``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from hyperforget.core.compute import MapTasks, local_map
from hyperforget.core.devices import synchronize
from hyperforget.core.flat_params import flatten_module
from hyperforget.core.per_class import PerClass, evaluate_per_class
from hyperforget.core.seeding import seeded
from hyperforget.zoo.training import (
    AscentConfig,
    FromLearn,
    SGDConfig,
    batch_schedule,
    train_batched,
)

REGIMES = ("learn", "retain", "forget", "refit")
FROM_LEARN = ("forget", "refit")  # regimes that start from the final networks of learn runs


@dataclass(frozen=True)
class RunSpec:
    """One zoo run: its regime, the class it forgets (``None`` for ``learn``) and its seed."""

    run_id: int
    regime: str
    forget_class: int | None
    seed: int


def _regime_classes(name: str, config: Mapping, num_classes: int) -> list[int]:
    classes = config.get("classes")
    classes = list(range(num_classes)) if classes is None else [int(c) for c in classes]
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise ValueError(
            f"model_zoo.regimes.{name}.classes contains {bad}, outside the dataset's classes "
            f"0..{num_classes - 1}; list valid class labels or null for all."
        )
    if not classes:
        raise ValueError(f"model_zoo.regimes.{name}.classes is empty; use null for all classes.")
    return classes


def plan_runs(regimes: Mapping[str, Mapping], num_classes: int, base_seed: int) -> list[RunSpec]:
    """Expand the ``regimes`` configuration into runs with distinct seeds ``base_seed + i``."""
    unknown = sorted(set(regimes) - set(REGIMES))
    if unknown:
        raise ValueError(f"Unknown zoo regimes {unknown}; available: {', '.join(REGIMES)}.")
    specs: list[RunSpec] = []

    def add(regime: str, forget_class: int | None, runs: int) -> None:
        for _ in range(runs):
            specs.append(RunSpec(len(specs), regime, forget_class, base_seed + len(specs)))

    for name in REGIMES:
        if name not in regimes:
            continue
        config = regimes[name]
        key = "runs" if name == "learn" else "runs_per_class"
        runs = int(config.get(key, 0))
        if runs < 1:
            raise ValueError(
                f"model_zoo.regimes.{name}.{key} is {runs}: give at least 1 run, or remove the "
                "regime from parameters_model_zoo.yml."
            )
        if name == "learn":
            add(name, None, runs)
        else:
            for k in _regime_classes(name, config, num_classes):
                add(name, k, runs)
    for name in FROM_LEARN:
        if name in regimes and "learn" not in regimes:
            raise ValueError(
                f"The {name} regime starts from learn runs: add model_zoo.regimes.learn."
            )
    if not specs:
        raise ValueError("model_zoo.regimes defines no runs; add at least one regime.")
    return specs


def initial_params(build: Callable[[], nn.Module], seeds: Sequence[int]) -> Tensor:
    """Fresh random initialisations ``[R, P]``, one per seed (global RNG state is untouched)."""
    inits = []
    for seed in seeds:
        with seeded(seed):
            inits.append(flatten_module(build()))
    return torch.stack(inits)


def data_indices(
    labels: Tensor, forget_class: int | None, fraction: float, seed: int
) -> tuple[Tensor, Tensor]:
    """A run's (retain, forget) training indices: a seeded random ``fraction`` of each."""
    generator = torch.Generator().manual_seed(int(seed) + 7919)
    if forget_class is None:
        retain, forget = torch.arange(len(labels)), torch.empty(0, dtype=torch.long)
    else:
        retain = torch.nonzero(labels != forget_class).flatten()
        forget = torch.nonzero(labels == forget_class).flatten()

    def subset(indices: Tensor) -> Tensor:
        keep = max(1, round(len(indices) * fraction))
        return indices[torch.randperm(len(indices), generator=generator)[:keep]]

    return subset(retain), subset(forget) if len(forget) else forget


def checkpoint_steps(steps: int, checkpoints: int) -> list[int]:
    """``checkpoints`` evenly spaced steps from 0 (initial) to ``steps`` (final), distinct."""
    if checkpoints < 2:
        raise ValueError("model_zoo.checkpoints_per_run must be at least 2 (initial and final).")
    return sorted({round(i * steps / (checkpoints - 1)) for i in range(checkpoints)})


@dataclass
class TrainedRuns:
    """Checkpoints ``[R, C, P]`` of runs, the steps they were taken at and samples per run."""

    specs: list[RunSpec]
    params: Tensor
    steps: list[int]
    samples: list[int]
    batch_size: int


def run_steps(
    specs: Sequence[RunSpec], labels: Tensor, sgd: SGDConfig, epochs: float, fraction: float
) -> int:
    """The steps every run of ``specs`` takes: ``epochs`` passes over the largest run's data, and
    at least ``sgd.min_steps`` (on small data a few epochs are too few steps to train at all)."""
    retain_sets = [data_indices(labels.cpu(), s.forget_class, fraction, s.seed)[0] for s in specs]
    return _steps(retain_sets, sgd, epochs)


def _steps(retain_sets: Sequence[Tensor], sgd: SGDConfig, epochs: float) -> int:
    largest = max(len(retain) for retain in retain_sets)
    return max(1, int(sgd.min_steps), round(epochs * largest / sgd.batch_size))


@dataclass(frozen=True)
class Shard:
    """Some runs of one regime, trained batched in one task: their specs and starting weights."""

    specs: list[RunSpec]
    init: Tensor  # [R, P], on the CPU


def train_shard(  # noqa: PLR0913 (train_runs' recipe, plus where the data is sent)
    shard: Shard,
    *,
    build: Callable[[], nn.Module],
    images: Tensor,
    labels: Tensor,
    device: str,
    recipe: dict,
) -> TrainedRuns:
    """One task of a sharded regime (e.g. on a Dask worker): ``shard``'s runs trained batched on
    ``device``, their checkpoints ``[R, C, P]`` returned on the CPU."""
    from hyperforget.core.devices import resolve_device

    dev = resolve_device(device)
    images, labels = images.to(dev), labels.to(dev)
    runs = train_runs(build(), shard.specs, images, labels, init=shard.init.to(dev), **recipe)
    return replace(runs, params=runs.params.cpu())


def train_regime(  # noqa: PLR0913 (train_runs' arguments, and where its shards run)
    build: Callable[[], nn.Module],
    specs: Sequence[RunSpec],
    images: Tensor,
    labels: Tensor,
    init: Tensor,
    recipe: dict,
    progress: str,
    map_tasks: MapTasks | None = None,
    shards: int | None = None,
) -> TrainedRuns:
    """``train_runs`` of a regime, whole in this process (``shards`` None) or cut into
    ``shards`` batches of runs trained as tasks of ``map_tasks`` (e.g. on a Dask cluster).
    Every shard takes the regime's step count, and a run's batches depend only on its own seed,
    so the shards give the runs' weights as the whole batch does."""
    if shards is None or map_tasks is None or not specs:
        return train_runs(build(), specs, images, labels, init=init, progress=progress, **recipe)
    steps = run_steps(specs, labels, recipe["sgd"], recipe["epochs"], recipe["fraction"])
    size = math.ceil(len(specs) / shards)
    pieces = [
        Shard(list(specs[i : i + size]), init[i : i + size].cpu())
        for i in range(0, len(specs), size)
    ]
    parts = map_tasks(
        train_shard,
        pieces,
        progress,
        build=build,
        images=images.cpu(),
        labels=labels.cpu(),
        device=str(images.device),
        recipe={**recipe, "steps": steps},
    )
    return TrainedRuns(
        [spec for part in parts for spec in part.specs],
        torch.cat([part.params for part in parts]).to(images.device),
        parts[0].steps,
        [n for part in parts for n in part.samples],
        parts[0].batch_size,
    )


def train_runs(  # noqa: PLR0913 (a regime's runs: data, recipe, budget and starting weights)
    module: nn.Module,
    specs: Sequence[RunSpec],
    images: Tensor,
    labels: Tensor,
    sgd: SGDConfig,
    epochs: float,
    checkpoints: int,
    fraction: float,
    init: Tensor,
    ascent: AscentConfig | None = None,
    progress: str | None = None,
    steps: int | None = None,
) -> TrainedRuns:
    """Train ``specs`` together from ``init [R, P]``; ascent on the forget class when given.

    All runs take the same number of steps (default: ``run_steps`` of ``specs``; a shard of a
    regime's runs is given the regime's, so it trains exactly as in the whole batch).
    """
    index_sets = [data_indices(labels.cpu(), s.forget_class, fraction, s.seed) for s in specs]
    retain_sets = [retain for retain, _ in index_sets]
    if steps is None:
        steps = _steps(retain_sets, sgd, epochs)  # run_steps, from the index sets drawn here
    seeds = [s.seed for s in specs]
    batches = batch_schedule(retain_sets, seeds, sgd.batch_size, steps)
    forget_batches = None
    if ascent is not None:
        forget_sets = [forget for _, forget in index_sets]
        forget_size = min(sgd.batch_size, *(len(f) for f in forget_sets))
        forget_batches = batch_schedule(forget_sets, [s + 1 for s in seeds], forget_size, steps)
    at = checkpoint_steps(steps, checkpoints)
    params = train_batched(
        module, init, images, labels, batches, sgd, at, forget_batches, ascent, progress
    )
    return TrainedRuns(list(specs), params, at, [len(r) for r in retain_sets], sgd.batch_size)


def _train_from_learn(  # noqa: PLR0913 (the regime, its starts and recipe, where it runs)
    build: Callable[[], nn.Module],
    specs: Sequence[RunSpec],
    train: tuple[Tensor, Tensor],
    learn_finals: Sequence[Tensor],
    recipe: FromLearn,
    regime: str,
    tasks: tuple[MapTasks | None, int | None],
    checkpoints: int,
    fraction: float,
) -> TrainedRuns:
    """The runs of a regime that starts from learn finals; checkpoint 0 is always the trained
    network a run started from (with ``fresh_head``, before its last layer was drawn anew)."""
    images, labels = train
    if not learn_finals:
        raise RuntimeError(f"Every learn run diverged: the {regime} regime has no start point.")
    position = {k: 0 for k in {s.forget_class for s in specs}}
    starts = []
    for spec in specs:
        starts.append(learn_finals[position[spec.forget_class] % len(learn_finals)])
        position[spec.forget_class] += 1
    init = torch.stack(starts).to(images.device)
    start = init.clone()
    if recipe.fresh_head:
        head = _head_size(build())
        fresh = initial_params(build, [s.seed for s in specs])
        init[:, -head:] = fresh[:, -head:].to(images.device)
    runs = train_regime(
        build,
        specs,
        images,
        labels,
        init,
        {
            "sgd": recipe.sgd,
            "epochs": recipe.epochs,
            "checkpoints": checkpoints,
            "fraction": fraction,
            "ascent": recipe.ascent,
        },
        f"zoo: {regime} runs",
        *tasks,
    )
    runs.params[:, 0] = start
    return runs


def _head_size(module: nn.Module) -> int:
    """Values of the last layer (its weight and bias), the last ones of the flat vector."""
    *_, weight, bias = module.parameters()
    return weight.numel() + bias.numel()


def diverged(params: Tensor, max_abs_weight: float) -> Tensor:
    """Runs ``[R]`` with a non-finite or too-large weight in any checkpoint of ``[R, C, P]``."""
    finite = torch.isfinite(params).all(dim=(1, 2))
    bounded = params.nan_to_num(nan=0.0, posinf=0.0, neginf=0.0).abs().amax(dim=(1, 2))
    return ~finite | (bounded > max_abs_weight)


def checkpoint_table(runs: TrainedRuns, stats: PerClass, num_classes: int) -> pd.DataFrame:
    """One row per checkpoint (row i describes row i of the flattened ``[R * C, P]`` tensor)."""
    n_ckpt = len(runs.steps)
    rows = []
    for r, spec in enumerate(runs.specs):
        for step in runs.steps:
            rows.append(
                {
                    "run_id": spec.run_id,
                    "regime": spec.regime,
                    "forget_classes": "" if spec.forget_class is None else str(spec.forget_class),
                    "seed": spec.seed,
                    "step": step,
                    "epoch": step * runs.batch_size / runs.samples[r],
                }
            )
    table = pd.DataFrame(rows)
    loss = stats.loss.reshape(len(runs.specs) * n_ckpt, num_classes).numpy()
    acc = stats.acc.reshape(len(runs.specs) * n_ckpt, num_classes).numpy()
    for k in range(num_classes):
        table[f"val_loss_c{k}"] = loss[:, k]
    for k in range(num_classes):
        table[f"val_acc_c{k}"] = acc[:, k]
    table["val_loss"] = stats.total_loss.numpy()
    table["val_acc"] = stats.total_acc.numpy()
    return table


def evaluate_runs(
    module: nn.Module, runs: TrainedRuns, images: Tensor, labels: Tensor, num_classes: int
) -> PerClass:
    """Per-class statistics of every checkpoint of ``runs`` (flattened run-major)."""
    flat = runs.params.reshape(-1, runs.params.shape[-1]).to(images.device)
    stats = evaluate_per_class(module, flat, images, labels, num_classes)
    return PerClass(*(getattr(stats, f).cpu() for f in PerClass.__dataclass_fields__))


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
class Zoo:
    """All kept checkpoints ``[N, P]`` with their table, and the runs dropped as diverged."""

    params: Tensor
    table: pd.DataFrame
    dropped: dict[str, int]


def _select(runs: TrainedRuns, rows: Sequence[int]) -> TrainedRuns:
    return TrainedRuns(
        [runs.specs[i] for i in rows],
        runs.params[list(rows)],
        runs.steps,
        [runs.samples[i] for i in rows],
        runs.batch_size,
    )


def build_zoo(  # noqa: PLR0913 (the regimes' recipes)
    build: Callable[[], nn.Module],
    specs: Sequence[RunSpec],
    train: tuple[Tensor, Tensor],
    val: tuple[Tensor, Tensor],
    num_classes: int,
    sgd: SGDConfig,
    epochs: float,
    from_learn: Mapping[str, FromLearn],
    checkpoints: int,
    fraction: float,
    max_abs_weight: float,
    map_tasks: MapTasks | None = None,
    shards: int | None = None,
) -> Zoo:
    """Train every run of ``specs``: from scratch (learn, retain), then the regimes that start
    from learn finals (``from_learn``: forget, refit), each with its recipe.

    Runs with a diverged checkpoint are dropped whole; the j-th run of a class in such a regime
    starts from the final weights of the j-th kept learn run (cycling). With ``map_tasks`` and
    ``shards`` each regime is cut into that many tasks (``train_regime``).
    """
    tasks = (map_tasks, shards)
    module = build()
    images, labels = train
    kept: list[TrainedRuns] = []
    dropped = {regime: 0 for regime in {s.regime for s in specs}}

    def keep_converged(runs: TrainedRuns) -> TrainedRuns:
        bad = diverged(runs.params, max_abs_weight).tolist()
        for spec, is_bad in zip(runs.specs, bad, strict=True):
            dropped[spec.regime] += int(is_bad)
        good = _select(runs, [i for i, is_bad in enumerate(bad) if not is_bad])
        if good.specs:
            kept.append(good)
        return good

    scratch = [s for s in specs if s.regime not in FROM_LEARN]
    learn_finals = []
    if scratch:
        init = initial_params(build, [s.seed for s in scratch]).to(images.device)
        recipe = {"sgd": sgd, "epochs": epochs, "checkpoints": checkpoints, "fraction": fraction}
        runs = train_regime(
            build, scratch, images, labels, init, recipe, "zoo: learn + retain runs", *tasks
        )
        scratch_kept = keep_converged(runs)
        learn_finals = [
            scratch_kept.params[i, -1]
            for i, spec in enumerate(scratch_kept.specs)
            if spec.regime == "learn"
        ]
    for regime in FROM_LEARN:
        regime_specs = [s for s in specs if s.regime == regime]
        if regime_specs:
            runs = _train_from_learn(
                build,
                regime_specs,
                train,
                learn_finals,
                from_learn[regime],
                regime,
                tasks,
                checkpoints=checkpoints,
                fraction=fraction,
            )
            keep_converged(runs)
    if not kept:
        raise RuntimeError(
            "Every zoo run diverged; lower the learning rates in parameters_model_zoo.yml."
        )
    tables = [
        checkpoint_table(runs, evaluate_runs(module, runs, *val, num_classes), num_classes)
        for runs in kept
    ]
    params = torch.cat([runs.params.reshape(-1, runs.params.shape[-1]) for runs in kept])
    return Zoo(params, pd.concat(tables, ignore_index=True), dropped)


@dataclass
class ReferenceModels:
    """The original model (all classes) and one oracle per class (retrained without it)."""

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
) -> ReferenceModels:
    """Train the original (``seeds[0]``) and the oracle of class k (``seeds[k + 1]``), each alone.

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
    for k in tqdm(range(num_classes), desc="reference oracles", mininterval=2):
        spec = RunSpec(-1, "retain", k, seeds[k + 1])
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
    classes: Sequence[int] | None = None,
    map_tasks: MapTasks | None = None,
) -> Tensor:
    """The oracle without class ``classes[s]`` retrained with each seed of ``seeds[s]``:
    ``[S, J, P]`` (``classes`` defaults to 0..len(seeds)-1, one row per class).

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


def summarise_regimes(
    module: nn.Module,
    params: Tensor,
    table: pd.DataFrame,
    images: Tensor,
    labels: Tensor,
    num_classes: int,
) -> pd.DataFrame:
    """Per regime, test accuracy (percent) of the runs' final checkpoints.

    ``end_acc_forgotten``: the worst (highest) final test accuracy on a run's forgotten class;
    ``others_change``: the worst change of the mean accuracy on the other classes between a
    run's first and final checkpoint (forget and refit runs start from trained models).
    """
    by_run = table.reset_index().groupby("run_id")["index"]
    first_rows, final_rows = by_run.min().to_numpy(), by_run.max().to_numpy()
    rows = torch.as_tensor(list(first_rows) + list(final_rows))
    stats = evaluate_per_class(module, params[rows.to(params.device)], images, labels, num_classes)
    n = len(first_rows)
    first_acc, final_acc = stats.acc[:n].cpu() * 100, stats.acc[n:].cpu() * 100
    final_total = stats.total_acc[n:].cpu() * 100
    runs = table.loc[final_rows].reset_index(drop=True)
    summary = []
    for regime, group in runs.groupby("regime", sort=False):
        idx = torch.tensor(group.index.to_numpy())
        entry = {
            "regime": regime,
            "runs": len(idx),
            "checkpoints": int((table["regime"] == regime).sum()),
            "final_val_acc": float(group["val_acc"].mean() * 100),
            "final_test_acc": float(final_total[idx].mean()),
            "final_test_acc_min": float(final_total[idx].min()),
            "end_acc_forgotten": float("nan"),
            "others_change": float("nan"),
        }
        if regime != "learn":
            k = torch.tensor(group["forget_classes"].astype(int).to_numpy())
            others = torch.ones(len(idx), num_classes, dtype=torch.bool)
            others[torch.arange(len(idx)), k] = False
            end_k = final_acc[idx][torch.arange(len(idx)), k]
            change = (final_acc[idx] * others).sum(1) / others.sum(1) - (
                first_acc[idx] * others
            ).sum(1) / others.sum(1)
            entry["end_acc_forgotten"] = float(end_k.max())
            from_learn = regime in FROM_LEARN
            entry["others_change"] = float(change.min()) if from_learn else float("nan")
        summary.append(entry)
    return pd.DataFrame(summary)


def summarise_references(
    module: nn.Module,
    original: Tensor,
    original_seconds: float,
    oracles: Tensor,
    oracle_seconds: Sequence[float],
    images: Tensor,
    labels: Tensor,
    num_classes: int,
) -> pd.DataFrame:
    """Test accuracy (percent) of the original and of each oracle on its class, the others and
    each class (``test_acc_c<k>``)."""
    stats = evaluate_per_class(
        module, torch.cat([original[None], oracles]), images, labels, num_classes
    )
    acc = stats.acc.cpu() * 100

    def per_class(row: int) -> dict[str, float]:
        return {f"test_acc_c{c}": float(acc[row, c]) for c in range(num_classes)}

    rows = [
        {
            "model": "original",
            "forget_class": -1,
            "seconds": original_seconds,
            "test_acc": float(stats.total_acc[0] * 100),
            "test_acc_forgotten": float("nan"),
            "test_acc_others": float(acc[0].mean()),
            **per_class(0),
        }
    ]
    for k in range(num_classes):
        others = torch.ones(num_classes, dtype=torch.bool)
        others[k] = False
        rows.append(
            {
                "model": f"oracle_{k}",
                "forget_class": k,
                "seconds": float(oracle_seconds[k]),
                "test_acc": float(stats.total_acc[k + 1] * 100),
                "test_acc_forgotten": float(acc[k + 1, k]),
                "test_acc_others": float(acc[k + 1, others].mean()),
                **per_class(k + 1),
            }
        )
    return pd.DataFrame(rows)


def summary_metrics(summary: pd.DataFrame, references: pd.DataFrame) -> dict[str, dict]:
    """MLflow metrics of ``summarise_regimes`` and ``summarise_references``."""
    metrics = {}
    for row in summary.to_dict("records"):
        for column in ("final_test_acc", "final_val_acc", "end_acc_forgotten", "others_change"):
            if pd.notna(row[column]):
                metrics[f"zoo.{row['regime']}.{column}"] = {"value": row[column], "step": 0}
    for row in references.to_dict("records"):
        metrics[f"reference.{row['model']}.seconds"] = {"value": row["seconds"], "step": 0}
        metrics[f"reference.{row['model']}.test_acc"] = {"value": row["test_acc"], "step": 0}
    return metrics
