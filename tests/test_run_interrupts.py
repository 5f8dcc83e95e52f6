"""Interrupted and failing runs: SIGINT/SIGTERM keep the checkpoint and say how to resume; a full
disk ends in one line with no torn file; a resumed run ends where an uninterrupted one does."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atom_sdk.cli.main import main

ARGS = ["--grid", "16", "16", "4", "--steps", "256", "--seed", "3", "--variant", "v2_hybrid", "--episode-steps", "64"]


def _final(out: Path) -> dict:
    results = json.loads((out / "results.json").read_text())
    return {"summary": {k: v for k, v in results["summary"].items()}, "laws": results["laws"],
            "episodes": results["episodes"]}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The same run, uninterrupted, in this process."""
    from atom_sdk.experiment import run_experiment

    root = tmp_path_factory.mktemp("ref")
    cfg = {"name": "ref", "steps": 256, "seed": 3, "variant": "v2_hybrid",
           "world": {"grid": [16, 16, 4], "max_episode_steps": 64}}
    run_experiment(cfg, root / "ref")
    return _final(root / "ref")


RESTORE_SIGINT_AND_RUN = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                          "from atom_sdk.cli.main import main; main(sys.argv[1:])")


def _atom_process(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    # a shell's background job inherits SIGINT ignored (so may this test); restore Python's handler
    return subprocess.Popen([sys.executable, "-c", RESTORE_SIGINT_AND_RUN, *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_then_resume_matches_uninterrupted(tmp_path, reference, signum, code):
    proc = _atom_process(["run", "--name", "cut", *ARGS, "--output-root", "root", "--json"], tmp_path)
    checkpoint = tmp_path / "root" / "cut" / "checkpoints" / "latest.msgpack"
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpoint.exists(), proc.communicate()[1]
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == code, err
    lines = [line for line in err.strip().splitlines() if line.strip() and "compiling" not in line]
    assert "Traceback" not in err and len(lines) == 1, err
    assert "checkpoint at step" in lines[0] and "atom run --name cut --output-root root --resume" in lines[0]
    assert not (tmp_path / "root" / "cut" / "results.json").exists()
    assert not list((tmp_path / "root" / "cut").rglob("*.tmp"))

    resumed = subprocess.run([sys.executable, "-m", "atom_sdk", "run", "--name", "cut", "--output-root", "root",
                              "--resume", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert _final(tmp_path / "root" / "cut") == reference


def test_disk_full_is_one_line_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    from atom_sdk import artifacts
    from atom_sdk.config import build_run_config, config_hash
    from atom_sdk.experiment import checkpoint as ckpt

    real_fdopen = os.fdopen
    saves = {"n": 0}

    class FullDisk:
        def __init__(self, handle):
            self._handle = handle

        def write(self, data):
            self._handle.write(data[: len(data) // 2])  # a partial write, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self._handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._handle.close()

    def fdopen(fd, mode="r", *args, **kwargs):
        handle = real_fdopen(fd, mode, *args, **kwargs)
        name = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else ""
        if "latest.msgpack" in name:
            saves["n"] += 1
            if saves["n"] >= 2:
                return FullDisk(handle)
        return handle

    monkeypatch.setattr(artifacts.os, "fdopen", fdopen)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["run", "--name", "full", "--grid", "16", "16", "4", "--steps", "96", "--output-root", "root", "--json"])
    err = capsys.readouterr().err
    assert info.value.code == 3, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "no space left" in lines[0] and "latest.msgpack" in lines[0], err
    out = tmp_path / "root" / "full"
    assert not list(out.rglob("*.tmp")), "a temporary file was left behind"
    assert not (out / "results.json").exists()
    cfg = build_run_config(json.loads((out / "config.json").read_text())["config"])
    restored = ckpt.load(out, config_hash(cfg))  # the first checkpoint survives intact
    assert json.loads(json.dumps(restored["loop"]))["step"] == 32


def test_permission_denied_is_one_line(tmp_path, capsys, monkeypatch):
    import atom_sdk.experiment.preflight as preflight

    def denied(*_args, **_kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "ro" / "x"))

    monkeypatch.setattr(preflight, "claim_output", denied)  # root ignores file modes, so inject it
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["run", "--name", "x", "--grid", "16", "16", "4", "--steps", "8", "--output-root", "ro"])
    err = capsys.readouterr().err
    assert info.value.code == 3, err
    assert "permission denied" in err and "ro/x" in err and len(err.strip().splitlines()) == 1


EXTENDABLE = {
    "name": "ext", "seed": 2, "variant": "v2_hybrid",
    "world": {"name": "analytical:taylor_green", "grid": [8, 8, 1], "max_episode_steps": 40},
    "agent": {"rollout_length": 16, "num_minibatches": 2, "update_epochs": 2, "hidden_sizes": [16, 16],
              "latent_dim": 8, "fourier_modes": 2, "anneal_lr": False},
    "scientist": {"fit_every": 8, "min_samples": 16, "ensemble_size": 8},
}


def _comparable(results: dict) -> dict:
    return {"summary": results["summary"], "laws": results["laws"], "episodes": results["episodes"],
            "trust": results["trust_trajectory"]}


def test_resume_with_more_steps_extends_a_finished_run_exactly(tmp_path):
    from atom_sdk.experiment import run_experiment

    run_experiment({**EXTENDABLE, "steps": 48}, tmp_path / "ext")
    extended = run_experiment({**EXTENDABLE, "steps": 96}, tmp_path / "ext", resume=True)
    fresh = run_experiment({**EXTENDABLE, "steps": 96}, tmp_path / "fresh")
    assert extended["summary"]["steps"] == 96 and extended["provenance"]["extended_from_steps"] == 48
    assert _comparable(extended) == _comparable(fresh)


def test_extension_refused_when_it_cannot_be_exact(tmp_path):
    from atom_sdk.errors import ConfigError
    from atom_sdk.experiment import run_experiment

    run_experiment({**EXTENDABLE, "steps": 40}, tmp_path / "ext")  # 40 is not a multiple of 16
    with pytest.raises(ConfigError, match="last rollout was shorter"):
        run_experiment({**EXTENDABLE, "steps": 96}, tmp_path / "ext", resume=True)


def test_device_cpu_is_recorded(tmp_path):
    from atom_sdk.experiment import run_experiment

    results = run_experiment({**EXTENDABLE, "steps": 16, "device": "cpu"}, tmp_path / "dev")
    assert results["provenance"]["device"]["requested"] == "cpu"
    assert results["provenance"]["device"]["platform"] == "cpu"


def test_device_gpu_without_a_gpu_is_an_input_error(tmp_path, capsys, monkeypatch):
    import jax

    try:
        jax.devices("gpu")
        pytest.skip("this machine has a GPU")
    except RuntimeError:
        pass
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["run", "--name", "g", "--device", "gpu", "--output-root", "root"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "no GPU backend" in err and "--device cpu" in err
    assert not (tmp_path / "root").exists()


def test_accelerator_out_of_memory_is_one_line(capsys):
    from atom_sdk.cli.boundary import EXIT_ENVIRONMENT, run_with_boundary

    class XlaRuntimeError(RuntimeError):
        pass

    def boom():
        raise XlaRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 68719476736 bytes.\n"
                              "BufferAssignment OOM Debugging.\n...")

    assert run_with_boundary(boom) == EXIT_ENVIRONMENT
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "out of memory" in err and "smaller --grid" in err
