"""Scoring unlearned models against retraining: per-model metrics and membership inference
(``metrics``), confidence intervals (``intervals``), the forgetting quality F (``forgetting``),
per-method summaries against the retrained distribution (``distribution``) and the plots."""
