"""Unlearning methods behind one interface (docs/architecture.md): ``api`` (the request, the
result, a method's spec), ``registry`` (the methods by name, run and timed), ``scenarios`` (a
method on every forget scenario, several runs), ``common`` (what the training-based methods
share), and one module per method.
"""
