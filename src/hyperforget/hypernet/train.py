"""Training DiHyFo on a zoo, sampling weights from it, and measuring prompt alignment.

* DiHyFo-1 learns from pairs of checkpoints of one run, earlier -> later (or the same one):
  learn runs teach it to optimise, forget runs to de-optimise one class.
* DiHyFo-2 learns from single checkpoints and their per-class losses.
* Hidden units are permuted at random (consistently in the current and target weights), which
  leaves every network's function, and so its losses, unchanged.
* ``regimes`` restricts a variant to some zoo regimes (the defaults train both on the forget
  runs: at 2-CPU size, the from-scratch runs teach changes unrelated to unlearning).
* Prompt alignment (G.pt): ``R^2 = 1 - sum (o - p)^2 / sum (p - mean p)^2`` between prompted
  per-class losses p and the losses o the sampled networks actually have.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from hyperforget.core.config import Config, ConfigError, setting
from hyperforget.core.flat_params import ParamLayout
from hyperforget.hypernet.diffusion import GaussianDiffusion
from hyperforget.hypernet.model import DiHyFo
from hyperforget.hypernet.permutation import hidden_unit_permutation


@dataclass
class ZooSet:
    """Zoo checkpoints with their per-class losses and, per row, the last row of its run."""

    params: Tensor  # [N, P]
    losses: Tensor  # [N, K]
    run_last: Tensor  # [N]: index of the final checkpoint of the row's run
    run_ids: Tensor  # [N]
    regimes: tuple[str, ...]  # [N]: the zoo regime of each row's run

    @classmethod
    def from_table(cls, params: Tensor, table: pd.DataFrame, num_classes: int) -> ZooSet:
        if len(params) != len(table):
            raise ValueError(
                f"The zoo has {len(params)} weight rows but its table {len(table)} rows; "
                "they must come from the same model_zoo run (same catalog version)."
            )
        runs = table["run_id"].to_numpy()
        steps = table["step"].to_numpy()
        ordered = all(
            (runs[i] != runs[i + 1]) or (steps[i] < steps[i + 1]) for i in range(len(runs) - 1)
        )
        if not ordered:
            raise ValueError("zoo_checkpoints must list each run's checkpoints together by step.")
        last = table.reset_index(drop=True).groupby("run_id").cumcount(ascending=False)
        run_last = torch.arange(len(table)) + torch.tensor(last.to_numpy())
        columns = [f"val_loss_c{k}" for k in range(num_classes)]
        return cls(
            params=params.float(),
            losses=torch.tensor(table[columns].to_numpy(dtype="float32")),
            run_last=run_last,
            run_ids=torch.tensor(runs),
            regimes=tuple(table["regime"]),
        )

    def select_runs(self, run_ids: Tensor) -> ZooSet:
        rows = torch.isin(self.run_ids, run_ids).nonzero().flatten()
        new_index = torch.full((len(self.run_ids),), -1, dtype=torch.long)
        new_index[rows] = torch.arange(len(rows))
        return ZooSet(
            self.params[rows],
            self.losses[rows],
            new_index[self.run_last[rows]],
            self.run_ids[rows],
            tuple(self.regimes[i] for i in rows.tolist()),
        )

    def of_regimes(self, regimes: Sequence[str] | None) -> ZooSet:
        """The runs of the named regimes (all of them for ``None``)."""
        if regimes is None:
            return self
        unknown = sorted(set(regimes) - set(self.regimes))
        if unknown or not regimes:
            raise ValueError(
                f"Hypernetwork training regimes {list(regimes)} must name regimes of the zoo, "
                f"which has {sorted(set(self.regimes))}; fix "
                "hypernetwork.variant_training.<variant>.regimes, or null for all."
            )
        return self.select_runs(self.run_ids[[r in regimes for r in self.regimes]].unique())


def loss_curve_steps(curve: Sequence[float], config: HyperTrainConfig) -> list[dict[str, float]]:
    """The training loss curve as MLflow metric steps (one point per ``log_every`` steps)."""
    every = config.log_every
    return [
        {"value": value, "step": min((i + 1) * every, config.steps)}
        for i, value in enumerate(curve)
    ]


def held_out_runs(table: pd.DataFrame, fraction: float, seed: int) -> Tensor:
    """A seeded ``fraction`` of the runs of every regime (at least one where it has two)."""
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for _, group in table.groupby("regime", sort=False):
        runs = torch.tensor(sorted(group["run_id"].unique()))
        count = round(len(runs) * fraction)
        count = max(count, 1) if len(runs) > 1 and fraction > 0 else count
        chosen.append(runs[torch.randperm(len(runs), generator=generator)[:count]])
    return torch.cat(chosen) if chosen else torch.empty(0, dtype=torch.long)


# float32: exact. tf32: CUDA matmuls in TensorFloat-32 (10-bit mantissa, float32 range; on the
# CPU it is float32). bfloat16: the forward pass under autocast, float32 weights, gradients,
# AdamW and EMA (``bench train`` prints the speed of each).
PRECISIONS = ("float32", "tf32", "bfloat16")


@dataclass(frozen=True, kw_only=True)
class HyperTrainConfig(Config):
    """How one variant is trained: ``hypernetwork.training`` with the variant's block of
    ``hypernetwork.variant_training`` (its steps and the zoo regimes it learns from)."""

    steps: int = setting(ge=1)
    batch_size: int = setting(ge=1)
    lr: float = setting(gt=0.0)
    lr_schedule: str = setting(choices=("constant", "cosine"))  # cosine: anneal to 0 over steps
    weight_decay: float = setting(ge=0.0)
    grad_clip: float = setting(gt=0.0)
    ema_decay: float = setting(ge=0.0, lt=1.0)
    permute: bool = setting()
    balance_tensors: bool = setting()
    log_every: int = setting(ge=1)
    regimes: tuple[str, ...] | None = setting()  # zoo regimes to learn from; None = all
    precision: str = setting(choices=PRECISIONS)  # of the denoiser's matmuls in training

    @classmethod
    def for_variant(cls, hypernetwork: Mapping[str, Any], variant: str) -> HyperTrainConfig:
        overrides = (hypernetwork.get("variant_training") or {}).get(variant) or {}
        try:
            return cls.from_params(
                {**hypernetwork["training"], **overrides}, "hypernetwork.training"
            )
        except ConfigError as error:  # name the variant's block where the bad key is its own
            shared, own = "hypernetwork.training.", f"hypernetwork.variant_training.{variant}."
            if any(f"{shared}{key}" in str(error) for key in overrides):
                raise ConfigError(str(error).replace(shared, own)) from None
            raise


@contextmanager
def _tf32_matmuls(enabled: bool) -> Iterator[None]:
    """TF32 on or off for CUDA matmuls (the denoiser has no convolutions) while training, then
    restored: the flag is global, and later nodes of the same run must not inherit it."""
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


def tensor_balanced_weights(layout: ParamLayout) -> Tensor:
    """Per-coordinate loss weights ``[P]`` (mean 1) giving every parameter tensor equal weight.

    Forgetting a class is a small, targeted change, mostly in the output layer (a few dozen of
    the 7,960 values); a plain MSE over all coordinates is dominated by the first layer's 7,840
    weights and barely rewards learning it.
    """
    weights = torch.empty(layout.num_params)
    for slot in layout.slots:
        weights[slot.offset : slot.stop] = layout.num_params / (len(layout.slots) * slot.numel)
    return weights


def _batch(model: DiHyFo, zoo: ZooSet, rows: Tensor, generator: torch.Generator, permute: bool):
    """(target params, target losses, current params, current losses) for training rows."""
    if model.residual:
        # a strictly later checkpoint of the same run (the final one pairs with itself): pairs
        # (i, i) would teach "change nothing" in about a quarter of all batches
        span = (zoo.run_last[rows] - rows).float()
        later = rows + 1 + (torch.rand(len(rows), generator=generator) * span).long()
        later = torch.minimum(later, zoo.run_last[rows])
        current, current_loss = zoo.params[rows], zoo.losses[rows]
        target, target_loss = zoo.params[later], zoo.losses[later]
    else:
        current = current_loss = None
        target, target_loss = zoo.params[rows], zoo.losses[rows]
    if permute:
        index = hidden_unit_permutation(model.layout, len(rows), generator)
        target = target.gather(1, index)
        current = current.gather(1, index) if current is not None else None
    return target, target_loss, current, current_loss


def _device_batch(
    model: DiHyFo,
    zoo: ZooSet,
    rows: Tensor,
    generator: torch.Generator,
    permute: bool,
    device: torch.device,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """``_batch`` on ``device``, the weights multiplied by the model's ``scale``."""
    target, target_loss, current, current_loss = _batch(model, zoo, rows, generator, permute)
    scale = model.scale
    target = target.to(device) * scale
    target_loss = target_loss.to(device)
    if current is not None:
        current, current_loss = current.to(device) * scale, current_loss.to(device)
    return target, target_loss, current, current_loss


@torch.no_grad()
def _update_ema(ema: DiHyFo, model: DiHyFo, decay: float) -> None:
    """One step of the exponential moving average of ``model``'s weights held in ``ema``."""
    for ema_p, p in zip(ema.parameters(), model.parameters(), strict=True):
        ema_p.lerp_(p, 1.0 - decay)


def _denoise(model, target_loss, current, current_loss, x_t: Tensor, t: Tensor) -> Tensor:
    return model(x_t, t, target_loss, current, current_loss)


def _guided_denoise(
    model, target_loss, reference_loss, guidance, current, current_loss, x_t: Tensor, t: Tensor
) -> Tensor:
    """x0(target) + guidance * (x0(target) - x0(reference)), both prompts in one batch."""

    def double(v: Tensor | None) -> Tensor | None:
        return None if v is None else torch.cat([v, v])

    x0 = model(
        double(x_t),
        double(t),
        torch.cat([target_loss, reference_loss]),
        double(current),
        double(current_loss),
    )
    asked, reference = x0.chunk(2)
    return asked + guidance * (asked - reference)


def train_hypernetwork(
    model: DiHyFo,
    diffusion: GaussianDiffusion,
    zoo: ZooSet,
    config: HyperTrainConfig,
    seed: int,
    device: torch.device,
    progress: str | None = None,
    position: int = 0,
) -> tuple[DiHyFo, list[float]]:
    """AdamW with gradient clipping, the denoiser's matmuls in ``config.precision``; returns
    the EMA copy of the model and the loss curve. ``progress`` names the progress bar, shown on
    line ``position`` (trainings side by side each keep their own line)."""
    zoo = zoo.of_regimes(config.regimes)
    generator = torch.Generator().manual_seed(seed)
    device_generator = torch.Generator(device=device).manual_seed(seed)
    model.to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps)
        if config.lr_schedule == "cosine"
        else None
    )
    curve, running = [], []
    weights = tensor_balanced_weights(model.layout).to(device) if config.balance_tensors else None
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if config.precision == "bfloat16"
        else nullcontext()
    )
    steps = tqdm(
        range(config.steps),
        desc=progress,
        disable=progress is None,
        mininterval=2,
        position=position,
    )
    with _tf32_matmuls(config.precision == "tf32"):
        for step in steps:
            rows = torch.randint(0, len(zoo.params), (config.batch_size,), generator=generator)
            target, target_loss, current, current_loss = _device_batch(
                model, zoo, rows, generator, config.permute, device
            )
            denoise = partial(_denoise, model, target_loss, current, current_loss)
            with autocast:
                loss = diffusion.training_loss(denoise, target, device_generator, weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            _update_ema(ema, model, config.ema_decay)
            running.append(loss.item())
            if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
                curve.append(sum(running) / len(running))
                running = []
    model.eval()
    return ema, curve


@torch.no_grad()
def sample_params(  # noqa: PLR0913 (the sampler's knobs, each a parameter of unlearning.methods.<dihyfo>)
    model: DiHyFo,
    diffusion: GaussianDiffusion,
    target_loss: Tensor,
    generator: torch.Generator,
    current: Tensor | None = None,
    current_loss: Tensor | None = None,
    sampler: str = "ddim",
    steps: int = 20,
    guidance: float = 0.0,
    reference_loss: Tensor | None = None,
) -> Tensor:
    """One sampled network ``[N, P]`` (unscaled) per row of ``target_loss [N, K]``.

    ``guidance > 0`` steers each denoising step away from the network the model would give for
    ``reference_loss [N, K]`` (a negative prompt, as in classifier-free guidance): the predicted
    x0 becomes ``x0(target) + guidance * (x0(target) - x0(reference))``. With the original
    model's losses as reference, this amplifies what "forget class k" changes and nothing else.
    """
    device = model.scale.device
    scale = model.scale
    target_loss = target_loss.to(device)
    if current is not None:
        current, current_loss = current.to(device) * scale, current_loss.to(device)
    if guidance < 0:
        raise ValueError(f"guidance must be 0 (off) or positive, got {guidance}.")
    if guidance > 0:
        if reference_loss is None or reference_loss.shape != target_loss.shape:
            raise ValueError(
                "guidance needs a reference_loss of the target_loss's shape "
                f"{tuple(target_loss.shape)}, got "
                f"{None if reference_loss is None else tuple(reference_loss.shape)}."
            )
        denoise = partial(
            _guided_denoise,
            model,
            target_loss,
            reference_loss.to(device),
            guidance,
            current,
            current_loss,
        )
    else:
        denoise = partial(_denoise, model, target_loss, current, current_loss)
    shape = (len(target_loss), model.layout.num_params)
    if sampler == "ddim":
        scaled = diffusion.sample_ddim(denoise, shape, generator, steps=steps, device=device)
    elif sampler == "ddpm":
        scaled = diffusion.sample_ddpm(denoise, shape, generator, device=device)
    else:
        raise ValueError(f"Unknown sampler {sampler!r}; use 'ddim' (fast) or 'ddpm' (full).")
    return scaled / scale


def prompt_alignment(prompts: Tensor, observed: Tensor) -> tuple[Tensor, float]:
    """G.pt's R^2 per class (columns of ``[M, K]``) and over all (prompt, class) pairs."""

    def r2(p: Tensor, o: Tensor) -> float:
        spread = ((p - p.mean()) ** 2).sum()
        return float(1.0 - ((o - p) ** 2).sum() / spread) if spread > 0 else float("nan")

    per_class = torch.tensor([r2(prompts[:, k], observed[:, k]) for k in range(prompts.shape[1])])
    return per_class, r2(prompts.flatten(), observed.flatten())


def held_out_prompts(model: DiHyFo, zoo: ZooSet, max_prompts: int, seed: int):
    """Prompts from held-out runs: DiHyFo-1 goes from each checkpoint to its run's final one;
    DiHyFo-2 is asked for each checkpoint's losses. Returns (target_loss, current, current_loss)."""
    rows = torch.arange(len(zoo.params))
    if model.residual:
        rows = rows[rows != zoo.run_last]
    generator = torch.Generator().manual_seed(seed)
    rows = rows[torch.randperm(len(rows), generator=generator)[:max_prompts]]
    if model.residual:
        return zoo.losses[zoo.run_last[rows]], zoo.params[rows], zoo.losses[rows]
    return zoo.losses[rows], None, None
