import math

import pytest
import torch

from hyperforget.evaluation import metrics
from hyperforget.evaluation.config import EvaluationConfig
from hyperforget.evaluation.scoring import ScenarioRuns, score_scenario

CONFIG = EvaluationConfig(
    seed=0,
    oracle_runs=8,
    method_runs=4,
    forget_examples=None,
    retain_margins=(1.0,),
    forgot_tolerance=2.0,
    retrain_max_drop=5.0,
    oracle_max_z=3.0,
    mia_max_samples=None,
)
TRAIN, TEST = torch.arange(3).repeat(20), torch.arange(3).repeat(10)
FORGET = metrics.ForgetSets(TRAIN, TEST, TRAIN == 0, TEST == 0)


def candidates(method: str, count: int, forgets: bool, seed: int) -> list[metrics.Candidate]:
    """``count`` runs whose logits recognise class 0 or not (``forgets``), each with its noise."""
    generator = torch.Generator().manual_seed(seed)

    def outputs(labels):
        target = torch.where(labels == 0, torch.ones_like(labels), labels) if forgets else labels
        logits = 4 * torch.nn.functional.one_hot(target, 3).float()
        return (logits + torch.randn(len(labels), 3, generator=generator)).log_softmax(-1)

    return [
        metrics.Candidate(method, metrics.Outputs(outputs(TRAIN), outputs(TEST)), r, 1.0)
        for r in range(count)
    ]


@pytest.mark.parametrize("retrained", ["oracle", "spm_oracle"])
def test_every_run_gets_a_row_and_every_method_an_f_against_the_retrained(retrained):
    runs = {
        "original": candidates("original", 1, forgets=False, seed=1),
        retrained: candidates(retrained, 8, forgets=True, seed=2),
        "like_retraining": candidates("like_retraining", 4, forgets=True, seed=3),
    }
    reference = candidates(retrained, 1, forgets=True, seed=4)[0]
    scored = score_scenario(ScenarioRuns("0", 0, runs, reference, retrained), FORGET, CONFIG)
    assert len(scored.rows) == 1 + 8 + 4
    f = {row["method"]: row["forgetting_quality"] for row in scored.f_rows}
    assert list(f) == ["original", "like_retraining", retrained]
    ceilings = {row["retrained_forgetting_quality"] for row in scored.f_rows}
    assert ceilings == {f[retrained]}  # every row carries retraining's own F
    assert f["original"] < 0.2 * f["like_retraining"]  # it never forgot
    assert f["like_retraining"] > 0.5 * f[retrained]
    assert not math.isnan(f[retrained])


def test_the_same_scenario_scores_the_same():
    runs = {
        "oracle": candidates("oracle", 8, forgets=True, seed=2),
        "m": candidates("m", 4, forgets=True, seed=3),
    }
    reference = runs["oracle"][0]
    config = EvaluationConfig(**{**CONFIG.to_dict(), "forget_examples": 5})
    first = score_scenario(ScenarioRuns("0", 0, runs, reference), FORGET, config).f_rows
    again = score_scenario(ScenarioRuns("0", 0, runs, reference), FORGET, config).f_rows
    assert first == again
