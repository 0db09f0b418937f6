"""A training recipe that carries over to new digit data, and a check that it trained a
competent network.

G.pt's MNIST recipe (SGD, lr 0.1, momentum 0.9) is tuned to MNIST's pixel statistics: on digits
with other statistics (upscaled, thicker, inverted...) the same step size can leave the network
near chance while a linear model on the pixels is near perfect. So the learning rate is chosen
once per run on the val split from a small grid (``RecipeSearch``): each candidate trains a few
networks exactly as the original is trained, and the configured rate is kept unless another
beats its mean val accuracy by more than ``tolerance`` points. The original, the retrained
models and the zoo then all use the chosen rate.

What "competent" means is measured in the same run, on the same split: a logistic regression
on the pixels (``reference_accuracy``). A network more than ``Competence.max_gap`` points below
it is poor; the run stops, or with ``on_poor: mark`` continues with every result marked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from torch import Tensor, nn

from hyperforget.core.config import Config, ConfigError, setting
from hyperforget.core.per_class import evaluate_per_class
from hyperforget.zoo.plan import RunSpec, initial_params
from hyperforget.zoo.runs import train_runs
from hyperforget.zoo.training import SGDConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RecipeSearch(Config):
    """``model_zoo.recipe_search``: the candidate learning rates, the networks trained per
    candidate (seeds ``seed``, ``seed + 1``, ...) and the margin, in points of val accuracy, a
    candidate needs to replace the configured rate."""

    lrs: tuple[float, ...] = setting(gt=0.0)
    seeds: int = setting(ge=1)
    seed: int = setting(ge=0)
    tolerance: float = setting(ge=0.0)

    def check(self, where: str) -> None:
        if not self.lrs:
            raise ConfigError(f"{where}.lrs is empty; e.g. [0.1, 0.03, 0.01, 0.003].")


@dataclass(frozen=True, kw_only=True)
class Competence(Config):
    """``model_zoo.competence``: how far (points of val accuracy) the original may lie below the
    logistic-regression reference, what a run does when it does, and how many training digits
    the reference is fitted on."""

    max_gap: float = setting(ge=0.0)
    on_poor: str = setting(choices=("stop", "mark"))
    reference_max_train: int = setting(ge=1)

    def is_poor(self, accuracy: float, reference: float) -> bool:
        return accuracy < reference - self.max_gap

    def judge(self, what: str, accuracy: float, reference: float) -> bool:
        """Whether ``what`` (its val accuracy, percent) is poor against the reference. A poor
        one raises with ``on_poor: stop`` (one line: both numbers and the fixes) and is logged
        as a warning with ``on_poor: mark``."""
        poor = self.is_poor(accuracy, reference)
        if poor and self.on_poor == "stop":
            raise ValueError(
                f"{poor_model_message(what, accuracy, reference, self)}, or continue with every "
                "result marked: --params model_zoo.competence.on_poor=mark"
            )
        if poor:
            logger.warning(
                "%s. Going on (model_zoo.competence.on_poor: mark): the rows resting on a poor "
                "original are marked poor_original.",
                poor_model_message(what, accuracy, reference, self),
            )
        return poor


@dataclass
class RecipeChoice:
    """The chosen recipe, the val accuracy (percent) of every candidate network, and the
    reference accuracy the candidates are judged against."""

    sgd: SGDConfig
    configured_lr: float
    candidates: pd.DataFrame  # lr, seed, val_accuracy
    reference_val_accuracy: float

    @property
    def per_lr(self) -> pd.Series:
        """Mean val accuracy per candidate learning rate."""
        return self.candidates.groupby("lr")["val_accuracy"].mean()

    @property
    def best_val_accuracy(self) -> float:
        return float(self.per_lr.max())

    def to_dict(self) -> dict:
        """What the run's later stages and people read (a JSON dataset)."""
        return {
            "training": self.sgd.to_dict(),
            "lr": self.sgd.lr,
            "configured_lr": self.configured_lr,
            "candidate_val_accuracy": {str(lr): float(a) for lr, a in self.per_lr.items()},
            "reference_val_accuracy": self.reference_val_accuracy,
        }


def val_accuracy(
    build: Callable[[], nn.Module], params: Tensor, split: tuple[Tensor, Tensor], num_classes: int
) -> Tensor:
    """Accuracy (percent) of the networks ``params [N, P]`` (or one ``[P]``) on a split."""
    images, labels = split
    stats = evaluate_per_class(build(), params.to(images.device), images, labels, num_classes)
    return stats.total_acc.cpu() * 100


def reference_accuracy(
    train: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor], max_train: int, seed: int
) -> float:
    """Val accuracy (percent) of a logistic regression on the (normalised) pixels, fitted on at
    most ``max_train`` random training digits: what any competent classifier of the split
    should about reach, measured in seconds."""
    images, labels = (t.cpu() for t in train)
    if len(labels) > max_train:
        keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
        images, labels = images[keep[:max_train]], labels[keep[:max_train]]
    model = LogisticRegression(max_iter=300, tol=1e-3)
    model.fit(images.flatten(1).float().numpy(), labels.numpy())
    val_images, val_labels = (t.cpu() for t in val)
    predicted = model.predict(val_images.flatten(1).float().numpy())
    return float(np.mean(predicted == val_labels.numpy()) * 100)


def search_learning_rate(
    build: Callable[[], nn.Module],
    train: tuple[Tensor, Tensor],
    val: tuple[Tensor, Tensor],
    sgd: SGDConfig,
    search: RecipeSearch,
    reference_val_accuracy: float,
    num_classes: int,
) -> RecipeChoice:
    """Train ``search.seeds`` networks per candidate rate, exactly as the original is trained
    (all the train split, ``sgd``'s epochs and steps), and keep ``sgd.lr`` unless a candidate's
    mean val accuracy beats it by more than ``search.tolerance`` points."""
    lrs = sorted({sgd.lr, *search.lrs}, reverse=True)
    seeds = [search.seed + i for i in range(search.seeds)]
    specs = [RunSpec(-1, "learn", None, s) for s in seeds]
    init = initial_params(build, seeds).to(train[0].device)
    rows = []
    for lr in lrs:
        candidate = replace(sgd, lr=lr)
        runs = train_runs(build(), specs, *train, candidate, sgd.epochs, 2, 1.0, init)
        accuracy = val_accuracy(build, runs.params[:, -1], val, num_classes)
        rows += [
            {"lr": lr, "seed": s, "val_accuracy": float(a)}
            for s, a in zip(seeds, accuracy.tolist(), strict=True)
        ]
    candidates = pd.DataFrame(rows)
    per_lr = candidates.groupby("lr")["val_accuracy"].mean()
    best = float(per_lr.idxmax())
    chosen = sgd.lr if per_lr[best] - per_lr[sgd.lr] <= search.tolerance else best
    return RecipeChoice(replace(sgd, lr=chosen), sgd.lr, candidates, reference_val_accuracy)


def poor_model_message(what: str, accuracy: float, reference: float, competence: Competence) -> str:
    """Both numbers and the fixes that keep the run on a competent model."""
    return (
        f"{what} reaches {accuracy:.1f}% val accuracy, {reference - accuracy:.1f} points below a "
        f"logistic regression on the same pixels ({reference:.1f}%; allowed: "
        f"model_zoo.competence.max_gap = {competence.max_gap:g}), so unlearning it would be "
        "measured on a model that never learned. Add learning rates to "
        "model_zoo.recipe_search.lrs (e.g. 0.003), check data_preparation.normalisation (null "
        "computes it from the train split)"
    )


def original_is_poor(original_weights: dict[str, Any]) -> bool | None:
    """Whether the run found its original poor (``None``: weights from before the check)."""
    flag = original_weights.get("__metadata__", {}).get("poor_original")
    return None if flag is None else bool(json.loads(flag))


def stalled_runs(
    checkpoints: pd.DataFrame, reference: float, max_gap: float, num_classes: int
) -> pd.Series:
    """Per regime, how many runs end more than ``max_gap`` points below the reference val
    accuracy on the classes they keep (all classes for ``learn``): runs that stalled or
    diverged without leaving non-finite weights."""
    finals = checkpoints.loc[checkpoints.groupby("run_id")["step"].idxmax()]
    per_class = finals[[f"val_acc_c{k}" for k in range(num_classes)]].to_numpy() * 100
    keep = np.ones_like(per_class, dtype=bool)
    for row, forgotten in enumerate(finals["forget_classes"]):
        if forgotten != "":
            keep[row, int(forgotten)] = False
    kept_accuracy = (per_class * keep).sum(1) / keep.sum(1)
    stalled = pd.Series(kept_accuracy < reference - max_gap, index=finals.index)
    return stalled.groupby(finals["regime"]).sum().astype(int)
