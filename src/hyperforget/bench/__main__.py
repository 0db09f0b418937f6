"""``python -m hyperforget.bench <benchmark> ...`` (see ``hyperforget.bench.cli``)."""

from hyperforget.bench.cli import main

if __name__ == "__main__":
    main()
