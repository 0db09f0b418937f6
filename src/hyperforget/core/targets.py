"""Target networks: the small classifiers that are trained, unlearned and generated.

The default is G.pt's MNIST network, ``Linear(784, 10) -> ReLU -> Linear(10, 10)`` (7,960
parameters). Hidden widths are configurable; every hidden layer is followed by a ReLU.

Images may come in bfloat16 (``model_zoo.zoo_input_dtype``): the first layer then multiplies
in bfloat16 with float32 accumulation and everything after it, weights and gradients included,
stays float32. At the zoo's shapes that layer is almost all of the arithmetic; on CPUs with
bfloat16 matmuls (AVX512-BF16, AMX) or on GPUs its matmuls run about twice as fast.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from math import prod
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyperforget.core.flat_params import ParamLayout


class MLP(nn.Module):
    """A plain multi-layer perceptron over flattened images.

    Layers are named ``layers.0``, ``layers.2``, ... (``nn.Sequential`` indices), which fixes the
    order of the flat parameter layout used throughout the project.
    """

    def __init__(self, in_features: int, hidden: Sequence[int], num_classes: int) -> None:
        super().__init__()
        if in_features <= 0 or num_classes <= 0 or any(w <= 0 for w in hidden):
            raise ValueError(
                f"MLP sizes must be positive, got in_features={in_features}, "
                f"hidden={list(hidden)}, num_classes={num_classes}."
            )
        widths = [in_features, *hidden, num_classes]
        modules: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            modules.append(nn.Linear(fan_in, fan_out))
            if i < len(widths) - 2:
                modules.append(nn.ReLU())
        self.layers = nn.Sequential(*modules)
        self.in_features = in_features
        self.hidden = tuple(hidden)
        self.num_classes = num_classes

    def forward(self, images: Tensor) -> Tensor:
        hidden = images.flatten(start_dim=1)
        for layer in self.layers:
            if isinstance(layer, nn.Linear) and hidden.dtype != layer.weight.dtype:
                product = F.linear(hidden, layer.weight.to(hidden.dtype))
                hidden = product.to(layer.weight.dtype) + layer.bias
            else:
                hidden = layer(hidden)
        return hidden

    def forward_stacked(
        self, params: dict[str, Tensor], images: Tensor, shared: bool = False
    ) -> Tensor:
        """R networks at once: ``params`` hold ``[R, ...]`` tensors, ``images`` is ``[R, B, ...]``
        (each network its own minibatch) or, with ``shared``, ``[B, ...]`` seen by all of them.

        Equal to ``vmap(functional_call)`` but written with batched matmuls, which avoids
        vmap's per-call overhead on small networks (the zoo trains hundreds of them). Features
        run along dim 1 (``[R, width, B]``): ``weight @ inputs`` keeps the long dimension last,
        which is several times faster on CPU than ``inputs @ weight.T`` for narrow layers.
        Returns logits ``[R, B, K]``.
        """
        if shared:
            hidden = images.flatten(start_dim=1).T  # [in, B] for every network
        else:
            hidden = images.flatten(start_dim=2).transpose(1, 2)  # [R, in, B]
        for i, layer in enumerate(self.layers):
            if isinstance(layer, nn.Linear):
                weight, bias = params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]
                hidden = _stacked_linear(weight, bias, hidden)
            else:
                hidden = layer(hidden)
        return hidden.transpose(1, 2)


def _stacked_linear(weight: Tensor, bias: Tensor, hidden: Tensor) -> Tensor:
    """``weight [R, out, in] @ hidden [R, in, B] + bias`` -> ``[R, out, B]``.

    ``hidden [in, B]`` is shared by the R networks: one large matmul then does them all, several
    times faster than a batched one over a broadcast input. Lower-precision inputs are multiplied
    in their precision with the weight cast to it, then return to the weight's (see the module
    docstring).
    """
    n_nets, fan_out, _ = weight.shape
    low_precision = hidden.dtype != weight.dtype
    if hidden.dim() == 2:
        product = (weight.to(hidden.dtype).flatten(0, 1) @ hidden).view(n_nets, fan_out, -1)
    elif low_precision:
        product = torch.bmm(weight.to(hidden.dtype), hidden)
    else:
        return torch.baddbmm(bias.unsqueeze(2), weight, hidden)
    return product.to(weight.dtype) + bias.unsqueeze(2)


def build_target(
    input_shape: Sequence[int], num_classes: int, hidden: Sequence[int] = (10,), kind: str = "mlp"
) -> nn.Module:
    """Build the target network named by the configuration (``model`` in parameters.yml)."""
    if kind != "mlp":
        raise ValueError(f"Unknown target network kind {kind!r}; available: 'mlp'.")
    return MLP(in_features=prod(input_shape), hidden=hidden, num_classes=num_classes)


def target_builder(model: dict[str, Any], manifest: dict[str, Any]):
    """A function building the configured target network for this dataset."""
    return partial(
        build_target,
        input_shape=tuple(manifest["input_shape"]),
        num_classes=int(manifest["num_classes"]),
        hidden=tuple(model["hidden"]),
        kind=model["kind"],
    )


def weights_metadata(model: dict[str, Any], manifest: dict[str, Any]) -> dict[str, str]:
    """What a weight file needs to be rebuilt: the model config and the parameter layout."""
    layout = ParamLayout.from_module(target_builder(model, manifest)())
    return {
        "model": json.dumps(
            {
                **model,
                "input_shape": manifest["input_shape"],
                "num_classes": manifest["num_classes"],
            }
        ),
        "layout": layout.describe(),
    }
