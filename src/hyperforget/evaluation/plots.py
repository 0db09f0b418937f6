"""Figures the pipelines save as PNG (and log to MLflow). Pure matplotlib, no pyplot state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
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


def _draw_alignment(ax, prompted, observed, title: str) -> None:
    prompted, observed = np.asarray(prompted), np.asarray(observed)
    for k in range(prompted.shape[1]):
        ax.scatter(prompted[:, k], observed[:, k], s=10, alpha=0.6, label=str(k))
    low = max(min(np.nanmin(prompted), np.nanmin(observed)), 1e-3)
    high = max(np.nanmax(prompted), np.nanmax(observed))
    ax.plot([low, high], [low, high], color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("target (prompted) validation loss")
    ax.set_ylabel("observed validation loss")
    ax.set_title(title, fontsize="medium")
    ax.legend(title="class", fontsize="x-small", ncols=2)


def prompt_alignment_scatter(prompted, observed, title: str) -> Figure:
    """Observed vs prompted per-class loss (log axes), one colour per class, with y = x."""
    fig = Figure(figsize=(5.0, 4.4), layout="constrained")
    _draw_alignment(fig.add_subplot(), prompted, observed, title)
    return fig


def loss_alignment_panels(pairs: Mapping[str, tuple]) -> Figure:
    """HyperForget's Figure 2: per method, target vs observed loss of the selected networks."""
    fig = Figure(figsize=(5.0 * max(len(pairs), 1), 4.4), layout="constrained")
    if not pairs:
        fig.text(0.5, 0.5, "no method with loss prompts", ha="center")
        return fig
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    for ax, (method, (prompted, observed)) in zip(axes, pairs.items(), strict=True):
        _draw_alignment(ax, prompted, observed, f"{method}: target vs observed loss")
    return fig


def per_class_accuracy_grid(
    per_class_acc: Mapping[str, Sequence[Sequence[float]]],
    scenarios: Sequence[str],
    columns: int = 5,
) -> Figure:
    """HyperForget's Figures 3-4: test accuracy per class (columns) after forgetting each
    scenario (rows), one heatmap per method, ``columns`` methods a row; the forgotten class
    should be the dark cell."""
    methods = list(per_class_acc)
    ncols = min(columns, len(methods))
    nrows = -(-len(methods) // ncols)
    fig = Figure(
        figsize=(3.0 * ncols + 1.0, (0.3 * len(scenarios) + 1.6) * nrows), layout="constrained"
    )
    axes = fig.subplots(nrows, ncols, squeeze=False).flatten()
    image = None
    for ax, method in zip(axes, methods, strict=False):
        values = np.asarray(per_class_acc[method], dtype=float)
        image = ax.imshow(values, vmin=0, vmax=100, cmap="viridis", aspect="auto")
        ax.set_title(method, fontsize="medium")
        ax.set_xlabel("class")
        ax.set_xticks(range(values.shape[1]))
        ax.set_yticks(range(len(scenarios)), scenarios)
        ax.set_ylabel("forgotten class")
    for ax in axes[len(methods) :]:
        ax.set_visible(False)
    fig.colorbar(image, ax=list(axes[: len(methods)]), label="test accuracy (%)")
    return fig


def oracle_agreement_heatmap(table) -> Figure:
    """HyperForget's Figure 5 as a heatmap: how often each method (row) predicts what its
    oracle predicts on the test set, per forget scenario (column), with the value in each cell."""
    oracles = ("oracle", "spm_oracle")
    methods = [m for m in dict.fromkeys(table["method"]) if m not in oracles]
    scenarios = list(dict.fromkeys(table["forget_classes"]))
    pivot = table.pivot(index="method", columns="forget_classes", values="agreement_oracle")
    values = pivot.loc[methods, scenarios].to_numpy(dtype=float)
    fig = Figure(
        figsize=(0.55 * len(scenarios) + 3.5, 0.4 * len(methods) + 1.5), layout="constrained"
    )
    ax = fig.add_subplot()
    image = ax.imshow(values, vmin=0, vmax=100, cmap="viridis", aspect="auto")
    for (row, column), value in np.ndenumerate(values):
        if not np.isnan(value):
            color = "white" if value < 60 else "black"
            ax.text(column, row, f"{value:.0f}", ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(len(scenarios)), scenarios)
    ax.set_yticks(range(len(methods)), methods)
    ax.set_xlabel("forget scenario")
    fig.colorbar(image, ax=ax, label="test predictions equal to the oracle's (%)")
    return fig


def _retrained_band(ax: Axes, x: np.ndarray, spread) -> None:
    """The retrained distribution per scenario (central 95% band, mean line), the reference
    oracle (cross) and, where the table has it, the masked original (blue dash)."""
    ax.fill_between(
        x, spread["retrained_low_95"], spread["retrained_high_95"], color="0.85", step="mid"
    )
    ax.plot(x, spread["retrained_mean"], color="0.5", lw=1, drawstyle="steps-mid")
    ax.plot(x, spread["oracle_retain_test"], "kx", ms=5)
    if "masked_original_retain_test" in spread:
        ax.plot(x, spread["masked_original_retain_test"], "_", color="tab:blue", ms=9, mew=1.5)


def _method_points(ax: Axes, x: np.ndarray, by_scenario, low: float) -> None:
    """A method's mean retain-test accuracy per scenario with its 95% CI; a value below ``low``
    is drawn as a labelled triangle on the bottom edge."""
    values = by_scenario["acc_retain_test"].to_numpy(dtype=float)
    if "acc_retain_test_ci_low" in by_scenario:
        errors = np.stack(
            [
                values - by_scenario["acc_retain_test_ci_low"].to_numpy(dtype=float),
                by_scenario["acc_retain_test_ci_high"].to_numpy(dtype=float) - values,
            ]
        )
    else:
        errors = np.zeros((2, len(values)))
    inside = values >= low
    ax.errorbar(
        x[inside],
        values[inside],
        yerr=np.nan_to_num(errors[:, inside]),
        fmt="o",
        color="tab:red",
        ms=4,
        capsize=2,
    )
    for i in np.flatnonzero(values < low):
        ax.plot(x[i], low + 0.4, "v", color="tab:red", ms=5)
        ax.annotate(f"{values[i]:.0f}", (x[i], low + 1.0), ha="center", fontsize=6)


def oracle_spread_panels(spread, results, methods: Sequence[str], columns: int = 4) -> Figure:
    """Each method's mean retain-test accuracy over its runs (dot, with its 95% CI) per forget
    scenario against the retrained distribution: the grey band is its central 95% range, the
    line its mean, the cross the reference oracle, the blue dash the original with the
    forgotten classes' outputs ignored (where DiHyFo's target points, when the table has
    ``masked_original_retain_test``). The axis stays close to the band; a method far below it
    is drawn as a triangle on the bottom edge, labelled."""
    scenarios = list(spread["forget_classes"])
    rows = results[results["forget_classes"].isin(scenarios)]
    ncols = min(columns, max(len(methods), 1))
    nrows = max(-(-len(methods) // ncols), 1)
    fig = Figure(figsize=(3.2 * ncols + 0.5, 2.6 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).flatten()
    x = np.arange(len(scenarios))
    low = float(np.nanmin(spread["retrained_min"])) - 6.0
    high = float(np.nanmax(spread["retrained_max"])) + 2.0
    for ax, method in zip(axes, methods, strict=False):
        _retrained_band(ax, x, spread)
        by_scenario = rows[rows["method"] == method].set_index("forget_classes").reindex(scenarios)
        _method_points(ax, x, by_scenario, low)
        ax.set_ylim(low, high)
        ax.set_title(method, fontsize="medium")
        ax.set_xticks(x, scenarios)
        ax.set_xlabel("forgotten class")
    for ax in axes[::ncols]:
        ax.set_ylabel("retain-test accuracy (%)")
    for ax in axes[len(methods) :]:
        ax.set_visible(False)
    fig.suptitle(
        "Methods (mean of their runs, 95% CI) against retraining (central 95% band, mean line), "
        "the reference oracle (x) and the original with the forgotten class ignored (blue dash)"
    )
    return fig


def final_score_bars(scores) -> Figure:
    """Each method's final score (F x relative retain and test accuracy, the NeurIPS 2023
    challenge's), mean over forget scenarios with its 95% CI; the dash over each bar is the F
    that the method's own retrained models (the target networks' or the SPM's) score against
    themselves at the same number of runs, the most a method can expect."""
    methods = list(scores["method"])
    x = np.arange(len(methods))
    mean = scores["final_score"].to_numpy(dtype=float)
    errors = np.stack(
        [
            mean - scores["ci_low"].to_numpy(dtype=float),
            scores["ci_high"].to_numpy(dtype=float) - mean,
        ]
    )
    fig = Figure(figsize=(max(5.0, 0.55 * len(methods) + 2.5), 3.4), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(x, mean, 0.6, color="tab:blue")
    ax.errorbar(x, mean, yerr=np.nan_to_num(errors), fmt="none", ecolor="0.2", capsize=3)
    ceiling = scores["retrained_forgetting_quality"].to_numpy(dtype=float)
    if not np.isnan(ceiling).all():
        ax.hlines(
            ceiling,
            x - 0.4,
            x + 0.4,
            color="0.3",
            ls="--",
            lw=1.2,
            label="its retraining against itself (F)",
        )
        ax.legend(fontsize="small")
    ax.set_xticks(x, methods, rotation=40, ha="right")
    ax.set_ylabel("final score (mean over scenarios)")
    top = np.nanmax(np.concatenate([scores["ci_high"].to_numpy(dtype=float), mean, ceiling]))
    ax.set_ylim(0, max(1e-3, float(top)) * 1.15)
    ax.set_title("Forgetting quality x utility, against retraining as a distribution")
    return fig


def agreement_spread_bars(spread, method: str) -> Figure:
    """Per forget scenario, how often the method's test predictions equal its retrained
    oracle's (bar), against how often the oracle retrained with another seed equals it (grey:
    the mean, with min to max): the agreement retraining itself reaches."""
    scenarios = list(spread["forget_classes"])
    x = np.arange(len(scenarios))
    fig = Figure(figsize=(max(5.0, 0.5 * len(scenarios) + 4), 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(x - 0.2, spread["method_agreement"], 0.4, color="tab:blue", label=method)
    mean = spread["retrained_agreement_mean"].to_numpy(dtype=float)
    errors = np.stack(
        [mean - spread["retrained_agreement_min"], spread["retrained_agreement_max"] - mean]
    )
    ax.bar(x + 0.2, mean, 0.4, color="0.7", label="oracle retrained (other seeds)")
    ax.errorbar(x + 0.2, mean, yerr=np.nan_to_num(errors), fmt="none", ecolor="0.3", capsize=2)
    low = float(np.nanmin(np.concatenate([spread["method_agreement"], mean])))
    ax.set_ylim(max(0.0, low - 10.0), 100.0)
    ax.set_xticks(x, scenarios)
    ax.set_xlabel("forget scenario")
    ax.set_ylabel("test predictions equal to the oracle's (%)")
    ax.set_title(f"{method} against retraining: agreement with the retrained oracle")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig
