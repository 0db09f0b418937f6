"""Diffusion HyperForget Networks: transformer denoisers over classifier weights (DESIGN 5).

Tokens, as in G.pt:
* each parameter tensor of the target network is cut into chunks of at most ``chunk_size``
  values; every chunk position has its own linear projection to the model width (and its own
  zero-initialised linear decoder back), so an untrained network predicts zero change;
* one token per scalar condition: the per-class losses, each embedded with frequency features
  ``[sin(f x), cos(f x), x]`` of ``x = log1p(loss)`` (losses span 0.01 to ~100; the log keeps
  the frequencies meaningful) and projected;
* one token for the diffusion timestep.

DiHyFo-1 reads [current params, noisy params, current per-class losses, target per-class losses,
timestep] and predicts ``x0 = current params + output`` (a global residual: untrained, it is
the identity, a learned optimiser / de-optimiser). DiHyFo-2 reads [noisy params, target
per-class losses, timestep] and predicts x0 directly (a conditional generator of weights).
Everything runs in scaled parameter space: ``params * scale``, ``scale = 0.538 / std(zoo)``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from hyperforget.flat_params import ParamLayout

VARIANTS = ("dihyfo1", "dihyfo2")


@dataclass(frozen=True)
class DiHyFoConfig:
    variant: str = "dihyfo1"
    width: int = 128
    depth: int = 3
    heads: int = 4
    chunk_size: int = 1000
    num_frequencies: int = 32
    max_frequency_log2: float = 6.0

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"Unknown DiHyFo variant {self.variant!r}; use one of {VARIANTS}.")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} must be divisible by heads {self.heads}.")


class ParamChunks(nn.Module):
    """Cuts flat parameters ``[N, P]`` into per-tensor chunks ``[N, C, chunk_size]`` and back."""

    def __init__(self, layout: ParamLayout, chunk_size: int) -> None:
        super().__init__()
        gather, lengths = [], []
        for slot in layout.slots:
            for start in range(slot.offset, slot.stop, chunk_size):
                stop = min(start + chunk_size, slot.stop)
                pad = chunk_size - (stop - start)
                gather.append(list(range(start, stop)) + [layout.num_params] * pad)
                lengths.append(stop - start)
        gather_index = torch.tensor(gather)
        # position of every parameter in the flattened [C * chunk_size] grid
        positions = torch.empty(layout.num_params, dtype=torch.long)
        grid = torch.arange(gather_index.numel()).view_as(gather_index)
        valid = gather_index < layout.num_params
        positions[gather_index[valid]] = grid[valid]
        self.register_buffer("gather_index", gather_index, persistent=False)
        self.register_buffer("positions", positions, persistent=False)
        self.lengths = lengths
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


class PerChunkLinear(nn.Module):
    """One linear map per chunk position: ``[N, C, d_in] -> [N, C, d_out]``."""

    def __init__(self, fan_ins: list[int], d_in: int, d_out: int, zero: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(len(fan_ins), d_in, d_out))
        self.bias = nn.Parameter(torch.zeros(len(fan_ins), d_out))
        if not zero:
            for c, fan_in in enumerate(fan_ins):
                bound = 1.0 / math.sqrt(fan_in)
                nn.init.uniform_(self.weight[c], -bound, bound)
                nn.init.uniform_(self.bias[c], -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return torch.einsum("ncd,cde->nce", x, self.weight) + self.bias


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
        self.chunks = ParamChunks(layout, config.chunk_size)
        n_chunks, width, size = self.chunks.num_chunks, config.width, config.chunk_size
        self.noisy_in = PerChunkLinear(self.chunks.lengths, size, width)
        self.decoder = PerChunkLinear(self.chunks.lengths, width, size, zero=True)
        self.target_loss_in = FrequencyEmbedding(
            config.num_frequencies, config.max_frequency_log2, width
        )
        self.time_in = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))
        n_tokens = n_chunks + num_classes + 1
        if self.residual:
            self.current_in = PerChunkLinear(self.chunks.lengths, size, width)
            self.current_loss_in = FrequencyEmbedding(
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
        tokens = [self.noisy_in(self.chunks.split(noisy))]
        if self.residual:
            if current is None or current_loss is None:
                raise ValueError(
                    "DiHyFo-1 needs the current parameters and their per-class losses."
                )
            tokens.insert(0, self.current_in(self.chunks.split(current)))
            tokens.append(self.current_loss_in(torch.log1p(current_loss)))
        tokens.append(self.target_loss_in(torch.log1p(target_loss)))
        tokens.append(self.time_in(timestep_features(t, self.config.width)).unsqueeze(1))
        hidden = self.norm(self.transformer(torch.cat(tokens, dim=1) + self.position))
        first = self.chunks.num_chunks if self.residual else 0
        noisy_tokens = hidden[:, first : first + self.chunks.num_chunks]
        out = self.chunks.merge(self.decoder(noisy_tokens))
        return current + out if self.residual else out

    def metadata(self) -> dict[str, str]:
        """What a weight file needs to rebuild this model (stored in its safetensors header)."""
        return {
            "dihyfo_config": json.dumps(asdict(self.config)),
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
    """Rebuild a DiHyFo from a weight dict saved with ``state_dict() | {"__metadata__": ...}``.

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
    state = {k: v for k, v in weights.items() if k != "__metadata__"}
    model = DiHyFo(layout, num_classes, config)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{where} does not match the DiHyFo architecture: {err}") from err
    return model
