"""A small LSTM over all SKUs: the last weeks of demand in, mean and quantiles of the next h days out.

The encoder reads the last ``window`` days of each series: demand divided by the series' mean
(:func:`~forecasting.features.series_scale`), whether the item was on sale yet, every signal
(relative to the series' mean, :mod:`forecasting.features`) and the calendar. Its last hidden state,
with the known signals and the calendar of the h target days, goes through a small MLP to h means
and h x Q quantiles (of scaled demand). Training minimises the squared error of the means plus the
pinball loss of the quantiles (a multi-horizon quantile network in the spirit of Wen et al. 2017,
"A Multi-Horizon Quantile Recurrent Forecaster", NeurIPS Time Series Workshop) on windows drawn
at random from every series' history, with Adam. CPU-friendly: hidden size 32, one thread, seeded.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from forecasting.base import LEVELS, Forecast, Forecaster, check_levels, tidy
from forecasting.data import Panel
from forecasting.features import calendar, relative_signals, series_scale, signal_means

BATCH = 512


class LSTMForecaster(Forecaster):
    """A global LSTM quantile forecaster.

    Args:
        horizon: h, the longest horizon it will be asked for.
        levels: the quantile levels it learns.
        window: days of history the encoder reads.
        hidden: LSTM hidden size.
        epochs: passes over ``samples_per_epoch`` random windows.
        samples_per_epoch: training windows per epoch.
        seed: seed of the initial weights and of the window draws.
    """

    def __init__(
        self,
        horizon: int = 14,
        levels: Sequence[float] = LEVELS,
        window: int = 56,
        hidden: int = 32,
        epochs: int = 6,
        samples_per_epoch: int = 40_000,
        learning_rate: float = 3e-3,
        seed: int = 0,
    ) -> None:
        self.name = "lstm"
        self.pooled = True
        self.horizon = horizon
        self.levels = check_levels(levels)
        self.window = window
        self.hidden = hidden
        self.epochs = epochs
        self.samples_per_epoch = samples_per_epoch
        self.learning_rate = learning_rate
        self.seed = seed
        self.min_history = 28

    saveable = True

    def _inputs(self, panel: Panel, origins: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Encoder (k, window, E) and decoder (k, h * D) inputs for (row, origin) pairs."""
        periods = int(origins.max()) + self.horizon
        signals = panel.signals[:, :periods]
        if signals.shape[1] < periods:
            signals = np.concatenate([signals, np.repeat(signals[:, -1:], periods - signals.shape[1], axis=1)], axis=1)
        relative = np.nan_to_num(relative_signals(signals, self._signal_means), nan=0.0)
        relative = np.clip(relative, -10, 10)
        days, _ = calendar(panel.dates(periods))
        past = origins[:, None] - self.window + np.arange(self.window)[None, :]  # (k, window)
        valid = past >= 0
        index = np.maximum(past, 0)
        demand = panel.demand[rows[:, None], np.minimum(index, panel.periods - 1)]
        observed = valid & ~np.isnan(demand) & (past < panel.periods)
        scaled = np.where(observed, demand, 0.0) / self._scale[rows, None]
        encoder = np.concatenate(
            [
                np.clip(scaled, 0, 50)[..., None],
                observed[..., None].astype(float),
                np.where(observed[..., None], relative[rows[:, None], index], 0.0),
                days[index],
            ],
            axis=-1,
        )
        future = origins[:, None] + np.arange(self.horizon)[None, :]
        known = relative[rows[:, None], future][..., self._known]
        decoder = np.concatenate([known, days[future]], axis=-1).reshape(len(origins), -1)
        return encoder.astype(np.float32), decoder.astype(np.float32)

    def _network(self, encoder_size: int, decoder_size: int):
        import torch
        from torch import nn

        outputs = self.horizon * (1 + len(self.levels))
        horizon = self.horizon

        class Network(nn.Module):
            def __init__(self, hidden: int) -> None:
                super().__init__()
                self.encoder = nn.LSTM(encoder_size, hidden, batch_first=True)
                self.head = nn.Sequential(nn.Linear(hidden + decoder_size, 64), nn.ReLU(), nn.Linear(64, outputs))

            def forward(self, encoder: torch.Tensor, decoder: torch.Tensor) -> torch.Tensor:
                _, (state, _) = self.encoder(encoder)
                return self.head(torch.cat([state[-1], decoder], dim=1)).view(len(encoder), horizon, -1)

        return Network(self.hidden)

    def fit(self, panel: Panel) -> LSTMForecaster:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            torch.manual_seed(self.seed)
            rng = np.random.default_rng(self.seed)
            self._scale = series_scale(panel)
            self._signal_means = signal_means(panel)
            self._known = panel.known_mask
            first = panel.first_day() + 7
            latest = panel.periods - self.horizon
            rows = np.flatnonzero(first <= latest)
            if not len(rows):
                raise ValueError("no series has enough history to train the LSTM")
            probe_encoder, probe_decoder = self._inputs(panel, np.array([latest]), rows[:1])
            self._sizes = (probe_encoder.shape[-1], probe_decoder.shape[-1])
            self._net = self._network(*self._sizes)
            optimizer = torch.optim.Adam(self._net.parameters(), lr=self.learning_rate)
            levels = torch.tensor(self.levels, dtype=torch.float32)
            for _ in range(self.epochs):
                row = rng.choice(rows, size=self.samples_per_epoch)
                origin = rng.integers(first[row], latest + 1)
                encoder, decoder = self._inputs(panel, origin, row)
                target_days = origin[:, None] + np.arange(self.horizon)[None, :]
                target = panel.demand[row[:, None], target_days] / self._scale[row, None]
                target = torch.tensor(np.clip(np.nan_to_num(target), 0, 50), dtype=torch.float32)
                encoder_t, decoder_t = torch.from_numpy(encoder), torch.from_numpy(decoder)
                for batch in range(0, self.samples_per_epoch, BATCH):
                    part = slice(batch, batch + BATCH)
                    output = self._net(encoder_t[part], decoder_t[part])
                    error = target[part][..., None] - output[..., 1:]
                    pinball = torch.maximum(levels * error, (levels - 1) * error).mean()
                    loss = ((output[..., 0] - target[part]) ** 2).mean() + 2 * pinball
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        finally:
            torch.set_num_threads(threads)
        return self

    def state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        import torch

        buffer = io.BytesIO()
        torch.save(self._net.state_dict(), buffer)
        settings = {
            "scale": self._scale.tolist(),
            "signal_means": self._signal_means.tolist(),
            "known": self._known.tolist(),
            "sizes": list(self._sizes),
        }
        return settings, {"network.pt": buffer.getvalue()}

    def restore(self, settings: dict[str, Any], files: dict[str, bytes]) -> None:
        import torch

        self._scale = np.array(settings["scale"], dtype=float)
        self._signal_means = np.array(settings["signal_means"], dtype=float)
        self._known = np.array(settings["known"], dtype=bool)
        self._sizes = tuple(settings["sizes"])
        self._net = self._network(*self._sizes)
        # weights_only: tensors only, no code runs while loading
        self._net.load_state_dict(torch.load(io.BytesIO(files["network.pt"]), weights_only=True))

    def predict(self, panel: Panel, horizon: int, levels: Sequence[float] = LEVELS) -> Forecast:
        return self._predict_at_end(panel, horizon, levels)

    def predict_origins(
        self, panel: Panel, origins: Sequence[int], horizon: int, levels: Sequence[float] = LEVELS
    ) -> Forecast:
        import torch

        levels = check_levels(levels)
        if horizon > self.horizon or set(levels) - set(self.levels):
            raise ValueError(f"lstm was fitted for horizons up to {self.horizon} and levels {self.levels}")
        origins_array = np.asarray(origins, dtype=int)
        # the panel may run past an origin: the encoder window of origin t ends at t - 1
        rows = np.repeat(np.arange(panel.n), len(origins_array))
        origin = np.tile(origins_array, panel.n)
        pick = [self.levels.index(level) for level in levels]
        outputs = []
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                for batch in range(0, len(rows), 8 * BATCH):
                    part = slice(batch, batch + 8 * BATCH)
                    encoder, decoder = self._inputs(panel, origin[part], rows[part])
                    outputs.append(self._net(torch.from_numpy(encoder), torch.from_numpy(decoder)).numpy())
        finally:
            torch.set_num_threads(threads)
        output = np.concatenate(outputs).reshape(panel.n, len(origins_array), self.horizon, -1)[:, :, :horizon]
        scale = self._scale[:, None, None]
        return tidy(output[..., 0] * scale, output[..., 1:][..., pick] * scale[..., None], levels)
