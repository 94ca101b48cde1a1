"""Syntetos-Boylan demand classes: smooth, erratic, intermittent, lumpy.

Syntetos, Boylan & Croston (2005), "On the categorization of demand patterns", J. Oper. Res.
Soc. 56(5): the average inter-demand interval ADI (periods per non-zero demand) and the squared
coefficient of variation CV^2 of the non-zero demand sizes, cut at ADI = 1.32 and CV^2 = 0.49:

=================  ===============  ===============
                   CV^2 < 0.49      CV^2 >= 0.49
=================  ===============  ===============
ADI < 1.32         smooth           erratic
ADI >= 1.32        intermittent     lumpy
=================  ===============  ===============
"""

from __future__ import annotations

import numpy as np

ADI_CUT = 1.32
CV2_CUT = 0.49
CLASSES = ("smooth", "erratic", "intermittent", "lumpy")


def adi_cv2(demand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ADI and CV^2 of each row of ``demand`` (n, T), ignoring NaN (days before a launch).

    ADI is the number of observed periods over the number with demand (inf without any);
    CV^2 is the variance over the squared mean of the non-zero demands (0 with fewer than two).
    """
    demand = np.atleast_2d(np.asarray(demand, dtype=float))
    observed = ~np.isnan(demand)
    positive = np.where(observed, demand, 0.0) > 0
    count = positive.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        adi = np.where(count > 0, observed.sum(axis=1) / np.maximum(count, 1), np.inf)
        sizes = np.where(positive, demand, 0.0)
        mean = sizes.sum(axis=1) / np.maximum(count, 1)
        variance = (np.where(positive, (demand - mean[:, None]) ** 2, 0.0)).sum(axis=1) / np.maximum(count, 1)
        cv2 = np.where(count > 1, variance / np.maximum(mean, 1e-12) ** 2, 0.0)
    return adi, cv2


def classify(demand: np.ndarray) -> np.ndarray:
    """(n,) class names of each row of ``demand`` (n, T), by the cut-offs above."""
    adi, cv2 = adi_cv2(demand)
    index = 2 * (adi >= ADI_CUT) + (cv2 >= CV2_CUT)
    return np.array(CLASSES)[index]
