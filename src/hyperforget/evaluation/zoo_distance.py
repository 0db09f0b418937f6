"""How close every unlearned network lies to the zoo the hypernetworks learned from.

The zoo holds networks trained without a class (``retain_k``, ``forget_k`` and ``refit_k``
runs), so a generator that copies one of them would look retrained without having learned
anything. Each
network's ``nearest_zoo_distance`` is its distance to the nearest final network of a zoo run,
modulo hidden-unit order (``permutation.nearest_distance``), relative to its own norm; the
retrained models' own distances (method ``oracle``) are the reference: a draw much closer to
the zoo than retrained networks are is a copy, not a sample.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import Tensor

from hyperforget.core.flat_params import ParamLayout
from hyperforget.core.scenario import ForgetScenario
from hyperforget.hypernet.permutation import nearest_distance


def final_checkpoints(zoo_params: Tensor, zoo_table: pd.DataFrame) -> Tensor:
    """``[runs, P]``: the last checkpoint of every zoo run."""
    last = zoo_table.reset_index(drop=True).groupby("run_id")["step"].idxmax()
    return zoo_params[torch.tensor(last.to_numpy())]


def zoo_distance_table(
    pool: Tensor,
    layout: ParamLayout,
    scenarios: list[ForgetScenario],
    retrained: Tensor,
    unlearned: dict[str, Tensor],
    runs: int,
) -> pd.DataFrame:
    """One row per network: ``method, forget_classes, run, nearest_zoo_distance``, for the first
    ``runs`` retrained models of each scenario (``retrained [S, R, P]``, as method ``oracle``)
    and every run of each method (``unlearned[method] [S, M, P]``)."""
    rows = []
    networks = {"oracle": retrained[:, :runs], **unlearned}
    for method, params in networks.items():
        for s, scenario in enumerate(scenarios):
            distances = nearest_distance(params[s].float().cpu(), pool.float().cpu(), layout)
            rows += [
                {
                    "method": method,
                    "forget_classes": scenario.name,
                    "run": r,
                    "nearest_zoo_distance": float(d),
                }
                for r, d in enumerate(distances)
            ]
    return pd.DataFrame(rows)


def zoo_distance_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Each method's mean nearest-zoo distance over scenarios and runs (for MLflow)."""
    means = table.groupby("method")["nearest_zoo_distance"].mean()
    return {f"{method}.nearest_zoo_distance": float(value) for method, value in means.items()}
