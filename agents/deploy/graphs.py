"""Classic rules and the DP's order table as ONNX graphs, built node by node with ``onnx.helper``.

A classic policy becomes the inventory position followed by its rule, with the fitted
parameters as constants; the DP optimum becomes a dense lookup table over its state
coordinates. Each graph reads ``obs`` float32 [N, obs_dim] and writes ``order`` int64 [N],
clipped to 0..max_order, and is checked by ``onnx.checker``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper
from scipy import stats

from agents.classic import BaseStock, CappedBaseStock, ReorderPointQuantity, SSPolicy
from agents.classic.echelon import NetworkBaseStock
from agents.classic.forecast_policy import ForecastOrderUpTo
from agents.exact import OptimalPolicy
from envs.errors import UserError
from envs.layout import ObservationLayout

OPSET = 17
IR_VERSION = 8  # the IR version of opset 17, which onnxruntime has read since 1.13
# Largest dense DP table exported (entries); the grid's L = 4 instances need about 2.1 million.
MAX_TABLE_ENTRIES = 20_000_000


class _GraphBuilder:
    """The nodes and constants of one ONNX graph reading ``obs``; intermediate names are generated."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def constant(self, value: Any, dtype: type = np.int64) -> str:
        name = f"const_{len(self.initializers)}"
        self.initializers.append(onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        name = f"{op_type.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], **attributes))
        return name

    def columns(self, start: int, stop: int) -> str:
        """``obs[:, start:stop]``."""
        return self.op("Slice", "obs", self.constant([start]), self.constant([stop]), self.constant([1]))

    def row_sum(self, tensor: str) -> str:
        return self.op("ReduceSum", tensor, self.constant([1]), keepdims=0)

    def model(self, raw_order: str, obs_dim: int, max_order: Any, doc: str) -> onnx.ModelProto:
        """The checked model whose output ``order`` is ``raw_order`` clipped to 0..max_order: [n] for one
        stock point (a scalar max_order), [n, J] for a network (one max_order per point)."""
        per_point = np.ndim(max_order) > 0
        if per_point:  # Clip takes scalar bounds: a network's orders go through Max and Min instead
            floored = self.op("Max", raw_order, self.constant(0))
            self.nodes.append(helper.make_node("Min", [floored, self.constant(max_order)], ["order"]))
        else:
            self.nodes.append(
                helper.make_node("Clip", [raw_order, self.constant(0), self.constant(max_order)], ["order"])
            )
        shape: list[str | int] = ["n", len(max_order)] if per_point else ["n"]
        graph = helper.make_graph(
            self.nodes,
            "policy",
            [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["n", obs_dim])],
            [helper.make_tensor_value_info("order", TensorProto.INT64, shape)],
            self.initializers,
            doc_string=doc,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="inventory-rl")
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model, full_check=True)
        return model


def _position(g: _GraphBuilder, columns: slice) -> str:
    """The rounded inventory position, as the classic policies compute it: rint(on hand + pipeline)."""
    return g.op("Cast", g.op("Round", g.row_sum(g.columns(columns.start, columns.stop))), to=TensorProto.INT64)


def forecast_graph(
    policy: ForecastOrderUpTo, obs_dim: int, max_order: int, support: int
) -> tuple[onnx.ModelProto, str]:
    """The forecast-driven order-up-to policy as an ONNX graph (in float64), and its rule in words.

    As :meth:`ForecastOrderUpTo.order_up_to`: the protection interval's mean mu (the forecast means
    added) and variance (each period's from its central interval, floored at its mean); the level
    is the smallest k with P(D <= k) >= fractile, D negative binomial (variance > mean) or Poisson,
    0 when no demand is expected. The quantile is found by adding up the pmf over k = 0 .. support - 1,
    in logs: log P(D = k) = k log(1 - p) + r log p + sum_{m < k} log(r + m) - log k! (negative
    binomial, r = mu^2 / (var - mu), p = mu / var) or k log mu - mu - log k! (Poisson); a level
    beyond the support is cut to support - 1 (export checks none is met on the policy's rollouts).
    """
    g = _GraphBuilder()
    double = TensorProto.DOUBLE
    obs = g.op("Cast", "obs", to=double)
    zero, one = g.constant(0.0, np.float64), g.constant(1.0, np.float64)
    means = g.op("Max", g.op("Gather", obs, g.constant(policy.mean_columns), axis=1), zero)
    ends = [g.op("Gather", obs, g.constant([c[i] for c in policy.quantile_columns]), axis=1) for i in (0, 1)]
    z = float(stats.norm.ppf(policy.levels[1]) - stats.norm.ppf(policy.levels[0]))
    sigma = g.op("Div", g.op("Sub", ends[1], ends[0]), g.constant(z, np.float64))
    variances = g.op("Max", g.op("Mul", sigma, sigma), means)
    mu = g.op("ReduceSum", means, g.constant([1]), keepdims=1)  # (n, 1)
    var = g.op("ReduceSum", variances, g.constant([1]), keepdims=1)
    k = np.arange(support, dtype=np.float64)
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, support)))])
    safe_mu = g.op("Max", mu, g.constant(1e-300, np.float64))
    # Poisson: k log mu - mu - log k!
    poisson = g.op("Sub", g.op("Sub", g.op("Mul", g.constant(k, np.float64), g.op("Log", safe_mu)), mu),
                   g.constant(log_factorial, np.float64))  # fmt: skip
    # negative binomial where var > mu: r = mu^2 / (var - mu), p = mu / var
    over = g.op("And", g.op("Greater", var, g.op("Mul", mu, g.constant(1 + 1e-9, np.float64))),
                g.op("Greater", mu, zero))  # fmt: skip
    excess = g.op("Where", over, g.op("Sub", var, mu), one)
    r = g.op("Div", g.op("Mul", mu, mu), excess)
    prob = g.op(
        "Where", over, g.op("Div", mu, g.op("Max", var, g.constant(1e-300, np.float64))), g.constant(0.5, np.float64)
    )
    rising = g.op("CumSum", g.op("Log", g.op("Add", r, g.constant(k[:-1], np.float64))), g.constant(1))
    rising = g.op("Concat", g.op("Mul", r, zero), rising, axis=1)  # sum_{m < k} log(r + m), 0 at k = 0
    negative_binomial = g.op(
        "Sub",
        g.op("Add", g.op("Add", g.op("Mul", g.constant(k, np.float64), g.op("Log", g.op("Sub", one, prob))),
                         g.op("Mul", r, g.op("Log", prob))), rising),
        g.constant(log_factorial, np.float64),
    )  # fmt: skip
    cdf = g.op("CumSum", g.op("Exp", g.op("Where", over, negative_binomial, poisson)), g.constant(1))
    below = g.op("Cast", g.op("Less", cdf, g.constant(policy.fractile, np.float64)), to=TensorProto.INT64)
    level = g.op("Min", g.row_sum(below), g.constant(support - 1))
    level = g.op("Where", g.op("Greater", g.op("Squeeze", mu, g.constant([1])), zero), level, g.constant(0))
    position = _position(g, policy.position)
    order = g.op("Max", g.op("Sub", level, position), g.constant(0))
    mapping = (
        f"level = the {policy.fractile:.4g} quantile of a negative binomial (or Poisson) with the forecast mean and "
        f"variance over the protection interval ({policy.model} forecasts, variance from the central "
        f"{policy.central:.0%} interval, support 0..{support - 1}); order = max(level - position, 0); "
        f"clipped to 0..{max_order}"
    )
    return g.model(order, obs_dim, max_order, mapping), mapping


def classic_graph(policy: Any, obs_dim: int, max_order: int) -> tuple[onnx.ModelProto, str]:
    """A classic policy as an ONNX graph, and its rule in words.

    Args:
        policy: a :class:`BaseStock`, :class:`CappedBaseStock`, :class:`SSPolicy` or
            :class:`ReorderPointQuantity` with scalar parameters.
        obs_dim: columns of the observation.
        max_order: the order capacity the output is clipped to.

    Returns:
        the model and the rule in words.
    """
    g = _GraphBuilder()
    position = _position(g, policy.columns)
    zero = g.constant(0)
    if isinstance(policy, (BaseStock, CappedBaseStock)):
        order = g.op("Max", g.op("Sub", g.constant(policy.S), position), zero)
        rule = f"max(S - position, 0) with S = {policy.S}"
        if isinstance(policy, CappedBaseStock):
            order = g.op("Min", order, g.constant(policy.cap))
            rule = f"min(max(S - position, 0), cap) with S = {policy.S}, cap = {policy.cap}"
    elif isinstance(policy, SSPolicy):
        reorder = g.op("LessOrEqual", position, g.constant(policy.s))
        order = g.op("Where", reorder, g.op("Sub", g.constant(policy.S), position), zero)
        rule = f"S - position if position <= s, else 0, with s = {policy.s}, S = {policy.S}"
    elif isinstance(policy, ReorderPointQuantity):
        reorder = g.op("LessOrEqual", position, g.constant(policy.r))
        # (r - position) // Q + 1 batches; integer Div truncates, which is the floor where position <= r
        shortfall = g.op("Sub", g.constant(policy.r), position)
        batches = g.op("Add", g.op("Div", shortfall, g.constant(policy.Q)), g.constant(1))
        order = g.op("Where", reorder, g.op("Mul", batches, g.constant(policy.Q)), zero)
        rule = (
            f"the smallest multiple of Q lifting the position above r if position <= r, else 0, "
            f"with r = {policy.r}, Q = {policy.Q}"
        )
    else:
        raise TypeError(f"no ONNX rule for {type(policy).__name__}")
    mapping = f"position = round(on hand + pipeline); order = {rule}; clipped to 0..{max_order}"
    return g.model(order, obs_dim, max_order, mapping), mapping


def network_graph(policy: NetworkBaseStock, layout: ObservationLayout) -> tuple[onnx.ModelProto, str]:
    """Echelon or installation base-stock levels of a network as an ONNX graph, and the rule in words:
    positions = round(obs @ M) (M sums each point's position entries), order = max(S - position, 0)."""
    g = _GraphBuilder()
    positions = g.op(
        "Cast", g.op("Round", g.op("MatMul", "obs", g.constant(policy.matrix, np.float32))), to=TensorProto.INT64
    )
    order = g.op("Sub", g.constant(policy.levels.reshape(-1)), positions)
    levels = ", ".join(f"{p}={v}" for p, v in policy.params().items())
    mapping = (
        f"position = round({policy.kind} inventory position of each stock point); order = max(S - position, 0) "
        f"with S: {levels}; clipped to 0..max_order ({', '.join(map(str, layout.system.max_order.tolist()))})"
    )
    return g.model(order, layout.dim, layout.system.max_order, mapping), mapping


def table_graph(policy: OptimalPolicy, obs_dim: int) -> tuple[onnx.ModelProto, str]:
    """The DP's order table as a dense lookup table, reproducing :meth:`OptimalPolicy.act` exactly.

    The state coordinates are integer combinations of the rounded on-hand and pipeline columns:
    lost sales ``(on hand + a_0, a_1, ..., a_{L-1})`` (negative entries count as 0; ``L = 0``:
    the on hand), backorders the inventory position. Each coordinate is clipped to
    ``low .. hi + 1``, where ``hi + 1`` stands for every value above the table (ordering 0,
    as ``act`` does); the table is ``act`` on one canonical observation per grid point, so
    its out-of-table rules carry over. Under backorders a position below ``lo`` orders what
    ``lo`` orders plus the difference, capped at ``max_order``, as in ``act``.
    """
    result = policy.result
    L, (lo, hi) = result.lead_time, result.bounds
    if result.lost_sales:
        width, low = max(L, 1), 0
        combine = np.zeros((1 + L, width), dtype=np.float32)
        combine[0, 0] = 1.0
        if L:
            combine[1, 0] = 1.0  # the arrival due this period adds to the on hand
            combine[2:, 1:] = np.eye(L - 1)  # a_1 .. a_{L-1} are coordinates of their own
    else:
        width, low = 1, lo
        combine = np.ones((1 + L, 1), dtype=np.float32)
    side = hi + 2 - low
    if side**width > MAX_TABLE_ENTRIES:
        raise UserError(
            f"optimal: a dense table of {side}^{width} = {side**width:,} entries is too large to export "
            f"(limit {MAX_TABLE_ENTRIES:,})"
        )
    grid = low + np.indices((side,) * width).reshape(width, -1).T
    canonical = np.zeros((len(grid), obs_dim), dtype=np.float32)
    canonical[:, policy.columns.start + combine.argmax(axis=0)] = grid  # each coordinate in the first column feeding it
    table = policy.act(canonical)
    dtype = next(t for t in (np.int8, np.int16, np.int32) if table.max() <= np.iinfo(t).max)

    g = _GraphBuilder()
    columns = g.op("Round", g.columns(policy.columns.start, policy.columns.stop))
    if result.lost_sales:
        columns = g.op("Max", columns, g.constant(0.0, np.float32))
    coordinates = g.op("Cast", g.op("MatMul", columns, g.constant(combine, np.float32)), to=TensorProto.INT64)
    clipped = g.op("Clip", coordinates, g.constant(low), g.constant(hi + 1))
    strides = side ** np.arange(width - 1, -1, -1)
    index = g.row_sum(g.op("Mul", g.op("Sub", clipped, g.constant(low)), g.constant(strides)))
    order = g.op("Cast", g.op("Gather", g.constant(table, dtype), index, axis=0), to=TensorProto.INT64)
    if not result.lost_sales:
        below = g.op("Max", g.op("Sub", g.constant(low), g.row_sum(coordinates)), g.constant(0))
        order = g.op("Add", order, below)
    state = "(on hand + a_0, a_1, ...)" if result.lost_sales else "inventory position"
    mapping = (
        f"dense lookup table ({side}^{width} {np.dtype(dtype).name}) of the DP's optimal orders over the "
        f"rounded state {state}, each coordinate clipped to {low}..{hi + 1}; clipped to 0..{result.max_order}"
    )
    return g.model(order, obs_dim, result.max_order, mapping), mapping
