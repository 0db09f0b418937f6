"""Hidden-unit permutations of an MLP: the symmetry a weight generator has to live with.

Swapping hidden units u and v (rows u, v of a layer's weight and bias, columns u, v of the next
layer's weight) leaves the network's function unchanged. Networks trained from different random
initialisations therefore sit in arbitrary orders of their units, and a generator that learns
their mean learns nothing real. Two uses:

* augmentation: random permutations of training targets (``hidden_unit_permutation``);
* alignment: every network reordered to match a reference one, unit by unit, by weight
  matching (``align_hidden_units``; Ainsworth et al., Git Re-Basin, arXiv 2209.04836): the
  permutation of each hidden layer maximising the inner product of the units' incoming and
  outgoing weights with the reference's, solved exactly by ``linear_sum_assignment``. Aligned
  networks share one order, so what the zoo's runs have in common is in the same coordinates.
"""

from __future__ import annotations

import re

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from hyperforget.core.flat_params import ParamLayout


def hidden_layers(layout: ParamLayout) -> list[tuple[int, int]]:
    """``(i, j)`` per hidden layer: the linear layer ``i`` whose outputs are hidden units and
    the next linear layer ``j`` that reads them."""
    linear = sorted(
        {
            int(m.group(1))
            for s in layout.slots
            if (m := re.fullmatch(r"layers\.(\d+)\.weight", s.name))
        }
    )
    if not linear:
        raise ValueError("Hidden-unit permutations need an MLP target network (layers.<i>.weight).")
    return list(zip(linear[:-1], linear[1:], strict=True))


def permutation_index(layout: ParamLayout, perms: list[Tensor]) -> Tensor:
    """Index vectors ``[count, P]`` applying ``perms`` (one ``[count, units]`` per hidden layer,
    new unit u = old unit ``perm[u]``); gathering flat params with them keeps the function."""
    slots = {s.name: s for s in layout.slots}
    count = len(perms[0]) if perms else 1
    index = torch.arange(layout.num_params).repeat(count, 1)

    def reorder(name: str, shape: tuple[int, int], dim: int, perm: Tensor) -> None:
        # compose with what earlier layers already did to this tensor (a middle layer's weight
        # has its columns moved by the previous layer and its rows by its own permutation)
        slot = slots[name]
        current = index[:, slot.offset : slot.stop].view(count, *shape)
        moved = (
            perm.unsqueeze(2).expand(-1, -1, shape[1])
            if dim == 1
            else perm.unsqueeze(1).expand(-1, shape[0], -1)
        )
        index[:, slot.offset : slot.stop] = current.gather(dim, moved).reshape(count, -1)

    for (i, j), perm in zip(hidden_layers(layout), perms, strict=True):
        units, fan_in = slots[f"layers.{i}.weight"].shape
        fan_out = slots[f"layers.{j}.weight"].shape[0]
        reorder(f"layers.{i}.weight", (units, fan_in), 1, perm)
        reorder(f"layers.{i}.bias", (units, 1), 1, perm)
        reorder(f"layers.{j}.weight", (fan_out, units), 2, perm)
    return index


def hidden_unit_permutation(layout: ParamLayout, count: int, generator: torch.Generator) -> Tensor:
    """``count`` random index vectors ``[count, P]`` that permute the hidden units of an MLP."""
    slots = {s.name: s for s in layout.slots}
    perms = [
        torch.stack(
            [
                torch.randperm(slots[f"layers.{i}.weight"].shape[0], generator=generator)
                for _ in range(count)
            ]
        )
        for i, _ in hidden_layers(layout)
    ]
    return permutation_index(layout, perms)


def _unit_features(params: Tensor, layout: ParamLayout, i: int, j: int) -> Tensor:
    """``[N, units, F]``: each hidden unit's incoming weights, bias and outgoing weights."""
    tensors = layout.unflatten(params)
    incoming = tensors[f"layers.{i}.weight"]
    bias = tensors[f"layers.{i}.bias"].unsqueeze(-1)
    outgoing = tensors[f"layers.{j}.weight"].transpose(-1, -2)
    return torch.cat([incoming, bias, outgoing], -1)


@torch.no_grad()
def align_hidden_units(params: Tensor, layout: ParamLayout, reference: Tensor) -> Tensor:
    """``params [N, P]`` with each network's hidden units reordered to match ``reference [P]``
    (weight matching, one hidden layer after another). Every network keeps its function."""
    aligned = params.clone()
    for layer, (i, j) in enumerate(hidden_layers(layout)):
        ref = _unit_features(reference.unsqueeze(0), layout, i, j)[0]
        units = _unit_features(aligned, layout, i, j)
        similarity = torch.einsum("uf,nvf->nuv", ref, units).double().cpu().numpy()
        perm = torch.stack(
            [torch.as_tensor(linear_sum_assignment(s, maximize=True)[1]) for s in similarity]
        )
        perms = _identity_perms(layout, len(params))
        perms[layer] = perm
        aligned = aligned.gather(1, permutation_index(layout, perms).to(aligned.device))
    return aligned


def _identity_perms(layout: ParamLayout, count: int) -> list[Tensor]:
    slots = {s.name: s for s in layout.slots}
    return [
        torch.arange(slots[f"layers.{i}.weight"].shape[0]).expand(count, -1)
        for i, _ in hidden_layers(layout)
    ]


@torch.no_grad()
def nearest_distance(networks: Tensor, pool: Tensor, layout: ParamLayout) -> Tensor:
    """``[N]``: each network's distance to its nearest ``pool [Z, P]`` network, modulo hidden-unit
    order (the pool aligned to it first), relative to its own norm: 0 for a copy of a pool
    network however its units are ordered."""
    distances = []
    for network in networks:
        aligned = align_hidden_units(pool, layout, network)
        distances.append((aligned - network).norm(dim=1).min() / network.norm())
    return torch.stack(distances)
