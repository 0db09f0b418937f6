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

from hyperforget.core.compute import MapTasks, local_map
from hyperforget.core.flat_params import ParamLayout
from hyperforget.core.scenario import ForgetScenario
from hyperforget.hypernet.permutation import nearest_distance


def final_checkpoints(zoo_params: Tensor, zoo_table: pd.DataFrame) -> Tensor:
    """``[runs, P]``: the last checkpoint of every zoo run."""
    last = zoo_table.reset_index(drop=True).groupby("run_id")["step"].idxmax()
    return zoo_params[torch.tensor(last.to_numpy())]


def zoo_distance_table(  # noqa: PLR0913 (the zoo, the networks, and where the work runs)
    pool: Tensor,
    layout: ParamLayout,
    scenarios: list[ForgetScenario],
    retrained: Tensor,
    unlearned: dict[str, Tensor],
    runs: int,
    map_tasks: MapTasks = local_map,
) -> pd.DataFrame:
    """One row per network: ``method, forget_classes, run, nearest_zoo_distance``, for the first
    ``runs`` retrained models of each scenario (``retrained [S, R, P]``, as method ``oracle``)
    and every run of each method (``unlearned[method] [S, M, P]``); each method's scenario a
    task of ``map_tasks``; a scenario whose runs a method could not make (NaN weights, see
    ``unlearning.api.not_applicable``) has no rows."""
    networks = {"oracle": retrained[:, :runs], **unlearned}
    items = [
        (method, s)
        for method, params in networks.items()
        for s in range(len(scenarios))
        if not params[s].isnan().all()
    ]
    distances = map_tasks(
        _nearest_of,
        items,
        "zoo distances",
        networks={m: p.float().cpu() for m, p in networks.items()},
        pool=pool.float().cpu(),
        layout=layout,
    )
    return pd.DataFrame(
        [
            {
                "method": method,
                "forget_classes": scenarios[s].name,
                "run": r,
                "nearest_zoo_distance": float(d),
            }
            for (method, s), scenario_distances in zip(items, distances, strict=True)
            for r, d in enumerate(scenario_distances)
        ]
    )


@torch.no_grad()
def _nearest_of(
    item: tuple[str, int], networks: dict[str, Tensor], pool: Tensor, layout: ParamLayout
) -> Tensor:
    method, s = item
    return nearest_distance(networks[method][s], pool, layout)


def zoo_distance_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Each method's mean nearest-zoo distance over scenarios and runs (for MLflow)."""
    means = table.groupby("method")["nearest_zoo_distance"].mean()
    return {f"{method}.nearest_zoo_distance": float(value) for method, value in means.items()}
