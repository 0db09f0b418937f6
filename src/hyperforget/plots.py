"""Figures the pipelines save as PNG (and log to MLflow). Pure matplotlib, no pyplot state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure


def class_count_bars(counts: Mapping[str, Sequence[int]], class_names: Sequence[str]) -> Figure:
    """Grouped bars: samples per class in each split, to spot imbalance at a glance."""
    fig = Figure(figsize=(max(4.0, 0.6 * len(class_names) + 2), 3.2), layout="constrained")
    ax = fig.add_subplot()
    positions = np.arange(len(class_names))
    width = 0.8 / max(len(counts), 1)
    for i, (split, values) in enumerate(counts.items()):
        ax.bar(positions + i * width, values, width, label=f"{split} ({sum(values)})")
    ax.set_xticks(positions + width * (len(counts) - 1) / 2, class_names)
    ax.set_xlabel("class")
    ax.set_ylabel("samples")
    ax.set_title("Samples per class and split")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def zoo_loss_distributions(table, num_classes: int) -> Figure:
    """Per regime, the distribution of per-class validation losses over all its checkpoints.

    For ``retain``/``forget`` runs the loss on the run's own forgotten class is drawn apart from
    the loss on the other classes: the hypernetworks must see both ends of every profile.
    """
    regimes = list(dict.fromkeys(table["regime"]))
    fig = Figure(figsize=(4.0 * len(regimes), 3.4), layout="constrained")
    axes = fig.subplots(1, len(regimes), squeeze=False)[0]
    loss_columns = [f"val_loss_c{k}" for k in range(num_classes)]
    for ax, regime in zip(axes, regimes, strict=True):
        rows = table[table["regime"] == regime]
        losses = rows[loss_columns].to_numpy()
        if regime == "learn":
            ax.boxplot([losses[:, k] for k in range(num_classes)], showfliers=False)
            ax.set_xticks(range(1, num_classes + 1), [str(k) for k in range(num_classes)])
            ax.set_xlabel("class")
        else:
            forgotten = rows["forget_classes"].astype(int).to_numpy()
            mask = np.zeros_like(losses, dtype=bool)
            mask[np.arange(len(rows)), forgotten] = True
            ax.boxplot([losses[mask], losses[~mask]], showfliers=False)
            ax.set_xticks([1, 2], ["forgotten class k", "other classes"])
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylim(bottom=0)
        ax.set_title(f"{regime} ({rows['run_id'].nunique()} runs, {len(rows)} checkpoints)")
        ax.set_ylabel("validation loss")
    return fig


def prompt_alignment_scatter(prompted, observed, title: str) -> Figure:
    """Observed vs prompted per-class loss (log axes), one colour per class, with y = x."""
    fig = Figure(figsize=(5.0, 4.4), layout="constrained")
    ax = fig.add_subplot()
    prompted, observed = np.asarray(prompted), np.asarray(observed)
    for k in range(prompted.shape[1]):
        ax.scatter(prompted[:, k], observed[:, k], s=8, alpha=0.6, label=str(k))
    low = max(min(prompted.min(), observed.min()), 1e-3)
    high = max(prompted.max(), observed.max())
    ax.plot([low, high], [low, high], color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("prompted (target) validation loss")
    ax.set_ylabel("observed validation loss of the sampled network")
    ax.set_title(title)
    ax.legend(title="class", fontsize="x-small", ncols=2)
    return fig
