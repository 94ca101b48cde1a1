"""Safe outputs: complete or absent, permissions kept, special files and symlinks refused."""

from __future__ import annotations

import os
import signal
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

from envs.errors import UserError
from envs.files import atomic_write, check_output_directory, write_directory, write_files, write_new_directory


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


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_library_writer_waits_for_it_to_finish(tmp_path, signum):
    """A writer interrupted half-way may fail with an error of its own (torch's zip writer does)."""
    target = tmp_path / "model.zip"
    target.write_text("old")
    finished = []

    def writer(path):
        os.kill(os.getpid(), signum)  # delivered while the writer runs
        path.write_text("new")
        finished.append(True)

    # as a command has them (a shell in the background starts its children ignoring SIGINT)
    previous = {number: signal.signal(number, signal.default_int_handler) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(KeyboardInterrupt):
            write_files(tmp_path, {"model.zip": writer})
        assert signal.getsignal(signum) is signal.default_int_handler  # handlers put back
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    assert finished == [True]  # the writer ran to its end; the interrupt came after it
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["model.zip"]


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


def test_an_unreplaceable_directory_is_refused_before_any_work(tmp_path):
    existing = tmp_path / "results"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep")
    assert check_output_directory(tmp_path / "new") == tmp_path / "new"
    assert check_output_directory(existing, replaceable=lambda d: True) == existing
    with pytest.raises(UserError, match="choose another"):
        check_output_directory(existing)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match=r"exists and is not a directory$"):
        check_output_directory(tmp_path / "afile")
    (tmp_path / "link").symlink_to(existing)
    with pytest.raises(UserError, match="symbolic link"):
        check_output_directory(tmp_path / "link", replaceable=lambda d: True)


def test_files_written_into_a_directory_keep_its_other_files(tmp_path):
    out = tmp_path / "results"
    write_files(out, {"results.json": "[]", "plot.png": lambda path: path.write_bytes(b"png")})
    (out / "notes.txt").write_text("mine")
    write_files(out, {"results.json": "[1]"})
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "plot.png", "results.json"]
    assert (out / "results.json").read_text() == "[1]" and (out / "plot.png").read_bytes() == b"png"


def test_a_failure_while_writing_files_replaces_none_of_them(tmp_path):
    out = tmp_path / "results"
    write_files(out, {"results.json": "old", "plot.png": b"old"})

    def fail(path):
        raise OSError(28, "No space left on device")

    with pytest.raises(UserError, match="No space left"):
        write_files(out, {"results.json": "new", "plot.png": fail})
    assert (out / "results.json").read_text() == "old" and (out / "plot.png").read_bytes() == b"old"
    assert sorted(p.name for p in out.iterdir()) == ["plot.png", "results.json"]


def test_files_are_not_written_over_a_directory_or_into_a_file(tmp_path):
    out = tmp_path / "results"
    (out / "results.json").mkdir(parents=True)
    with pytest.raises(UserError, match="is a directory"):
        write_files(out, {"meta.json": "{}", "results.json": "[]"})
    assert not (out / "meta.json").exists()
    (tmp_path / "afile").write_text("keep")
    with pytest.raises(UserError, match="exists and is not a directory"):
        write_files(tmp_path / "afile", {"results.json": "[]"})
    assert (tmp_path / "afile").read_text() == "keep"


def test_a_new_directory_takes_the_first_free_name_and_appears_complete(tmp_path):
    names = ["run", "run_2", "run_3"]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("taken")
    (tmp_path / "run_2").write_text("a file")
    created = write_new_directory(tmp_path, names, {"config.yaml": "mine", "versions.json": "{}"})
    assert created == tmp_path / "run_3"
    assert sorted(p.name for p in created.iterdir()) == ["config.yaml", "versions.json"]
    with pytest.raises(UserError, match="every name from run to run_3 is taken"):
        write_new_directory(tmp_path, names, {"config.yaml": "late"})
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # no staging left


def test_new_directories_created_together_each_get_their_own(tmp_path):
    names = [f"run_{i}" for i in range(10)]
    with ThreadPoolExecutor(4) as pool:
        created = list(pool.map(lambda i: write_new_directory(tmp_path, names, {"id": str(i)}), range(8)))
    assert sorted(path.name for path in created) == sorted(names[:8])
    assert sorted((path / "id").read_text() for path in created) == [str(i) for i in range(8)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[:8])


def test_a_new_directory_in_a_parent_that_is_a_file_is_a_user_error(tmp_path):
    (tmp_path / "runs").write_text("a file")
    with pytest.raises(UserError, match="cannot create a directory in it"):
        write_new_directory(tmp_path / "runs", ["run"], {"config.yaml": ""}, what="--run-dir")
    assert (tmp_path / "runs").read_text() == "a file"


def test_a_locked_directory_refuses_a_second_writer_until_it_is_released(tmp_path):
    from envs.files import DirectoryLock

    held = rf"run directory {tmp_path}: process {os.getpid()} is writing to it"
    with DirectoryLock(tmp_path, "run directory"), pytest.raises(UserError, match=held):
        DirectoryLock(tmp_path, "run directory").acquire()
    DirectoryLock(tmp_path, "run directory").acquire().release()  # free again


def test_a_lock_file_that_is_a_symlink_is_refused(tmp_path):
    from envs.files import DirectoryLock

    (tmp_path / "elsewhere").write_text("keep")
    (tmp_path / ".lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UserError, match="symbolic link"):
        DirectoryLock(tmp_path, "--out").acquire()
    assert (tmp_path / "elsewhere").read_text() == "keep"
