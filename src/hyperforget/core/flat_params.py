"""Flat parameter vectors: one network = one float32 vector, a zoo = one ``[N, P]`` tensor.

A ``ParamLayout`` records, for every parameter tensor of a network, its name, shape and offset
in the vector. With it a vector turns back into a state_dict (or a batch of them, for
``torch.func.functional_call``), so hypernetworks can treat weights as data while the rest of the
code keeps using ordinary ``nn.Module`` objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import prod

import torch
from torch import Tensor, nn
from torch.func import functional_call


@dataclass(frozen=True)
class ParamSlot:
    """Where one parameter tensor lives inside the flat vector."""

    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def numel(self) -> int:
        return prod(self.shape)

    @property
    def stop(self) -> int:
        return self.offset + self.numel


@dataclass(frozen=True)
class ParamLayout:
    """The fixed order, shapes and offsets of a network's parameters."""

    slots: tuple[ParamSlot, ...]

    @classmethod
    def from_named_shapes(cls, named_shapes: Mapping[str, tuple[int, ...]]) -> ParamLayout:
        slots, offset = [], 0
        for name, shape in named_shapes.items():
            slot = ParamSlot(name=name, shape=tuple(int(s) for s in shape), offset=offset)
            slots.append(slot)
            offset = slot.stop
        return cls(slots=tuple(slots))

    @classmethod
    def from_module(cls, module: nn.Module) -> ParamLayout:
        """Layout of a module's parameters in ``named_parameters()`` order."""
        return cls.from_named_shapes({n: tuple(p.shape) for n, p in module.named_parameters()})

    @property
    def num_params(self) -> int:
        return self.slots[-1].stop if self.slots else 0

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(slot.name for slot in self.slots)

    def describe(self) -> str:
        return ", ".join(f"{s.name}{list(s.shape)}@{s.offset}" for s in self.slots)

    def flatten(self, params: Mapping[str, Tensor]) -> Tensor:
        """Concatenate named tensors (with optional shared leading batch dims) into ``[..., P]``."""
        missing = [n for n in self.names if n not in params]
        if missing:
            raise ValueError(
                f"Parameters {missing} are missing; expected layout: {self.describe()}"
            )
        pieces, batch_shape = [], None
        for slot in self.slots:
            tensor = params[slot.name]
            ndim = len(slot.shape)
            if tuple(tensor.shape[tensor.dim() - ndim :]) != slot.shape:
                raise ValueError(
                    f"Parameter {slot.name!r} has shape {list(tensor.shape)}, expected "
                    f"[..., {', '.join(map(str, slot.shape))}] (layout: {self.describe()})."
                )
            this_batch = tuple(tensor.shape[: tensor.dim() - ndim])
            if batch_shape is None:
                batch_shape = this_batch
            elif this_batch != batch_shape:
                raise ValueError(
                    f"Parameter {slot.name!r} has batch shape {list(this_batch)}, the others "
                    f"{list(batch_shape)}; all parameters must share their leading dimensions."
                )
            pieces.append(tensor.reshape(*this_batch, slot.numel))
        return torch.cat(pieces, dim=-1)

    def unflatten(self, flat: Tensor) -> dict[str, Tensor]:
        """Split ``[..., P]`` into named tensors ``[..., *shape]`` (views, no copy)."""
        self.check(flat)
        batch_shape = tuple(flat.shape[:-1])
        return {
            slot.name: flat[..., slot.offset : slot.stop].reshape(*batch_shape, *slot.shape)
            for slot in self.slots
        }

    def check(self, flat: Tensor, what: str = "parameter vector") -> None:
        """Raise a clear error when a flat tensor does not match this layout."""
        if flat.dim() == 0 or flat.shape[-1] != self.num_params:
            raise ValueError(
                f"The {what} has shape {list(flat.shape)} but the target network needs "
                f"[..., {self.num_params}] ({self.describe()}). Check that the weights were "
                "produced for the same model configuration (parameters 'model.*')."
            )


def flatten_module(module: nn.Module) -> Tensor:
    """A detached float32 copy of a module's parameters as one vector ``[P]``."""
    layout = ParamLayout.from_module(module)
    params = {n: p.detach() for n, p in module.named_parameters()}
    return layout.flatten(params).to(torch.float32).clone()


def load_flat_into(module: nn.Module, flat: Tensor) -> nn.Module:
    """Copy a flat vector ``[P]`` into a module's parameters, in place; returns the module."""
    layout = ParamLayout.from_module(module)
    if flat.dim() != 1:
        raise ValueError(f"Expected one parameter vector [P], got shape {list(flat.shape)}.")
    named = layout.unflatten(flat)
    with torch.no_grad():
        for name, param in module.named_parameters():
            param.copy_(named[name])
    return module


def batched_forward(module: nn.Module, flat_batch: Tensor, inputs: Tensor) -> Tensor:
    """Run N networks given as ``[N, P]`` on the same inputs ``[B, ...]``; returns ``[N, B, ...]``.

    ``module`` only provides the architecture: its own parameter values are ignored.
    """
    layout = ParamLayout.from_module(module)
    layout.check(flat_batch, what="batch of parameter vectors")
    if flat_batch.dim() != 2:
        raise ValueError(f"Expected a batch [N, P], got shape {list(flat_batch.shape)}.")

    if hasattr(module, "forward_stacked"):  # e.g. targets.MLP: one matmul for all N networks
        return module.forward_stacked(layout.unflatten(flat_batch), inputs, shared=True)

    def one(params: dict[str, Tensor]) -> Tensor:
        return functional_call(module, params, (inputs,))

    return torch.vmap(one)(layout.unflatten(flat_batch))
