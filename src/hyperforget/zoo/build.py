"""The whole zoo: every regime's runs trained (from scratch first, then the regimes that start
from learn finals), runs with a diverged checkpoint dropped, and every kept checkpoint
evaluated per class on val into the zoo's table."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor, nn

from hyperforget.core.compute import MapTasks
from hyperforget.core.per_class import PerClass, evaluate_per_class
from hyperforget.zoo.plan import FROM_LEARN, RunSpec, initial_params
from hyperforget.zoo.runs import TrainedRuns, train_regime
from hyperforget.zoo.training import FromLearn, SGDConfig


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


def _keep_converged(
    runs: TrainedRuns, max_abs_weight: float, kept: list[TrainedRuns], dropped: dict[str, int]
) -> TrainedRuns:
    """``runs`` without the diverged ones, appended to ``kept`` (when any is left); each dropped
    run counted in ``dropped`` under its regime."""
    bad = diverged(runs.params, max_abs_weight).tolist()
    for spec, is_bad in zip(runs.specs, bad, strict=True):
        dropped[spec.regime] += int(is_bad)
    good = _select(runs, [i for i, is_bad in enumerate(bad) if not is_bad])
    if good.specs:
        kept.append(good)
    return good


def _learn_finals(runs: TrainedRuns) -> list[Tensor]:
    """The final weights of the learn runs among ``runs``, the start points of ``FROM_LEARN``."""
    return [runs.params[i, -1] for i, spec in enumerate(runs.specs) if spec.regime == "learn"]


def _zoo_of(
    module: nn.Module,
    kept: Sequence[TrainedRuns],
    val: tuple[Tensor, Tensor],
    num_classes: int,
    dropped: dict[str, int],
) -> Zoo:
    """The kept runs' checkpoints ``[N, P]`` (run-major) with their table of val statistics."""
    tables = [
        checkpoint_table(runs, evaluate_runs(module, runs, *val, num_classes), num_classes)
        for runs in kept
    ]
    params = torch.cat([runs.params.reshape(-1, runs.params.shape[-1]) for runs in kept])
    return Zoo(params, pd.concat(tables, ignore_index=True), dropped)


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
    scratch = [s for s in specs if s.regime not in FROM_LEARN]
    learn_finals = []
    if scratch:
        init = initial_params(build, [s.seed for s in scratch]).to(images.device)
        recipe = {"sgd": sgd, "epochs": epochs, "checkpoints": checkpoints, "fraction": fraction}
        runs = train_regime(
            build, scratch, images, labels, init, recipe, "zoo: learn + retain runs", *tasks
        )
        learn_finals = _learn_finals(_keep_converged(runs, max_abs_weight, kept, dropped))
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
            _keep_converged(runs, max_abs_weight, kept, dropped)
    if not kept:
        raise RuntimeError(
            "Every zoo run diverged; lower the learning rates in parameters_model_zoo.yml."
        )
    return _zoo_of(module, kept, val, num_classes, dropped)
