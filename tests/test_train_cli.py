"""The trainer end to end under torchrun (two gloo ranks): logs, checkpoints, `idm separate`, Ctrl-C."""

import os
import signal
import subprocess
import sys
import time

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import REPO, read_folder, run_idm
from idm.constants import CLASS_NAMES
from trainer.config import load_config, with_data_kits

TINY = REPO / "configs" / "tiny.yaml"


def torchrun(*args, nproc: int = 2) -> list:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "trainer.train", "--config", str(TINY), *map(str, args)]


def short_run(folder, out, *extra) -> list:
    return [f"data.folder={folder}", f"log.out={out}", "data.crop_seconds=1.0", "data.val_crops=4",
            "train.batch_size=4", *extra]


def test_torchrun_trains_logs_and_writes_checkpoints_idm_loads(stemgmd_data, tmp_path, clip_path):
    out = tmp_path / "run"
    args = short_run(stemgmd_data[0], out, "train.steps=4", "log.every=2", "log.val_every=2",
                     "log.checkpoint_every=2", "log.media_clips=1", "log.media_every=2")
    proc = subprocess.run(torchrun(*args), capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "step 4: val loss" in proc.stdout and "done: 4 steps" in proc.stdout

    events = sorted((out / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1  # rank 0 alone writes
    tb = EventAccumulator(str(events[0]), size_guidance={"scalars": 0, "audio": 0, "images": 0})
    tb.Reload()
    scalars = set(tb.Tags()["scalars"])
    for tag in ("train/loss", "train/mrstft", "train/onset_bce", "train/kit_ce", "train/lr", "train/grad_norm",
                "train/crops_per_second", "val/loss", "val/mrstft", "val/onset_f/KD", "val/onset_f_mean",
                "val/kit_accuracy"):
        assert tag in scalars, tag
    assert [e.step for e in tb.Scalars("train/loss")] == [2, 4]
    assert [e.step for e in tb.Scalars("val/loss")] == [2, 4]
    audio = set(tb.Tags()["audio"])
    assert {"clip0/mixture", "clip0/reconstruction", "clip0/separated_kick"} <= audio
    assert len([t for t in audio if t.startswith("clip0/separated_")]) == len(CLASS_NAMES)
    assert tb.Tags()["images"] == ["clip0/onsets"]
    image = tb.Images("clip0/onsets")[-1]
    assert image.height == 9 * 12 and image.width > 170  # one band per class, one column per frame

    saved_config = load_config(out / "config.yaml")
    assert saved_config.to_dict() == with_data_kits(load_config(TINY, args)).to_dict()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    last = torch.load(out / "checkpoints" / "last.pt")
    assert last["step"] == 4 and last["world_size"] == 2 and last["train_config"] == saved_config.to_dict()

    proc = run_idm("separate", clip_path, "-o", tmp_path / "sep", "--checkpoint", out / "checkpoints" / "best.pt",
                   "-q")
    assert proc.returncode == 0, proc.stderr
    stems = read_folder(tmp_path / "sep" / "clip")
    assert sorted(stems) == sorted(CLASS_NAMES.values()) and all(len(s) == 4 * 44100 for s in stems.values())


def test_ctrl_c_stops_every_rank_and_leaves_the_last_checkpoint(stemgmd_data, tmp_path):
    out = tmp_path / "run"
    args = short_run(stemgmd_data[0], out, "train.steps=100000", "log.checkpoint_every=1", "log.val_every=1000")
    proc = subprocess.Popen(torchrun(*args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # its own process group, like a terminal's job
    last = out / "checkpoints" / "last.pt"
    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert last.exists(), proc.communicate()[1].decode()[-3000:]
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("the ranks did not stop within 60 s of Ctrl-C")
    assert proc.returncode != 0
    time.sleep(1)
    try:
        os.killpg(proc.pid, 0)
        left = True
    except ProcessLookupError:
        left = False
    assert not left, "processes of the run are still alive after Ctrl-C"
    assert "interrupted" in stderr.decode()
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["last.pt"]  # no temporary files left
    assert torch.load(last)["step"] >= 1
