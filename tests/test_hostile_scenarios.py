"""Hostile and careless scenario files, single items and networks: each is refused in one line naming file and key.

In-process (``load_scenario`` on a file is what every command does first); what the commands do
with such a file is in test_hostile_commands.py.
"""

from __future__ import annotations

import os
import time

import pytest

from envs.errors import UserError
from envs.scenario import load_scenario
from tests.hostile import fifo

SINGLE = """\
horizon: 10
demand: {dist: poisson, mean: 5}
lead_time: 1
lost_sales: true
holding_cost: 1
shortage_cost: 4
max_order: 20
"""
NETWORK = """\
horizon: 10
stock_points:
  - {name: warehouse, lead_time: 2, holding_cost: 0.5, max_order: 40}
  - {name: shop, supplier: warehouse, lead_time: 1, holding_cost: 1, max_order: 20,
     demand: {dist: poisson, mean: 5}, shortage_cost: 9}
"""
# Longest message accepted: one line a person reads, whatever the input.
MAX_MESSAGE = 400


def replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def bomb(levels: int = 9) -> str:
    """A 'billion laughs' document: each level is nine aliases of the one above."""
    lines = ['lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return SINGLE + "\n".join(lines) + "\n"


def chain(length: int) -> str:
    points = [
        "  - {name: p0, lead_time: 1, holding_cost: 1, max_order: 10, demand: {dist: poisson, mean: 2}, supplier: p1}"
    ]
    points += [
        f"  - {{name: p{i}, supplier: p{i + 1}, lead_time: 1, holding_cost: 1, max_order: 10}}"
        for i in range(1, length - 1)
    ]
    points += [f"  - {{name: p{length - 1}, lead_time: 1, holding_cost: 1, max_order: 10}}"]
    return "horizon: 10\nstock_points:\n" + "\n".join(points) + "\n"


# (id, content of the file, what the message must name, a phrase of the message)
SINGLE_ITEM_CASES: list[tuple[str, str | bytes, str, str]] = [
    # not YAML, or not a mapping
    ("binary", bytes(range(256)) * 4, "line 2", "not UTF-8"),
    ("latin1", SINGLE.encode() + "description: caf\xe9\n".encode("latin-1"), "line 8", "not UTF-8"),
    ("nul-byte", SINGLE + "description: a\x00b\n", "line 8", "not valid YAML (character #x0000"),
    ("empty", "", ".yaml", "must be a YAML mapping"),
    ("only-comments", "# horizon: 10\n", ".yaml", "must be a YAML mapping"),
    ("a-list", "- horizon: 10\n", ".yaml", "must be a YAML mapping"),
    ("a-scalar", "lost_sales_L2_p9\n", ".yaml", "must be a YAML mapping"),
    ("two-documents", SINGLE + "---\n" + SINGLE, "line 8", "not valid YAML"),
    ("tab-indent", replace(SINGLE, "horizon: 10", "horizon:\n\t10"), "line 2", "not valid YAML"),
    ("unclosed-bracket", replace(SINGLE, "mean: 5}", "mean: 5"), "line", "not valid YAML"),
    ("unclosed-quote", SINGLE + 'description: "runs on\n', "line", "not valid YAML"),
    ("duplicate-key", SINGLE + "horizon: 365\n", "line 8", "duplicate key 'horizon' (first on line 1)"),
    ("duplicate-nested-key", replace(SINGLE, "mean: 5}", "mean: 5, mean: 50}"), "line 2", "duplicate key 'mean'"),
    ("billion-laughs", bomb(), "line", "YAML bomb"),
    ("recursive-alias", SINGLE + "loop: &a [*a]\n", "line 8", "alias *a names no complete value"),
    ("unknown-alias", SINGLE + "description: *nowhere\n", "line 8", "alias *nowhere"),
    ("deep-nesting", SINGLE + "deep: " + "[" * 200 + "]" * 200 + "\n", "line 8", "nested more than 32"),
    ("python-object-tag", SINGLE + "x: !!python/object/apply:os.system [touch pwned]\n", "line 8", "constructor"),
    ("python-name-tag", SINGLE + "x: !!python/name:os.system\n", "line 8", "constructor"),
    ("huge-integer", replace(SINGLE, "horizon: 10", "horizon: " + "9" * 5000), ".yaml", "not valid YAML"),
    ("oversized-file", SINGLE + "#" * (300 << 10) + "\n", ".yaml", "a scenario is at most 256 KiB"),
    ("long-description", SINGLE + "description: " + "x" * 20_000 + "\n", "description", "at most 10000"),
    # wrong types: refused, not converted
    ("horizon-bool", replace(SINGLE, "horizon: 10", "horizon: true"), "horizon", "valid integer"),
    ("horizon-float", replace(SINGLE, "horizon: 10", "horizon: 10.5"), "horizon", "valid integer"),
    ("horizon-string", replace(SINGLE, "horizon: 10", 'horizon: "10"'), "horizon", "valid integer"),
    ("horizon-exponent", replace(SINGLE, "horizon: 10", "horizon: 1e9"), "horizon", "valid integer"),
    ("horizon-null", replace(SINGLE, "horizon: 10", "horizon:"), "horizon", "valid integer"),
    ("horizon-list", replace(SINGLE, "horizon: 10", "horizon: [10]"), "horizon", "valid integer"),
    ("horizon-date", replace(SINGLE, "horizon: 10", "horizon: 2024-01-01"), "horizon", "valid integer"),
    ("lead-time-bool", replace(SINGLE, "lead_time: 1", "lead_time: true"), "lead_time", "non-negative integer"),
    ("max-order-float", replace(SINGLE, "max_order: 20", "max_order: 20.0"), "max_order", "valid integer"),
    ("mean-string", replace(SINGLE, "mean: 5", 'mean: "5"'), "demand.mean", "valid number"),
    ("mean-bool", replace(SINGLE, "mean: 5", "mean: true"), "demand.mean", "valid number"),
    ("cost-string", replace(SINGLE, "shortage_cost: 4", 'shortage_cost: "4"'), "shortage_cost", "valid number"),
    ("lost-sales-int", replace(SINGLE, "lost_sales: true", "lost_sales: 1"), "lost_sales", "valid boolean"),
    ("lost-sales-string", replace(SINGLE, "lost_sales: true", 'lost_sales: "yes"'), "lost_sales", "valid boolean"),
    (
        "overtaking-string",
        replace(SINGLE, "lead_time: 1", 'lead_time: {values: [1, 2], probs: [0.5, 0.5], overtaking: "no"}'),
        "lead_time.overtaking",
        "valid boolean",
    ),
    (
        "lead-values-bool",
        replace(SINGLE, "lead_time: 1", "lead_time: {values: [true, 2], probs: [0.5, 0.5]}"),
        "lead_time.values",
        "valid integer",
    ),
    ("name-int", SINGLE + "name: 123\n", "name", "valid string"),
    # out of bounds: refused before anything is allocated
    ("horizon-huge", replace(SINGLE, "horizon: 10", "horizon: 1000000000"), "horizon", "less than or equal to 100000"),
    ("horizon-negative", replace(SINGLE, "horizon: 10", "horizon: -1"), "horizon", "greater than or equal to 1"),
    ("lead-time-huge", replace(SINGLE, "lead_time: 1", "lead_time: 1000000"), "lead_time", "at most 1000"),
    (
        "lead-values-huge",
        replace(SINGLE, "lead_time: 1", "lead_time: {values: [1, 2000], probs: [0.5, 0.5]}"),
        "lead_time",
        "at most 1000",
    ),
    (
        "lead-values-empty",
        replace(SINGLE, "lead_time: 1", "lead_time: {values: [], probs: []}"),
        "lead_time.values",
        "at least 1 item",
    ),
    (
        "lead-probs-sum",
        replace(SINGLE, "lead_time: 1", "lead_time: {values: [1, 2], probs: [0.5, 0.6]}"),
        "lead_time",
        "sum to 1",
    ),
    ("poisson-1e300", replace(SINGLE, "mean: 5", "mean: 1e300"), "demand.mean", "less than or equal to 1000000"),
    ("poisson-inf", replace(SINGLE, "mean: 5", "mean: .inf"), "demand.mean", "finite number"),
    ("poisson-nan", replace(SINGLE, "mean: 5", "mean: .nan"), "demand.mean", "finite number"),
    ("poisson-zero", replace(SINGLE, "mean: 5", "mean: 0"), "demand.mean", "greater than 0"),
    (
        "negbin-heavy-tail",
        replace(SINGLE, "{dist: poisson, mean: 5}", "{dist: negative_binomial, mean: 1, variance: 1e11}"),
        "demand",
        "units per period",
    ),
    (
        "negbin-underdispersed",
        replace(SINGLE, "{dist: poisson, mean: 5}", "{dist: negative_binomial, mean: 5, variance: 5}"),
        "demand",
        "variance must exceed",
    ),
    (
        "normal-std-huge",
        replace(SINGLE, "{dist: poisson, mean: 5}", "{dist: normal, mean: 5, std: 1e300}"),
        "demand.std",
        "less than or equal",
    ),
    (
        "uniform-high-huge",
        replace(SINGLE, "{dist: poisson, mean: 5}", "{dist: uniform, low: 0, high: 1000000000000}"),
        "demand.high",
        "less than or equal",
    ),
    (
        "deterministic-zero",
        replace(SINGLE, "{dist: poisson, mean: 5}", "{dist: deterministic, value: 0}"),
        "demand.value",
        "greater than 0",
    ),
    (
        "seasonal-six-days",
        replace(SINGLE, "{dist: poisson, mean: 5}", "{dist: seasonal, base_mean: 5, weekly: [1, 1, 1, 1, 1, 1]}"),
        "demand.weekly",
        "at least 7",
    ),
    (
        "seasonal-trend",
        replace(SINGLE, "{dist: poisson, mean: 5}", "{dist: seasonal, base_mean: 5, trend: 5}"),
        "demand.trend",
        "less than or equal to 1",
    ),
    (
        "seasonal-explodes",
        replace(
            replace(
                SINGLE, "{dist: poisson, mean: 5}", "{dist: seasonal, base_mean: 1000, trend: 1, promotion_uplift: 100}"
            ),
            "horizon: 10",
            "horizon: 100000",
        ),
        "demand",
        "the seasonal mean reaches",
    ),
    (
        "seasonal-probability",
        replace(SINGLE, "{dist: poisson, mean: 5}", "{dist: seasonal, base_mean: 5, promotion_probability: 2}"),
        "demand.promotion_probability",
        "less than",
    ),
    ("demand-no-dist", replace(SINGLE, "{dist: poisson, mean: 5}", "{mean: 5}"), "demand", "dist"),
    ("demand-a-string", replace(SINGLE, "{dist: poisson, mean: 5}", "poisson"), "demand", "valid dictionary"),
    ("demand-unknown-dist", replace(SINGLE, "dist: poisson", "dist: gamma"), "demand", "does not match"),
    ("demand-unknown-key", replace(SINGLE, "mean: 5}", "mean: 5, sd: 1}"), "demand.sd", "unknown key"),
    ("max-order-zero", replace(SINGLE, "max_order: 20", "max_order: 0"), "max_order", "greater than or equal to 1"),
    ("max-order-huge", replace(SINGLE, "max_order: 20", "max_order: 100000000"), "max_order", "less than or equal"),
    ("holding-negative", replace(SINGLE, "holding_cost: 1", "holding_cost: -1"), "holding_cost", "greater than"),
    ("holding-1e300", replace(SINGLE, "holding_cost: 1", "holding_cost: 1e300"), "holding_cost", "less than"),
    ("holding-inf", replace(SINGLE, "holding_cost: 1", "holding_cost: .inf"), "holding_cost", "finite number"),
    ("price-negative", SINGLE + "price: -1\n", "price", "greater than or equal to 0"),
    ("initial-negative", SINGLE + "initial_on_hand: -5\n", "initial_on_hand", "greater than or equal to 0"),
    ("max-level-zero", SINGLE + "max_level: 0\n", "max_level", "greater than or equal to 1"),
    ("action-unknown", SINGLE + "action: both\n", "action", "'discrete' or 'continuous'"),
    ("action-meaning-unknown", SINGLE + "action_meaning: up_to\n", "action_meaning", "'level' or 'correction'"),
    ("history-huge", SINGLE + "demand_history: 100000\n", "demand_history", "less than or equal to 1000"),
    ("lookahead-negative", SINGLE + "feature_lookahead: -1\n", "feature_lookahead", "greater than or equal"),
    (
        "backorders-free-stock",
        replace(SINGLE, "lost_sales: true", "lost_sales: false").replace("holding_cost: 1", "holding_cost: 0"),
        "(top level)",
        "must both be positive",
    ),
    ("unknown-key", SINGLE + "colour: red\n", "colour", "unknown key"),
    ("numeric-key", SINGLE + "1: 2\n", ": 1:", "Keys should be strings"),
    # a name is a plain name, never a path (it becomes part of output paths)
    ("name-parent-path", SINGLE + "name: ../../etc/cron.d/x\n", "name", "not a plain name"),
    ("name-absolute", SINGLE + "name: /tmp/elsewhere\n", "name", "not a plain name"),
    ("name-hidden", SINGLE + "name: .hidden\n", "name", "not a plain name"),
    ("name-dash", SINGLE + "name: -rf\n", "name", "not a plain name"),
    ("name-space", SINGLE + "name: my scenario\n", "name", "not a plain name"),
    ("name-empty", SINGLE + 'name: ""\n', "name", "not a plain name"),
    ("name-long", SINGLE + "name: " + "n" * 150 + "\n", "name", "not a plain name"),
    ("name-newline", SINGLE + 'name: "a\\nb"\n', "name", "not a plain name"),
]

NETWORK_CASES: list[tuple[str, str | bytes, str, str]] = [
    ("no-points", "horizon: 10\nstock_points: []\n", "stock_points", "at least 1 item"),
    ("points-mapping", "horizon: 10\nstock_points: {name: a}\n", "stock_points", "valid tuple"),
    ("point-no-name", replace(NETWORK, "name: warehouse, ", ""), "stock_points.0.name", "Field required"),
    ("point-name-path", NETWORK.replace("warehouse", "../warehouse"), "stock_points.0.name", "not a plain name"),
    ("point-name-comma", NETWORK.replace("shop", '"shop,1"'), "stock_points.1.name", "not a plain name"),
    ("point-name-dot-dot", NETWORK.replace("warehouse", ".."), "stock_points.0.name", "not a plain name"),
    ("duplicate-points", NETWORK.replace("shop", "warehouse"), "stock_points", "two stock points are named"),
    (
        "unknown-supplier",
        replace(NETWORK, "supplier: warehouse", "supplier: factory"),
        "stock_points",
        "'factory' is not a stock point",
    ),
    ("self-supplier", replace(NETWORK, "supplier: warehouse", "supplier: shop"), "stock_points", "supply itself"),
    (
        "cycle",
        replace(NETWORK, "{name: warehouse,", "{name: warehouse, supplier: shop,"),
        "stock_points",
        "the suppliers form a cycle",
    ),
    ("chain-too-long", chain(150), "stock_points", "a chain of more than 100"),
    (
        "too-many-points",
        "horizon: 10\nstock_points:\n"
        + "".join(
            f"  - {{name: p{i}, lead_time: 1, holding_cost: 1, max_order: 9, demand: {{dist: poisson, mean: 1}}}}\n"
            for i in range(3000)
        ),
        ".yaml",
        "at most 256 KiB",
    ),
    (
        "idle-point",
        NETWORK + "  - {name: spare, lead_time: 1, holding_cost: 1, max_order: 5}\n",
        "stock_points",
        "has no customers",
    ),
    (
        "shortage-without-demand",
        replace(NETWORK, "max_order: 40}", "max_order: 40, shortage_cost: 5}"),
        "stock_points",
        "need customers",
    ),
    (
        "unfilled-without-supplier",
        replace(NETWORK, "max_order: 40}", "max_order: 40, unfilled_order_cost: 5}"),
        "stock_points",
        "needs a supplier",
    ),
    (
        "backorders-free-stock",
        replace(NETWORK, "holding_cost: 1,", "holding_cost: 0,").replace(
            "shortage_cost: 9", "shortage_cost: 9, lost_sales: false"
        ),
        "stock_points",
        "must both be positive",
    ),
    ("allocation-unknown", NETWORK + "allocation: fair\n", "allocation", "'proportional', 'priority' or 'random'"),
    ("internal-backorders-string", NETWORK + 'internal_backorders: "true"\n', "internal_backorders", "boolean"),
    (
        "priority-float",
        replace(NETWORK, "max_order: 40}", "max_order: 40, priority: 1.5}"),
        "stock_points.0.priority",
        "valid integer",
    ),
    (
        "priority-huge",
        replace(NETWORK, "max_order: 40}", "max_order: 40, priority: 1000000000}"),
        "stock_points.0.priority",
        "less than or equal",
    ),
    (
        "point-lead-negative",
        replace(NETWORK, "lead_time: 2", "lead_time: -1"),
        "stock_points.0.lead_time",
        "non-negative integer",
    ),
    (
        "point-max-order-bool",
        replace(NETWORK, "max_order: 40", "max_order: true"),
        "stock_points.0.max_order",
        "valid integer",
    ),
    ("point-mean-1e300", replace(NETWORK, "mean: 5", "mean: 1e300"), "stock_points.1.demand.mean", "less than"),
    (
        "point-unknown-key",
        replace(NETWORK, "max_order: 40}", "max_order: 40, colour: red}"),
        "stock_points.0.colour",
        "unknown key",
    ),
    ("network-with-demand", NETWORK + "demand: {dist: poisson, mean: 5}\n", "demand", "unknown key"),
    ("network-duplicate-key", NETWORK + "horizon: 20\n", "line 6", "duplicate key 'horizon'"),
    ("network-name-path", NETWORK + "name: ../../x\n", "name", "not a plain name"),
]


def check(path, text: str, named: str, phrase: str) -> None:
    assert "\n" not in text, text
    assert len(text) <= MAX_MESSAGE, text
    assert str(path) in text, text
    assert named in text and phrase in text, text


@pytest.mark.parametrize(
    "content, named, phrase",
    [pytest.param(content, named, phrase, id=f"single-{case}") for case, content, named, phrase in SINGLE_ITEM_CASES]
    + [pytest.param(content, named, phrase, id=f"network-{case}") for case, content, named, phrase in NETWORK_CASES],
)
def test_a_hostile_scenario_is_refused_in_one_line_naming_file_and_key(tmp_path, content, named, phrase):
    path = tmp_path / "scenario.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    started = time.monotonic()
    with pytest.raises(UserError) as caught:
        load_scenario(str(path))
    check(path, str(caught.value), named, phrase)
    assert time.monotonic() - started < 10, "refusing it must not take long"


def test_the_templates_of_the_cases_are_valid_scenarios(tmp_path):
    """So that each case above fails for its own change, not for a mistake in the template."""
    for name, text in (("single", SINGLE), ("network", NETWORK), ("chain", chain(50))):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        assert load_scenario(str(path)).horizon == 10


@pytest.mark.parametrize(
    "override, named, phrase",
    [
        ({"horizon": True}, "horizon", "valid integer"),
        ({"horizon": 10**9}, "horizon", "less than or equal"),
        ({"name": "../x"}, "name", "not a plain name"),
        ({"colour": "red"}, "colour", "unknown key (override)"),
        ({"shortage_cost": float("nan")}, "shortage_cost", "finite number"),
    ],
)
def test_hostile_overrides_are_refused_naming_the_key(tmp_path, override, named, phrase):
    path = tmp_path / "scenario.yaml"
    path.write_text(SINGLE)
    with pytest.raises(UserError) as caught:
        load_scenario(str(path), **override)
    check(path, str(caught.value), named, phrase)


def _fifo(tmp_path):
    return fifo(tmp_path / "fifo.yaml")


def _symlink_to_environ(tmp_path):
    (tmp_path / "environ.yaml").symlink_to("/proc/self/environ")
    return str(tmp_path / "environ.yaml")


def _directory(tmp_path):
    (tmp_path / "dir.yaml").mkdir()
    return str(tmp_path / "dir.yaml")


def _symlink_loop(tmp_path):
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    return str(tmp_path / "loop.yaml")


def _not_a_scenario(tmp_path):
    (tmp_path / "notes").write_text("root:x:0:0:root:/root:/bin/bash\n")
    return str(tmp_path / "notes")


@pytest.mark.parametrize(
    "make, phrase",
    [
        (lambda tmp: "", "not a scenario name or path"),
        (lambda tmp: "a\0b", "not a scenario name or path"),
        (lambda tmp: "x" * 5000, "no such scenario"),
        (lambda tmp: "no_such_scenario", "no such scenario"),
        (lambda tmp: "../../etc/passwd", "scenario not found" if not os.path.exists("../../etc/passwd") else "mapping"),
        (lambda tmp: str(tmp / "missing.yaml"), "scenario not found"),
        (lambda tmp: "/dev/null", "not a regular file"),
        (lambda tmp: "/dev/zero", "not a regular file"),
        (lambda tmp: "/proc/self/environ", "file of the kernel"),
        (_symlink_to_environ, "file of the kernel"),
        (_fifo, "not a regular file"),
        (_directory, "is a directory"),
        (_symlink_loop, "cannot read the scenario"),
        (_not_a_scenario, "must be a YAML mapping"),
    ],
    ids=[
        "empty",
        "nul",
        "long-name",
        "unknown-name",
        "relative-path",
        "missing-file",
        "dev-null",
        "dev-zero",
        "proc-environ",
        "symlink-to-environ",
        "fifo",
        "directory",
        "symlink-loop",
        "not-a-scenario",
    ],
)
def test_what_is_not_a_scenario_file_is_refused_without_reading_it(tmp_path, make, phrase):
    given = make(tmp_path)
    started = time.monotonic()
    with pytest.raises(UserError) as caught:
        load_scenario(given)
    text = str(caught.value)
    assert "\n" not in text and len(text) <= MAX_MESSAGE + 500 and phrase in text, text  # + the list of names
    assert "PATH=" not in text  # the environment is not echoed
    assert time.monotonic() - started < 10  # a FIFO or a device is not read
