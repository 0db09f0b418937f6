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
