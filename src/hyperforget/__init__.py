"""HyperForget: class-wise machine unlearning (diffusion hypernetworks, SPM, LTU, baselines)."""

__version__ = "0.1.0"
