import math

import pandas as pd
import pytest
import torch

from hyperforget.core.flat_params import ParamLayout
from hyperforget.core.targets import build_target
from hyperforget.hypernet.diffusion import GaussianDiffusion
from hyperforget.hypernet.model import DiHyFo, DiHyFoConfig
from hyperforget.hypernet.train import (
    ZooSet,
    held_out_runs,
    prompt_alignment,
    sample_params,
    train_hypernetwork,
)
from tests.recipes import denoiser, hyper_train

CONFIG = denoiser(width=16, depth=1, heads=2, chunk_size=40, num_frequencies=4)


@pytest.fixture
def target():
    return build_target((1, 4, 4), 3, (5, 4))


@pytest.fixture
def zoo(target):
    layout = ParamLayout.from_module(target)
    table = pd.DataFrame(
        {
            "run_id": [0, 0, 0, 1, 1, 2, 2],
            "regime": ["learn"] * 3 + ["forget"] * 2 + ["learn"] * 2,
            "step": [0, 5, 10, 0, 5, 0, 5],
            **{f"val_loss_c{k}": torch.rand(7).tolist() for k in range(3)},
        }
    )
    return ZooSet.from_table(torch.randn(7, layout.num_params), table, 3), table


def test_zoo_set_knows_the_last_checkpoint_of_every_run(zoo):
    zoo_set, _ = zoo
    assert zoo_set.run_last.tolist() == [2, 2, 2, 4, 4, 6, 6]
    kept = zoo_set.select_runs(torch.tensor([1, 2]))
    assert kept.run_last.tolist() == [1, 1, 3, 3]


def test_zoo_set_keeps_the_runs_of_chosen_regimes(zoo):
    zoo_set, _ = zoo
    forget = zoo_set.of_regimes(("forget",))
    assert forget.regimes == ("forget", "forget")
    assert forget.run_ids.tolist() == [1, 1] and forget.run_last.tolist() == [1, 1]
    assert torch.equal(forget.params, zoo_set.params[3:5])
    assert zoo_set.of_regimes(None) is zoo_set
    with pytest.raises(ValueError, match=r"regimes \['relearn'\] must name regimes"):
        zoo_set.of_regimes(["relearn"])


def test_held_out_runs_take_some_of_every_regime(zoo):
    _, table = zoo
    held = held_out_runs(table, 0.5, seed=0)
    assert len(held) == 1 + 0  # learn has 2 runs -> 1; forget has 1 run -> 0 (round(0.5) = 0)
    assert set(held.tolist()) <= {0, 2}


def test_one_training_step_reduces_the_loss_on_a_fixed_batch(target, zoo):
    zoo_set, _ = zoo
    layout = ParamLayout.from_module(target)
    net = DiHyFo(layout, 3, CONFIG)
    diffusion = GaussianDiffusion(num_steps=10)
    x0, current = zoo_set.params[[1, 2]], zoo_set.params[[0, 1]]
    losses = zoo_set.losses[[1, 2]]

    def fixed_loss() -> torch.Tensor:
        return diffusion.training_loss(
            lambda x_t, t: net(x_t, t, losses, current, zoo_set.losses[[0, 1]]),
            x0,
            torch.Generator().manual_seed(0),
        )

    before = fixed_loss()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    before.backward()
    optimizer.step()
    assert fixed_loss() < before


def test_training_and_sampling_are_reproducible(target, zoo):
    zoo_set, _ = zoo
    layout = ParamLayout.from_module(target)
    diffusion = GaussianDiffusion(num_steps=20)
    config = hyper_train(steps=3, batch_size=4, log_every=1)
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        net = DiHyFo(layout, 3, CONFIG)
        ema, curve = train_hypernetwork(
            net, diffusion, zoo_set, config, seed=1, device=torch.device("cpu")
        )
        assert len(curve) == 3
        outs.append(
            sample_params(
                ema,
                diffusion,
                zoo_set.losses[:4],
                torch.Generator().manual_seed(5),
                zoo_set.params[:4],
                zoo_set.losses[:4],
                steps=3,
            )
        )
    assert outs[0].shape == (4, layout.num_params)
    assert torch.equal(outs[0], outs[1])


def test_cosine_schedule_changes_only_the_steps_after_the_first(target, zoo):
    zoo_set, _ = zoo
    layout, diffusion = ParamLayout.from_module(target), GaussianDiffusion(num_steps=20)

    def trained(steps: int, schedule: str) -> list[torch.Tensor]:
        torch.manual_seed(0)
        config = hyper_train(steps=steps, batch_size=4, lr_schedule=schedule, ema_decay=0)
        ema, _ = train_hypernetwork(
            DiHyFo(layout, 3, CONFIG), diffusion, zoo_set, config, 1, torch.device("cpu")
        )
        return [p.detach().clone() for p in ema.parameters()]

    for constant, cosine in zip(trained(1, "constant"), trained(1, "cosine"), strict=True):
        assert torch.equal(constant, cosine)  # the first step takes the full learning rate
    two_steps = zip(trained(2, "constant"), trained(2, "cosine"), strict=True)
    assert any(not torch.equal(constant, cosine) for constant, cosine in two_steps)
    with pytest.raises(ValueError, match="lr_schedule must be one of 'constant', 'cosine'"):
        trained(1, "linear")


def test_prompt_alignment_is_one_for_perfect_and_lower_for_noisy_outcomes():
    prompts = torch.tensor([[0.1, 2.0], [0.5, 8.0], [1.0, 4.0]])
    per_class, overall = prompt_alignment(prompts, prompts)
    assert overall == 1.0 and torch.equal(per_class, torch.ones(2))
    _, noisy = prompt_alignment(prompts, prompts + 0.5)
    assert noisy < 1.0


def test_guidance_extrapolates_from_the_reference_prompt(target, zoo):
    zoo_set, _ = zoo
    torch.manual_seed(0)
    net = DiHyFo(
        ParamLayout.from_module(target), 3, DiHyFoConfig(**{**vars(CONFIG), "variant": "dihyfo2"})
    ).eval()
    with torch.no_grad():  # away from the zero-initialised output layer, prompts matter
        for parameter in net.parameters():
            parameter.normal_(0, 0.2)
    diffusion = GaussianDiffusion(num_steps=20)
    asked_loss, reference_loss = zoo_set.losses[:4], zoo_set.losses[3:7]

    def sample(loss, **guidance):
        # one DDIM step: the sample is the (guided) x0 prediction from the same noise
        generator = torch.Generator().manual_seed(5)
        return sample_params(net, diffusion, loss, generator, steps=1, **guidance)

    asked, reference = sample(asked_loss), sample(reference_loss)
    guided = sample(asked_loss, guidance=1.5, reference_loss=reference_loss)
    torch.testing.assert_close(guided, asked + 1.5 * (asked - reference))
    assert not torch.allclose(guided, asked)
    torch.testing.assert_close(
        sample(asked_loss, guidance=0.0, reference_loss=reference_loss), asked
    )
    with pytest.raises(ValueError, match="reference_loss"):
        sample(asked_loss, guidance=1.0)
    with pytest.raises(ValueError, match="positive"):
        sample(asked_loss, guidance=-1.0, reference_loss=reference_loss)


def test_training_precision_acts_where_it_should_and_leaves_the_global_flag_alone(target, zoo):
    zoo_set, _ = zoo
    layout, diffusion = ParamLayout.from_module(target), GaussianDiffusion(num_steps=20)
    flag = torch.backends.cuda.matmul.allow_tf32

    def curve(precision: str) -> list[float]:
        torch.manual_seed(0)
        config = hyper_train(steps=4, batch_size=4, log_every=1, precision=precision)
        ema, losses = train_hypernetwork(
            DiHyFo(layout, 3, CONFIG), diffusion, zoo_set, config, 1, torch.device("cpu")
        )
        assert all(p.dtype == torch.float32 for p in ema.parameters())
        assert torch.backends.cuda.matmul.allow_tf32 == flag
        return losses

    exact = curve("float32")
    assert curve("tf32") == exact  # TF32 only changes CUDA matmuls
    reduced = curve("bfloat16")  # autocast runs the denoiser's matmuls in bfloat16
    assert reduced != exact and all(math.isfinite(value) for value in reduced)
    assert reduced == pytest.approx(exact, rel=0.1)


def test_unknown_training_precision_is_refused():
    with pytest.raises(ValueError, match="HyperTrainConfig.precision must be one of"):
        hyper_train(precision="float16")
