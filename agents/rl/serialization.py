"""What a run keeps of a model, written and read without running code from the files.

A model file from elsewhere (a colleague's run directory, a download) must not be able to run
code when it is loaded. Three files of a run could:

- ``model.zip``: stable-baselines3 pickles (cloudpickle) some entries of its ``data`` (the
  policy class, the spaces, schedules, buffers). :func:`load_model` replaces every entry of
  ``data`` by the value a new model built from the run's own config has (SB3's
  ``custom_objects``), so nothing of it is unpickled; only the training progress counters are
  taken from the file, and checked. The weights (``*.pth``) are read by ``torch.load`` with
  ``weights_only=True``, which builds tensors and plain containers only.
- the VecNormalize statistics: SB3 pickles the whole wrapper. They are written as JSON
  (``model.vecnormalize.json``, :func:`normalizer_json`) and read back into a new
  VecNormalize (:func:`load_normalizer`).
- DQN's replay buffer in a checkpoint: SB3 pickles it. It is written as ``replay_buffer.npz``
  (numpy arrays, read with ``allow_pickle=False``).

Runs written before this (``*.vecnormalize.pkl``, ``replay_buffer.pkl``) still load: their
pickles are read by :class:`RestrictedUnpickler`, which builds numpy arrays and nothing else
(the classes such files name become inert records of their attributes, any other function is
refused), with a :class:`LegacyPickleWarning`. ``python -m agents.rl.convert RUN_DIR`` rewrites
such a run in the new format.
"""

from __future__ import annotations

import io
import json
import pickle
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

try:
    import numpy._core as _numpy_core
except ImportError:  # numpy 1 names it numpy.core
    import numpy.core as _numpy_core  # type: ignore[no-redef]

from agents.rl.config import RunConfig
from envs.errors import UserError
from envs.inputs import check_input_file, read_bytes, read_text, shown_path
from envs.limits import Flag, Real
from envs.scenario import format_validation_error
from envs.vec_env import InventoryVecEnv

# The largest model zip, and the largest entry in it, accepted (a zip bomb is refused unread).
MAX_MODEL_BYTES = 2 << 30
MAX_DATA_ENTRY_BYTES = 16 << 20
# The largest statistics file (a mean and a variance per observation entry).
MAX_STATISTICS_BYTES = 16 << 20
# The largest replay buffer file (10 million transitions of a few entries).
MAX_REPLAY_FILE_BYTES = 8 << 30
# Entries of an SB3 zip's data that are the progress of training: kept from the file, once checked.
PROGRESS_COUNTERS = (
    "num_timesteps",
    "_total_timesteps",
    "_num_timesteps_at_start",
    "_episode_num",
    "_n_updates",
    "_n_calls",
)
PROGRESS_SHARES = ("_current_progress_remaining", "exploration_rate")
# Entries SB3's load recomputes (in _setup_model) whatever the file holds.
RECOMPUTED = ("lr_schedule", "exploration_schedule", "batch_norm_stats", "batch_norm_stats_target")
# The arrays of a replay buffer, as SB3's ReplayBuffer names them.
REPLAY_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


class LegacyPickleWarning(UserWarning):
    """A run written before the statistics and replay buffers were plain data: read with a restricted unpickler."""


# ---------------------------------------------------------------------------------------------
# File names


def stats_file(model_file: Path) -> Path:
    """Where the VecNormalize statistics of a model are kept: ``X.zip`` -> ``X.vecnormalize.json``."""
    return model_file.with_suffix(".vecnormalize.json")


def legacy_stats_file(model_file: Path) -> Path:
    """Where runs written before the JSON format kept them: ``X.zip`` -> ``X.vecnormalize.pkl``."""
    return model_file.with_suffix(".vecnormalize.pkl")


def has_stats(model_file: Path) -> bool:
    return stats_file(model_file).exists() or legacy_stats_file(model_file).is_file()


# ---------------------------------------------------------------------------------------------
# The restricted unpickler, for runs in the old format


class _Record:
    """What a class named in a legacy pickle becomes: its constructor arguments and state, inert."""

    def __new__(cls, *args: Any, **kwargs: Any) -> _Record:
        record = super().__new__(cls)
        record.__dict__["_args"] = args
        return record

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (state, slot state)
            state = state[0]
        if isinstance(state, dict):
            self.__dict__.update({str(key): value for key, value in state.items()})


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays and inert records, and calls nothing else.

    numpy's array reconstructors are allowed (as ``torch.load(weights_only=True)`` allows them);
    a class is replaced by :class:`_Record`, which keeps what the pickle gives it as plain
    attributes and has no behaviour; any other global (``os.system``, ``builtins.eval``...) is
    refused.
    """

    NUMPY: ClassVar[dict[tuple[str, str], Any]] = {
        (f"{prefix}.{module}", name): getattr(getattr(_numpy_core, module), name)
        for prefix in ("numpy.core", "numpy._core")  # numpy 1 and numpy 2 write these names
        for module, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"))
    } | {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    # what SB3's pickles of VecNormalize and ReplayBuffer name besides arrays, whose state is plain data
    # (the wrapper and buffer, running statistics, spaces with their random generators, a torch device)
    RECORDS: ClassVar[set[tuple[str, str]]] = {
        ("stable_baselines3.common.vec_env.vec_normalize", "VecNormalize"),
        ("stable_baselines3.common.running_mean_std", "RunningMeanStd"),
        ("stable_baselines3.common.buffers", "ReplayBuffer"),
        ("torch", "device"),
    }
    RECORD_MODULES = ("gymnasium.spaces.", "numpy.random.")

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.NUMPY:
            return self.NUMPY[(module, name)]
        if (module, name) in self.RECORDS or module.startswith(self.RECORD_MODULES):
            return _Record
        raise pickle.UnpicklingError(f"it names {module[:60]}.{name[:60]}, which statistics never hold")


def _legacy_load(path: Path, what: str, max_bytes: int) -> Any:
    """The content of an old-format pickle, through :class:`RestrictedUnpickler`, with a warning once it is read."""
    data = read_bytes(path, what, max_bytes)
    try:
        content = RestrictedUnpickler(io.BytesIO(data)).load()
    except Exception as error:  # a file from elsewhere may hold anything; nothing of it has run
        raise UserError(f"{shown_path(path)}: refused as {what} ({_first_line(error)})") from None
    warnings.warn(
        f"{shown_path(path)}: {what} in the old format, a pickle, which could run code if it were unpickled "
        "as SB3 does: read with a restricted unpickler that builds numpy arrays only. Convert the run with "
        "python -m agents.rl.convert RUN_DIR",
        LegacyPickleWarning,
        stacklevel=3,
    )
    return content


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:120]}" if text else type(error).__name__


# ---------------------------------------------------------------------------------------------
# VecNormalize statistics


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


Variance = Annotated[Real, Field(ge=0)]


class RunningStatistics(_Strict):
    """A RunningMeanStd as plain numbers: mean and variance (a number, or one per observation entry)."""

    mean: list[Real] | Real
    var: list[Variance] | Variance
    count: Real = Field(ge=0)


class NormalizerStatistics(_Strict):
    """What VecNormalize needs to scale like the one a model was trained with (``model.vecnormalize.json``)."""

    format: int = Field(default=1, ge=1, le=1)
    norm_obs: Flag
    norm_reward: Flag
    clip_obs: Real = Field(gt=0)
    clip_reward: Real = Field(gt=0)
    gamma: Real = Field(gt=0, le=1)
    epsilon: Real = Field(gt=0, lt=1)
    obs_rms: RunningStatistics | None = Field(description="None when the observations are not normalised")
    ret_rms: RunningStatistics

    @model_validator(mode="after")
    def _observation_statistics(self) -> NormalizerStatistics:
        if self.norm_obs and self.obs_rms is None:
            raise ValueError("obs_rms: norm_obs is true: the statistics of the observations are needed")
        return self


def normalizer_json(normalizer: VecNormalize) -> str:
    """The statistics of ``normalizer`` as JSON (floats written exactly: they read back bit for bit)."""
    statistics = {
        "norm_obs": bool(normalizer.norm_obs),
        "norm_reward": bool(normalizer.norm_reward),
        "clip_obs": float(normalizer.clip_obs),
        "clip_reward": float(normalizer.clip_reward),
        "gamma": float(normalizer.gamma),
        "epsilon": float(normalizer.epsilon),
        **{
            name: None
            if rms is None
            else {
                "mean": np.asarray(rms.mean, dtype=np.float64).tolist(),
                "var": np.asarray(rms.var, dtype=np.float64).tolist(),
                "count": float(rms.count),
            }
            # VecNormalize has obs_rms only when it normalises observations
            for name, rms in (("obs_rms", getattr(normalizer, "obs_rms", None)), ("ret_rms", normalizer.ret_rms))
        },
    }
    return statistics_json(NormalizerStatistics.model_validate(statistics))


def statistics_json(statistics: NormalizerStatistics) -> str:
    return json.dumps(statistics.model_dump(mode="json"), indent=1) + "\n"


def _legacy_statistics(path: Path) -> dict[str, Any]:
    record = _legacy_load(path, "VecNormalize statistics", MAX_STATISTICS_BYTES)
    if not isinstance(record, _Record):
        raise UserError(f"{shown_path(path)}: not VecNormalize statistics")
    state = record.__dict__
    statistics = {key: state.get(key) for key in NormalizerStatistics.model_fields if key != "format"}
    for name in ("obs_rms", "ret_rms"):
        rms = state.get(name)
        rms_state = vars(rms) if isinstance(rms, _Record) else {}
        statistics[name] = {key: _plain(rms_state.get(key)) for key in ("mean", "var", "count")} if rms else None
    return statistics


def _plain(value: Any) -> Any:
    """numpy values as the lists and floats JSON would give (anything else is left to validation)."""
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in "fiu":
        return value.astype(np.float64).tolist()
    return value


def read_statistics(model_file: Path) -> tuple[Path, NormalizerStatistics]:
    """The VecNormalize statistics saved next to ``model_file`` and the file they were read from.

    Reads ``X.vecnormalize.json``, or, for a run in the old format, ``X.vecnormalize.pkl``
    through :class:`RestrictedUnpickler` (with a :class:`LegacyPickleWarning`).

    Raises:
        UserError: no statistics, or statistics that are malformed; one line naming the file.
    """
    path = stats_file(model_file)
    if path.exists():  # then read_text refuses what is not a regular file
        text = read_text(path, "VecNormalize statistics", MAX_STATISTICS_BYTES)
        try:
            raw: Any = json.loads(text)
        except ValueError as error:
            raise UserError(f"{shown_path(path)}: not valid JSON ({str(error)[:80]})") from None
    elif legacy_stats_file(model_file).is_file():
        path = legacy_stats_file(model_file)
        raw = _legacy_statistics(path)
    else:
        raise UserError(f"{shown_path(model_file)}: its VecNormalize statistics {path.name} are missing")
    try:
        return path, NormalizerStatistics.model_validate(raw)
    except ValidationError as error:
        raise UserError(format_validation_error(shown_path(path), error)) from None


def load_normalizer(model_file: Path, venv: VecEnv) -> VecNormalize:
    """A new VecNormalize around ``venv`` with the statistics saved next to ``model_file`` (:func:`read_statistics`).

    Raises:
        UserError: no statistics, or statistics that are malformed or do not fit ``venv``'s
            observations; one line naming the file.
    """
    path, statistics = read_statistics(model_file)
    obs_shape = venv.observation_space.shape
    normalizer = VecNormalize(
        venv,
        norm_obs=statistics.norm_obs,
        norm_reward=statistics.norm_reward,
        clip_obs=statistics.clip_obs,
        clip_reward=statistics.clip_reward,
        gamma=statistics.gamma,
        epsilon=statistics.epsilon,
    )
    for name, shape in (("obs_rms", obs_shape), ("ret_rms", ())):
        saved: RunningStatistics | None = getattr(statistics, name)
        if saved is None or not hasattr(normalizer, name):  # observations not normalised
            continue
        mean, var = np.asarray(saved.mean, dtype=np.float64), np.asarray(saved.var, dtype=np.float64)
        if mean.shape != shape or var.shape != shape:
            raise UserError(
                f"{shown_path(path)}: {name}: statistics of shape {mean.shape}, the observations have {shape}"
            )
        rms = getattr(normalizer, name)
        rms.mean, rms.var, rms.count = mean, var, float(saved.count)
    return normalizer


# ---------------------------------------------------------------------------------------------
# The SB3 model zip


def _zip_data(model_file: Path) -> dict[str, Any]:
    """The ``data`` entry of an SB3 zip as JSON, once the zip's entries are checked for size."""
    check_input_file(model_file, "model file", MAX_MODEL_BYTES)
    name = shown_path(model_file)
    try:
        with zipfile.ZipFile(model_file) as archive:
            entries = archive.infolist()
            total = sum(entry.file_size for entry in entries)
            if len(entries) > 100 or total > MAX_MODEL_BYTES:
                raise UserError(f"{name}: {len(entries)} entries of {total:,} bytes unpacked: not a model file")
            data = next((entry for entry in entries if entry.filename == "data"), None)
            if data is None:
                raise UserError(f"{name}: not a stable-baselines3 model (no 'data' in the zip)")
            if data.file_size > MAX_DATA_ENTRY_BYTES:
                raise UserError(f"{name}: its 'data' entry is {data.file_size:,} bytes: not a model file")
            content = json.loads(archive.read(data))
    except UserError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as error:
        raise UserError(f"{name}: not a readable model zip ({_first_line(error)})") from None
    if not isinstance(content, dict):
        raise UserError(f"{name}: not a stable-baselines3 model ('data' is not a mapping)")
    return content


def _template(config: RunConfig) -> BaseAlgorithm:
    """A new, unbuilt model of the run's algorithm and hyperparameters: the source of every entry replaced."""
    with warnings.catch_warnings():  # its one env makes SB3 warn about PPO's mini-batches; it never trains
        warnings.simplefilter("ignore")
        return config.algorithm.sb3_class(
            "MlpPolicy",
            InventoryVecEnv(config.scenario, 1),
            device="cpu",
            _init_setup_model=False,  # type: ignore[call-arg]
            **config.hyperparameters.sb3_kwargs(),
        )


def safe_custom_objects(model_file: Path, config: RunConfig) -> dict[str, Any]:
    """SB3 ``custom_objects`` that replace every entry of the zip's data but the checked progress counters.

    Raises:
        UserError: an entry this project does not write, a progress counter that is not a
            non-negative integer, or a share of progress outside -1..1; one line naming the file and the entry.
    """
    data = _zip_data(model_file)
    template = vars(_template(config))
    custom: dict[str, Any] = {}
    for key, value in data.items():
        if key in PROGRESS_COUNTERS:
            valid = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**15
        elif key in PROGRESS_SHARES:
            # below 0 when the last rollout ran past total_timesteps (SB3: 1 - num_timesteps / total)
            valid = isinstance(value, (int, float)) and not isinstance(value, bool) and -1 <= value <= 1
        elif key in template:
            custom[key], valid = template[key], True
        elif key in RECOMPUTED:
            custom[key], valid = None, True
        else:
            raise UserError(
                f"{shown_path(model_file)}: entry '{str(key)[:40]}' of its data is not one a "
                f"{config.algo} model of this project has; refusing to load it"
            )
        if not valid:
            raise UserError(f"{shown_path(model_file)}: entry '{key}' of its data is not a count of training progress")
    return custom


def load_model(model_file: Path, config: RunConfig, env: VecEnv | None = None, **kwargs: Any) -> BaseAlgorithm:
    """The SB3 model in ``model_file``, nothing of it unpickled (see the module docstring).

    Args:
        model_file: a model zip of the run whose config is ``config``.
        config: the run's config, which gives the policy class, the spaces and every setting.
        env: the env to continue training on (default: one system of the scenario).
        kwargs: more of SB3's ``load`` arguments (``seed``).

    Raises:
        UserError: the file is not a model of this run (not a zip, corrupt, truncated, other
            network sizes, weights that are not finite); one line naming it.
    """
    custom = safe_custom_objects(model_file, config)
    try:
        model = config.algorithm.sb3_class.load(
            model_file,
            env=env if env is not None else InventoryVecEnv(config.scenario, 1),
            device="cpu",
            custom_objects=custom,
            **kwargs,
        )
    except Exception as error:  # a file from elsewhere may be anything: corrupt, truncated, another network
        raise UserError(
            f"{shown_path(model_file)}: cannot be loaded as the {config.algo} model of its run ({_first_line(error)})"
        ) from None
    if not all(torch.isfinite(parameter).all() for parameter in model.policy.parameters()):
        raise UserError(f"{shown_path(model_file)}: the network's weights are not all finite numbers")
    return model


# ---------------------------------------------------------------------------------------------
# DQN's replay buffer


def replay_buffer_writer(buffer: ReplayBuffer) -> Callable[[Path], None]:
    """A writer (for :func:`envs.files.atomic_write`) of the buffer's arrays and position as an npz file."""
    return replay_state_writer(
        {"pos": buffer.pos, "full": buffer.full, **{n: getattr(buffer, n) for n in REPLAY_ARRAYS}}
    )


def read_replay_buffer(path: Path, legacy_path: Path) -> tuple[Path, dict[str, Any]] | None:
    """The arrays and position of a saved replay buffer, from ``path`` (npz) or ``legacy_path`` (an old
    checkpoint's pickle), and the file read; None if neither exists.

    Raises:
        UserError: the file is corrupt, or not a replay buffer; one line naming it.
    """
    if path.is_file():
        check_input_file(path, "replay buffer", MAX_REPLAY_FILE_BYTES)
        try:
            with np.load(path, allow_pickle=False) as saved:
                state = {name: saved[name] for name in saved.files}
        except Exception as error:  # corrupt or truncated
            raise UserError(f"{shown_path(path)}: not a readable replay buffer ({_first_line(error)})") from None
    elif legacy_path.is_file():
        path = legacy_path
        record = _legacy_load(path, "replay buffer", MAX_REPLAY_FILE_BYTES)
        state = dict(vars(record)) if isinstance(record, _Record) else {}
    else:
        return None
    length = len(state.get(REPLAY_ARRAYS[0], ()))
    for name in REPLAY_ARRAYS:
        value = state.get(name)
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiub" or value.shape[:1] != (length,):
            raise UserError(f"{shown_path(path)}: {name}: not the arrays of a replay buffer")
        if not np.isfinite(value).all():
            raise UserError(f"{shown_path(path)}: {name}: holds values that are not finite numbers")
    try:
        pos, full = int(np.asarray(state.get("pos"))), bool(np.asarray(state.get("full")))
    except (TypeError, ValueError):
        raise UserError(f"{shown_path(path)}: pos, full: not the position of a replay buffer") from None
    if not 0 <= pos < length:
        raise UserError(f"{shown_path(path)}: pos: {pos} is not a position in the buffer")
    return path, {**{name: state[name] for name in REPLAY_ARRAYS}, "pos": pos, "full": full}


def restore_replay_buffer(buffer: ReplayBuffer, path: Path, legacy_path: Path) -> bool:
    """Fill ``buffer`` as :func:`read_replay_buffer` reads it; False if there is no saved buffer.

    Raises:
        UserError: the saved buffer is unreadable or of another shape than ``buffer``.
    """
    saved = read_replay_buffer(path, legacy_path)
    if saved is None:
        return False
    path, state = saved
    for name in REPLAY_ARRAYS:
        if state[name].shape != getattr(buffer, name).shape:
            raise UserError(
                f"{shown_path(path)}: {name}: shape {state[name].shape}, this run's buffer has "
                f"{getattr(buffer, name).shape}"
            )
    for name in REPLAY_ARRAYS:
        getattr(buffer, name)[...] = state[name]
    buffer.pos, buffer.full = state["pos"], state["full"]
    return True


def replay_state_writer(state: dict[str, Any]) -> Callable[[Path], None]:
    """A writer (for :func:`envs.files.atomic_write`) of a replay buffer's arrays and position as an npz file."""

    def write(path: Path) -> None:
        with path.open("wb") as handle:  # a handle: np.savez would add .npz to a path
            np.savez(
                handle,
                pos=np.int64(state["pos"]),
                full=np.bool_(state["full"]),
                **{name: state[name] for name in REPLAY_ARRAYS},
            )

    return write
