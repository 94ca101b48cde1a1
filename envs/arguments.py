"""Command-line arguments of every command: argparse whose mistakes end as every other user mistake does.

:class:`ArgumentParser` turns argparse's own errors (an unknown option, a missing value, a value
of the wrong type) into a :class:`~envs.errors.UserError`: one line ``error: ...`` and exit code 2
under :func:`~envs.errors.exit_on_user_error`, instead of argparse's usage line and error.
:func:`integer` is the type of a bounded integer option (a seed, a count of episodes).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn

from envs.errors import UserError

# Seeds: numpy's legacy global seed and torch's take 32 bits.
MAX_SEED = 2**32 - 1


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, its errors raised as :class:`~envs.errors.UserError` (``--help`` is unchanged)."""

    def error(self, message: str) -> NoReturn:
        raise UserError(message)  # one line and exit code 2, like every other user mistake


def integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``minimum..maximum`` (no upper bound when ``maximum`` is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text[:40]!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"at least {minimum}" if maximum is None else f"in {minimum}..{maximum}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    return parse
