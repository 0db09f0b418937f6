"""Running one unlearning method on every forget scenario, several times: the stacked
weights ``[S, M, P]``, seconds and diagnostics the evaluation reads, and their MLflow metrics."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from hyperforget.core.compute import MapTasks, local_map
from hyperforget.core.config import Config
from hyperforget.core.scenario import ForgetScenario, scenario_names
from hyperforget.unlearning.api import ForgetRequest, TimedResult
from hyperforget.unlearning.registry import method_specs, run_method

logger = logging.getLogger(__name__)


def run_scenarios(
    method: str,
    base: ForgetRequest,
    config: Config,
    forget_scenarios: list[ForgetScenario],
    runs: int,
    resources: dict[str, Any],
    map_tasks: MapTasks | None = None,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run ``method`` ``runs`` times on every forget scenario, run r with seed ``base.seed + r``
    (its minibatch order, random parts or sampling noise), each run a task of ``map_tasks``
    (e.g. on a Dask worker, which then times it; default: one after another here): weights
    ``[S, M, P]``, seconds ``[S, M]``, its numeric diagnostics per scenario and run (e.g. LTU's
    share of conflicting steps; the metadata's ``diagnostics``), and MLflow metrics of their
    means. With no scenarios (a method left out of ``unlearning.run``) the result is empty (no
    rows), which the evaluation skips."""
    if runs < 1:
        raise ValueError(f"evaluation.method_runs must be at least 1, got {runs}.")
    spec = method_specs()[method]
    skipped = {
        s.name: spec.not_sample_wise
        for s in forget_scenarios
        if s.kind == "sample" and spec.not_sample_wise
    }
    answered = [s for s in forget_scenarios if s.name not in skipped]
    prepared = resources
    if spec.prepare and answered:
        prepared = spec.prepare(resources, base, config)
    items = [SeededRun(s, base.seed + run) for s in answered for run in range(runs)]
    done = iter(
        (map_tasks or local_map)(
            _one_run,
            items,
            f"unlearn {method}",
            method=method,
            base=base,
            config=config,
            resources=prepared,
        )
    )
    results = [  # [s][r]
        [_not_run(base) if s.name in skipped else next(done) for _ in range(runs)]
        for s in forget_scenarios
    ]
    _log_seconds(method, forget_scenarios, results, skipped)
    weights = _stacked_weights(method, base, config, forget_scenarios, results, runs)
    weights["__metadata__"]["not_applicable"] = json.dumps(skipped)
    index = [i for i, s in enumerate(forget_scenarios) if s.name not in skipped]
    infos = [[r.info for r in results[i]] for i in index]
    diagnostics = _diagnostics(answered, weights["seconds"][index], infos)
    weights["__metadata__"]["diagnostics"] = json.dumps(diagnostics)
    return weights, _scalar_metrics(method, diagnostics)


def _not_run(base: ForgetRequest) -> TimedResult:
    """The place of a run a method cannot make (a sample-wise request to DiHyFo): NaN."""
    return TimedResult(torch.full_like(base.original, float("nan")).cpu(), float("nan"), {})


def _log_seconds(
    method: str,
    scenarios: list[ForgetScenario],
    results: list[list[TimedResult]],
    skipped: dict[str, str],
) -> None:
    for scenario, scenario_results in zip(scenarios, results, strict=True):
        if scenario.name in skipped:
            logger.info("%s does not answer %s: %s", method, scenario.name, skipped[scenario.name])
            continue
        seconds = [r.seconds for r in scenario_results]
        logger.info(
            "%s forgot class %s in %.3f s (mean of %d run(s))",
            method,
            scenario.name,
            sum(seconds) / len(seconds),
            len(seconds),
        )


def _stacked_weights(  # noqa: PLR0913 (the runs and what made them)
    method: str,
    base: ForgetRequest,
    config: Config,
    scenarios: list[ForgetScenario],
    results: list[list[TimedResult]],
    runs: int,
) -> dict[str, Any]:
    """The runs' weights ``[S, M, P]``, seconds, prompt alignment and DiHyFo's target and
    observed losses (NaN for other methods), with what made them in the metadata."""
    num_classes, num_params = base.num_classes, base.original.numel()
    nan_losses = torch.full((num_classes,), float("nan"))

    def stacked(value, shape: tuple[int, ...]) -> Tensor:
        if not results:
            return torch.empty(0, runs, *shape)
        return torch.stack([torch.stack([value(r) for r in row]) for row in results])

    first_info = results[0][0].info if results else {}
    return {
        "params": stacked(lambda r: r.params.cpu(), (num_params,)),
        "seconds": stacked(lambda r: torch.tensor(r.seconds, dtype=torch.float64), ()),
        "prompt_r2": stacked(lambda r: torch.tensor(r.info.get("prompt_r2", float("nan"))), ()),
        "target_loss": stacked(
            lambda r: r.info.get("target_loss", nan_losses).cpu(), (num_classes,)
        ),
        "observed_loss": stacked(
            lambda r: r.info.get("observed_loss", nan_losses).cpu(), (num_classes,)
        ),
        "__metadata__": {
            "method": method,
            "skipped": json.dumps(not results),
            "forget_classes": json.dumps(scenario_names(scenarios)),
            "runs": str(runs),
            "seeds": json.dumps([base.seed + r for r in range(runs)]),
            "config": json.dumps(config.to_dict()),
            "selection_rule": str(first_info.get("selection_rule", "")),
            "rows": "[s, r] = run r (seed unlearning.seed + r) on forget scenario s",
        },
    }


@dataclass(frozen=True)
class SeededRun:
    """One run of a method (a task): the scenario it forgets and its seed."""

    scenario: ForgetScenario
    seed: int


def _one_run(
    run: SeededRun,
    *,
    method: str,
    base: ForgetRequest,
    config: Config,
    resources: dict[str, Any],
) -> TimedResult:
    request = replace(base, scenario=run.scenario, seed=run.seed, resources=resources)
    return run_method(method, request, config)


def _diagnostics(
    scenarios: list[ForgetScenario], seconds: Tensor, infos: list[list[dict]]
) -> dict[str, dict[str, list[float]]]:
    """Per scenario, each numeric diagnostic (and the seconds) of every run, in run order."""
    table: dict[str, dict[str, list[float]]] = {}
    for scenario, spent, runs in zip(scenarios, seconds, infos, strict=True):
        scalars: dict[str, list[float]] = {"seconds": spent.tolist()}
        for info in runs:
            for key, value in info.items():
                if isinstance(value, int | float | bool):
                    scalars.setdefault(key, []).append(float(value))
        table[scenario.name] = scalars
    return table


def _scalar_metrics(
    method: str, diagnostics: dict[str, dict[str, list[float]]]
) -> dict[str, float]:
    """MLflow metrics: each diagnostic's mean over runs and scenarios (per scenario and run they
    are in the weights file's ``diagnostics`` metadata)."""
    per_key: dict[str, list[float]] = {}
    for scalars in diagnostics.values():
        for key, values in scalars.items():
            per_key.setdefault(key, []).append(sum(values) / len(values))
    return {
        f"unlearning.{method}.mean.{key}": sum(values) / len(values)
        for key, values in per_key.items()
    }
