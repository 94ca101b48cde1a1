"""Independent units of work (tuning trials, episode chunks, chunks of a plan) run in this process or on Ray workers.

The default path runs the units one after the other in this process and never imports Ray.
``--ray`` runs them on Ray: on the cluster named by the ``RAY_ADDRESS`` environment variable
when it is set, else on an embedded local instance started for the command and stopped at its
end; ``--ray-address ADDR`` joins the cluster at ``ADDR`` (``host:port`` of its head node, or a
Ray client address ``ray://host:port``). Ray is the optional extra ``ray``.

A unit is a top-level function and its arguments, so that a worker can import the one and
receive the other (an argument many units share is passed through ``broadcast``: itself here, sent
once to Ray's object store there); in this process each call is taken from the caller's iterable
only when its turn comes, so a caller can read its inputs chunk by chunk. Results come back in
the order the units were given, whatever order they finish in. The callers make each unit's
result independent of which units run before it or beside it (its own seeds, its own copy of
what it changes), which is what lets a command give the same numbers with and without Ray.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from envs.errors import UserError, one_line

R = TypeVar("R")

INSTALL_HINT = 'pip install -e ".[ray]"'
# how long joining a cluster may take to answer before the address is called unreachable
CONNECT_TIMEOUT_SECONDS = 5.0


class Workers(Protocol):
    """Where units run: :class:`InProcess` or :class:`OnRay`."""

    description: str

    def map(self, function: Callable[..., R], calls: Iterable[tuple[Any, ...]]) -> Iterator[R]:
        """``function(*call)`` for every call, yielded in the order of ``calls``."""
        ...

    def broadcast(self, value: Any) -> Any:
        """``value`` made an argument of many units, sent to the workers once (a call passes what this returns)."""
        ...


class InProcess:
    """The default: the units one after the other, here, each call taken from ``calls`` when its turn comes."""

    description = "in this process"

    def map(self, function: Callable[..., R], calls: Iterable[tuple[Any, ...]]) -> Iterator[R]:
        for call in calls:
            yield function(*call)

    def broadcast(self, value: Any) -> Any:
        return value  # the object itself: no copy


class OnRay:
    """The units as Ray tasks of one CPU each, all submitted at once (Ray queues what the cluster cannot run yet)."""

    def __init__(self, ray: Any) -> None:
        self.ray = ray
        cpus = int(ray.cluster_resources().get("CPU", 0))
        self.description = f"on Ray ({cpus} CPUs)"

    def map(self, function: Callable[..., R], calls: Iterable[tuple[Any, ...]]) -> Iterator[R]:
        remote = self.ray.remote(num_cpus=1)(function)
        pending = [remote.remote(*call) for call in calls]
        done = 0
        try:
            for ref in pending:
                yield self.ray.get(ref)
                done += 1
        finally:  # stopped early (an error, Ctrl-C): what is still queued or running is not wanted
            for ref in pending[done:]:
                self.ray.cancel(ref)

    def broadcast(self, value: Any) -> Any:
        return self.ray.put(value)  # in the object store once; Ray hands every task given the reference the value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--ray`` and ``--ray-address`` options of a command."""
    group = parser.add_argument_group(f"scale-out on Ray (optional: {INSTALL_HINT})")
    group.add_argument(
        "--ray",
        action="store_true",
        help="run the independent units on Ray: the cluster in RAY_ADDRESS if set, else a local instance "
        "started for this command; results equal those without --ray",
    )
    group.add_argument(
        "--ray-address", metavar="ADDR", help="join the Ray cluster at ADDR (host:port or ray://host:port)"
    )


@contextmanager
def workers(use_ray: bool, address: str | None = None) -> Iterator[Workers]:
    """The workers a command's options ask for, connected for the ``with`` block and released after it.

    Args:
        use_ray: ``--ray``: join the cluster in ``RAY_ADDRESS``, or start a local instance.
        address: ``--ray-address``: join this cluster (implies Ray).

    Raises:
        UserError: Ray is not installed, or the cluster cannot be reached or joined.
    """
    if not use_ray and address is None:
        yield InProcess()
        return
    option = "--ray-address" if address is not None else "--ray"
    ray = _import_ray(option)
    target = address if address is not None else os.environ.get("RAY_ADDRESS") or "local"
    if target not in ("local", "auto"):
        _check_reachable(option, target)
    try:
        if target == "local":
            ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=target, logging_level=logging.WARNING)
    except Exception as error:  # whatever Ray raises, the user gets one line
        raise UserError(f"{option} {target}: cannot {_verb(target)} ({_reason(error)})") from None
    try:
        yield OnRay(ray)
    finally:
        ray.shutdown()


def _import_ray(option: str) -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(f"{option} needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def _check_reachable(option: str, address: str) -> None:
    """Fail in seconds on an address nobody answers at (joining it would retry for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"{option} {address}: not an address of the form host:port or ray://host:port")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as error:
        raise UserError(f"{option} {address}: no Ray cluster answers there ({error.strerror or error})") from None


def _verb(target: str) -> str:
    return "start a local Ray instance" if target == "local" else "join the Ray cluster"


def _reason(error: BaseException) -> str:
    chain = [error, *(cause for cause in (error.__cause__, error.__context__) if cause is not None)]
    if any("Authentication" in type(e).__name__ or "Authentication token" in str(e) for e in chain):
        return "it requires its token: set RAY_AUTH_MODE=token, with the token in ~/.ray/auth_token or RAY_AUTH_TOKEN"
    lines = [line for line in str(error).splitlines() if line.strip()]
    return one_line(lines[0] if lines else type(error).__name__)
