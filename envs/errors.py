"""The one exception type for mistakes a user can fix (bad config, bad file, bad argument)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])


class UserError(Exception):
    """A problem in what the user gave us; its message is one line naming the file and key or row."""


def exit_on_user_error(main: F) -> F:
    """Turn a :class:`UserError` raised by a command-line ``main`` into one line on stderr and exit code 2."""

    @functools.wraps(main)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return main(*args, **kwargs)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]
