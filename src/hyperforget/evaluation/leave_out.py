"""Leave one class out: can a DiHyFo forget a class whose retrained networks it never saw?

The zoo holds runs retrained without every class, so a hypernetwork asked to forget k may only
be recalling what its zoo did for k. Here it is trained on the zoo without any run of class k
(retain_k, forget_k, refit_k), asked to forget k with the forgotten level of the classes it did
see (the mean of their levels: the withheld runs' own level is not used either), and its draws
are scored against the networks retrained without k, as the benchmark scores every method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from hyperforget.core.flat_params import ParamLayout, batched_forward
from hyperforget.core.scenario import ForgetScenario
from hyperforget.core.seeding import seeded
from hyperforget.evaluation import distribution, forgetting
from hyperforget.evaluation.intervals import inside_central_range
from hyperforget.hypernet.diffusion import GaussianDiffusion
from hyperforget.hypernet.model import DiHyFo, DiHyFoConfig
from hyperforget.hypernet.train import HyperTrainConfig, ZooSet, train_hypernetwork
from hyperforget.unlearning import dihyfo as sampling
from hyperforget.unlearning.api import ForgetRequest


@dataclass(frozen=True)
class LeaveOut:
    """Everything the check reads: the run's zoo, original, retrained models and splits, and
    the ``hypernetwork``, ``unlearning.methods.<variant>`` and ``evaluation`` parameters."""

    build: Callable[[], nn.Module]
    num_classes: int
    zoo_params: Tensor
    zoo_table: pd.DataFrame
    original: Tensor
    retrained: dict[str, Tensor]  # scenario name -> [R, P]
    splits: dict[str, tuple[Tensor, Tensor]]  # train, val, test
    hypernetwork: dict[str, Any]
    sampling: dict[str, Any]
    evaluation: dict[str, Any]


def without_class(zoo: ZooSet, table: pd.DataFrame, k: int) -> ZooSet:
    """The zoo less every run that forgot class ``k``."""
    kept = table.loc[table["forget_classes"].astype(str) != str(k), "run_id"].unique()
    return zoo.select_runs(torch.as_tensor(kept))


def leave_one_out(check: LeaveOut, variant: str, k: int, scenario_index: int) -> dict[str, Any]:
    """Train ``variant`` without class ``k``'s runs, draw ``evaluation.method_runs`` networks
    for "forget k" and score them: relative F, retain-test and forget-test accuracy."""
    zoo = ZooSet.from_table(check.zoo_params, check.zoo_table, check.num_classes)
    config = HyperTrainConfig.for_variant(check.hypernetwork, variant)
    train = without_class(zoo, check.zoo_table, k).of_regimes(config.regimes)
    layout_module = check.build()
    layout = ParamLayout.from_module(layout_module)
    with seeded(check.hypernetwork["seed"]):
        net = DiHyFo(
            layout,
            check.num_classes,
            DiHyFoConfig.of(variant, check.hypernetwork["model"]),
            float(check.hypernetwork["scale_numerator"]) / float(train.params.std()),
        )
    diffusion = GaussianDiffusion(**check.hypernetwork["diffusion"])
    ema, _ = train_hypernetwork(
        net,
        diffusion,
        train,
        config,
        int(check.hypernetwork["seed"]),
        torch.device("cpu"),
        progress=f"{variant} without class {k}",
    )
    seen = sampling.forgotten_levels(check.zoo_table, check.num_classes)
    seen.pop(k, None)
    level = sum(seen.values()) / len(seen)
    method = sampling.SamplingConfig.from_params(
        {**check.sampling, "forgotten_level": level}, f"unlearning.methods.{variant}"
    )
    resources = {"net": ema.eval(), "diffusion": diffusion, "levels": {k: level}}
    runs = int(check.evaluation["method_runs"])
    draws = torch.stack(
        [
            sampling.forget(
                ForgetRequest(
                    check.original,
                    ForgetScenario.of_classes((k,)),
                    check.splits["train"],
                    check.splits["val"],
                    check.num_classes,
                    check.build,
                    seed=r,
                    resources=resources,
                ),
                method,
            ).params
            for r in range(runs)
        ]
    )
    return score_draws(check, draws, k, scenario_index, layout_module)


_COLUMNS = (
    "variant",
    "forget_classes",
    "relative_forgetting_quality",
    "acc_retain_test",
    "acc_retain_test_retrained",
    "acc_retain_test_in_retrained_95",
    "acc_forget_test",
)


def score_draws(
    check: LeaveOut, draws: Tensor, k: int, scenario_index: int, module: nn.Module
) -> dict[str, Any]:
    """Relative F (the benchmark's estimator and seeds), retain-test mean and whether it lies in
    the retrained central 95%, forget-test mean, for ``draws [M, P]`` forgetting class ``k``."""
    train_images, train_labels = check.splits["train"]
    test_images, test_labels = check.splits["test"]
    retrained = check.retrained[str(k)]
    seed = int(check.evaluation["seed"])
    examples = forgetting.example_sample(
        train_labels == k, check.evaluation["forget_examples"], seed + scenario_index
    )

    def confidences(params: Tensor) -> Tensor:
        logits = batched_forward(module, params, train_images[examples])
        return forgetting.logit_confidence(logits.log_softmax(-1), train_labels[examples])

    def test_accuracy(params: Tensor, mask: Tensor) -> Tensor:
        predicted = batched_forward(module, params, test_images[mask]).argmax(-1)
        return (predicted == test_labels[mask]).float().mean(-1) * 100

    with torch.no_grad():
        quality, ceiling = distribution.forgetting_qualities(
            confidences(draws),
            confidences(retrained),
            seed + scenario_index,
            check.evaluation.get("forgetting_estimator", "reference"),
        )
        retain = test_accuracy(draws, test_labels != k)
        retain_retrained = test_accuracy(retrained, test_labels != k)
        forget = test_accuracy(draws, test_labels == k)
    return {
        "forget_classes": str(k),
        "relative_forgetting_quality": distribution.relative_quality(quality, ceiling),
        "acc_retain_test": float(retain.mean()),
        "acc_retain_test_retrained": float(retain_retrained.mean()),
        "acc_retain_test_in_retrained_95": inside_central_range(
            float(retain.mean()), retain_retrained.numpy()
        ),
        "acc_forget_test": float(forget.mean()),
    }


def leave_out_table(
    check: LeaveOut, variant: str, classes: list[int], scenarios: list[str]
) -> pd.DataFrame:
    """``leave_one_out`` for each class of ``classes`` (one row each, with the variant), scored
    against the retrained models of its scenario among ``scenarios``; ``[]`` gives no rows."""
    missing = [k for k in classes if str(k) not in scenarios]
    if missing:
        raise ValueError(
            f"Leave-one-class-out classes {missing} have no retrained models in this run: pick "
            f"classes of its one-class forget scenarios ({scenarios})."
        )
    rows = [
        {"variant": variant, **leave_one_out(check, variant, k, scenarios.index(str(k)))}
        for k in classes
    ]
    return pd.DataFrame(rows, columns=[*_COLUMNS])


def leave_out_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Per class and on average, the check's relative F and retain-test (for MLflow)."""
    values = {}
    for row in table.to_dict("records"):
        for column in ("relative_forgetting_quality", "acc_retain_test"):
            values[f"leave_out.{row['variant']}.c{row['forget_classes']}.{column}"] = row[column]
    for variant, rows in table.groupby("variant"):
        for column in ("relative_forgetting_quality", "acc_retain_test"):
            values[f"leave_out.{variant}.mean.{column}"] = float(rows[column].mean())
    return values
