"""Drawing from a discrete distribution by inversion, one uniform per draw, with a guide table.

The value for a uniform u in [0, 1) is the smallest x with F(x) > u. A guide table of m
entries, g[k] = the smallest x with F(x) > k / m, starts the search for u at g[floor(u m)],
so that with m as large as the support a draw takes about one comparison, whatever the
distribution (the indexed search of Chen and Asau (1974); Devroye, Non-Uniform Random Variate
Generation (1986), section III.2.4). Exact for the given probabilities; compiled with numba.
"""

from __future__ import annotations

import numba
import numpy as np


class DiscreteInverse:
    """Maps uniforms in [0, 1) to ``values[x]`` with probability ``probs[x]``.

    Args:
        probs: probabilities (non-negative, summing to 1 up to rounding).
        values: the value of each outcome (default: 0, 1, 2, ...).
    """

    def __init__(self, probs: np.ndarray, values: np.ndarray | None = None) -> None:
        cdf = np.cumsum(np.asarray(probs, dtype=np.float64))
        cdf[-1] = np.inf  # every uniform below 1 lands in the table
        self.cdf = cdf
        self.guide = np.searchsorted(cdf, np.arange(len(cdf)) / len(cdf), side="right").astype(np.int64)
        self.values = np.arange(len(cdf), dtype=np.int64) if values is None else np.asarray(values, dtype=np.int64)

    def __call__(self, uniforms: np.ndarray) -> np.ndarray:
        """The values for an array of uniforms (int64, same shape)."""
        uniforms = np.ascontiguousarray(uniforms, dtype=np.float64)
        out = np.empty(uniforms.shape, dtype=np.int64)
        self.transposed_into(uniforms.reshape(1, -1), out.reshape(-1, 1))
        return out

    def transposed_into(self, uniforms: np.ndarray, out: np.ndarray) -> None:
        """``out[t, i]`` = the value for ``uniforms[i, t]``: rows of draws (one per episode) into a
        time-major array, without an intermediate copy. Both may be strided views."""
        _invert(self.cdf, self.guide, self.values, uniforms, out)


@numba.njit(cache=True)
def _invert(cdf, guide, values, uniforms, out):
    m = guide.shape[0]
    for i in range(uniforms.shape[0]):
        for t in range(uniforms.shape[1]):
            u = uniforms[i, t]
            x = guide[int(u * m)]
            while cdf[x] <= u:
                x += 1
            out[t, i] = values[x]
