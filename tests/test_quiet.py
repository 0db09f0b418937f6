import logging

from hyperforget.quiet import silence_unactionable_warnings


def test_the_runners_advice_to_use_async_is_dropped(caplog):
    """The project refuses --async; Kedro's runners recommend it at every run."""
    silence_unactionable_warnings()
    runner = logging.getLogger("kedro.runner.sequential_runner")
    with caplog.at_level(logging.INFO):
        runner.info("Using synchronous mode for loading and saving data. Use the --async flag")
        runner.info("Pipeline execution completed")
    assert [r.getMessage() for r in caplog.records] == ["Pipeline execution completed"]
