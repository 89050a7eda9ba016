"""One writer per run directory: a second writer is refused with the holder's pid and command,
a crashed (SIGKILLed) holder leaves nothing stuck, and the CLI's writers take the lock."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import tfrec  # noqa: F401
from tfrec.cli import main
from tfrec.core.rundir import RunDir
from tfrec.core.runlock import RunLock, RunLockedError

HOLDER = textwrap.dedent(
    """
    import sys, time
    from tfrec.core.runlock import RunLock
    RunLock(sys.argv[1], "tfrec run configs/holder.yaml").acquire()
    print("held", flush=True)
    time.sleep(600)
    """
)


@pytest.fixture
def held_by_another_process(tmp_path):
    """(run, holder process): a separate process holds `run.writer_lock`."""
    run = RunDir(tmp_path / "run")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run.writer_lock)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    yield run, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_second_writer_is_refused_naming_the_holder_until_it_is_killed(held_by_another_process):
    run, proc = held_by_another_process
    with pytest.raises(RunLockedError) as err:
        RunLock(run.writer_lock, "tfrec export cfg.yaml").acquire()
    message = str(err.value)
    assert f"pid {proc.pid}" in message and "(tfrec run configs/holder.yaml)" in message
    assert str(run.root) in message

    proc.send_signal(signal.SIGKILL)  # a crash: no clean-up runs
    proc.wait()
    with RunLock(run.writer_lock, "tfrec export cfg.yaml") as lock:
        assert lock.held and lock.holder()["pid"] == os.getpid()
        assert lock.holder()["command"] == "tfrec export cfg.yaml"
    assert not lock.held
    RunLock(run.writer_lock).acquire().release()  # released: free again


def test_the_lock_is_exclusive_within_one_process_too(tmp_path):
    path = tmp_path / "run.lock"
    with RunLock(path, "first"), pytest.raises(RunLockedError, match=r"\(first\)"):
        RunLock(path, "second").acquire()


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "configs/quickstart.yaml", "--stages", "data"],
        ["train", "retrieval", "configs/quickstart.yaml"],
        ["export", "configs/quickstart.yaml"],
        ["index", "add", "configs/quickstart.yaml", "--items", "new.csv"],
    ],
    ids=["run", "train", "export", "index-add"],
)
def test_cli_writers_refuse_a_locked_run_directory(held_by_another_process, argv, capsys):
    run, proc = held_by_another_process
    rc = main([*argv, "--set", f"run_dir={run.root}"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert f"pid {proc.pid} (tfrec run configs/holder.yaml)" in err
    assert not run.config.exists()  # nothing was written
