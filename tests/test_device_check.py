"""The prepared device check: `make device-check` on the CPU (every check small, the GPU-only one
skipped), and the preparation for a GPU machine without network (benchmarks/device_check.sh)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, make

sys.path.insert(0, str(REPO / "benchmarks"))
from device_check import CHECKS  # noqa: E402

SHARED_CHECKPOINT = REPO.parent / "shared" / "pretrained" / "idm-44-train-kits"


def test_make_device_check_runs_every_check_small_on_the_cpu(tmp_path):
    proc = make("device-check", "DEVICE=cpu", f"OUT={tmp_path}", timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "device_check.json").read_text())
    checks = report["checks"]
    assert list(checks) == list(CHECKS)
    assert report["device"] == "cpu" and report["torch"] and report["total_s"] < 600
    assert checks["max_batch"]["ok"] is None and "needs a GPU" in checks["max_batch"]["skipped"]
    assert all(checks[name]["ok"] is True for name in CHECKS if name != "max_batch"), checks
    # the CPU's synthesiser path against its definition (what a GPU runs), on the real demo loop
    parity = checks["separate_parity"]
    assert parity["worst_snr_db"] > 60 and parity["onset_count_differences"] == 0 and len(parity["snr_db"]) >= 5
    step = checks["train_step_parity"]
    assert step["parameters_compared"] > 300 and step["losses_cpu"]["mrstft"] > 0
    assert max(step["loss_relative_difference"].values()) < 1e-5 and step["grad_norm_relative_difference_max"] < 5e-3
    for name in ("train_speed_fp32", "train_speed_bf16"):
        assert all(r["crops_per_s"] > 0 and r["peak_gib"] > 0 for r in checks[name]["runs"])
    assert [r["recompute_synth"] for r in checks["train_speed_fp32"]["runs"]] == [False, True]
    resume = checks["ddp_resume"]
    assert resume["ranks"] == 2 and resume["backend"] == "gloo"
    assert resume["killed_after_step"] < resume["steps"] and resume["max_weight_difference"] == 0.0
    assert checks["separate_long"]["stems_written"] == 9 and checks["separate_long"]["exit_status"] == 0
    table = (tmp_path / "device_check.md").read_text()
    for name in CHECKS:
        assert f"| {name} | {'skipped' if name == 'max_batch' else 'yes'} |" in table
    assert not list(tmp_path.glob("*.tmp")) and not (tmp_path / "device_check.prior.json").exists()


def test_an_unknown_check_is_a_one_line_error(tmp_path):
    proc = subprocess.run([sys.executable, "benchmarks/device_check.py", "--device", "cpu", "--only", "speed",
                           "--out", str(tmp_path / "report")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"device_check: error: unknown check 'speed' (checks: {', '.join(CHECKS)})"
    assert not (tmp_path / "report").exists()


def processes_with(*parts) -> list:
    """Command lines of running processes that hold every one of `parts`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if all(part in text for part in parts):
            found.append(text)
    return found


def test_a_check_past_its_limit_is_killed_with_its_workers_and_the_run_goes_on(tmp_path):
    proc = subprocess.run([sys.executable, "benchmarks/device_check.py", "--device", "cpu", "--only",
                           "ddp_resume,separate_long", "--limit", "20", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    checks = json.loads((tmp_path / "device_check.json").read_text())["checks"]
    assert checks["ddp_resume"] == {"ok": False, "error": "ran past its limit of 20 s",
                                    "seconds": checks["ddp_resume"]["seconds"], "estimate_h100_s": 80}
    assert checks["separate_long"]["ok"] is None and checks["separate_long"]["skipped"] == \
        "the run's limit of 20 s was reached"
    assert "| ddp_resume | **no** |" in (tmp_path / "device_check.md").read_text()
    assert "failed: ddp_resume" in proc.stdout.splitlines()[-1]
    time.sleep(1)
    assert not processes_with("trainer.train", "log.checkpoint_every=2", "data.val_crops=2")


def prepare(folder: str, **env) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bash", "benchmarks/device_check.sh", folder], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, PYTHON=sys.executable, SHARED=str(REPO.parent / "shared"), **env))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.fixture
def prep_folders():
    names = [f"device_check_test_{os.getpid()}_{n}" for n in ("gpu", "here")]
    yield names
    for name in names:
        shutil.rmtree(REPO / name, ignore_errors=True)


def test_preparation_carries_the_checkpoint_and_wheels_for_the_gpu_machine(prep_folders, tmp_path):
    gpu, here = prep_folders
    command = prepare(gpu).stdout.strip().splitlines()[-1]
    prep = REPO / gpu
    for name in ("model.yaml", "val-epoch=518-global_step=0.ckpt"):
        copied = prep / "pretrained" / "idm-44-train-kits" / name
        assert copied.read_bytes() == (SHARED_CHECKPOINT / name).read_bytes()
    site = prep / "site"
    assert (site / "soundfile.py").is_file() and (site / "mir_eval" / "__init__.py").is_file()
    assert list((site / "_soundfile_data").glob("libsndfile*.so")), "soundfile's bundled libsndfile"
    assert list(site.glob("_cffi_backend.cpython-312-x86_64-linux-gnu.so")), "cffi built for the GPU machine's 3.12"
    assert not (REPO / f"{gpu}.partial").exists()
    ignored = subprocess.run(["git", "check-ignore", "-q", gpu], cwd=REPO)
    assert ignored.returncode == 0, "the prepared folder must be ignored (it travels as a carried path)"
    assert command == (f"IDM_CHECKPOINTS=$PWD/{gpu}/pretrained PYTHONPATH=$PWD/{gpu}/site python3 "
                       "benchmarks/device_check.py --device cuda --out $OUT/device_check")

    # the same preparation for this interpreter's version: the printed command works as written,
    # importing soundfile and mir_eval from the prepared folder and finding the checkpoint there
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    command = prepare(here, PY_VERSION=version).stdout.strip().splitlines()[-1]
    probe = ("import soundfile, mir_eval; from idm.checkpoint import resolve_checkpoint; "
             "print(soundfile.__file__); print(mir_eval.__file__); print(resolve_checkpoint('idm-44-train-kits'))")
    env = {k: v for k, v in os.environ.items() if k != "IDM_CHECKPOINTS"}
    run_here = command.replace("python3 benchmarks/device_check.py --device cuda", f"{sys.executable} -c \"{probe}\" #")
    proc = subprocess.run(["bash", "-c", f"cd {REPO} && {run_here}"], capture_output=True, text=True,
                          env=dict(env, OUT=str(tmp_path), PYTHONPATH=""))
    assert proc.returncode == 0, proc.stderr[-2000:]
    paths = proc.stdout.strip().splitlines()
    assert paths[0].startswith(str(REPO / here / "site")) and paths[1].startswith(str(REPO / here / "site"))
    assert paths[2] == str(REPO / here / "pretrained" / "idm-44-train-kits" / "val-epoch=518-global_step=0.ckpt")
