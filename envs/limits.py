"""What a scenario may hold: strict field types and upper bounds, each with the reason for it.

A config value of the wrong type is refused rather than converted: ``horizon: true`` is not 1,
``lost_sales: 1`` is not true, ``mean: "5"`` is not 5 (an integer is still a valid float). The
bounds are far above any real inventory system and far below what would exhaust memory or time
before failing (a horizon of 1e9 periods, a lead time of 1e6, a Poisson mean of 1e300).
"""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Strict, StrictBool, StrictInt

# Periods per episode: paths are drawn as (episodes x horizon) arrays.
MAX_HORIZON = 100_000
# Episodes evaluated at once (evaluate.py --episodes, a run's eval_episodes): paths are (episodes x horizon)
# arrays, and 100,000 episodes of a year of days already take gigabytes.
MAX_EPISODES = 100_000
# Periods from order to arrival: the pipeline holds one slot per period.
MAX_LEAD_TIME = 1_000
# Units of a period (an order, a stock level, a demand): observations are float32, which holds every
# integer exactly only up to 2**24 (16.7 million).
MAX_UNITS = 10_000_000
# Mean demand per period of a parametric distribution: its pmf has about that many entries.
MAX_MEAN_DEMAND = 1_000_000
# A cost or price per unit (or per order): costs are summed over units and periods in float64.
MAX_COST = 1e9
# Periods a forecast looks ahead: a year of days.
MAX_FORECAST_HORIZON = 366
# Periods of demand history and of features ahead an agent observes.
MAX_OBSERVED_PERIODS = 1_000
# Stock points of a network, and the length of its longest supply chain.
MAX_STOCK_POINTS = 10_000
MAX_CHAIN_LENGTH = 100

# POSIX portable file name characters, not starting with a dot or a dash: a name becomes part of
# file and directory names (runs/NAME_ppo_seed0, policies/base_stock_NAME) and of column names.
PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")

Int = StrictInt
Flag = StrictBool
# a float that is not a bool or a string (an int is fine); finiteness comes from allow_inf_nan=False
Real = Annotated[float, Strict()]


def plain_name(name: str) -> str:
    """``name`` if it is a plain name (not a path); else a ValueError saying what is allowed."""
    if not PLAIN_NAME.fullmatch(name):
        shown = "".join(c if c.isprintable() else "?" for c in name[:60])
        raise ValueError(
            f"'{shown}' is not a plain name: up to 100 letters, digits, '_', '.' and '-', "
            "not starting with '.' or '-' (it names files and directories)"
        )
    return name


PlainName = Annotated[str, AfterValidator(plain_name)]


def calendar_day(value: Any) -> Any:
    """``value`` if it is a day: a date (YAML reads ``2024-01-31`` as one) or an ISO date string; not a
    number (pydantic would take it for seconds since 1970) nor a date with a time of day."""
    if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date | str):
        raise ValueError(f"must be a date YYYY-MM-DD, got {str(value)[:40]!r}")
    return value


Date = Annotated[datetime.date, BeforeValidator(calendar_day)]
