"""The model zoo: many target-network training runs whose checkpoints cover every per-class loss
profile the hypernetworks will be asked for, and the reference models they are judged against.

* ``plan``: which runs (regimes, forgotten classes, seeds) and each run's data, steps, checkpoints;
* ``training``: the batched SGD trainer and the recipes it reads;
* ``runs``: a regime's runs trained into checkpoints, in one batch or as shards;
* ``build``: the whole zoo, diverged runs dropped, its checkpoints tabulated;
* ``references``: the original, the oracles and the retrained distribution;
* ``recipe``: the learning rate chosen on val, and the check that the original is competent;
* ``summary``: the stage's tables and metrics.
"""
