"""Writing outputs safely: a file or directory appears complete or not at all, where it was asked for.

Every command writes its outputs through these helpers:

- :func:`atomic_write` writes a file next to its destination and renames it into place, so a
  reader (or a kill, or a full disk) never sees half a file. An existing file keeps its
  permission bits. A destination that is a symlink, a device, a FIFO, a socket or a directory
  is refused, never replaced.
- :func:`write_directory` does the same for a directory of files (an exported policy, a
  checkpoint): staged beside it, then swapped in.
- :func:`write_files` writes several files into a directory that may hold other things (the
  results of an evaluation): every file is written in full before the first one is renamed in.
- :func:`write_new_directory` creates a directory under the first free name of several (a run
  directory), complete when it appears; writers started together each get their own.
- :class:`DirectoryLock` keeps a second process from writing a directory another one writes
  (a run being trained, a tuning study).

Every failure a user can cause (no permission, read-only or full file system, a path that is
not a regular file) is a :class:`~envs.errors.UserError`: one line naming the path.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType

from envs.errors import UserError, interrupts_deferred

Content = bytes | str | Callable[[Path], object]


def check_output_path(path: str | Path, what: str = "--out") -> Path:
    """``path`` as a :class:`Path` if a regular file may be written there; else a :class:`UserError`.

    Refused: a symlink (it would be replaced by a file, or write somewhere else), anything that
    exists and is not a regular file (a device such as /dev/full, a FIFO, a socket, a
    directory), and a parent that is not a directory.
    """
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise UserError(f"{what} {path}: cannot be checked ({error.strerror})") from None
    if mode is not None:
        if stat.S_ISLNK(mode):
            raise UserError(f"{what} {path}: is a symbolic link; give the path of a regular file")
        if stat.S_ISDIR(mode):
            raise UserError(f"{what} {path}: is a directory; give a file name")
        if not stat.S_ISREG(mode):
            raise UserError(f"{what} {path}: is not a regular file (a device, FIFO or socket); refusing to replace it")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{what} {path}: {parent} is not a directory")
    return path


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _new_file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file (0666 minus the umask)."""
    return 0o666 & ~_umask()


def atomic_write(path: str | Path, content: Content, what: str = "--out") -> Path:
    """Write ``content`` to ``path`` in one step: a temporary file beside it, renamed into place.

    Args:
        path: the destination, checked with :func:`check_output_path`; missing parent
            directories are created.
        content: bytes, text (UTF-8), or a function that writes the file at the path it is given
            (``model.save``, ``frame.to_csv``). That path ends in ``.tmp``: a writer that picks
            the format from the file name must be told the format.
        what: how the path was given (``--out``, ``policy directory``), for error messages.

    Returns:
        ``path``. An existing file at ``path`` keeps its permission bits; a new file gets the
        usual 0666 minus the umask.

    Raises:
        UserError: the path is not a place for a regular file, or the write failed (no
            permission, read-only or full file system); nothing is left behind.
    """
    path = check_output_path(path, what)
    temporary = _staged(path, content, what)
    try:
        os.replace(temporary, path)
    except OSError as error:
        raise UserError(f"{what} {path}: cannot write here ({error.strerror})") from None
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _staged(path: Path, content: Content, what: str) -> Path:
    """``content`` written in full to a temporary file beside ``path``, with the mode ``path`` is to have."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode) if path.exists() else _new_file_mode()
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise UserError(f"{what} {path}: cannot write here ({error.strerror})") from None
    temporary = Path(temporary_name)
    try:
        if callable(content):
            os.close(descriptor)
            with interrupts_deferred():  # a library's writer stopped half-way may fail with its own error
                content(temporary)
        else:
            data = content.encode() if isinstance(content, str) else content
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(temporary, mode)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise UserError(f"{what} {path}: cannot write here ({error.strerror})") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _is_empty(directory: Path) -> bool:
    return not any(directory.iterdir())


def check_output_directory(
    out_dir: str | Path, replaceable: Callable[[Path], bool] = _is_empty, what: str = "--out"
) -> Path:
    """``out_dir`` as a :class:`Path` if a directory may be written there; else a :class:`UserError`.

    Call it before the work whose results go there, so that a bad path fails at once.

    Args:
        out_dir: the directory to write.
        replaceable: whether an existing directory may be written over (by default: it is empty).
        what: how the path was given, for error messages.

    Raises:
        UserError: ``out_dir`` is a symbolic link, exists and is not a directory, or is a
            directory ``replaceable`` refuses.
    """
    out_dir = Path(out_dir)
    if out_dir.is_symlink():
        raise UserError(f"{what} {out_dir}: is a symbolic link; give a directory path")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{what} {out_dir}: exists and is not a directory")
    if out_dir.exists() and not replaceable(out_dir):
        raise UserError(f"{what} {out_dir}: exists and is not a directory this command wrote; choose another")
    return out_dir


def write_directory(
    out_dir: str | Path,
    files: Mapping[str, Content],
    replaceable: Callable[[Path], bool] = _is_empty,
    what: str = "--out",
) -> Path:
    """Write ``files`` (name -> content) as the directory ``out_dir``, all or nothing.

    The directory is filled under a hidden name beside ``out_dir`` and renamed into place. An
    existing ``out_dir`` is replaced only if ``replaceable(out_dir)`` says so (by default: it is
    empty); anything else there is refused, as is a symlink or a non-directory.

    Raises:
        UserError: one line naming the directory.
    """
    out_dir = check_output_directory(out_dir, replaceable, what)
    staging = _staging_directory(out_dir.parent, f".{out_dir.name}.", what)
    replaced = staging.with_name(staging.name + ".old")
    try:
        for name, content in files.items():
            atomic_write(staging / name, content, what)
        if out_dir.exists():
            os.replace(out_dir, replaced)
        os.replace(staging, out_dir)
    except OSError as error:
        raise UserError(f"{what} {out_dir}: cannot write here ({error.strerror})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(replaced, ignore_errors=True)
    return out_dir


def write_files(out_dir: str | Path, files: Mapping[str, Content], what: str = "--out") -> Path:
    """Write ``files`` (name -> content) into the directory ``out_dir``, keeping what else is in it.

    Every file is written in full under a temporary name beside its destination before the first
    is renamed into place, so a failure while producing any of them (a plot, a full disk) leaves
    every earlier file as it was. ``out_dir`` is created if missing.

    Raises:
        UserError: ``out_dir`` is a symlink or not a directory, a destination is not a regular
            file (see :func:`check_output_path`), or a write failed; one line naming the path.
    """
    out_dir = check_output_directory(out_dir, replaceable=lambda existing: True, what=what)
    destinations = [check_output_path(out_dir / name, what) for name in files]
    staged: list[Path] = []
    try:
        for destination, content in zip(destinations, files.values(), strict=True):
            staged.append(_staged(destination, content, what))
        for temporary, destination in zip(staged, destinations, strict=True):
            os.replace(temporary, destination)
    except OSError as error:
        raise UserError(f"{what} {out_dir}: cannot write here ({error.strerror})") from None
    finally:
        for temporary in staged:
            temporary.unlink(missing_ok=True)
    return out_dir


def write_new_directory(
    parent: str | Path, names: Iterable[str], files: Mapping[str, Content], what: str = "--out"
) -> Path:
    """Write ``files`` as a new directory in ``parent``, named by the first of ``names`` that is free.

    The directory is filled under a hidden name and renamed, so it exists only complete. A name
    is taken when something non-empty is there: the rename onto it fails, and the next name is
    tried, so writers started together each get a directory of their own.

    Args:
        parent: where the directory is created (created if missing).
        names: candidate names, in order of preference.
        files: name -> content; at least one, so that a written directory is never empty.
        what: how ``parent`` was given, for error messages.

    Returns:
        The new directory.

    Raises:
        UserError: ``parent`` cannot be written, or every name is taken.
    """
    if not files:
        raise ValueError("write_new_directory needs at least one file")
    parent = Path(parent)
    names = list(names)
    staging = _staging_directory(parent, f".{names[0]}.", what)
    try:
        for name, content in files.items():
            atomic_write(staging / name, content, what)
        for name in names:
            try:
                staging.rename(parent / name)
            except OSError as error:
                if error.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                    continue  # taken
                raise UserError(f"{what} {parent}: cannot create a directory in it ({error.strerror})") from None
            return parent / name
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    raise UserError(f"{what} {parent}: every name from {names[0]} to {names[-1]} is taken")


def _staging_directory(parent: Path, prefix: str, what: str) -> Path:
    """A new hidden directory in ``parent`` (created if missing), with the mode a plain mkdir gives."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp gives 0700
    except OSError as error:
        raise UserError(f"{what} {parent}: cannot create a directory in it ({error.strerror})") from None
    return staging


class DirectoryLock:
    """An exclusive lock on a directory a process writes: ``fcntl.flock`` on ``DIRECTORY/.lock``.

    The lock file holds the pid of its holder. The lock is released by :meth:`release`, or by
    the system when the process ends however it ends (a kill leaves no stale lock); the file
    stays (removing it would let a third process lock a new file while the second holds the old).

    Args:
        directory: the directory to lock (it must exist).
        what: how the directory was given (``--resume``, ``--out``), for messages.
    """

    NAME = ".lock"

    def __init__(self, directory: str | Path, what: str) -> None:
        self.directory, self.what = Path(directory), what
        self._descriptor: int | None = None

    def acquire(self) -> DirectoryLock:
        """Take the lock, or refuse at once.

        Raises:
            UserError: another process holds it (naming its pid), or the directory cannot hold
                a lock file (read-only, no permission, the lock file a symlink or special file).
        """
        path = check_output_path(self.directory / self.NAME, self.what)
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, _new_file_mode())
        except OSError as error:
            raise UserError(f"{self.what} {self.directory}: cannot lock it for writing ({error.strerror})") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = os.read(descriptor, 32).decode(errors="replace").strip()
            os.close(descriptor)
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise UserError(f"{self.what} {self.directory}: cannot lock it ({error.strerror})") from None
            who = f"process {holder}" if holder.isdigit() else "another process"
            raise UserError(
                f"{self.what} {self.directory}: {who} is writing to it; wait until it ends (or stop it)"
            ) from None
        try:
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode())
        except OSError:
            pass  # the pid only makes the message of a second writer clearer (a full disk may refuse it)
        self._descriptor = descriptor
        return self

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing the last descriptor releases the flock
            self._descriptor = None

    def __enter__(self) -> DirectoryLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()
