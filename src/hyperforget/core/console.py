"""Tables for people at the terminal.

Kedro's rich log handler fits each message into the width left after its time, level and path
columns, which turns a wide table into an unreadable block. So a table is announced by one log
line and printed as plain text below it, at its own width (the same table is also saved).
"""

from __future__ import annotations

import logging
import sys

import pandas as pd


def show_table(logger: logging.Logger, title: str, table: pd.DataFrame, index: bool = True) -> None:
    """Log ``title``, then print ``table`` as plain text on stdout."""
    logger.info(title)
    with pd.option_context("display.width", 10_000, "display.max_columns", None):
        print(table.to_string(index=index), file=sys.stdout, flush=True)
