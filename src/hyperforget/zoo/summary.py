"""What the zoo stage reports: per regime, the test accuracy of the runs' final checkpoints;
per reference model, its test accuracy overall, on its forgotten class and on the others; and
those numbers as MLflow metrics."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from torch import Tensor, nn

from hyperforget.core.per_class import evaluate_per_class
from hyperforget.zoo.plan import FROM_LEARN


def summarise_regimes(
    module: nn.Module,
    params: Tensor,
    table: pd.DataFrame,
    images: Tensor,
    labels: Tensor,
    num_classes: int,
) -> pd.DataFrame:
    """Per regime, test accuracy (percent) of the runs' final checkpoints.

    ``end_acc_forgotten``: the worst (highest) final test accuracy on a run's forgotten class;
    ``others_change``: the worst change of the mean accuracy on the other classes between a
    run's first and final checkpoint (forget and refit runs start from trained models).
    """
    by_run = table.reset_index().groupby("run_id")["index"]
    first_rows, final_rows = by_run.min().to_numpy(), by_run.max().to_numpy()
    rows = torch.as_tensor(list(first_rows) + list(final_rows))
    stats = evaluate_per_class(module, params[rows.to(params.device)], images, labels, num_classes)
    n = len(first_rows)
    first_acc, final_acc = stats.acc[:n].cpu() * 100, stats.acc[n:].cpu() * 100
    final_total = stats.total_acc[n:].cpu() * 100
    runs = table.loc[final_rows].reset_index(drop=True)
    summary = []
    for regime, group in runs.groupby("regime", sort=False):
        idx = torch.tensor(group.index.to_numpy())
        entry = {
            "regime": regime,
            "runs": len(idx),
            "checkpoints": int((table["regime"] == regime).sum()),
            "final_val_acc": float(group["val_acc"].mean() * 100),
            "final_test_acc": float(final_total[idx].mean()),
            "final_test_acc_min": float(final_total[idx].min()),
            "end_acc_forgotten": float("nan"),
            "others_change": float("nan"),
        }
        if regime != "learn":
            k = torch.tensor(group["forget_classes"].astype(int).to_numpy())
            others = torch.ones(len(idx), num_classes, dtype=torch.bool)
            others[torch.arange(len(idx)), k] = False
            end_k = final_acc[idx][torch.arange(len(idx)), k]
            change = (final_acc[idx] * others).sum(1) / others.sum(1) - (
                first_acc[idx] * others
            ).sum(1) / others.sum(1)
            entry["end_acc_forgotten"] = float(end_k.max())
            from_learn = regime in FROM_LEARN
            entry["others_change"] = float(change.min()) if from_learn else float("nan")
        summary.append(entry)
    return pd.DataFrame(summary)


def summarise_references(
    module: nn.Module,
    original: Tensor,
    original_seconds: float,
    oracles: Tensor,
    oracle_seconds: Sequence[float],
    images: Tensor,
    labels: Tensor,
    num_classes: int,
) -> pd.DataFrame:
    """Test accuracy (percent) of the original and of each oracle on its class, the others and
    each class (``test_acc_c<k>``)."""
    stats = evaluate_per_class(
        module, torch.cat([original[None], oracles]), images, labels, num_classes
    )
    acc = stats.acc.cpu() * 100

    def per_class(row: int) -> dict[str, float]:
        return {f"test_acc_c{c}": float(acc[row, c]) for c in range(num_classes)}

    rows = [
        {
            "model": "original",
            "forget_class": -1,
            "seconds": original_seconds,
            "test_acc": float(stats.total_acc[0] * 100),
            "test_acc_forgotten": float("nan"),
            "test_acc_others": float(acc[0].mean()),
            **per_class(0),
        }
    ]
    for k in range(num_classes):
        others = torch.ones(num_classes, dtype=torch.bool)
        others[k] = False
        rows.append(
            {
                "model": f"oracle_{k}",
                "forget_class": k,
                "seconds": float(oracle_seconds[k]),
                "test_acc": float(stats.total_acc[k + 1] * 100),
                "test_acc_forgotten": float(acc[k + 1, k]),
                "test_acc_others": float(acc[k + 1, others].mean()),
                **per_class(k + 1),
            }
        )
    return pd.DataFrame(rows)


def summary_metrics(summary: pd.DataFrame, references: pd.DataFrame) -> dict[str, float]:
    """MLflow metrics of ``summarise_regimes`` and ``summarise_references``."""
    metrics = {}
    for row in summary.to_dict("records"):
        for column in ("final_test_acc", "final_val_acc", "end_acc_forgotten", "others_change"):
            if pd.notna(row[column]):
                metrics[f"zoo.{row['regime']}.{column}"] = row[column]
    for row in references.to_dict("records"):
        metrics[f"reference.{row['model']}.seconds"] = row["seconds"]
        metrics[f"reference.{row['model']}.test_acc"] = row["test_acc"]
    return metrics
