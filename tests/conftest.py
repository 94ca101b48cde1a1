"""Shared test helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from envs.layout import ObservationLayout
from envs.scenario import Scenario, load_scenario

BASE = {
    "name": "test",
    "horizon": 10,
    "demand": {"dist": "poisson", "mean": 5},
    "lead_time": 1,
    "lost_sales": True,
    "holding_cost": 1.0,
    "shortage_cost": 4.0,
    "max_order": 20,
}


def make_scenario(**changes: Any) -> Scenario:
    """A small valid scenario with some keys changed."""
    return Scenario.model_validate({**BASE, **changes})


def layout(lead_time: int, **changes: Any) -> ObservationLayout:
    """The observation layout of a small scenario with this lead time (on hand, then the pipeline)."""
    return ObservationLayout(make_scenario(lead_time=lead_time, **changes))


@pytest.fixture
def write_scenario(tmp_path: Path):
    """Write a scenario mapping to a YAML file and return its path."""

    def write(mapping: dict[str, Any], name: str = "bad.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(mapping))
        return path

    return write


__all__ = ["BASE", "layout", "load_scenario", "make_scenario"]


@pytest.fixture(scope="module")
def single_threaded_torch():
    """torch's intra-op threads only slow the small batches of a rollout down (a lot, on a shared machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
