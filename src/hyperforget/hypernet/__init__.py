"""The diffusion hypernetworks (DiHyFo): the denoiser, the diffusion process, training on a zoo and
sampling weights for a target loss profile."""
