"""Semi-parametric models (SPM): predictions by attention over a memory of training samples, so
that deleting samples from the memory unlearns them with no parameter change.

* ``model``: the SPM (encoder, attention over memory entries) and the plain classifier;
* ``memory``: the sample memory, predicting from it, and deleting from it;
* ``train``: the SPM's recipe and its episodic training;
* ``runs``: the SPM's runs, deletions and retrained SPMs, as the pipeline stores them;
* ``scoring``: the SPM's rows of the benchmark.
"""
