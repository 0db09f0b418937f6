"""HyperForget unlearning by sampling (arXiv 2412.00761): ask a DiHyFo for weights whose per-class
loss is high on the forgotten classes and unchanged elsewhere.

* target ``l*``: the original model's per-class validation losses, with each forgotten class's
  entry replaced by its forgotten level (``request.resources["levels"]``: by default the mean
  class-k validation loss of the zoo's retain_k runs);
* DiHyFo-1 starts from the original weights and their losses, DiHyFo-2 only sees ``l*``;
* DiHyFo-2 learns from the zoo's refit runs, trained networks retrained without a class, and
  answers a request with one batch of N draws for ``l*`` (one round, no guidance), keeping the
  draw closest to ``l*`` on val: its draws lose some of the retained classes, and the closest
  loses least; guidance and further rounds would push the draws past what retraining does;
* DiHyFo-1 learns from the zoo's forget trajectories and is a learned optimiser, one step a
  round: N candidates in one batch, ``rounds`` rounds from the best network so far, and more
  (up to ``max_rounds``) while it still recognises a forgotten class, each further such round
  multiplying that class's target by ``level_growth`` (a forgotten level is a *mean* loss,
  which a network can reach while still recognising part of the class).

DiHyFo-2 can do the same (``candidates``, ``max_rounds``: a fresh batch per round, with
``guidance_step`` more negative-prompt guidance). Selection reads only what a method may see,
never test: candidates whose accuracy on every forgotten class is at most
``stop_accuracy`` percent, on the val split and on the class's training samples, rank first;
among them (or all, if none) the one whose per-class val losses are closest to ``l*`` in
``log1p`` space (L2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from hyperforget.core.config import Config, setting
from hyperforget.core.flat_params import ParamLayout
from hyperforget.core.per_class import PerClass, evaluate_per_class
from hyperforget.hypernet.diffusion import GaussianDiffusion
from hyperforget.hypernet.model import DiHyFoConfig, load_dihyfo
from hyperforget.hypernet.train import prompt_alignment, sample_params
from hyperforget.unlearning.api import ForgetRequest, MethodSpec, Unlearned
from hyperforget.unlearning.common import STOP_ACCURACY, budget, forget_retain

SELECTION_RULE = (
    "candidates at most stop_accuracy % accuracy on the forgotten classes (val and their training "
    "samples) first, then min L2 distance of log1p(per-class val loss) to log1p(l*)"
)


@dataclass(frozen=True, kw_only=True)
class SamplingConfig(Config):
    """How a DiHyFo variant is sampled and its candidates chosen. ``rounds`` are always taken,
    ``max_rounds`` at most while the best network still recognises a forgotten class on val or
    on its training samples (above ``stop_accuracy`` percent)."""

    candidates: int = setting(ge=1)
    sampler: str = setting(choices=("ddim", "ddpm"))
    sampler_steps: int = setting(ge=1)
    forgotten_level: float | None = setting(ge=0.0)  # null: the zoo's retain_k runs' level
    rounds: int = setting(1, ge=1)
    max_rounds: int | None = setting(None, ge=1)
    stop_accuracy: float | None = setting(**STOP_ACCURACY)
    guidance: float = setting(ge=0.0)
    guidance_step: float = setting(0.0, ge=0.0)  # added to the guidance of each further round
    level_growth: float = setting(1.0, ge=1.0)  # forgotten classes' target loss x this, each
    # further round (after ``rounds``) that ends with one still recognised

    @property
    def most_rounds(self) -> int:
        return self.max_rounds or self.rounds

    def check(self, where: str) -> None:
        budget(self.rounds, self.max_rounds, ("rounds", "max_rounds"), where)


def _recognised(forget_acc: Tensor, stop_accuracy: float | None) -> Tensor:
    """True where an accuracy on a forgotten class (``[..., F]``) is above ``stop_accuracy``
    percent (never, when it is null)."""
    if stop_accuracy is None:
        return torch.zeros_like(forget_acc, dtype=torch.bool)
    return 100.0 * forget_acc > float(stop_accuracy)


def _remembers(forget_acc: Tensor, stop_accuracy: float | None) -> Tensor:
    """``[N]`` True where a candidate's accuracy on some forgotten class ``[N, F]`` is above
    ``stop_accuracy`` percent (never, when it is null)."""
    return _recognised(forget_acc, stop_accuracy).any(1)


def forgotten_levels(zoo_checkpoints: pd.DataFrame, num_classes: int) -> dict[int, float]:
    """Mean class-k validation loss of the final checkpoints of the zoo's retain_k runs."""
    table = zoo_checkpoints[zoo_checkpoints["regime"] == "retain"]
    finals = table.loc[table.groupby("run_id")["step"].idxmax()]
    levels = {}
    for k in range(num_classes):
        runs = finals[finals["forget_classes"] == str(k)]
        if len(runs):
            levels[k] = float(runs[f"val_loss_c{k}"].mean())
    return levels


def prepare(
    variant: str, resources: dict[str, Any], request: ForgetRequest, config: SamplingConfig
) -> dict[str, Any]:
    """Build the hypernetwork from its weight file once, and the forgotten levels."""
    hyper = resources["hypernetwork_params"]
    layout = ParamLayout.from_module(request.build())
    model_config = DiHyFoConfig.of(variant, hyper["model"])
    net = load_dihyfo(resources["hypernetwork"], layout, request.num_classes, model_config)
    levels = forgotten_levels(resources["zoo_checkpoints"], request.num_classes)
    if config.forgotten_level is not None:
        levels = dict.fromkeys(range(request.num_classes), config.forgotten_level)
    missing = [k for k in request.forget_classes if k not in levels]
    if missing:
        raise ValueError(
            f"The zoo has no retain runs for classes {missing}, so their forgotten level is "
            "unknown: add them to model_zoo.regimes.retain.classes or set "
            "unlearning.methods.<dihyfo>.forgotten_level."
        )
    return {
        "net": net.to(request.original.device).eval(),
        "diffusion": GaussianDiffusion(**hyper["diffusion"]),
        "levels": levels,
    }


def spec(variant: str) -> MethodSpec:
    return MethodSpec(
        forget=forget,
        config=SamplingConfig,
        inputs={
            "hypernetwork": f"{variant}_ema_weights",
            "hypernetwork_params": "params:hypernetwork",
            "zoo_checkpoints": "zoo_checkpoints",
        },
        prepare=partial(prepare, variant),
        # DiHyFo-2 answers with one batch of draws, on every core as retraining is timed;
        # DiHyFo-1's rounds are many small batches, its runs side by side like the baselines'
        all_threads=variant == "dihyfo2",
        not_sample_wise=NOT_SAMPLE_WISE,
    )


NOT_SAMPLE_WISE = (
    "DiHyFo's prompt is a network's loss on each class, and its zoo holds networks trained "
    "without whole classes: chosen samples have no per-class target it was trained to reach"
)


@dataclass
class _Best:
    """The best network so far: its weights, per-class val loss and accuracy, its rank
    ``(still recognises a forgotten class, distance to l*)`` and the guidance that drew it."""

    params: Tensor
    loss: Tensor
    acc: Tensor
    rank: tuple[bool, float]
    guidance: float


def _target_loss(
    original_loss: Tensor, forget_classes: Sequence[int], levels: Mapping[int, float]
) -> Tensor:
    """``l*``: the original's per-class val losses, each forgotten class's at its level."""
    target = original_loss.clone()
    for k in forget_classes:
        target[k] = levels[k]
    return target


def _distance_to(target: Tensor, loss: Tensor) -> Tensor:
    """L2 distance of ``log1p(loss)`` to ``log1p(target)`` over the classes (NaN: infinite)."""
    distance = (torch.log1p(loss) - torch.log1p(target)).pow(2).sum(-1)
    return torch.nan_to_num(distance, nan=float("inf"))


def _draw(
    request: ForgetRequest,
    config: SamplingConfig,
    target: Tensor,
    generator: torch.Generator,
    best: _Best,
    guidance: float,
) -> Tensor:
    """``config.candidates`` networks sampled for ``target``; DiHyFo-1 starts every round from
    the best network so far, a learned optimiser stepping again towards l*; DiHyFo-2 draws a
    fresh batch from l* alone."""
    net, n = request.resources["net"], config.candidates
    current = best.params.expand(n, -1) if net.residual else None
    current_loss = best.loss.expand(n, -1) if net.residual else None
    return sample_params(
        net,
        request.resources["diffusion"],
        target.expand(n, -1),
        generator,
        current,
        current_loss,
        sampler=config.sampler,
        steps=config.sampler_steps,
        guidance=guidance,
        reference_loss=best.loss.expand(n, -1),
    )


def _remembering(
    module: nn.Module,
    candidates: Tensor,
    observed: PerClass,
    forget_train: tuple[Tensor, Tensor] | None,
    request: ForgetRequest,
    stop_accuracy: float | None,
) -> Tensor:
    """``[N]`` True where a candidate still recognises a forgotten class on val or, when some
    candidate passes on val, on the class's training samples."""
    forget = list(request.forget_classes)
    remembers = _remembers(observed.acc[:, forget], stop_accuracy)
    # only when some candidate passes on val can the training samples change the ranking
    if stop_accuracy is not None and not remembers.all():
        on_train = evaluate_per_class(module, candidates, *forget_train, request.num_classes)
        remembers |= _remembers(on_train.acc[:, forget], stop_accuracy)
    return remembers


def _grow_target(
    module: nn.Module,
    best: _Best,
    forget_train: tuple[Tensor, Tensor] | None,
    request: ForgetRequest,
    config: SamplingConfig,
    target: Tensor,
) -> None:
    """Multiply ``target`` (in place) by ``level_growth`` on the forgotten classes the best
    network still recognises, on val or on their training samples."""
    forget = list(request.forget_classes)
    on_train = evaluate_per_class(module, best.params, *forget_train, request.num_classes)
    still = _recognised(best.acc[forget], config.stop_accuracy) | _recognised(
        on_train.acc[forget], config.stop_accuracy
    )
    grown = torch.tensor(forget, device=target.device)[still]
    target[grown] *= config.level_growth


def forget(request: ForgetRequest, config: SamplingConfig) -> Unlearned:
    """Rounds of sampled candidates, each ranked on val (and the forgotten classes' training
    samples); the best so far is kept, and the target grows while a class is still recognised."""
    module = request.build()
    val_images, val_labels = request.val
    # the forget set's training samples are read only to check that a class was forgotten
    forget_train = forget_retain(request)[0] if config.stop_accuracy is not None else None
    original = evaluate_per_class(
        module, request.original, val_images, val_labels, request.num_classes
    )
    target = _target_loss(original.loss, request.forget_classes, request.resources["levels"])
    rounds, max_rounds = config.rounds, config.most_rounds
    generator = torch.Generator(device=request.original.device).manual_seed(request.seed)
    best = _Best(
        request.original, original.loss, original.acc, (True, float("inf")), config.guidance
    )
    taken = 0
    for taken in range(1, max_rounds + 1):
        # a further round asks more strongly (guidance_step): weak guidance keeps the retained
        # classes, strong guidance forgets the classes weak guidance leaves recognised
        round_guidance = config.guidance + (taken - 1) * config.guidance_step
        candidates = _draw(request, config, target, generator, best, round_guidance)
        observed = evaluate_per_class(
            module, candidates, val_images, val_labels, request.num_classes
        )
        distance = _distance_to(target, observed.loss)
        # a candidate that still recognises a forgotten class, on val or on the class's
        # training samples, ranks after every one that does not, whatever its distance to l*
        remembers = _remembering(
            module, candidates, observed, forget_train, request, config.stop_accuracy
        )
        pool = distance.masked_fill(remembers, float("inf")) if not remembers.all() else distance
        i = int(pool.argmin())
        rank = (bool(remembers[i]), float(distance[i]))
        if rank < best.rank:
            best = _Best(candidates[i], observed.loss[i], observed.acc[i], rank, round_guidance)
        if taken >= rounds and not best.rank[0]:
            break
        if rounds <= taken < max_rounds and config.level_growth > 1.0:
            # the best network still recognises a forgotten class (on val or its training
            # samples) and a round is left: ask it for more loss on that class, and measure the
            # best so far against the new target, so that the next round starts from it
            _grow_target(module, best, forget_train, request, config, target)
            best.rank = (best.rank[0], float(_distance_to(target, best.loss)))
    return _unlearned(best, target, config.candidates, taken)


def _unlearned(best: _Best, target: Tensor, candidates: int, rounds: int) -> Unlearned:
    """The best network, with what was asked of it and what it reaches on val."""
    _, r2 = prompt_alignment(target.unsqueeze(1).cpu(), best.loss.unsqueeze(1).cpu())
    return Unlearned(
        params=best.params,
        info={
            "target_loss": target.cpu(),
            "observed_loss": best.loss.cpu(),
            "prompt_r2": r2,
            "candidates": candidates,
            "rounds": rounds,
            "forgot_on_train_and_val": not best.rank[0],
            "selection_rule": SELECTION_RULE,
            "guidance": best.guidance,
        },
    )
