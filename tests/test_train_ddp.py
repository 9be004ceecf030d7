"""DDP on the CPU (gloo, real torchrun processes): two ranks train exactly like one process."""

import socket
import subprocess
import sys

import torch

from idm.model import InverseDrumMachine
from trainer.config import load_config

from conftest import REPO, make, make_process

MICRO = ["model.encoder_depths=[1,1,1,1]", "model.synth_channels=4", "model.synth_layers=3",
         "model.synth_kernel=3", "model.one_shot_length=2205", "data.crop_seconds=1.0",
         "data.sampling=duration", "data.val_crops=4", "data.workers=0", "train.device=cpu", "log.every=1",
         "log.val_every=2", "log.checkpoint_every=2", "log.media_every=0"]
"""A very small IDM on 1 s crops of the generated StemGMD data: seconds per step on a laptop."""


def micro_config(data_folder, out, *extra) -> list:
    return MICRO + [f"data.folder={data_folder}", f"log.out={out}", *extra]


def train_worker(out, overrides, nproc: int = 1):
    """tests/train_worker.py alone, or under torchrun with `nproc` gloo processes."""
    out.mkdir(parents=True, exist_ok=True)
    launcher = [sys.executable] if nproc == 1 else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    proc = subprocess.run(launcher + [str(REPO / "tests" / "train_worker.py"), str(out), *map(str, overrides)],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def test_two_ranks_equal_one_process_with_the_whole_batch(stemgmd_data, tmp_path):
    folder = stemgmd_data[0]
    # 2 crops per rank; 4 steps cross an epoch boundary. Adam's default eps divides near-zero gradients
    # by their own size, which turns float32 summation-order noise into 1e-4 weight differences within
    # a few steps whatever the parallelism; eps = 1 keeps Adam's update proportional to the gradient.
    steps = ["train.steps=4", "train.batch_size=4", "optim.eps=1.0", "optim.lr=0.1"]
    train_worker(tmp_path / "ddp", micro_config(folder, tmp_path / "ddp", *steps), nproc=2)
    train_worker(tmp_path / "one", micro_config(folder, tmp_path / "one", *steps))
    rank0, rank1 = (torch.load(tmp_path / "ddp" / f"rank{r}.pt") for r in range(2))
    one = torch.load(tmp_path / "one" / "rank0.pt")
    assert max_difference(rank0["model"], rank1["model"]) == 0.0  # identical across ranks
    initial = torch.load(tmp_path / "one" / "checkpoints" / "last.pt")  # written at step 4
    assert initial["step"] == 4 and initial["world_size"] == 1
    assert max_difference(rank0["model"], one["model"]) < 1e-5
    assert max_difference(one["model"], initial["model"]) == 0.0  # the final checkpoint holds the final weights
    torch.manual_seed(0)
    untrained = InverseDrumMachine(load_config(None, micro_config(folder, tmp_path)).model).state_dict()
    assert max_difference(one["model"], untrained) > 1e-2  # the runs did train
    exp_avg = {str(k): v["exp_avg"] for k, v in one["optimizer"]["state"].items()}
    exp_avg_ddp = {str(k): v["exp_avg"] for k, v in rank0["optimizer"]["state"].items()}
    assert max_difference(exp_avg, exp_avg_ddp) < 1e-5
    saved = torch.load(tmp_path / "ddp" / "checkpoints" / "last.pt")
    assert saved["world_size"] == 2 and len(saved["rng"]) == 2


def test_two_torchrun_nodes_equal_one_process_with_the_whole_batch(stemgmd_data, tmp_path):
    """`make train NNODES=2 RDZV=...` as the README says, twice on this machine: two torchrun "nodes"
    of one gloo rank each meeting at a c10d rendezvous on the loopback address. 32 synthesiser
    channels: the synthesiser's CPU training path (idm.synth_backward) under DDP."""
    folder = stemgmd_data[0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    steps = ["train.steps=4", "train.batch_size=4", "optim.eps=1.0", "optim.lr=0.1", "model.synth_channels=32"]

    def args(out):
        return "ARGS=" + " ".join(micro_config(folder, out, *steps))

    nodes = [make_process("train", "NNODES=2", f"RDZV=127.0.0.1:{port}", f"RUN_ID=nodes-{port}", "NPROC=1",
                          args(tmp_path / "nodes")) for _ in range(2)]
    try:
        one = make("train", "NPROC=1", args(tmp_path / "one"), timeout=600)
        assert one.returncode == 0, one.stderr[-3000:]
        for node in nodes:
            _, err = node.communicate(timeout=600)
            assert node.returncode == 0, err[-3000:]
    finally:
        for node in nodes:
            node.kill()  # a node left waiting at the rendezvous when the other failed
    two_nodes = torch.load(tmp_path / "nodes" / "checkpoints" / "last.pt")
    whole = torch.load(tmp_path / "one" / "checkpoints" / "last.pt")
    assert two_nodes["world_size"] == 2 and whole["world_size"] == 1 and two_nodes["step"] == whole["step"] == 4
    # the all-reduce sums two ranks' gradients where one process sums one batch's: float32 summation
    # order, which 4 steps at lr 0.1 carry to ~2e-5 in a 32-channel synthesiser's weights
    assert max_difference(two_nodes["model"], whole["model"]) < 1e-4
    torch.manual_seed(0)
    untrained = InverseDrumMachine(load_config(None, micro_config(folder, tmp_path, *steps)).model).state_dict()
    assert max_difference(whole["model"], untrained) > 1e-2
