"""Safe outputs: complete or absent, permissions kept, special files and symlinks refused."""

from __future__ import annotations

import os
import stat

import pytest

from envs.errors import UserError
from envs.files import atomic_write, write_directory


def test_a_replaced_file_keeps_its_permissions_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "orders.csv"
    target.write_text("old")
    os.chmod(target, 0o644)
    atomic_write(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["orders.csv"]


def test_a_symlink_is_refused_and_left_as_it_was(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("keep")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    with pytest.raises(UserError, match="symbolic link"):
        atomic_write(link, "x")
    assert link.is_symlink() and real.read_text() == "keep"


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
def test_a_device_is_refused_not_replaced(device):
    if not os.path.exists(device):
        pytest.skip(f"{device} not on this system")
    with pytest.raises(UserError, match="not a regular file"):
        atomic_write(device, "x")
    assert stat.S_ISCHR(os.stat(device).st_mode)


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.zip"
    target.write_bytes(b"old")

    def fail(path):
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(UserError, match="No space left"):
        atomic_write(target, fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.zip"]


def test_a_directory_is_written_whole_and_only_replaces_what_may_be_replaced(tmp_path):
    out = write_directory(tmp_path / "policy", {"policy.json": "{}", "policy.onnx": b"\x08"})
    assert sorted(p.name for p in out.iterdir()) == ["policy.json", "policy.onnx"]
    write_directory(out, {"policy.json": "{}"}, replaceable=lambda d: (d / "policy.json").is_file())
    assert [p.name for p in out.iterdir()] == ["policy.json"]
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    with pytest.raises(UserError, match="choose another"):
        write_directory(other, {"policy.json": "{}"})
    assert (other / "mine.txt").read_text() == "keep"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
