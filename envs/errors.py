"""The one exception type for mistakes a user can fix (bad config, bad file, bad argument), and how commands end.

A command-line ``main`` wrapped in :func:`exit_on_user_error` ends in one of these ways:

- it returns: exit code 0 (or what ``main`` exits with);
- a :class:`UserError`: its message on one line of stderr, ``error: ...``, exit code 2;
- Ctrl-C or SIGTERM: ``error: interrupted ...`` on one line, exit code 130 or 143 (128 + the
  signal), after every ``finally`` block ran (no temporary file is left behind); a command can
  say more by raising :class:`Interrupted` with its message;
- stdout closed early (``train.py | head``): silently, exit code 141 (128 + SIGPIPE).

Warnings are shown on one line each, ``warning: ...``.

Anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])

# Exit codes: bad input; stopped by a signal (128 + its number, as a shell reports it).
BAD_INPUT = 2
BROKEN_PIPE = 128 + 13


class UserError(Exception):
    """A problem in what the user gave us; its message is one line naming the file and key or row."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, with a message saying what was kept.

    A KeyboardInterrupt, so that ``except Exception`` lets it by as it lets Ctrl-C by.
    """


_received = {"signal": signal.SIGINT}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _received["signal"] = signal.Signals(signum)
    raise KeyboardInterrupt


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then raise them as ``KeyboardInterrupt``.

    For code of other libraries that must not be stopped half-way: torch's zip writer, for
    one, turns an interrupt inside it into a ``RuntimeError`` from its own clean-up, which would
    end a command with a traceback instead of ``error: interrupted``. Outside the main thread,
    where no signal handler runs, the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number, handler in previous.items():
        if handler in (_interrupt, signal.default_int_handler):  # ours to hold; others are left alone
            signal.signal(number, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if held:
        _interrupt(held[0], None)


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters (terminal escapes) shown as '?'."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _one_line_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> str:
    """A warning of a command as one line, ``warning: ...`` (Python's own format takes two, with a line of code)."""
    return f"warning: {one_line(str(message))}\n"


def exit_on_user_error(main: F) -> F:
    """Run a command-line ``main`` so that it ends as the module docstring says."""

    @functools.wraps(main)
    def wrapper(*args: object, **kwargs: object) -> object:
        in_main_thread = threading.current_thread() is threading.main_thread()
        warnings.formatwarning = _one_line_warning
        previous = signal.getsignal(signal.SIGTERM) if in_main_thread else None
        if in_main_thread and previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _interrupt)  # so that SIGTERM cleans up like Ctrl-C
        try:
            return main(*args, **kwargs)
        except UserError as error:
            print(f"error: {one_line(str(error))}", file=sys.stderr)
            sys.exit(BAD_INPUT)
        except KeyboardInterrupt as interrupt:
            received = signal.Signals(_received["signal"])
            print(f"error: {str(interrupt) or 'interrupted'} ({received.name})", file=sys.stderr)
            sys.exit(128 + received)
        except BrokenPipeError:
            # stdout was closed by its reader; send what Python flushes at exit nowhere
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(BROKEN_PIPE)
        finally:
            if in_main_thread and previous == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                _received["signal"] = signal.SIGINT

    return wrapper  # type: ignore[return-value]
