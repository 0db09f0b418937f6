"""Diffusion HyperForget Networks: transformer denoisers over classifier weights (HyperForget, arXiv
2412.00761; G.pt, arXiv 2209.12892).

Tokens, as in G.pt:
* each parameter tensor of the target network is cut into chunks of at most ``chunk_size``
  values; every chunk position has its own linear projection to the model width (and its own
  zero-initialised linear decoder back), so an untrained network predicts zero change;
* one token per scalar condition: the per-class losses, each embedded with frequency features
  ``[sin(f x), cos(f x), x]`` of ``x = log1p(loss)`` (losses span 0.01 to ~100; the log keeps
  the frequencies meaningful) and projected;
* one token for the diffusion timestep;
* with ``class_rows`` (the default), the classifier's last layer is not chunked but cut into
  one token per class: row k of its weight and its bias k, the parameters that decide class k's
  logit. They share one projection, and class k's condition embedding is added to its row token,
  so "make class k's loss high" acts where class k lives, the same way for every class;

DiHyFo-1 reads [current params, noisy params, current per-class losses, target per-class losses,
timestep] and predicts ``x0 = current params + output`` (a global residual: untrained, it is
the identity, a learned optimiser / de-optimiser). DiHyFo-2 reads [noisy params, target
per-class losses, timestep] and predicts x0 directly (a conditional generator of weights).
Everything runs in scaled parameter space: ``params * scale``, ``scale = 0.538 / std(zoo)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from hyperforget.core.config import Config, ConfigError, setting
from hyperforget.core.flat_params import ParamLayout, ParamSlot

VARIANTS = ("dihyfo1", "dihyfo2")


@dataclass(frozen=True, kw_only=True)
class DenoiserConfig(Config):
    """The transformer denoiser (``hypernetwork.model``), the same for both variants."""

    width: int = setting(ge=1)
    depth: int = setting(ge=1)
    heads: int = setting(ge=1)
    chunk_size: int = setting(ge=1)
    num_frequencies: int = setting(ge=1)
    max_frequency_log2: float = setting()
    class_rows: bool = setting()  # one token per class for the last layer (see the module doc)

    def check(self, where: str) -> None:
        if self.width % self.heads:
            raise ConfigError(
                f"{where}.width ({self.width}) must be a multiple of {where}.heads ({self.heads})."
            )


@dataclass(frozen=True, kw_only=True)
class DiHyFoConfig(DenoiserConfig):
    """The denoiser of one variant."""

    variant: str = setting(choices=VARIANTS)

    @classmethod
    def of(cls, variant: str, model: Mapping[str, Any]) -> DiHyFoConfig:
        """``variant``'s denoiser from the ``hypernetwork.model`` block."""
        denoiser = DenoiserConfig.from_params(model, "hypernetwork.model")
        return cls(variant=variant, **asdict(denoiser))


class ParamChunks(nn.Module):
    """Cuts flat parameters ``[N, P]`` into chunks ``[N, C, chunk_size]`` (zero-padded) and back.

    Every tensor is cut into runs of at most ``chunk_size`` values, except, with ``class_rows``,
    the last layer (a weight ``[K, H]`` followed by a bias ``[K]``): its chunk k holds weight row
    k and bias k. ``class_row_start`` is the index of the first such chunk (``None`` without).
    """

    def __init__(
        self,
        layout: ParamLayout,
        chunk_size: int,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        rows = (
            _class_row_slots(layout, num_classes, chunk_size) if num_classes is not None else None
        )
        # weight name -> (weight, bias) cut one token per output unit
        row_pairs = {rows[0].name: rows} if rows else {}
        row_biases = {bias.name for _, bias in row_pairs.values()}
        gather: list[list[int]] = []
        self.class_row_start = None
        for slot in layout.slots:
            if slot.name in row_pairs:
                if rows and slot is rows[0]:
                    self.class_row_start = len(gather)
                gather.extend(_row_chunks(*row_pairs[slot.name]))
            elif slot.name not in row_biases:
                for start in range(slot.offset, slot.stop, chunk_size):
                    gather.append(list(range(start, min(start + chunk_size, slot.stop))))
        self.lengths = [len(g) for g in gather]
        gather_index = torch.tensor(
            [g + [layout.num_params] * (chunk_size - len(g)) for g in gather]
        )
        # position of every parameter in the flattened [C * chunk_size] grid
        positions = torch.empty(layout.num_params, dtype=torch.long)
        grid = torch.arange(gather_index.numel()).view_as(gather_index)
        valid = gather_index < layout.num_params
        positions[gather_index[valid]] = grid[valid]
        self.register_buffer("gather_index", gather_index, persistent=False)
        self.register_buffer("positions", positions, persistent=False)
        self.chunk_size = chunk_size
        self.num_params = layout.num_params

    @property
    def num_chunks(self) -> int:
        return len(self.lengths)

    def split(self, flat: Tensor) -> Tensor:
        padded = torch.cat([flat, flat.new_zeros(len(flat), 1)], dim=1)
        return padded[:, self.gather_index]

    def merge(self, chunks: Tensor) -> Tensor:
        return chunks.reshape(len(chunks), -1)[:, self.positions]


def _row_chunks(weight: ParamSlot, bias: ParamSlot) -> list[list[int]]:
    """Flat indices of each output unit's weight row followed by its bias."""
    fan_in = weight.shape[1]
    return [
        [*range(weight.offset + j * fan_in, weight.offset + (j + 1) * fan_in), bias.offset + j]
        for j in range(weight.shape[0])
    ]


def _class_row_slots(
    layout: ParamLayout, num_classes: int, chunk_size: int
) -> tuple[ParamSlot, ParamSlot]:
    """The classifier's last layer: the final ``[K, H]`` weight and the ``[K]`` bias after it."""
    weight, bias = layout.slots[-2:] if len(layout.slots) >= 2 else (None, None)
    if (
        weight is None
        or len(weight.shape) != 2
        or weight.shape[0] != num_classes
        or bias.shape != (num_classes,)
    ):
        raise ValueError(
            f"class_rows needs a target network ending in a [{num_classes}, H] weight and a "
            f"[{num_classes}] bias; set hypernetwork.model.class_rows: false for this network."
        )
    if weight.shape[1] + 1 > chunk_size:
        raise ValueError(
            f"class_rows needs chunk_size >= {weight.shape[1] + 1} (a row of {weight.name} "
            f"plus its bias), got {chunk_size}."
        )
    return weight, bias


class PerChunkLinear(nn.Module):
    """A linear map per chunk position, ``[N, C, d_in] -> [N, C, d_out]``.

    The ``tied`` chunk positions (the class rows) share one map, the same rule for every class.
    Their chunks hold only ``tied_in`` values (or are decoded to ``tied_out`` values, the rest
    being padding), so the shared map uses that corner of its weight and skips the padding.
    """

    def __init__(
        self,
        fan_ins: list[int],
        d_in: int,
        d_out: int,
        zero: bool = False,
        tied: range | None = None,
        tied_in: int | None = None,
        tied_out: int | None = None,
    ) -> None:
        super().__init__()
        self.tied = tied if tied else None
        self.tied_in, self.tied_out = tied_in or d_in, tied_out or d_out
        self.d_out = d_out
        # distinct maps: the chunks before the tied range, one shared map, the chunks after
        count = len(fan_ins) - (len(self.tied) - 1 if self.tied else 0)
        self.weight = nn.Parameter(torch.zeros(count, d_in, d_out))
        self.bias = nn.Parameter(torch.zeros(count, d_out))
        if not zero:
            for c, fan_in in enumerate(fan_ins):
                bound = 1.0 / math.sqrt(fan_in)
                nn.init.uniform_(self.weight[self.owner(c)], -bound, bound)
                nn.init.uniform_(self.bias[self.owner(c)], -bound, bound)

    def owner(self, chunk: int) -> int:
        """Index of the map that chunk position ``chunk`` uses."""
        if self.tied is None or chunk < self.tied.start:
            return chunk
        return self.tied.start if chunk in self.tied else chunk - len(self.tied) + 1

    def forward(self, x: Tensor) -> Tensor:
        if self.tied is None:
            return torch.einsum("ncd,cde->nce", x, self.weight) + self.bias
        a, b, shared = self.tied.start, self.tied.stop, self.tied.start
        before = torch.einsum("ncd,cde->nce", x[:, :a], self.weight[:a]) + self.bias[:a]
        after = torch.einsum("ncd,cde->nce", x[:, b:], self.weight[a + 1 :]) + self.bias[a + 1 :]
        weight = self.weight[shared, : self.tied_in, : self.tied_out]
        rows = x[:, a:b, : self.tied_in] @ weight + self.bias[shared, : self.tied_out]
        rows = nn.functional.pad(rows, (0, self.d_out - self.tied_out))
        return torch.cat([before, rows, after], dim=1)


class FrequencyEmbedding(nn.Module):
    """Scalar -> ``[sin(f x), cos(f x), x]`` with ``f = 2^linspace(0, max_log2, n)``, projected."""

    def __init__(self, num_frequencies: int, max_log2: float, width: int) -> None:
        super().__init__()
        freqs = 2.0 ** torch.linspace(0.0, max_log2, num_frequencies)
        self.register_buffer("freqs", freqs, persistent=False)
        self.proj = nn.Linear(2 * num_frequencies + 1, width)

    def forward(self, x: Tensor) -> Tensor:
        angles = x.unsqueeze(-1) * self.freqs
        return self.proj(torch.cat([angles.sin(), angles.cos(), x.unsqueeze(-1)], dim=-1))


def timestep_features(t: Tensor, dim: int) -> Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / half)
    angles = t.float().unsqueeze(-1) * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class DiHyFo(nn.Module):
    """The denoiser of DiHyFo-1 or DiHyFo-2 (``config.variant``)."""

    def __init__(
        self, layout: ParamLayout, num_classes: int, config: DiHyFoConfig, scale: float = 1.0
    ):
        super().__init__()
        self.config = config
        self.layout = layout
        self.num_classes = num_classes
        self.register_buffer("scale", torch.tensor(float(scale)))
        self.chunks = ParamChunks(
            layout,
            config.chunk_size,
            num_classes if config.class_rows else None,
        )
        n_chunks, width, size = self.chunks.num_chunks, config.width, config.chunk_size
        rows = self.chunks.class_row_start
        self.class_rows = range(rows, rows + num_classes) if rows is not None else None
        lengths = self.chunks.lengths
        row = lengths[rows] if rows is not None else None  # values in a class row
        encoder = partial(PerChunkLinear, lengths, size, width, tied=self.class_rows, tied_in=row)
        self.noisy_in = encoder()
        self.decoder = PerChunkLinear(
            lengths, width, size, zero=True, tied=self.class_rows, tied_out=row
        )
        self.target_loss_in = FrequencyEmbedding(
            config.num_frequencies, config.max_frequency_log2, width
        )
        self.time_in = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))
        n_tokens = n_chunks + num_classes + 1
        if self.residual:
            self.current_in = encoder()
            self.current_loss_in = FrequencyEmbedding(
                config.num_frequencies, config.max_frequency_log2, width
            )
            self.loss_change_in = FrequencyEmbedding(
                config.num_frequencies, config.max_frequency_log2, width
            )
            n_tokens += n_chunks + num_classes
        self.position = nn.Parameter(torch.randn(n_tokens, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width,
            config.heads,
            4 * width,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, config.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    @property
    def residual(self) -> bool:
        return self.config.variant == "dihyfo1"

    def forward(
        self,
        noisy: Tensor,
        t: Tensor,
        target_loss: Tensor,
        current: Tensor | None = None,
        current_loss: Tensor | None = None,
    ) -> Tensor:
        """Predicted clean parameters (scaled space) ``[N, P]`` from noisy ``[N, P]`` at ``t``.

        Losses are raw per-class losses ``[N, K]``; ``current``/``current_loss`` are required by
        DiHyFo-1 and ignored by DiHyFo-2.
        """
        log_target = torch.log1p(target_loss)
        condition = self.target_loss_in(log_target)  # [N, K, width]
        if self.residual:
            if current is None or current_loss is None:
                raise ValueError(
                    "DiHyFo-1 needs the current parameters and their per-class losses."
                )
            # the requested change of each class's loss, explicitly: forgetting k = a rise on k
            condition = condition + self.loss_change_in(log_target - torch.log1p(current_loss))
        noisy_tokens = self.noisy_in(self.chunks.split(noisy))
        if self.class_rows is not None:
            rows = self.class_rows
            noisy_tokens = torch.cat(
                [
                    noisy_tokens[:, : rows.start],
                    noisy_tokens[:, rows.start : rows.stop] + condition,
                    noisy_tokens[:, rows.stop :],
                ],
                dim=1,
            )
        if self.residual:
            tokens = [
                self.current_in(self.chunks.split(current)),
                noisy_tokens,
                self.current_loss_in(torch.log1p(current_loss)),
            ]
        else:
            tokens = [noisy_tokens]
        tokens.append(condition)
        tokens.append(self.time_in(timestep_features(t, self.config.width)).unsqueeze(1))
        hidden = self.norm(self.transformer(torch.cat(tokens, dim=1) + self.position))
        first = self.chunks.num_chunks if self.residual else 0
        out = self.chunks.merge(self.decoder(hidden[:, first : first + self.chunks.num_chunks]))
        return current + out if self.residual else out

    def metadata(self) -> dict[str, str]:
        """What a weight file needs to rebuild this model (stored in its safetensors header)."""
        return {
            # the variant first: the key order of files written before the config was split
            "dihyfo_config": json.dumps({"variant": self.config.variant, **asdict(self.config)}),
            "num_classes": str(self.num_classes),
            "layout": self.layout.describe(),
        }


def load_dihyfo(
    weights: dict[str, Tensor | dict],
    layout: ParamLayout,
    num_classes: int,
    config: DiHyFoConfig,
    source: str = "hypernetwork weights",
) -> DiHyFo:
    """Rebuild a DiHyFo from a weight dict saved with ``state_dict() | {"__metadata__": ...}``
    (and its training ``seconds``, which are not a weight).

    A file written for another configuration, target network or number of classes is refused
    with a message naming ``source`` (the file) and what differs.
    """
    metadata = weights.get("__metadata__") or {}
    where = metadata.get("__file__", source) if isinstance(metadata, dict) else source
    expected = DiHyFo(layout, num_classes, config).metadata()
    for key, value in expected.items():
        if metadata.get(key) != value:
            raise ValueError(
                f"{where} was written for {key}={metadata.get(key)!r}, but the current "
                f"configuration needs {value!r}. Retrain the hypernetwork "
                "(kedro run --pipeline hypernetwork) or load the matching version."
            )
    state = {k: v for k, v in weights.items() if k not in ("__metadata__", "seconds")}
    model = DiHyFo(layout, num_classes, config)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{where} does not match the DiHyFo architecture: {err}") from err
    return model
