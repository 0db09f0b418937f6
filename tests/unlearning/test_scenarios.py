"""Running a method on every scenario: a sample-wise scenario a method cannot answer is named
with the reason, never silently scored."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import torch

from hyperforget.core.scenario import ForgetScenario
from hyperforget.unlearning import scenarios as runner
from hyperforget.unlearning.api import MethodSpec, TimedResult, Unlearned, not_applicable
from tests.unlearning.conftest import method_params


def test_a_method_without_a_sample_wise_form_runs_only_the_class_scenarios(
    forget_request, monkeypatch
):
    asked = []

    def forget(request, config):
        asked.append((request.scenario.name, request.seed))
        return Unlearned(request.original.clone(), {"steps": 3})

    spec = MethodSpec(forget=forget, config=type(method_params("ft")), not_sample_wise="no prompt")
    monkeypatch.setattr(runner, "method_specs", lambda: {"fake": spec})
    monkeypatch.setattr(
        runner,
        "run_method",
        lambda method, request, config: TimedResult(forget(request, config).params, 0.5, {}),
    )
    planned = [
        ForgetScenario.of_classes((0,)),
        ForgetScenario.of_samples("random10", [1, 2, 3]),
        ForgetScenario.of_classes((1, 2)),
    ]
    base = replace(forget_request, scenario=None, seed=7)
    weights, metrics = runner.run_scenarios("fake", base, method_params("ft"), planned, 2, {})
    assert asked == [("0", 7), ("0", 8), ("1+2", 7), ("1+2", 8)]
    assert weights["params"].shape == (3, 2, base.original.numel())
    assert weights["params"][1].isnan().all() and not weights["params"][[0, 2]].isnan().any()
    assert weights["seconds"][1].isnan().all() and (weights["seconds"][[0, 2]] == 0.5).all()
    assert not_applicable(weights) == {"random10": "no prompt"}
    assert set(json.loads(weights["__metadata__"]["diagnostics"])) == {"0", "1+2"}
    assert metrics == {"unlearning.fake.mean.seconds": 0.5}
    assert all(not math.isnan(v) for v in metrics.values())
    assert not_applicable({"__metadata__": {}}) == {}
    assert torch.equal(weights["params"][0, 0], base.original)
