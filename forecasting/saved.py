"""A fitted forecaster on disk: fit once, forecast later from newer demand without refitting.

The directory holds ``forecaster.json`` (the model, its horizon and levels, the SKUs and signals
it was fitted on, its settings) and the model's data files in formats that load without running
code (LightGBM text models, torch tensors read with ``weights_only``). statsforecast models only
pickle, so they are not saved: ``forecast.py predict --model NAME`` fits and forecasts in one step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envs.errors import UserError
from envs.files import Content, write_directory
from forecasting.base import Forecaster
from forecasting.data import Panel

FORMAT = 1
MANIFEST = "forecaster.json"


def save_forecaster(forecaster: Forecaster, panel: Panel, out: str | Path, seed: int) -> Path:
    """Write the fitted ``forecaster`` (fitted on ``panel``) as the directory ``out``, atomically."""
    settings, data = forecaster.state()
    manifest = {
        "format": FORMAT,
        "model": forecaster.name,
        "horizon": getattr(forecaster, "horizon", None),
        "levels": list(getattr(forecaster, "levels", ())),
        "seed": seed,
        "skus": list(panel.skus),
        "signal_names": list(panel.signal_names),
        "known": list(panel.known),
        "fitted_from": str(panel.start.date()),
        "fitted_periods": panel.periods,
        "settings": settings,
        "files": sorted(data),
    }
    files: dict[str, Content] = {MANIFEST: json.dumps(manifest, indent=1), **data}
    return write_directory(out, files, replaceable=replaceable)


def replaceable(directory: Path) -> bool:
    """Whether a saved model may be written over ``directory``: it is empty or holds an earlier saved model."""
    return not any(directory.iterdir()) or (directory / MANIFEST).is_file()


def load_forecaster(directory: str | Path, panel: Panel) -> Forecaster:
    """The forecaster saved in ``directory``, ready to forecast ``panel`` (the same SKUs and signals).

    Raises:
        UserError: not a saved forecaster, or ``panel`` has other SKUs or signals than it was fitted on.
    """
    from forecasting import make_forecaster

    directory = Path(directory)
    try:
        manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        raise UserError(f"--model-dir {directory}: not a directory written by forecast.py fit") from None
    if manifest.get("format") != FORMAT:
        raise UserError(f"--model-dir {directory}: {MANIFEST} format {manifest.get('format')}, expected {FORMAT}")
    if list(panel.skus) != manifest["skus"]:
        extra = sorted(set(panel.skus) - set(manifest["skus"]))
        missing = sorted(set(manifest["skus"]) - set(panel.skus))
        raise UserError(
            f"--history: its SKUs differ from those the model was fitted on ({len(extra)} new, e.g. "
            f"{extra[:1]}; {len(missing)} missing, e.g. {missing[:1]}); fit again"
        )
    if list(panel.signal_names) != manifest["signal_names"] or list(panel.known) != manifest["known"]:
        raise UserError(
            f"--history: signals {list(panel.signal_names)} (known {list(panel.known)}) differ from the fitted "
            f"{manifest['signal_names']} (known {manifest['known']})"
        )
    forecaster = make_forecaster(manifest["model"], manifest["horizon"] or 1, seed=manifest["seed"])
    files = {}
    for name in manifest["files"]:
        if Path(name).name != name:
            raise UserError(f"--model-dir {directory}: {MANIFEST} names a file outside the directory: {name}")
        try:
            files[name] = (directory / name).read_bytes()
        except OSError:
            raise UserError(f"--model-dir {directory}: {name} is missing") from None
    forecaster.restore(manifest["settings"], files)
    return forecaster
