"""The forecast-driven order-up-to policy: each period, up to a quantile of forecast protection-interval demand.

Each period the inventory position is raised to S_t, the critical-fractile quantile of the demand
forecast for the protection interval, the L + 1 periods from now through the arrival of an order
placed now (:mod:`forecasting.order_up_to`: the per-period forecast means and the variances read
off their quantiles are added, and a negative binomial, or Poisson, with those two moments gives
the quantile; Silver, Pyke and Thomas 2017, ch. 6; Adan et al. 1995). With stationary demand and
a perfect forecast this is the newsvendor base-stock level; when the forecast follows a season or
an announced promotion, so does the level. The fractile is p / (p + h) (exact for backorders, the
usual approximation for lost sales, where p is the cost of a lost unit).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.layout import ObservationLayout
from envs.scenario import Scenario
from forecasting.order_up_to import critical_fractile, order_up_to_levels, variance_from_quantiles


class ForecastOrderUpTo:
    """Order up to the critical-fractile quantile of forecast demand over lead time + 1 periods (one item).

    Args:
        scenario: a single item with a ``forecast`` block whose horizon covers lead time + 1 periods
            and whose quantile levels hold a central interval (default 0.1 and 0.9).
        layout: its observation layout (the forecast entries are read from it).
    """

    name = "forecast_order_up_to"

    def __init__(self, scenario: Scenario, layout: ObservationLayout) -> None:
        settings = scenario.forecast
        if settings is None:
            raise ValueError(f"{scenario.name}: the forecast-driven policy needs a forecast block in the scenario")
        periods = scenario.max_lead_time + 1
        names = layout.names
        levels = settings.levels
        low, high = levels[0], levels[-1]
        if abs(low + high - 1) > 1e-9 or low >= 0.5:
            raise ValueError(
                f"{scenario.name}: forecast.levels need a central interval (e.g. 0.1 and 0.9), got {levels}"
            )
        try:
            self.mean_columns = [names.index(f"forecast_mean_ahead_{k}") for k in range(periods)]
            self.quantile_columns = [
                [names.index(f"forecast_q{level:g}_ahead_{k}") for level in (low, high)] for k in range(periods)
            ]
        except ValueError:
            raise ValueError(
                f"{scenario.name}: forecast.horizon must cover the lead time + 1 = {periods} periods"
            ) from None
        self.central = high - low
        self.levels = (low, high)
        self.fractile = critical_fractile(scenario.holding_cost, scenario.shortage_cost)
        self.position = layout.position_columns()
        self._ones = np.ones(self.position.stop - self.position.start, dtype=np.float32)
        self.model = settings.model

    def order_up_to(self, obs: np.ndarray) -> np.ndarray:
        """The level S of each row: the fractile of forecast demand over the protection interval."""
        obs = np.asarray(obs, dtype=np.float64)
        means = np.maximum(obs[:, self.mean_columns], 0.0)
        quantiles = obs[:, self.quantile_columns]  # (n, L + 1, 2): the central interval's ends
        variances = variance_from_quantiles(means, quantiles, self.levels, self.central)
        return order_up_to_levels(means, variances, self.fractile)

    def act(self, obs: np.ndarray) -> np.ndarray:
        position = np.rint(np.asarray(obs, dtype=np.float32)[:, self.position] @ self._ones).astype(np.int64)
        return np.maximum(self.order_up_to(obs) - position, 0)

    def params(self) -> dict[str, Any]:
        return {"forecast": self.model, "fractile": round(self.fractile, 4)}
