"""Writing outputs safely: a file or directory appears complete or not at all, where it was asked for.

Every command writes its outputs through these helpers:

- :func:`atomic_write` writes a file next to its destination and renames it into place, so a
  reader (or a kill, or a full disk) never sees half a file. An existing file keeps its
  permission bits. A destination that is a symlink, a device, a FIFO, a socket or a directory
  is refused, never replaced.
- :func:`write_directory` does the same for a directory of files (an exported policy, the
  results of an evaluation): staged beside it, then swapped in.

Every failure a user can cause (no permission, read-only or full file system, a path that is
not a regular file) is a :class:`~envs.errors.UserError`: one line naming the path.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from envs.errors import UserError

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
            (``model.save``, ``frame.to_csv``).
        what: how the path was given (``--out``, ``policy directory``), for error messages.

    Returns:
        ``path``. An existing file at ``path`` keeps its permission bits; a new file gets the
        usual 0666 minus the umask.

    Raises:
        UserError: the path is not a place for a regular file, or the write failed (no
            permission, read-only or full file system); nothing is left behind.
    """
    path = check_output_path(path, what)
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
            content(temporary)
        else:
            data = content.encode() if isinstance(content, str) else content
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as error:
        raise UserError(f"{what} {path}: cannot write here ({error.strerror})") from None
    finally:
        temporary.unlink(missing_ok=True)
    return path


def write_directory(
    out_dir: str | Path,
    files: Mapping[str, Content],
    replaceable: Callable[[Path], bool] = lambda existing: not any(existing.iterdir()),
    what: str = "--out",
) -> Path:
    """Write ``files`` (name -> content) as the directory ``out_dir``, all or nothing.

    The directory is filled under a hidden name beside ``out_dir`` and renamed into place. An
    existing ``out_dir`` is replaced only if ``replaceable(out_dir)`` says so (by default: it is
    empty); anything else there is refused, as is a symlink or a non-directory.

    Raises:
        UserError: one line naming the directory.
    """
    out_dir = Path(out_dir)
    if out_dir.is_symlink():
        raise UserError(f"{what} {out_dir}: is a symbolic link; give a directory path")
    if out_dir.exists() and (not out_dir.is_dir() or not replaceable(out_dir)):
        raise UserError(f"{what} {out_dir}: exists and is not a directory this command wrote; choose another")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    except OSError as error:
        raise UserError(f"{what} {out_dir}: cannot write here ({error.strerror})") from None
    replaced = staging.with_name(staging.name + ".old")
    try:
        os.chmod(staging, 0o777 & ~_umask())  # as a plain mkdir would make it; mkdtemp gives 0700
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
