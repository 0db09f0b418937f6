"""Metrics of an unlearned model against the retrain oracle (docs/metrics.md).

Accuracies are in percent. Membership inference (two standard variants):
* ``mia_entropy`` (SSD's): softmax entropy as the feature; a logistic regression learns
  retain-train (member) vs test of the retained classes (non-member) and is applied to the
  forget-train set D_f; reported: percent of D_f called member.
* ``mia_efficacy`` (SalUn's MIA-efficacy): confidence p(true label) as the feature;
  ``SVC(C=3, kernel="rbf", gamma="auto")`` on the same member / non-member sets (balanced by
  seeded subsampling); reported: percent of D_f called non-member.
Non-members are test samples of the retained classes, so the attack never sees the forgotten
class during its own training. ``max_samples`` caps members, non-members and D_f (seeded
subsamples), so an attack's cost does not grow with the data; below the cap nothing changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC
from torch import Tensor, nn

from hyperforget.core.compute import thread_map
from hyperforget.core.flat_params import batched_forward, load_flat_into
from hyperforget.core.scenario import ForgetScenario, class_mask
from hyperforget.evaluation.intervals import central_range, z_score


@dataclass
class Outputs:
    """Log-probabilities of one model on the train and test splits."""

    train: Tensor  # [N_train, K]
    test: Tensor  # [N_test, K]


@torch.no_grad()
def model_outputs(build, params: Tensor, train_images: Tensor, test_images: Tensor) -> Outputs:
    module: nn.Module = load_flat_into(build().to(params.device), params).eval()
    return Outputs(
        F.log_softmax(module(train_images), -1).cpu(), F.log_softmax(module(test_images), -1).cpu()
    )


def accuracy(log_probs: Tensor, labels: Tensor) -> float:
    if len(labels) == 0:
        return float("nan")
    return float((log_probs.argmax(-1) == labels).float().mean() * 100)


def agreement(log_probs: Tensor, other_log_probs: Tensor) -> float:
    """Percent of samples on which two models' predictions (argmax) are the same."""
    return float((log_probs.argmax(-1) == other_log_probs.argmax(-1)).float().mean() * 100)


def _balanced(
    members: np.ndarray, non_members: np.ndarray, seed: int, max_samples: int | None = None
):
    rng = np.random.default_rng(seed)
    n = min(len(members), len(non_members), max_samples or len(members))
    members = members[rng.permutation(len(members))[:n]]
    non_members = non_members[rng.permutation(len(non_members))[:n]]
    features = np.concatenate([members, non_members]).reshape(-1, 1)
    targets = np.concatenate([np.ones(n), np.zeros(n)])
    return features, targets


def _capped(features: np.ndarray, seed: int, max_samples: int | None) -> np.ndarray:
    """At most ``max_samples`` of ``features`` (a seeded subsample), as a column."""
    if max_samples is not None and len(features) > max_samples:
        keep = np.random.default_rng(seed + 1).permutation(len(features))[:max_samples]
        features = features[np.sort(keep)]
    return features.reshape(-1, 1)


def mia_entropy(
    retain_train: Tensor,
    test_retained: Tensor,
    forget_train: Tensor,
    seed: int,
    max_samples: int | None = None,
) -> float:
    """Percent of D_f that an entropy-based attack calls member."""

    def entropy(log_probs: Tensor) -> np.ndarray:
        # xlogy: a class with exactly zero mass (an SPM's deleted class) adds 0, not nan
        return (-torch.special.xlogy(log_probs.exp(), log_probs.exp()).sum(-1)).numpy()

    features, targets = _balanced(entropy(retain_train), entropy(test_retained), seed, max_samples)
    attack = LogisticRegression().fit(features, targets)
    return float(attack.predict(_capped(entropy(forget_train), seed, max_samples)).mean() * 100)


def mia_efficacy(
    retain_train: Tensor,
    retain_labels: Tensor,
    test_retained: Tensor,
    test_labels: Tensor,
    forget_train: Tensor,
    forget_labels: Tensor,
    seed: int,
    max_samples: int | None = None,
) -> float:
    """SalUn's MIA-efficacy: percent of D_f that a confidence-based attack calls non-member."""

    def confidence(log_probs: Tensor, labels: Tensor) -> np.ndarray:
        return log_probs.exp().gather(1, labels.view(-1, 1)).flatten().numpy()

    features, targets = _balanced(
        confidence(retain_train, retain_labels),
        confidence(test_retained, test_labels),
        seed,
        max_samples,
    )
    attack = SVC(C=3, kernel="rbf", gamma="auto").fit(features, targets)
    forget = _capped(confidence(forget_train, forget_labels), seed, max_samples)
    called_member = attack.predict(forget)
    return float((1.0 - called_member.mean()) * 100)


def kl_divergence(target_log_probs: Tensor, log_probs: Tensor) -> Tensor:
    """Mean KL(target || model) over samples; classes the target gives zero mass add nothing."""
    terms = target_log_probs.exp() * (target_log_probs - log_probs)
    return torch.where(target_log_probs == -torch.inf, 0.0, terms).sum(-1).mean()


@dataclass(frozen=True)
class ForgetSets:
    """The train and test splits' labels, and which of their samples a scenario forgets
    (``train``, ``test``: masks; no test sample for a sample-wise scenario)."""

    train_labels: Tensor
    test_labels: Tensor
    train: Tensor
    test: Tensor

    @classmethod
    def of(cls, scenario: ForgetScenario, train_labels: Tensor, test_labels: Tensor) -> ForgetSets:
        return cls(
            train_labels,
            test_labels,
            scenario.forget_mask(train_labels, "train"),
            scenario.forget_mask(test_labels, "test"),
        )


def masked_metrics(
    outputs: Outputs,
    oracle: Outputs,
    forget: ForgetSets,
    seed: int = 0,
    mia_max_samples: int | None = None,
) -> dict[str, float]:
    """Every metric given which samples the scenario forgets (``forget``).
    ``mia_max_samples`` caps each set the attacks fit on or score (see the module's doc)."""
    f_train, f_test = forget.train, forget.test
    train_labels, test_labels = forget.train_labels, forget.test_labels
    kl = kl_divergence(oracle.test, outputs.test)
    return {
        "acc_forget_train": accuracy(outputs.train[f_train], train_labels[f_train]),
        "acc_forget_test": accuracy(outputs.test[f_test], test_labels[f_test]),
        "acc_retain_train": accuracy(outputs.train[~f_train], train_labels[~f_train]),
        "acc_retain_test": accuracy(outputs.test[~f_test], test_labels[~f_test]),
        "acc_test": accuracy(outputs.test, test_labels),
        "mia_entropy": mia_entropy(
            outputs.train[~f_train],
            outputs.test[~f_test],
            outputs.train[f_train],
            seed,
            mia_max_samples,
        ),
        "mia_efficacy": mia_efficacy(
            outputs.train[~f_train],
            train_labels[~f_train],
            outputs.test[~f_test],
            test_labels[~f_test],
            outputs.train[f_train],
            train_labels[f_train],
            seed,
            mia_max_samples,
        ),
        "agreement_oracle": agreement(outputs.test, oracle.test),
        "kl_oracle": float(kl),
    }


@dataclass
class Candidate:
    """One run to score: a method's outputs, its run index among the method's runs, its seconds
    and (DiHyFo) its prompt alignment R^2."""

    method: str
    outputs: Outputs
    run: int = 0
    seconds: float = math.nan
    prompt_r2: float = math.nan


def run_rows(
    scenario: str,
    candidates: list[Candidate],
    reference: Candidate,
    forget: ForgetSets,
    seed: int = 0,
    mia_max_samples: int | None = None,
    threads: int = 1,
) -> list[dict[str, float | str]]:
    """One row per candidate run of one forget scenario: every metric, agreement and KL against
    the ``reference`` oracle's predictions, and the speed-up over the reference's seconds (an
    oracle retrained alone). The gap to the retrained distribution (``avg_gap``) needs every
    retrained run: ``evaluation.distribution.add_avg_gap`` adds it to the whole table.
    ``threads`` score candidates side by side (their attacks' fits release the GIL)."""
    scored = thread_map(
        lambda c: masked_metrics(c.outputs, reference.outputs, forget, seed, mia_max_samples),
        candidates,
        threads,
    )
    return [
        {
            "method": c.method,
            "forget_classes": scenario,
            "run": c.run,
            **row,
            "seconds": c.seconds,
            "speedup": reference.seconds / c.seconds if c.seconds > 0 else math.nan,
            "prompt_r2": c.prompt_r2,
        }
        for c, row in zip(candidates, scored, strict=True)
    ]


@torch.no_grad()
def retain_test_accuracy(
    build,
    params: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    forget_classes: tuple[int, ...],
    mask_forgotten: bool = False,
) -> Tensor:
    """``acc_retain_test`` of each network of ``params [N, P]`` at once: ``[N]`` percent.

    With ``mask_forgotten`` each network answers as if the forgotten classes did not exist (their
    outputs are ignored by the argmax): the original model so masked is what DiHyFo's target
    asks for on the retained classes (their losses unchanged, the forgotten ones' high)."""
    keep = ~class_mask(test_labels, forget_classes)
    module = build().to(params.device)
    logits = batched_forward(module, params, test_images[keep.to(test_images.device)])
    if mask_forgotten:
        logits[..., list(forget_classes)] = float("-inf")
    return (logits.argmax(-1).cpu() == test_labels[keep]).float().mean(1) * 100


def retrain_spread(oracle: float, retrained: Tensor) -> dict[str, float]:
    """The retrained distribution of retain-test accuracy (``retrained [R]``, percent): its mean,
    sd, range and central 95% range, and where the reference oracle (``oracle``, trained alone
    with its own seed) sits in it (``oracle_z``, in retrained sd): how lucky that one seed was.
    A gap smaller than a few ``retrained_sd`` is within what retraining alone moves."""
    retrained = retrained.double().cpu()
    empty = len(retrained) == 0
    low, high = (math.nan, math.nan) if empty else central_range(retrained.numpy())
    return {
        "retrained": float(len(retrained)),
        "oracle_retain_test": float(oracle),
        "retrained_mean": math.nan if empty else float(retrained.mean()),
        "retrained_sd": float(retrained.std()) if len(retrained) > 1 else math.nan,
        "retrained_min": math.nan if empty else float(retrained.min()),
        "retrained_max": math.nan if empty else float(retrained.max()),
        "retrained_low_95": low,
        "retrained_high_95": high,
        "oracle_minus_retrained": math.nan if empty else float(oracle) - float(retrained.mean()),
        "oracle_z": math.nan if empty else z_score(float(oracle), retrained.numpy()),
    }


def retrain_pass_rates(
    oracle: Tensor, replicas: Tensor, margins: list[float]
) -> list[dict[str, float]]:
    """How often retraining itself meets the target "retain-test at least the oracle's minus
    ``margin`` points, on every scenario", scoring each replica (the oracle retrained with another
    seed) as if it were an unlearning method: the bar a method faces, measured on the process it
    imitates. ``oracle [S]`` and ``replicas [S, J]`` hold retain-test accuracies in percent; a
    replica misses a scenario when its accuracy is below ``oracle - margin`` (no tolerance, as
    ``check_results`` compares). Per margin: how many replicas pass every scenario, their share
    in percent, how many (scenario, replica) pairs miss, and the worst replica-minus-oracle gap.
    """
    if replicas.ndim != 2 or replicas.shape[0] != oracle.shape[0]:
        raise ValueError(
            f"replicas must be [scenarios, replicas] with one row per oracle accuracy; got "
            f"{tuple(replicas.shape)} for {oracle.shape[0]} oracle accuracies."
        )
    if any(margin < 0 for margin in margins):
        raise ValueError(f"retain margins are points under the oracle, >= 0; got {margins}.")
    gaps = replicas.double().cpu() - oracle.double().cpu()[:, None]
    count = gaps.shape[1]
    rows = []
    for margin in margins:
        missed = gaps < -margin
        passing = int((~missed).all(0).sum())
        rows.append(
            {
                "margin": float(margin),
                "replicas": float(count),
                "replicas_passing": float(passing),
                "share_passing": 100.0 * passing / count if count else math.nan,
                "misses": float(missed.sum()),
                "worst_gap": float(gaps.min()) if gaps.numel() else math.nan,
            }
        )
    return rows


def agreement_spread(method: float, retrained: Tensor) -> dict[str, float]:
    """How often the oracle's test predictions are matched by a method (``method``, percent)
    against how often they are matched by the same oracle retrained with other seeds
    (``retrained [J]``, percent each): the agreement that retraining alone reaches, which a
    method cannot be expected to beat. ``method_minus_retrained`` is against their mean."""
    retrained = retrained.double().cpu()
    mean = float(retrained.mean()) if len(retrained) else math.nan
    return {
        "replicas": float(len(retrained)),
        "method_agreement": float(method),
        "retrained_agreement_mean": mean,
        "retrained_agreement_min": float(retrained.min()) if len(retrained) else math.nan,
        "retrained_agreement_max": float(retrained.max()) if len(retrained) else math.nan,
        "method_minus_retrained": float(method) - mean,
    }
