"""Per-SKU classic policies for an assortment and the Lagrangian price on its shared capacity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from agents.classic.assortment import (
    ForecastReorderLevels,
    SkuReorderLevels,
    capacity_use,
    priced_choice,
    tune_assortment,
)
from envs.batch import evaluation_paths, run_batch
from envs.layout import ObservationLayout
from envs.scenario import NetworkScenario


def shop(limit: float, demand_history: int = 0, overflow: float = 5.0) -> NetworkScenario:
    """Three SKUs sharing a warehouse; holding is cheap and lost sales dear, so alone each would stock a lot."""
    item = {"holding_cost": 0.05, "shortage_cost": 4.0, "fixed_order_cost": 2.0, "max_order": 60}
    return NetworkScenario.model_validate(
        {
            "name": "shop",
            "horizon": 60,
            "demand_history": demand_history,
            "stock_points": [
                {"name": "a", "lead_time": 1, "volume": 1.0, "demand": {"dist": "poisson", "mean": 4}, **item},
                {"name": "b", "lead_time": 2, "volume": 2.0, "demand": {"dist": "poisson", "mean": 3}, **item},
                {"name": "c", "lead_time": 3, "volume": 1.0, "demand": {"dist": "poisson", "mean": 6}, **item},
            ],
            "capacities": [
                {"name": "warehouse", "kind": "storage", "limit": limit, "weight": "volume", "overflow_cost": overflow}
            ],
        }
    )


def test_the_priced_choice_by_hand():
    cost = np.array([[1.0, 5.0], [2.0, 3.0], [4.0, 1.0]])  # 3 candidates x 2 SKUs
    on_hand = np.array([[0.0, 0.0], [5.0, 1.0], [10.0, 3.0]])
    volume = np.array([1.0, 2.0])
    assert priced_choice(cost, on_hand, volume, 0.0).tolist() == [0, 2]
    # lambda 0.5: SKU 0: 1, 4.5, 9 -> 0; SKU 1 (volume 2): 5, 4, 4 -> the first of the tie, 1
    assert priced_choice(cost, on_hand, volume, 0.5).tolist() == [0, 1]
    assert priced_choice(cost, on_hand, volume, 10.0).tolist() == [0, 0]


def test_reorder_levels_per_sku_by_hand():
    scenario = shop(100.0)
    layout = ObservationLayout(scenario)
    policy = SkuReorderLevels(np.array([5, 9, 2]), np.array([10, 12, 8]), layout, "s_S")
    obs = np.zeros((1, layout.dim), dtype=np.float32)
    obs[0, layout.names.index("a.on_hand")] = 3
    obs[0, layout.names.index("a.arriving_in_0")] = 2  # a: position 5 <= 5: up to 10
    obs[0, layout.names.index("b.on_hand")] = 10  # b: 10 > 9: nothing
    obs[0, layout.names.index("c.arriving_in_2")] = 1  # c: 1 <= 2: up to 8
    assert policy.act(obs).tolist() == [[5, 0, 7]]


def test_the_forecast_driven_levels_by_hand():
    scenario = shop(100.0, demand_history=4)
    layout = ObservationLayout(scenario)
    lam = 0.1
    policy = ForecastReorderLevels(scenario, layout, lam)
    obs = np.zeros((1, layout.dim), dtype=np.float32)
    for k, demand in enumerate((2, 6, 4, 4), start=1):
        obs[0, layout.names.index(f"b.demand_lag_{k}")] = demand
    reorder, order_up_to = policy.levels(obs)
    # b: mean 4, sample variance 8/3 floored at the mean (4); lead time 2: protection interval 3 days
    mean, variance = 12.0, 12.0
    fractile = 4.0 / (4.0 + 0.05 + lam * 2.0)
    expected = np.ceil(special.gammaincinv(mean**2 / variance, fractile) * variance / mean - 1e-9)
    assert reorder[0, 1] == expected
    # the lot: EOQ sqrt(2 K mu / (h + 2 lambda v)) = sqrt(2 * 2 * 4 / 0.45) = 5.96 -> 6
    assert order_up_to[0, 1] - reorder[0, 1] == 6
    assert reorder[0, 0] == 0 and order_up_to[0, 0] == 1  # a saw no demand: level 0, a lot of at least 1


@pytest.mark.parametrize("rule", ["base_stock", "s_S", "forecast_order_up_to"])
def test_a_price_on_capacity_pays_when_the_limit_binds(rule):
    scenario = shop(40.0, demand_history=7)
    tuning, judging = evaluation_paths(scenario, 48, 1), evaluation_paths(scenario, 200, 2)
    alone = tune_assortment(f"sku_{rule}", scenario, tuning, warmup=10, candidates=24)
    priced = tune_assortment(f"lagrangian_{rule}", scenario, tuning, warmup=10, candidates=24, prices=8, refine=4)
    assert alone.details["lambda"] == 0.0 and priced.details["lambda"] > 0
    assert priced.expected_cost < alone.expected_cost  # on the tuning paths; lambda = 0 was among the candidates
    # and on other paths, with fewer units turned away at the warehouse
    cost_alone = run_batch(alone.policy, scenario, judging, warmup=10).avg_cost.mean()
    cost_priced = run_batch(priced.policy, scenario, judging, warmup=10).avg_cost.mean()
    assert cost_priced < cost_alone
    use_alone, use_priced = (capacity_use(t.policy, scenario, judging, 10) for t in (alone, priced))
    assert use_priced["rejected"] < use_alone["rejected"] and use_priced["stored"] <= 1.0 + 1e-9
    assert use_priced["sku_cost"].shape == (3,) and np.all(use_priced["sku_fill_rate"] <= 1)


def test_without_a_binding_limit_the_price_stays_zero():
    scenario = shop(10_000.0)
    tuning = evaluation_paths(scenario, 32, 1)
    priced = tune_assortment("lagrangian_base_stock", scenario, tuning, warmup=10, candidates=24, prices=6, refine=2)
    alone = tune_assortment("sku_base_stock", scenario, tuning, warmup=10, candidates=24)
    assert priced.expected_cost == pytest.approx(alone.expected_cost, rel=1e-12)


def test_evaluate_compares_the_assortment_policies_per_sku(tmp_path):
    import json

    import yaml

    import evaluate

    (tmp_path / "items.csv").write_text(
        "sku,lead_time,unit_cost,holding_cost,shortage_cost,fixed_order_cost,max_order,volume,demand_mean\n"
        "a,1,0,0.05,4,2,60,1,4\nb,2,0,0.05,4,2,60,2,3\nc,3,0,0.05,4,2,60,1,6\n"
    )
    capacity = {"name": "warehouse", "kind": "storage", "limit": 40, "weight": "volume", "overflow_cost": 5}
    (tmp_path / "shop.yaml").write_text(
        yaml.safe_dump({"horizon": 40, "assortment": {"items": "items.csv"}, "capacities": [capacity]})
    )
    out = tmp_path / "results"
    evaluate.main(["--scenario", str(tmp_path / "shop.yaml"), "--policy", "sku_base_stock", "--policy",
                   "lagrangian_base_stock", "--episodes", "30", "--tuning-episodes", "16", "--warmup", "5",
                   "--out", str(out)])  # fmt: skip
    records = json.loads((out / "results.json").read_text())
    assert [r["policy"] for r in records] == ["sku_base_stock", "lagrangian_base_stock"]
    assert records[1]["params"]["lambda"] > 0 and records[1]["avg_cost"] < records[0]["avg_cost"]
    assert set(records[1]["stock_points"]) == {"a", "b", "c"}
    assert "| lagrangian_base_stock | b |" in (out / "results.md").read_text()
