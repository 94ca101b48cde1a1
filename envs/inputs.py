"""Reading input files safely: regular files of bounded size, UTF-8 text, YAML without surprises.

The counterpart of :mod:`envs.files` for what a command reads (scenarios, algo configs, demand
histories, the files of a run directory):

- :func:`read_bytes` reads only a regular file: not a FIFO (which would block), a device (which
  may never end) or a kernel pseudo-file such as ``/proc/self/environ`` (whose content is the
  process environment), and refuses a file larger than a limit before reading it.
- :func:`read_text` decodes it as UTF-8 and names the line of a byte that is not.
- :func:`load_yaml` parses YAML with PyYAML's safe loader, made stricter: no aliases that
  expand the document beyond ``MAX_YAML_VALUES`` values (a "billion laughs" bomb turns a few
  hundred bytes into billions), no duplicate keys (the second would silently win), no nesting
  deeper than ``MAX_YAML_DEPTH``; and numbers as YAML 1.2 reads them (``1e-4`` is a float, not
  a string).

Every problem is a :class:`~envs.errors.UserError`: one line naming the file (and the line).
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import yaml

from envs.errors import UserError

# Limits of the files a command reads: far above any real one, far below what exhausts memory.
MAX_CONFIG_BYTES = 256 << 10  # a scenario, an algo config, the YAML of a run directory
MAX_YAML_DEPTH = 32  # levels of nested mappings and lists; a scenario has 4
MAX_YAML_VALUES = 1_000_000  # values (scalars and collections) of a YAML document, its aliases expanded
MAX_DATA_BYTES = 64 << 20  # a demand history
MAX_TABLE_BYTES = 16 << 30  # an item master or a plan's state file, read in chunks (memory does not bound it)
# Kernel pseudo-file systems: their files look regular but hold the state of the machine.
PSEUDO_FILE_SYSTEMS = ("/proc", "/sys")
_FLOAT_TAG = "tag:yaml.org,2002:float"
# YAML 1.2 floats: the exponent needs no dot (1e-4) and its sign is optional (1e9).
_YAML_12_FLOAT = re.compile(
    r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


def shown_path(path: str | Path) -> str:
    """``path`` as a message shows it: quoted and escaped if it holds control characters."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def _size(n_bytes: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n_bytes >= 1 << shift:
            return f"{n_bytes / (1 << shift):.4g} {unit}"
    return f"{n_bytes:,} bytes"


@functools.cache
def _pseudo_devices() -> frozenset[int]:
    return frozenset(os.stat(root).st_dev for root in PSEUDO_FILE_SYSTEMS if os.path.isdir(root))


def _a(what: str) -> str:
    """``what`` with its indefinite article: 'a scenario', 'an item master'."""
    return f"{'an' if what[:1].lower() in 'aeiou' else 'a'} {what}"


def _check_regular(path: Path, status: os.stat_result, what: str) -> None:
    if stat.S_ISDIR(status.st_mode):
        raise UserError(f"{shown_path(path)}: is a directory, not {_a(what)}")
    if not stat.S_ISREG(status.st_mode):
        raise UserError(
            f"{shown_path(path)}: is not a regular file (a device, FIFO or socket); refusing to read it as {_a(what)}"
        )
    if status.st_dev in _pseudo_devices():
        raise UserError(
            f"{shown_path(path)}: is a file of the kernel ({', '.join(PSEUDO_FILE_SYSTEMS)}), not {_a(what)}"
        )


def check_input_file(path: str | Path, what: str, max_bytes: int) -> Path:
    """``path`` if it is a regular file of at most ``max_bytes`` (see :func:`read_bytes`), for a
    reader that opens it itself (a zip); a :class:`UserError` otherwise."""
    path = Path(path)
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise UserError(f"{shown_path(path)}: {what} not found") from None
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise UserError(f"{shown_path(path)}: cannot read the {what} ({reason})") from None
    _check_regular(path, status, what)
    if status.st_size > max_bytes:
        raise UserError(f"{shown_path(path)}: is {_size(status.st_size)}; {_a(what)} is at most {_size(max_bytes)}")
    return path


def read_bytes(path: str | Path, what: str, max_bytes: int = MAX_CONFIG_BYTES) -> bytes:
    """The content of the regular file ``path``, at most ``max_bytes`` long.

    Args:
        path: the file (a symlink to a regular file is followed).
        what: what the file is meant to be (``scenario``, ``demand history``), for messages.
        max_bytes: the largest file accepted; a larger one is refused before it is read.

    Raises:
        UserError: the file is missing, unreadable, not a regular file, a kernel pseudo-file
            or too large; one line naming it.
    """
    path = Path(path)
    try:
        # checked before it is opened: opening a FIFO blocks, opening some devices does things
        _check_regular(path, os.stat(path), what)
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except UserError:
        raise
    except FileNotFoundError:
        raise UserError(f"{shown_path(path)}: {what} not found") from None
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise UserError(f"{shown_path(path)}: cannot read the {what} ({reason})") from None
    try:
        status = os.fstat(descriptor)
        _check_regular(path, status, what)  # what was opened, should the path have changed since
        if status.st_size > max_bytes:
            raise UserError(f"{shown_path(path)}: is {_size(status.st_size)}; {_a(what)} is at most {_size(max_bytes)}")
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(descriptor, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as error:
        raise UserError(f"{shown_path(path)}: cannot read the {what} ({error.strerror})") from None
    finally:
        os.close(descriptor)
    if total > max_bytes:
        raise UserError(f"{shown_path(path)}: is larger than {_size(max_bytes)}, the most {_a(what)} may be")
    if total and status.st_size == 0:  # a pseudo-file of another file system (debugfs, cgroup...)
        raise UserError(f"{shown_path(path)}: claims to be empty but is not (a kernel pseudo-file?), not {_a(what)}")
    return b"".join(chunks)


def check_unique_columns(header: Sequence[str], source: str) -> None:
    """A :class:`UserError` naming the first column of a CSV ``header`` that appears more than once
    (readers would silently use one of them); ``source`` starts the message (the option and file)."""
    names = [str(name).strip() for name in header]
    repeated = [name for i, name in enumerate(names) if name in names[:i]]
    if repeated:
        shown = "".join(c if c.isprintable() else "?" for c in repeated[0][:40])
        raise UserError(f"{source}: line 1: the column '{shown}' appears more than once in the header")


# First characters that make a spreadsheet read a cell as a formula (CSV injection, as OWASP describes it):
# an SKU such as =HYPERLINK(...) written back into orders.csv would run when the file is opened.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_problem(sku: str) -> str:
    """Why ``sku`` may not be written to a CSV a spreadsheet opens ('' if it may): it starts as a formula."""
    if not sku.startswith(FORMULA_STARTS):
        return ""
    shown = "".join(c if c.isprintable() else "?" for c in sku[:20])
    return f"sku '{shown}' starts with {sku[0]!r}, which a spreadsheet runs as a formula"


def csv_header(source: Any, compression: Any = "infer") -> list[str]:
    """The first row of a CSV file or buffer as written, before pandas renames repeated names
    (``x``, ``x.1``); empty for an empty file. Imports pandas."""
    import pandas as pd

    try:
        first = pd.read_csv(source, header=None, nrows=1, dtype=str, keep_default_na=False, compression=compression)
    except pd.errors.EmptyDataError:
        return []
    return [str(name) for name in first.iloc[0]] if len(first) else []


def decode_text(data: bytes, path: str | Path, what: str) -> str:
    """``data`` as UTF-8 text (a byte-order mark dropped); a :class:`UserError` naming the line otherwise."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UserError(
            f"{shown_path(path)}: line {line}: not UTF-8 text (byte 0x{data[error.start]:02x}); is it {_a(what)}?"
        ) from None


def read_text(path: str | Path, what: str, max_bytes: int = MAX_CONFIG_BYTES) -> str:
    """The content of the regular file ``path`` as UTF-8 text (see :func:`read_bytes`)."""
    return decode_text(read_bytes(path, what, max_bytes), path, what)


class _YamlRefused(yaml.YAMLError):
    def __init__(self, mark: Any, problem: str) -> None:
        super().__init__(problem)
        self.problem_mark, self.problem = mark, problem


# libyaml's parser when installed (several times faster), else PyYAML's own
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """PyYAML's safe loader that refuses duplicate keys and reads YAML 1.2 floats.

    Alias bombs and deep nesting are refused before it runs, by :func:`load_yaml`.
    """

    yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[str, re.Pattern[str]]]]] = {
        first: [(tag, _YAML_12_FLOAT if tag == _FLOAT_TAG else regexp) for tag, regexp in resolvers]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):  # other keys are unhashable: the safe loader says so
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise _YamlRefused(
                        key_node.start_mark,
                        f"duplicate key '{key_node.value[:40]}' (first on line {seen[key]}): keep one",
                    )
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def _check_structure(text: str) -> None:
    """Refuse nesting deeper than ``MAX_YAML_DEPTH`` and aliases that expand the document beyond
    ``MAX_YAML_VALUES`` values, reading only the parser's events, before anything is built.

    Aliases themselves are fine (``yaml.safe_dump`` writes them for a mapping used twice); a
    "billion laughs" bomb nests aliases of aliases so that a few hundred bytes stand for
    billions of values, which every reader of the loaded data (validation) then visits. Nesting
    is checked here too because composing recurses once per level (in C with libyaml, where a
    deep document crashes the process).
    """
    sizes: dict[str, int] = {}  # values an anchored node stands for, once it is complete
    frames: list[tuple[str | None, int]] = []  # open collections: anchor, values so far
    total = 0
    for event in yaml.parse(text, Loader=StrictLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            frames.append((event.anchor, 1))
            if len(frames) > MAX_YAML_DEPTH:
                raise _YamlRefused(event.start_mark, f"nested more than {MAX_YAML_DEPTH} levels deep")
            continue
        if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, size = frames.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in sizes:  # unknown, or an alias inside what it names: endless
                raise _YamlRefused(event.start_mark, f"the alias *{event.anchor} names no complete value before it")
            anchor, size = None, sizes[event.anchor]
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        if frames:
            frames[-1] = (frames[-1][0], frames[-1][1] + size)
            size = frames[-1][1]
        else:
            total += size
            size = total
        if size > MAX_YAML_VALUES:
            raise _YamlRefused(event.start_mark, f"aliases make it more than {MAX_YAML_VALUES:,} values (a YAML bomb?)")


def load_yaml(text: str, source: str | Path) -> Any:
    """Parse ``text`` with :class:`StrictLoader`, once its structure has been checked.

    Raises:
        UserError: one line naming ``source``, the line and the problem.
    """
    try:
        _check_structure(text)
        return yaml.load(text, Loader=StrictLoader)  # a safe loader
    except _YamlRefused as error:
        raise UserError(f"{source}: line {error.problem_mark.line + 1}: {error.problem}") from None
    except yaml.reader.ReaderError as error:  # a character YAML does not allow (a NUL byte)
        line = text[: error.position].count("\n") + 1
        raise UserError(
            f"{source}: line {line}: not valid YAML (character #x{error.character:04x} is not allowed)"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise UserError(f"{source}: {where}not valid YAML ({problem})") from None
    except ValueError as error:  # an integer of more than 4300 digits
        raise UserError(f"{source}: not valid YAML ({str(error).splitlines()[0][:80]})") from None


def read_yaml(path: str | Path, what: str, max_bytes: int = MAX_CONFIG_BYTES) -> Any:
    """The YAML file ``path``, read with :func:`read_text` and parsed with :func:`load_yaml`."""
    return load_yaml(read_text(path, what, max_bytes), path)
