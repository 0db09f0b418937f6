"""A small version of the default benchmark, shared by the unlearning methods' tests."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F
import yaml

from hyperforget.core import sources
from hyperforget.core.config import Config
from hyperforget.core.flat_params import flatten_module, load_flat_into
from hyperforget.core.scenario import ForgetScenario
from hyperforget.core.targets import build_target
from hyperforget.unlearning.api import ForgetRequest
from hyperforget.unlearning.common import forget_retain
from hyperforget.unlearning.registry import method_config
from tests.conftest import PROJECT_ROOT

DEFAULTS = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_unlearning.yml").read_text())


def method_params(name: str, **overrides) -> Config:
    """Method ``name``'s defaults from conf/base, with ``overrides``, checked and frozen."""
    methods = DEFAULTS["unlearning"]["methods"]
    return method_config(name, {**methods, name: {**(methods[name] or {}), **overrides}})


@pytest.fixture(scope="session")
def forget_request() -> ForgetRequest:
    """The embedded MNIST (4,000 train, 1,000 val) and the default MLP trained on it for three
    epochs: the default benchmark in small (SSD's selection needs a forget set that is a small
    share of the data, as one class of ten is)."""
    digits = sources.load_embedded_mnist()
    images = (digits.images.float() / 255 - 0.13) / 0.31
    order = torch.randperm(len(digits.labels), generator=torch.Generator().manual_seed(0))
    train = images[order[:4000]], digits.labels[order[:4000]]
    val = images[order[4000:]], digits.labels[order[4000:]]
    build = partial(build_target, (1, 28, 28), 10, (10,))
    torch.manual_seed(0)
    net = build()
    optimiser = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for idx in torch.randperm(4000, generator=torch.Generator().manual_seed(1)).split(64) * 3:
        optimiser.zero_grad()
        F.cross_entropy(net(train[0][idx]), train[1][idx]).backward()
        optimiser.step()
    return ForgetRequest(
        original=flatten_module(net),
        scenario=ForgetScenario.of_classes((0,)),
        train=train,
        val=val,
        num_classes=10,
        build=build,
        seed=0,
    )


def forget_set_stats(request: ForgetRequest, params: torch.Tensor) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``params`` on the forget training set."""
    (images, labels), _ = forget_retain(request)
    net = load_flat_into(request.build(), params)
    with torch.no_grad():
        logits = net(images)
    return (logits.argmax(1) == labels).float().mean().item(), F.cross_entropy(
        logits, labels
    ).item()
