"""Run directories from elsewhere: loading one never runs code from it, and a broken one is refused in one line.

A payload (a pickle that creates a marker file when it is unpickled) is planted in every file a
run has that SB3 or pickle would unpickle: each pickled entry of model.zip's data, the weights,
the old-format VecNormalize statistics and the old-format replay buffer. Loading through this
project never creates the marker; a control test shows SB3's own loader would. Corrupt,
truncated and mismatched files are refused in one line naming the file, by load_run (in
process) and by the commands that load runs (evaluate.py --policy, export.py, train.py
--resume, agents.rl.convert), which also leave the run as it was.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3 import DQN, PPO

from agents import rl
from agents.rl.serialization import LegacyPickleWarning
from envs.errors import UserError
from tests.hostile import ROOT, Case, artifacts, assert_one_line_error, copy_of, payload, shared_batch

ZOO = ROOT / "zoo"
# Trained runs (every entry SB3 pickles is there) of both algorithms, as someone else would send them.
SOURCES = {"ppo": ZOO / "ppo" / "lost_sales_L1_p4", "dqn": ZOO / "dqn" / "lost_sales_L2_p9"}
PICKLED = {
    "ppo": [
        "_last_episode_starts",
        "_last_obs",
        "_last_original_obs",
        "action_space",
        "clip_range",
        "ep_info_buffer",
        "ep_success_buffer",
        "lr_schedule",
        "observation_space",
        "policy_class",
        "policy_kwargs",
        "rollout_buffer_class",
    ],
    "dqn": [
        "_last_episode_starts",
        "_last_obs",
        "_last_original_obs",
        "action_space",
        "ep_info_buffer",
        "ep_success_buffer",
        "exploration_schedule",
        "learning_rate",
        "lr_schedule",
        "observation_space",
        "policy_class",
        "policy_kwargs",
        "replay_buffer_class",
        "train_freq",
    ],
}


def rewrite_zip(path: Path, data: dict | None = None, entries: dict[str, bytes | None] | None = None) -> None:
    """Change the ``data`` entries (``data``) or whole entries (``entries``; None removes one) of a model zip."""
    with zipfile.ZipFile(path) as archive:
        content = {name: archive.read(name) for name in archive.namelist()}
    if data:
        content["data"] = json.dumps({**json.loads(content["data"]), **data}).encode()
    for name, value in (entries or {}).items():
        if value is None:
            content.pop(name, None)
        else:
            content[name] = value
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in content.items():
            archive.writestr(name, value)


def pickled_entry(marker: Path) -> dict[str, str]:
    """A data entry as SB3 writes a pickled one, holding the payload."""
    return {":type:": "<class 'object'>", ":serialized:": base64.b64encode(payload(marker)).decode()}


def torch_payload(marker: Path) -> bytes:
    buffer = io.BytesIO()

    class Payload:
        def __reduce__(self):
            import os

            return os.system, (f"touch {marker}",)

    torch.save({"weights": Payload()}, buffer)
    return buffer.getvalue()


def copy_run(algo: str, to: Path) -> Path:
    shutil.copytree(SOURCES[algo], to)
    return to


def latest(run: Path) -> rl.Checkpoint:
    checkpoint = rl.RunDirectory(run).latest_checkpoint()
    assert checkpoint is not None
    return checkpoint


def replace_by(path: Path, make) -> None:
    """Remove the file at ``path`` and make something else there (``make(path)``)."""
    path.unlink()
    make(path)


def data_of(model_file: Path) -> dict:
    with zipfile.ZipFile(model_file) as archive:
        return json.loads(archive.read("data"))


# ---------------------------------------------------------------------------------------------
# Payloads: nothing of a run is unpickled


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_the_cases_cover_every_entry_sb3_pickles(algo):
    data = data_of(SOURCES[algo] / "model.zip")
    assert sorted(k for k, v in data.items() if isinstance(v, dict) and ":serialized:" in v) == PICKLED[algo]


@pytest.mark.parametrize(
    "algo, entry", [(algo, entry) for algo in ("ppo", "dqn") for entry in PICKLED[algo]], ids=lambda x: str(x)
)
def test_a_payload_in_a_pickled_entry_of_the_zip_never_runs(tmp_path, algo, entry):
    run = copy_run(algo, tmp_path / "run")
    marker = tmp_path / "pwned"
    rewrite_zip(run / "model.zip", data={entry: pickled_entry(marker)})
    policy, _ = rl.load_run(run)  # the entry is replaced from the run's config
    assert not marker.exists(), f"the payload in {entry} ran"
    assert policy.act(np.zeros((3, policy.normalizer.observation_space.shape[0]), dtype=np.float32)).shape == (3,)


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_control_sb3s_own_loader_runs_the_payload(tmp_path, algo):
    """The payload is live: stable-baselines3's load, without custom_objects, runs it."""
    run = copy_run(algo, tmp_path / "run")
    marker = tmp_path / "pwned"
    rewrite_zip(run / "model.zip", data={"policy_class": pickled_entry(marker)})
    with warnings.catch_warnings(), pytest.raises(Exception):  # noqa: B017 (what the payload gives back breaks it)
        warnings.simplefilter("ignore")
        {"ppo": PPO, "dqn": DQN}[algo].load(run / "model.zip", device="cpu")
    assert marker.exists()


@pytest.mark.parametrize("entry", ["gamma", "n_steps", "verbose"])
def test_a_payload_in_an_entry_sb3_writes_as_plain_data_never_runs(tmp_path, entry):
    run = copy_run("ppo", tmp_path / "run")
    marker = tmp_path / "pwned"
    rewrite_zip(run / "model.zip", data={entry: pickled_entry(marker)})
    rl.load_run(run)
    assert not marker.exists()


@pytest.mark.parametrize(
    "plant, phrase",
    [
        (lambda run, m: rewrite_zip(run / "model.zip", data={"evil": pickled_entry(m)}), "entry 'evil'"),
        (lambda run, m: rewrite_zip(run / "model.zip", data={"num_timesteps": pickled_entry(m)}), "num_timesteps"),
        (lambda run, m: rewrite_zip(run / "model.zip", entries={"policy.pth": torch_payload(m)}), "Weights only load"),
        (
            lambda run, m: rewrite_zip(run / "model.zip", entries={"pytorch_variables.pth": torch_payload(m)}),
            "Weights only load",
        ),
        (lambda run, m: rewrite_zip(run / "model.zip", entries={"evil.pth": torch_payload(m)}), "Weights only load"),
        (
            lambda run, m: replace_by(
                run / "model.vecnormalize.json", lambda p: (run / "model.vecnormalize.pkl").write_bytes(payload(m))
            ),
            "refused as VecNormalize statistics",
        ),
    ],
    ids=["unknown-entry", "progress-counter", "policy-weights", "torch-variables", "extra-weights", "legacy-stats"],
)
def test_a_payload_that_cannot_be_replaced_is_refused_in_one_line_and_never_runs(tmp_path, plant, phrase):
    run = copy_run("ppo", tmp_path / "run")
    marker = tmp_path / "pwned"
    plant(run, marker)
    with warnings.catch_warnings(), pytest.raises(UserError) as caught:
        warnings.simplefilter("ignore", LegacyPickleWarning)
        rl.load_run(run)
    assert not marker.exists()
    text = str(caught.value)
    assert "\n" not in str(text) and str(run) in text and phrase in text, text


def test_an_old_run_still_loads_with_a_warning_naming_the_risk(tmp_path):
    """Runs written before the JSON statistics: their pickle is read by the restricted unpickler."""
    run = copy_run("dqn", tmp_path / "run")
    current, _ = rl.load_run(run)
    old = rl.load_normalizer(run / "model.zip", current.normalizer.venv)
    legacy = run / "model.vecnormalize.pkl"
    legacy.write_bytes(_pickled_vecnormalize(old))
    (run / "model.vecnormalize.json").unlink()
    with pytest.warns(LegacyPickleWarning, match="could run code if it were unpickled"):
        policy, _ = rl.load_run(run)
    entries = current.normalizer.observation_space.shape[0]
    observations = np.random.default_rng(0).integers(0, 50, size=(100, entries)).astype(np.float32)
    np.testing.assert_array_equal(policy.act(observations), current.act(observations))


def test_convert_rewrites_an_old_run_as_plain_data_that_loads_the_same(tmp_path, tmp_path_factory, capsys):
    from agents.rl import convert

    run = copy_of(artifacts(tmp_path_factory) / "runs" / "dqn", tmp_path / "run")
    current, _ = rl.load_run(run)
    checkpoint = latest(run)
    buffer = dict(np.load(checkpoint.replay_buffer_file))
    for model_file in (run / "model.zip", run / "best_model.zip", checkpoint.model_file):  # as older versions wrote
        normalizer = rl.load_normalizer(model_file, current.normalizer.venv)
        (model_file.with_suffix(".vecnormalize.pkl")).write_bytes(_pickled_vecnormalize(normalizer))
        rl.stats_file(model_file).unlink()
    checkpoint.legacy_replay_buffer_file.write_bytes(_pickled_replay_buffer(buffer))
    checkpoint.replay_buffer_file.unlink()

    convert.main([str(run)])
    assert "4 files written as plain data" in capsys.readouterr().out
    assert not list(run.rglob("*.pkl"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", LegacyPickleWarning)
        converted, _ = rl.load_run(run)
    observations = np.random.default_rng(0).integers(0, 50, size=(100, 2)).astype(np.float32)
    np.testing.assert_array_equal(converted.act(observations), current.act(observations))
    again = dict(np.load(checkpoint.replay_buffer_file))
    assert again.keys() == buffer.keys() and all(np.array_equal(again[k], buffer[k]) for k in buffer)


def _pickled_replay_buffer(arrays: dict) -> bytes:
    """What SB3's save_replay_buffer wrote: a pickle of the buffer object with these arrays."""
    import pickle

    from stable_baselines3.common.buffers import ReplayBuffer

    buffer = ReplayBuffer.__new__(ReplayBuffer)
    buffer.__dict__.update({name: value for name, value in arrays.items() if name not in ("pos", "full")})
    buffer.__dict__.update(pos=int(arrays["pos"]), full=bool(arrays["full"]), device=torch.device("cpu"))
    return pickle.dumps(buffer)


def _pickled_vecnormalize(normalizer) -> bytes:
    """What SB3's VecNormalize.save writes (a pickle of the wrapper without its env)."""
    import pickle

    venv = normalizer.venv
    normalizer.venv = None
    try:
        return pickle.dumps(normalizer)
    finally:
        normalizer.venv = venv


def test_a_payload_in_an_old_replay_buffer_is_refused_on_resume_and_never_runs(tmp_path, tmp_path_factory):
    run = copy_of(artifacts(tmp_path_factory) / "runs" / "dqn-unfinished", tmp_path / "run")
    checkpoint = latest(run)
    marker = tmp_path / "pwned"
    checkpoint.replay_buffer_file.unlink()
    checkpoint.legacy_replay_buffer_file.write_bytes(payload(marker))
    _, config, resumed = rl.open_for_resume(run)
    with warnings.catch_warnings(), pytest.raises(UserError, match="refused as replay buffer"):
        warnings.simplefilter("ignore", LegacyPickleWarning)
        resumed.restore(config, seed=0)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# Broken runs: one line naming the file


def _stats(run: Path) -> Path:
    return run / "model.vecnormalize.json"


def _edit_stats(run: Path, **changes) -> None:
    stats = json.loads(_stats(run).read_text())
    _stats(run).write_text(json.dumps({**stats, **changes}))


def _nan_weights(run: Path) -> None:
    with zipfile.ZipFile(run / "model.zip") as archive:
        state = torch.load(io.BytesIO(archive.read("policy.pth")), weights_only=True)
    state = {name: torch.full_like(tensor, float("nan")) for name, tensor in state.items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    rewrite_zip(run / "model.zip", entries={"policy.pth": buffer.getvalue()})


def _zip_bomb(run: Path) -> None:
    with zipfile.ZipFile(run / "model.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data", b"{" + b" " * (64 << 20) + b"}")


def _config(run: Path, change: str) -> None:
    (run / "config.yaml").write_text((run / "config.yaml").read_text() + change)


def _replace_config_key(run: Path, old: str, new: str) -> None:
    text = (run / "config.yaml").read_text()
    assert old in text
    (run / "config.yaml").write_text(text.replace(old, new))


# fmt: off
BROKEN = [
    ("zip-truncated", lambda r: (r / "model.zip").write_bytes((r / "model.zip").read_bytes()[:5000]), "model.zip"),
    ("zip-empty", lambda r: (r / "model.zip").write_bytes(b""), "not a readable model zip"),
    ("zip-text", lambda r: (r / "model.zip").write_text("not a zip\n"), "not a readable model zip"),
    ("zip-no-data", lambda r: rewrite_zip(r / "model.zip", entries={"data": None}), "no 'data' in the zip"),
    ("zip-data-not-json", lambda r: rewrite_zip(r / "model.zip", entries={"data": b"{oops"}), "not a readable"),
    ("zip-data-a-list", lambda r: rewrite_zip(r / "model.zip", entries={"data": b"[1, 2]"}), "not a mapping"),
    ("zip-bomb", _zip_bomb, "not a model file"),
    ("zip-weights-missing", lambda r: rewrite_zip(r / "model.zip", entries={"policy.pth": None}), "cannot be loaded"),
    ("zip-weights-nan", _nan_weights, "not all finite"),
    ("zip-progress-negative", lambda r: rewrite_zip(r / "model.zip", data={"num_timesteps": -5}), "num_timesteps"),
    ("zip-progress-share-above-one", lambda r: rewrite_zip(r / "model.zip", data={"_current_progress_remaining": 5}),
     "_current_progress_remaining"),
    ("zip-directory", lambda r: replace_by(r / "model.zip", Path.mkdir), "no trained model"),
    ("zip-dev-zero", lambda r: replace_by(r / "model.zip", lambda p: p.symlink_to("/dev/zero")), "no trained"),
    ("zip-other-network", lambda r: _replace_config_key(r, "- 64\n  - 64", "- 8"), "cannot be loaded as the ppo"),
    ("stats-missing", lambda r: _stats(r).unlink(), "statistics model.vecnormalize.json are missing"),
    ("stats-not-json", lambda r: _stats(r).write_text("{oops"), "not valid JSON"),
    ("stats-nan", lambda r: _edit_stats(r, gamma=float("nan")), "gamma: Input should be a finite number"),
    ("stats-wrong-type", lambda r: _edit_stats(r, norm_obs="yes"), "norm_obs"),
    ("stats-shape", lambda r: _edit_stats(r, norm_obs=True, obs_rms={"mean": [0], "var": [1], "count": 1}), "shape"),
    ("stats-unknown-key", lambda r: _edit_stats(r, evil=1), "evil: unknown key"),
    ("stats-huge", lambda r: _stats(r).write_text(" " * (17 << 20)), "at most 16 MiB"),
    ("stats-fifo", lambda r: replace_by(_stats(r), os.mkfifo), "not a regular file"),
    ("config-missing", lambda r: (r / "config.yaml").unlink(), "not a run directory"),
    ("config-recursive-alias", lambda r: _config(r, "x: &x [*x]\n"), "alias *x"),
    ("config-duplicate-key", lambda r: _config(r, "gamma: 0.5\n"), "duplicate key 'gamma'"),
    ("config-seed-text", lambda r: _replace_config_key(r, "seed: 0", "seed: abc"), "seed"),
    ("config-seed-huge", lambda r: _replace_config_key(r, "seed: 0", "seed: 99999999999"), "seed"),
    ("config-unknown-key", lambda r: _config(r, "evil: 1\n"), "evil: unknown key"),
    ("config-lr-infinite", lambda r: _replace_config_key(r, "learning_rate: 0.0003", "learning_rate: .inf"), "finite"),
    ("config-algo", lambda r: _replace_config_key(r, "algo: ppo", "algo: os.system"), "not the config of a training"),
    ("scenario-name-path", lambda r: (r / "scenario.yaml").write_text(
        (r / "scenario.yaml").read_text().replace("name: lost_sales_L1_p4", "name: ../../x")), "not a plain name"),
    ("scenario-environ", lambda r: (r / "scenario.yaml").write_text(
        (r / "scenario.yaml").read_text().split("demand:")[0] + "demand: {dist: csv, path: /proc/self/environ}\n"
        + (r / "scenario.yaml").read_text().split("demand:")[1].split("\n", 3)[-1]), "file of the kernel"),
    ("scenario-missing", lambda r: (r / "scenario.yaml").unlink(), "scenario not found"),
]
# fmt: on


@pytest.mark.parametrize("breaks, phrase", [pytest.param(b, p, id=i) for i, b, p in BROKEN])
def test_a_broken_run_is_refused_in_one_line_naming_the_file(tmp_path, breaks, phrase):
    run = copy_run("ppo", tmp_path / "run")
    breaks(run)
    with pytest.raises(UserError) as caught:
        rl.load_run(run)
    text = str(caught.value)
    assert "\n" not in text and phrase in text, text
    assert str(tmp_path) in text or "/proc/self/environ" in text, text  # the run's file, or the one it names
    assert len(text) < 600, text


# ---------------------------------------------------------------------------------------------
# The commands that load runs: one line, exit code 2, the run left as it was

RESUME_BROKEN = {
    "state-corrupt": lambda c: (c / "state.json").write_text("{oops"),
    "state-missing": lambda c: (c / "state.json").unlink(),
    "state-negative": lambda c: (c / "state.json").write_text('{"timesteps": -5, "best": null}'),
    "state-unknown": lambda c: (c / "state.json").write_text('{"timesteps": 0, "best": null, "evil": 1}'),
    "model-truncated": lambda c: (c / "model.zip").write_bytes((c / "model.zip").read_bytes()[:3000]),
    "model-payload": lambda c: rewrite_zip(c / "model.zip", data={"evil": {":serialized:": "gASVAAAA"}}),
    "stats-missing": lambda c: (c / "model.vecnormalize.json").unlink(),
    "stats-legacy-payload": lambda c: replace_by(
        c / "model.vecnormalize.json",
        lambda p: (c / "model.vecnormalize.pkl").write_bytes(payload(c.parents[3] / "pwned")),
    ),
}
RESUME_BROKEN_DQN = {
    "replay-corrupt": lambda c: (c / "replay_buffer.npz").write_bytes(b"PK\x03\x04 not really"),
    "replay-shape": lambda c: np.savez(c / "replay_buffer.npz", observations=np.zeros((3, 1, 2))),
    "replay-payload": lambda c: replace_by(
        c / "replay_buffer.npz", lambda p: (c / "replay_buffer.pkl").write_bytes(payload(c.parents[3] / "pwned"))
    ),
}
RESUME_PHRASES = {
    "state-corrupt": "state.json: not valid JSON",
    "state-missing": "checkpoint state not found",
    "state-negative": "timesteps",
    "state-unknown": "evil: unknown key",
    "model-truncated": "model.zip",
    "model-payload": "entry 'evil'",
    "stats-missing": "statistics",
    "stats-legacy-payload": "refused as VecNormalize statistics",
    "replay-corrupt": "not a readable replay buffer",
    "replay-shape": "replay_buffer.npz",
    "replay-payload": "refused as replay buffer",
}

# fmt: off
COMMAND_CASES = [
    *(
        Case(f"resume-ppo-{name}", "train", ("--resume", f"{{tmp}}/resume/ppo-{name}"), (RESUME_PHRASES[name],),
             untouched=(f"resume/ppo-{name}",))
        for name in RESUME_BROKEN
    ),
    *(
        Case(f"resume-dqn-{name}", "train", ("--resume", f"{{tmp}}/resume/dqn-{name}"), (RESUME_PHRASES[name],),
             untouched=(f"resume/dqn-{name}",))
        for name in RESUME_BROKEN_DQN
    ),
    Case("resume-tensorboard-symlink", "train", ("--resume", "{tmp}/resume/tensorboard-link"),
         ("tensorboard: is a symbolic link",), untouched=("resume/tensorboard-link", "elsewhere")),
    Case("resume-checkpoints-symlink", "train", ("--resume", "{tmp}/resume/checkpoints-link"),
         ("checkpoints: is a symbolic link",), untouched=("resume/checkpoints-link", "elsewhere")),
    Case("resume-garbage-checkpoint", "train", ("--resume", "{tmp}/resume/garbage"), ("step_999999999999",),
         untouched=("resume/garbage",)),
    Case("resume-other-algo", "train", ("--resume", "{tmp}/resume/other-algo"),
         ("is not one a dqn model of this project has",), untouched=("resume/other-algo",)),
    Case("evaluate-legacy-payload", "evaluate", ("--scenario", "lost_sales_L1_p4", "--policy", "{tmp}/legacy-payload",
         "--episodes", "2", "--out", "{tmp}/out/evaluate-legacy-payload"), ("refused as VecNormalize statistics",),
         untouched=("out/evaluate-legacy-payload", "legacy-payload")),
    Case("export-legacy-payload", "export", ("{tmp}/legacy-payload", "--out", "{tmp}/out/export-legacy-payload"),
         ("refused as VecNormalize statistics",), untouched=("out/export-legacy-payload", "legacy-payload")),
    Case("convert-legacy-payload", "convert", ("{tmp}/legacy-payload",), ("refused as VecNormalize statistics",),
         untouched=("legacy-payload",)),
    Case("evaluate-truncated", "evaluate", ("--scenario", "lost_sales_L1_p4", "--policy", "{tmp}/truncated",
         "--episodes", "2", "--out", "{tmp}/out/evaluate-truncated"), ("model.zip",),
         untouched=("out/evaluate-truncated", "truncated")),
    Case("export-truncated", "export", ("{tmp}/truncated", "--out", "{tmp}/out/export-truncated"), ("model.zip",),
         untouched=("out/export-truncated", "truncated")),
]
# A payload in every entry that is replaced: the run loads and is used, the payload never runs (slow:
# the commands evaluate, export and train the model).
SLOW_CASES = [
    Case("evaluate-payload-replaced", "evaluate", ("--scenario", "lost_sales_L1_p4", "--policy", "{tmp}/payload",
         "--episodes", "2", "--out", "{tmp}/out/evaluate-payload-replaced"), code=0),
    Case("export-payload-replaced", "export", ("{tmp}/payload", "--parity-observations", "100", "--out",
         "{tmp}/out/export-payload-replaced"), code=0),
    Case("resume-payload-replaced", "train", ("--resume", "{tmp}/resume-payload"), code=0),
]
# fmt: on


def prepare(tmp: Path, made: Path) -> None:
    resume = tmp / "resume"
    resume.mkdir()
    for algo, breaks in (("ppo", RESUME_BROKEN), ("dqn", RESUME_BROKEN_DQN)):
        base = made / "runs" / f"{algo}-unfinished"
        for name, brake in breaks.items():
            run = shutil.copytree(base, resume / f"{algo}-{name}")
            brake(latest(run).path)
    (tmp / "elsewhere").mkdir()
    linked = shutil.copytree(base, resume / "tensorboard-link")
    (linked / "tensorboard").symlink_to(tmp / "elsewhere")
    linked = shutil.copytree(base, resume / "checkpoints-link")
    shutil.copytree(linked / "checkpoints", tmp / "elsewhere" / "checkpoints")
    shutil.rmtree(linked / "checkpoints")
    (linked / "checkpoints").symlink_to(tmp / "elsewhere" / "checkpoints")
    garbage = shutil.copytree(resume / "ppo-state-corrupt", resume / "garbage")
    (garbage / "checkpoints" / "step_999999999999").write_text("not a checkpoint")
    other = shutil.copytree(base, resume / "other-algo")  # a DQN run whose checkpoint holds a PPO model
    shutil.copy(
        latest(resume / "ppo-state-missing").model_file,
        latest(other).model_file,
    )
    legacy = copy_run("ppo", tmp / "legacy-payload")
    (legacy / "model.vecnormalize.json").unlink()
    (legacy / "model.vecnormalize.pkl").write_bytes(payload(tmp / "pwned"))
    truncated = copy_run("ppo", tmp / "truncated")
    (truncated / "model.zip").write_bytes((truncated / "model.zip").read_bytes()[:4000])
    (tmp / "out").mkdir()


def prepare_slow(tmp: Path, made: Path) -> None:
    planted = copy_run("ppo", tmp / "payload")
    rewrite_zip(planted / "model.zip", data={key: pickled_entry(tmp / "pwned") for key in PICKLED["ppo"]})
    resume = copy_of(made / "runs" / "ppo-unfinished", tmp / "resume-payload")
    checkpoint = latest(resume)
    rewrite_zip(checkpoint.model_file, data={key: pickled_entry(tmp / "pwned") for key in PICKLED["ppo"]})
    (tmp / "out").mkdir()


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    made = artifacts(tmp_path_factory)
    return shared_batch(tmp_path_factory, "runs", lambda tmp: prepare(tmp, made), COMMAND_CASES)


@pytest.mark.parametrize("case", [case.param() for case in COMMAND_CASES])
def test_a_command_given_a_hostile_run_refuses_it_in_one_line_and_leaves_it_as_it_was(batch, case):
    assert_one_line_error(batch.outcomes[case.id], case.mentions)
    batch.unchanged(*case.untouched)
    assert not (batch.tmp / "pwned").exists()


@pytest.fixture(scope="module")
def slow_batch(tmp_path_factory):
    made = artifacts(tmp_path_factory)
    return shared_batch(tmp_path_factory, "runs-slow", lambda tmp: prepare_slow(tmp, made), SLOW_CASES)


@pytest.mark.slow
@pytest.mark.parametrize("case", [case.param() for case in SLOW_CASES])
def test_a_command_uses_a_run_with_payloads_in_every_replaced_entry_and_never_runs_them(slow_batch, case):
    outcome = slow_batch.outcomes[case.id]
    assert outcome.code == 0 and "Traceback" not in outcome.stderr, outcome.stderr
    assert not (slow_batch.tmp / "pwned").exists()
