"""Benchmarks that print measured ratios (speed targets live here, not in timed tests), run as
``python -m hyperforget.bench <benchmark>``:

* ``cli``: the command line, and what each benchmark prints (``--help``);
* ``zoo_speed``: ``zoo``, batched against looped zoo training, and on a Dask cluster;
* ``hypernet_speed``: ``sample`` and ``train``, DiHyFo's sampling latency and training step;
* ``spm_deletion``: ``spm``, SPM deletion against retraining the SPM;
* ``dihyfo_vs_retraining``: ``dihyfo``, DiHyFo against retraining on a finished run;
* ``carry_over``: ``carry-over``, whether the defaults carry over to other data;
* ``common``: the data, parameters and timing they share.
"""
