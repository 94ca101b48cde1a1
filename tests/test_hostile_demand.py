"""Hostile and careless demand histories: refused in one line naming the file and the rows, echoing nothing else.

A scenario's ``demand: {dist: csv, path: ...}`` may point anywhere; what is there must be a
regular file holding a CSV history, and a message about it shows no more of it than the
offending cells, cut short.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from envs.errors import UserError
from envs.scenario import load_scenario
from tests.hostile import fifo
from tests.test_hostile_scenarios import MAX_MESSAGE, SINGLE

GOOD = "demand,promotion\n3,0\n4,1\n5,0\n"
SECRET = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"


def scenario_for(tmp_path: Path, csv_path: str, **keys: str) -> Path:
    extra = "".join(f", {key}: {value}" for key, value in keys.items())
    text = SINGLE.replace("{dist: poisson, mean: 5}", f'{{dist: csv, path: "{csv_path}", mode: bootstrap{extra}}}')
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def write(tmp_path: Path, content: str | bytes, name: str = "history.csv") -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def refused(tmp_path: Path, csv_path: str, **keys: str) -> str:
    scenario = scenario_for(tmp_path, csv_path, **keys)
    started = time.monotonic()
    with pytest.raises(UserError) as caught:
        load_scenario(str(scenario))
    assert time.monotonic() - started < 10
    text = str(caught.value)
    assert "\n" not in text and len(text) <= MAX_MESSAGE, text
    assert SECRET not in text and "PATH=" not in text, text
    return text


CONTENT_CASES: list[tuple[str, str | bytes, str]] = [
    ("empty", "", "empty: a demand history needs a header"),
    ("header-only", "demand\n", "no rows below the header"),
    ("blank-lines-only", "\n\n\n", "no column 'demand'"),
    ("binary", os.urandom(64).replace(b"\n", b"") + b"\n\xff\xfe", "not UTF-8"),
    ("latin1", "demand,note\n3,ok\n4,caf\xe9\n".encode("latin-1"), "line 3: not UTF-8"),
    ("nul-byte", "demand\n3\n4\x00\n", "line 3: demand '4?' is not an integer"),
    ("unterminated-quote", 'demand,note\n3,"open\n4,x\n5,y\n', "line 2: a quote opened in this row is never closed"),
    ("quote-closed-later", 'demand,note\n3,"open\n4,x\n5,y"\n6,z\n', "line 2: a quoted field runs over 3 lines"),
    ("quoted-line-break", 'demand,note\n3,"two\nlines"\n4,x\n', "line 2: a quoted field runs over 2 lines"),
    ("bad-quote", 'demand,note\n3,"closed"x\n', "line 2: not a valid CSV row"),
    ("repeated-column", "demand,demand\n3,4\n", "the column 'demand' appears more than once"),
    ("missing-column", "sales\n3\n", "no column 'demand' (the header has 1 column: 'sales')"),
    ("wide-header", ",".join(f"column_{i}" for i in range(50)) + "\n" + ",".join(["1"] * 50) + "\n", "and 45 more"),
    ("secret-header", f"{SECRET}\n1\n", "no column 'demand' (the header has 1 column: 'AWS_SECRET_ACCESS_KE...')"),
    (
        "too-many-fields",
        "demand\n3\n4,5\n6\n7,8,9\n",
        "2 rows without the header's 1 field: line 3 has 2, line 5 has 3",
    ),
    ("too-few-fields", "demand,promotion\n3,0\n4\n", "1 row without the header's 2 fields: line 3 has 1"),
    ("negative", "demand\n3\n-1\n", "line 3: demand '-1' is not an integer in 0..10000000"),
    ("fraction", "demand\n3\n2.5\n", "line 3: demand '2.5' is not an integer"),
    ("huge", "demand\n3\n20000000\n", "line 3: demand '20000000' is not an integer in 0..10000000"),
    ("exponent", "demand\n3\n1e30\n", "line 3: demand '1e30' is not an integer"),
    ("infinite", "demand\n3\ninf\n", "line 3: demand 'inf' is not an integer"),
    ("nan", "demand\n3\nnan\n", "line 3: demand 'nan' is not an integer"),
    ("blank-line", "demand\n3\n\n4\n", "line 3: demand '' is not an integer"),
    (
        "every-bad-row",
        "demand\n" + "".join(f"{'x' if i % 3 == 0 else i}\n" for i in range(30)),
        "10 rows where demand is not an integer in 0..10000000: line 2 'x', line 5 'x', line 8 'x', line 11 'x', "
        "line 14 'x' and 5 more",
    ),
    ("long-cell", "demand\n3\n" + "9" * 10_000 + "\n", "line 3: demand '99999999999999999999...'"),
    ("secret-cell", f"demand\n3\n{SECRET}\n", "line 3: demand 'AWS_SECRET_ACCESS_KE...'"),
    ("terminal-escape", "demand\n3\n\x1b[2J\x1b[31mred\n", "line 3: demand '?[2J?[31mred'"),
    ("feature-text", "demand,promotion\n3,0\n4,yes\n5,no\n", "2 rows where promotion is not a finite number"),
    ("feature-infinite", "demand,promotion\n3,0\n4,inf\n", "line 3: promotion 'inf' is not a finite number"),
]


@pytest.mark.parametrize("content, phrase", [pytest.param(c, p, id=i) for i, c, p in CONTENT_CASES])
def test_a_hostile_history_is_refused_naming_the_rows(tmp_path, content, phrase):
    csv_path = write(tmp_path, content)
    text = refused(tmp_path, csv_path, features="[promotion]" if "promotion" in str(content) else "[]")
    assert text.startswith(csv_path) and phrase in text, text


def _fifo(tmp_path: Path) -> str:
    return fifo(tmp_path / "fifo.csv")


def _directory(tmp_path: Path) -> str:
    (tmp_path / "dir.csv").mkdir()
    return str(tmp_path / "dir.csv")


def _sparse_huge(tmp_path: Path) -> str:
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.truncate(65 << 20)  # 65 MiB, sparse: nothing is written
    return str(path)


def _symlink_to_environ(tmp_path: Path) -> str:
    (tmp_path / "environ.csv").symlink_to("/proc/self/environ")
    return str(tmp_path / "environ.csv")


def _symlink_loop(tmp_path: Path) -> str:
    (tmp_path / "loop.csv").symlink_to(tmp_path / "loop.csv")
    return str(tmp_path / "loop.csv")


def _the_scenario_itself(tmp_path: Path) -> str:
    return str(tmp_path / "scenario.yaml")


@pytest.mark.parametrize(
    "make, phrase",
    [
        (lambda tmp: "/proc/self/environ", "is a file of the kernel"),
        (lambda tmp: "/proc/self/cmdline", "is a file of the kernel"),
        (lambda tmp: "/sys/kernel/mm/transparent_hugepage/enabled", "is a file of the kernel"),
        (_symlink_to_environ, "is a file of the kernel"),
        (lambda tmp: "/dev/zero", "not a regular file"),
        (lambda tmp: "/dev/null", "not a regular file"),
        (_fifo, "not a regular file"),
        (_directory, "is a directory"),
        (lambda tmp: str(tmp / "missing.csv"), "demand history not found"),
        (_sparse_huge, "is 65 MiB; a demand history is at most 64 MiB"),
        (_symlink_loop, "cannot read the demand history"),
        (_the_scenario_itself, "no column 'demand'"),
    ],
    ids=[
        "proc-environ",
        "proc-cmdline",
        "sysfs",
        "symlink-to-environ",
        "dev-zero",
        "dev-null",
        "fifo",
        "directory",
        "missing",
        "too-large",
        "symlink-loop",
        "yaml-as-csv",
    ],
)
def test_what_is_not_a_history_file_is_refused_without_reading_it(tmp_path, make, phrase):
    csv_path = make(tmp_path)
    if csv_path.startswith(("/proc", "/sys")) and not os.path.exists(csv_path):
        pytest.skip(f"{csv_path} does not exist here")
    text = refused(tmp_path, csv_path)
    assert phrase in text, text


@pytest.mark.parametrize(
    "path, keys, named, phrase",
    [
        ("", {}, "demand.path", "at least 1 character"),
        ("a\\0b", {}, "a\\x00b", "cannot read the demand history (embedded null byte)"),
        ("history.csv", {"column": '"' + "c" * 300 + '"'}, "demand.column", "at most 200 characters"),
        ("history.csv", {"block_length": "0"}, "demand.block_length", "greater than or equal to 1"),
        ("history.csv", {"block_length": "true"}, "demand.block_length", "valid integer"),
        ("history.csv", {"features": "[" + ", ".join(f"f{i}" for i in range(101)) + "]"}, "demand.features", "101"),
    ],
    ids=["empty-path", "nul-in-path", "long-column", "block-zero", "block-bool", "too-many-features"],
)
def test_hostile_history_keys_are_refused_naming_the_key(tmp_path, path, keys, named, phrase):
    write(tmp_path, GOOD)
    text = refused(tmp_path, path, **keys)
    assert named in text and phrase in text, text


@pytest.mark.parametrize(
    "content",
    ["\ufeffdemand,promotion\r\n3,0\r\n4,1\r\n", 'demand,promotion\n3,"0"\n" 4",1\n'],
    ids=["bom-and-crlf", "quoted-cells"],
)
def test_careless_but_valid_histories_load(tmp_path, content):
    write(tmp_path, content)
    scenario = load_scenario(str(scenario_for(tmp_path, "history.csv", features="[promotion]")))
    assert scenario.demand.history_length == 2 and scenario.demand.mean_demand() == 3.5
