"""DDPM over flat parameter vectors, predicting x0 (as G.pt does).

Linear betas over ``num_steps`` (1000 by default). Training: uniform timesteps, MSE between the
predicted and the true x0. Sampling: full ancestral DDPM, or a respaced DDIM sampler with far
fewer steps (deterministic given the initial noise; the fast default). Both draw a whole batch of
candidates at once and take a ``torch.Generator`` for reproducibility.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

# denoise(x_t, t) -> predicted x0; conditions are bound by the caller.
Denoiser = Callable[[Tensor, Tensor], Tensor]


class GaussianDiffusion:
    def __init__(self, num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02):
        self.num_steps = num_steps
        betas = torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        previous = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        self.betas = betas
        self.alphas_cumprod = alphas_cumprod
        self.alphas_cumprod_prev = previous
        # q(x_{t-1} | x_t, x0) = N(coef_x0 * x0 + coef_xt * x_t, posterior_variance)
        self.posterior_variance = betas * (1.0 - previous) / (1.0 - alphas_cumprod)
        self.posterior_coef_x0 = betas * previous.sqrt() / (1.0 - alphas_cumprod)
        self.posterior_coef_xt = (1.0 - previous) * (1.0 - betas).sqrt() / (1.0 - alphas_cumprod)

    @staticmethod
    def _at(values: Tensor, t: Tensor, like: Tensor) -> Tensor:
        return values.to(like.device)[t].to(like.dtype).view(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """Noisy ``x_t`` from clean ``x0`` at timesteps ``t``."""
        ab = self._at(self.alphas_cumprod, t, x0)
        return ab.sqrt() * x0 + (1.0 - ab).sqrt() * noise

    def training_loss(
        self,
        denoise: Denoiser,
        x0: Tensor,
        generator: torch.Generator | None = None,
        weights: Tensor | None = None,
    ) -> Tensor:
        """MSE between predicted and true x0 at uniform random timesteps.

        ``weights [P]`` (mean 1) reweight the squared error of each coordinate.
        """
        t = torch.randint(0, self.num_steps, (len(x0),), device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
        if weights is None:
            return F.mse_loss(denoise(self.q_sample(x0, t, noise), t), x0)
        error = (denoise(self.q_sample(x0, t, noise), t) - x0).pow(2)
        return (error * weights).mean()

    @torch.no_grad()
    def sample_ddpm(
        self, denoise: Denoiser, shape: tuple[int, ...], generator: torch.Generator, device=None
    ) -> Tensor:
        """Full ancestral sampling through every timestep."""
        x = torch.randn(shape, generator=generator, device=device)
        for step in reversed(range(self.num_steps)):
            t = torch.full((shape[0],), step, device=x.device, dtype=torch.long)
            x0 = denoise(x, t)
            mean = (
                self._at(self.posterior_coef_x0, t, x) * x0
                + self._at(self.posterior_coef_xt, t, x) * x
            )
            if step > 0:
                noise = torch.randn(shape, generator=generator, device=x.device)
                x = mean + self._at(self.posterior_variance, t, x).sqrt() * noise
            else:
                x = mean
        return x

    @torch.no_grad()
    def sample_ddim(
        self,
        denoise: Denoiser,
        shape: tuple[int, ...],
        generator: torch.Generator,
        steps: int = 20,
        device=None,
    ) -> Tensor:
        """Respaced DDIM (eta = 0) over ``steps`` evenly spaced timesteps."""
        if not 1 <= steps <= self.num_steps:
            raise ValueError(f"DDIM steps must lie in 1..{self.num_steps}, got {steps}.")
        timesteps = torch.linspace(self.num_steps - 1, 0, steps).round().long().tolist()
        x = torch.randn(shape, generator=generator, device=device)
        x0 = x
        for i, step in enumerate(timesteps):
            t = torch.full((shape[0],), step, device=x.device, dtype=torch.long)
            x0 = denoise(x, t)
            if i == len(timesteps) - 1:
                break
            ab = self._at(self.alphas_cumprod, t, x)
            ab_next = self._at(self.alphas_cumprod, torch.full_like(t, timesteps[i + 1]), x)
            eps = (x - ab.sqrt() * x0) / (1.0 - ab).sqrt()
            x = ab_next.sqrt() * x0 + (1.0 - ab_next).sqrt() * eps
        return x0
