import torch

from hyperforget.hypernet.diffusion import GaussianDiffusion


def toy_denoiser(x_t, t):
    return 0.5 * x_t + 1.0


def test_ddim_and_ddpm_shapes_and_seed_reproducibility():
    diffusion = GaussianDiffusion(num_steps=50)
    for sample in (
        lambda g: diffusion.sample_ddim(toy_denoiser, (3, 7), g, steps=5),
        lambda g: diffusion.sample_ddpm(toy_denoiser, (3, 7), g),
    ):
        first = sample(torch.Generator().manual_seed(1))
        again = sample(torch.Generator().manual_seed(1))
        other = sample(torch.Generator().manual_seed(2))
        assert first.shape == (3, 7)
        assert torch.equal(first, again)
        assert not torch.equal(first, other)


def test_a_perfect_x0_predictor_is_recovered_by_both_samplers():
    diffusion = GaussianDiffusion(num_steps=100)
    x0 = torch.randn(2, 5)

    def oracle(x_t, t):
        return x0

    torch.testing.assert_close(
        diffusion.sample_ddim(oracle, (2, 5), torch.Generator(), steps=4), x0
    )
    torch.testing.assert_close(diffusion.sample_ddpm(oracle, (2, 5), torch.Generator()), x0)


def test_q_sample_keeps_signal_at_t0_and_destroys_it_at_the_end():
    diffusion = GaussianDiffusion()
    x0, noise = torch.ones(2, 4), torch.zeros(2, 4)
    assert torch.allclose(diffusion.q_sample(x0, torch.tensor([0, 0]), noise), x0, atol=1e-2)
    assert diffusion.q_sample(x0, torch.tensor([999, 999]), noise).abs().max() < 0.01
