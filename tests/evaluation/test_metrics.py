import math

import pytest
import torch
from torch import Tensor

from hyperforget.core.scenario import ForgetScenario
from hyperforget.evaluation import metrics


def outputs_from_logits(train_logits, test_logits):
    return metrics.Outputs(train_logits.log_softmax(-1), test_logits.log_softmax(-1))


def make_case(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    train_labels = torch.arange(3).repeat(40)
    test_labels = torch.arange(3).repeat(20)

    # a model that is right on classes 1 and 2 and, for class 0, predicts class 1
    def logits(labels):
        target = torch.where(labels == 0, torch.ones_like(labels), labels)
        return 5 * torch.nn.functional.one_hot(target, 3).float() + torch.randn(
            len(labels), 3, generator=generator
        )

    return outputs_from_logits(logits(train_labels), logits(test_labels)), train_labels, test_labels


def test_metrics_of_a_model_against_itself():
    outputs, train_labels, test_labels = make_case()
    forget = metrics.ForgetSets.of(ForgetScenario.of_classes((0,)), train_labels, test_labels)
    row = metrics.masked_metrics(outputs, outputs, forget)
    assert row["acc_forget_test"] == 0.0
    assert row["acc_retain_test"] == 100.0
    assert math.isclose(row["acc_test"], 200 / 3, rel_tol=1e-6)
    assert row["agreement_oracle"] == 100.0
    assert abs(row["kl_oracle"]) < 1e-6
    assert 0.0 <= row["mia_entropy"] <= 100.0 and 0.0 <= row["mia_efficacy"] <= 100.0


def test_efficacy_mia_calls_unseen_like_data_non_member():
    members = torch.full((50, 2), 0.0)
    members[:, 0] = 10.0  # confident on the true label 0
    non_members = torch.zeros(50, 2)  # p = 0.5
    labels = torch.zeros(50, dtype=torch.long)
    efficacy = metrics.mia_efficacy(
        members.log_softmax(-1),
        labels,
        non_members.log_softmax(-1),
        labels,
        non_members.log_softmax(-1),
        labels,
        seed=0,
    )
    assert efficacy == 100.0


def test_kl_ignores_classes_without_mass_on_both_sides():
    from hyperforget.evaluation.metrics import kl_divergence

    oracle = torch.tensor([[-math.inf, math.log(0.5), math.log(0.5)]])
    same = oracle.clone()
    other = torch.tensor([[-math.inf, math.log(0.25), math.log(0.75)]])
    assert kl_divergence(oracle, same).item() == 0
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl_divergence(oracle, other).item() == pytest.approx(expected)


def test_sample_wise_metrics_leave_forget_test_empty_and_the_gap_ignores_it():
    from hyperforget.evaluation.metrics import ForgetSets, Outputs, masked_metrics

    generator = torch.Generator().manual_seed(0)
    train_labels, test_labels = torch.arange(3).repeat(20), torch.arange(3).repeat(10)
    outputs = Outputs(
        torch.randn(60, 3, generator=generator).log_softmax(1),
        torch.randn(30, 3, generator=generator).log_softmax(1),
    )
    scenario = ForgetScenario.of_samples("random10", range(6))
    row = masked_metrics(outputs, outputs, ForgetSets.of(scenario, train_labels, test_labels))
    assert math.isnan(row["acc_forget_test"])
    assert row["agreement_oracle"] == 100 and row["kl_oracle"] == 0


def test_run_rows_compare_every_run_with_the_reference_oracle():
    from hyperforget.evaluation.metrics import Candidate, ForgetSets, Outputs, run_rows

    generator = torch.Generator().manual_seed(1)
    train_labels, test_labels = torch.arange(3).repeat(20), torch.arange(3).repeat(10)

    def outputs() -> Outputs:
        return Outputs(
            torch.randn(60, 3, generator=generator).log_softmax(1),
            torch.randn(30, 3, generator=generator).log_softmax(1),
        )

    reference = Candidate("oracle", outputs(), seconds=2.0)
    candidates = [Candidate("method", outputs(), 0, 0.5), Candidate("method", outputs(), 1, 1.0)]
    forget = ForgetSets.of(ForgetScenario.of_classes((0,)), train_labels, test_labels)
    first, second = run_rows("0", candidates, reference, forget)
    assert (first["run"], second["run"]) == (0, 1)
    assert first["speedup"] == 4.0 and second["speedup"] == 2.0
    assert first["agreement_oracle"] == metrics.agreement(
        candidates[0].outputs.test, reference.outputs.test
    )
    (itself,) = run_rows("0", [reference], reference, forget)
    assert itself["agreement_oracle"] == 100 and itself["speedup"] == 1.0
    assert math.isnan(first["prompt_r2"])
    # scored side by side in threads, every row is the one scored alone, in the same order
    many = [Candidate("method", outputs(), r, 1.0) for r in range(6)]
    assert run_rows("0", many, reference, forget, threads=3) == run_rows(
        "0", many, reference, forget
    )


def test_retain_test_accuracy_of_a_batch_equals_each_network_alone():
    from hyperforget.core.flat_params import flatten_module
    from hyperforget.core.targets import build_target

    def build():
        return build_target((1, 4, 4), 3, (5,))

    torch.manual_seed(0)
    params = torch.stack([flatten_module(build()) for _ in range(4)])
    images, labels = torch.randn(60, 1, 4, 4), torch.arange(3).repeat(20)
    batched = metrics.retain_test_accuracy(build, params, images, labels, (1,))
    keep = labels != 1
    for i, p in enumerate(params):
        alone = metrics.model_outputs(build, p, images[:1], images[keep]).test
        assert batched[i].item() == pytest.approx(metrics.accuracy(alone, labels[keep]))


def test_retain_test_accuracy_can_ignore_the_forgotten_classes_outputs():
    from hyperforget.core.flat_params import flatten_module
    from hyperforget.core.targets import build_target

    def build():
        return build_target((1, 4, 4), 3, (5,))

    torch.manual_seed(0)
    net = build()
    params = flatten_module(net)[None]
    images, labels = torch.randn(90, 1, 4, 4), torch.arange(3).repeat(30)
    keep = labels != 1
    with torch.no_grad():
        logits = net(images[keep])
    masked = metrics.retain_test_accuracy(build, params, images, labels, (1,), True)
    logits[:, 1] = float("-inf")
    expected = (logits.argmax(1) == labels[keep]).float().mean().item() * 100
    assert masked.item() == pytest.approx(expected)
    # Ignoring a class can only turn wrong answers "1" into right ones on the other classes.
    plain = metrics.retain_test_accuracy(build, params, images, labels, (1,))
    assert masked.item() >= plain.item()


def test_retrain_spread_places_the_reference_oracle_in_the_retrained_distribution():
    spread = metrics.retrain_spread(92.0, torch.tensor([88.0, 90.0, 89.0]))
    assert spread["retrained"] == 3
    assert spread["retrained_mean"] == pytest.approx(89.0)
    assert spread["retrained_sd"] == pytest.approx(1.0)
    assert (spread["retrained_min"], spread["retrained_max"]) == (88.0, 90.0)
    assert 88.0 < spread["retrained_low_95"] < 88.1 and 89.9 < spread["retrained_high_95"] < 90
    assert spread["oracle_minus_retrained"] == pytest.approx(3.0)
    assert spread["oracle_z"] == pytest.approx(3.0)  # 3 points over the retrained sd of 1
    alone = metrics.retrain_spread(92.0, torch.empty(0))
    assert alone["retrained"] == 0 and math.isnan(alone["retrained_sd"])
    assert math.isnan(alone["oracle_minus_retrained"]) and math.isnan(alone["oracle_z"])


def test_retrain_pass_rates_score_each_replica_as_a_method():
    oracle = torch.tensor([90.0, 91.0, 89.0])
    replicas = torch.tensor(
        [
            [89.0, 87.5, 88.0],  # scenario 0: gaps -1, -2.5, -2
            [91.5, 90.0, 88.0],  # scenario 1: gaps +0.5, -1, -3
            [89.0, 89.0, 88.5],  # scenario 2: gaps 0, 0, -0.5
        ]
    )
    rates = metrics.retrain_pass_rates(oracle, replicas, [1, 2, 3])
    rows = {row["margin"]: row for row in rates}
    # A gap equal to the margin passes, as check_results compares.
    assert [rows[m]["replicas_passing"] for m in (1, 2, 3)] == [1, 1, 3]
    assert [rows[m]["misses"] for m in (1, 2, 3)] == [3, 2, 0]
    assert rows[2]["share_passing"] == pytest.approx(100 / 3)
    assert all(row["replicas"] == 3 and row["worst_gap"] == -3.0 for row in rows.values())
    none = metrics.retrain_pass_rates(oracle, torch.empty(3, 0), [2])[0]
    assert none["replicas"] == 0 and math.isnan(none["share_passing"])


@pytest.mark.parametrize(
    ("replicas", "margins", "message"),
    [
        (torch.zeros(2, 4), [2], "one row per oracle"),
        (torch.zeros(3), [2], "one row per oracle"),
        (torch.zeros(3, 4), [-1], ">= 0"),
    ],
)
def test_retrain_pass_rates_refuse_bad_input(replicas, margins, message):
    with pytest.raises(ValueError, match=message):
        metrics.retrain_pass_rates(torch.zeros(3), replicas, margins)


def test_agreement_counts_equal_predictions():
    a = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]).log()
    b = torch.tensor([[0.7, 0.3], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]]).log()
    assert metrics.agreement(a, b) == pytest.approx(75.0)
    assert metrics.agreement(a, a) == 100.0


def test_agreement_spread_compares_a_method_with_retraining():
    spread = metrics.agreement_spread(90.0, torch.tensor([92.0, 94.0]))
    assert spread["replicas"] == 2
    assert spread["retrained_agreement_mean"] == pytest.approx(93.0)
    assert (spread["retrained_agreement_min"], spread["retrained_agreement_max"]) == (92.0, 94.0)
    assert spread["method_minus_retrained"] == pytest.approx(-3.0)
    alone = metrics.agreement_spread(90.0, torch.empty(0))
    assert alone["replicas"] == 0 and math.isnan(alone["method_minus_retrained"])


def _attack_inputs(n_members: int, n_non_members: int, n_forget: int, seed: int = 0):
    """Log-probabilities of 2 classes, members more confident than non-members, labels 0."""
    generator = torch.Generator().manual_seed(seed)

    def confident(n: int, shift: float) -> Tensor:
        logits = torch.zeros(n, 2)
        logits[:, 0] = shift + torch.randn(n, generator=generator)
        return logits.log_softmax(-1)

    labels = torch.zeros(max(n_members, n_non_members, n_forget), dtype=torch.long)
    return (
        confident(n_members, 3.0),
        labels[:n_members],
        confident(n_non_members, 0.5),
        labels[:n_non_members],
        confident(n_forget, 1.5),
        labels[:n_forget],
    )


def test_mia_cap_above_every_set_changes_nothing():
    members, m_labels, non_members, n_labels, forget, f_labels = _attack_inputs(300, 120, 80)
    uncapped = metrics.mia_efficacy(
        members, m_labels, non_members, n_labels, forget, f_labels, seed=3
    )
    capped = metrics.mia_efficacy(
        members, m_labels, non_members, n_labels, forget, f_labels, seed=3, max_samples=120
    )
    assert capped == uncapped
    assert metrics.mia_entropy(members, non_members, forget, 3) == metrics.mia_entropy(
        members, non_members, forget, 3, max_samples=500
    )


def test_mia_cap_scores_a_seeded_subsample_of_the_forget_set():
    members, m_labels, non_members, n_labels, forget, f_labels = _attack_inputs(600, 500, 400)
    runs = [
        metrics.mia_efficacy(
            members, m_labels, non_members, n_labels, forget, f_labels, seed=1, max_samples=64
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]  # seeded
    assert (runs[0] * 64 / 100) == pytest.approx(round(runs[0] * 64 / 100))  # 64 scored samples
    entropy_rate = metrics.mia_entropy(members, non_members, forget, 1, max_samples=64)
    assert (entropy_rate * 64 / 100) == pytest.approx(round(entropy_rate * 64 / 100))
