"""The tiny config learns: on generated grooves, held-out onset F-measure rises far above chance and
the reconstruction loss falls, within a few minutes of CPU training."""

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import REPO, run_module
from data.datasets import ClipDataset
from evaluation.transcription import pooled_onset_f
from idm import load_model
from idm.constants import CLASSES
from idm.model import InverseDrumMachine
from trainer.config import load_config
from trainer.distributed import Context
from trainer.validation import validate, validation_loader, validation_set

STEPS = 400
BATCH = 4
"""Many small steps: onsets start to be learned after about 200 (on the held-out takes)."""
VAL_EVERY = 50
HELD_OUT = ("val_train_kits", "test_train_kits", "eval_session_train_kits")
MAIN_CLASSES = ("KD", "SD", "HH_CHH")


@pytest.fixture(scope="session")
def groove_data(tmp_path_factory):
    """The demo grooves (8 training, 6 held-out performances) with two training kits, preprocessed.
    Rendered with FluidSynth when it is installed (as in CI), else with procedural sounds."""
    from data.generate import DEMO_TAKES, generate
    root = tmp_path_factory.mktemp("grooves")
    generate(root / "stemgmd", DEMO_TAKES, ("brooklyn", "heavy"), renderer="auto", seed=0)
    proc = run_module("data.preprocess", "stemgmd", root / "stemgmd", root / "data", "-j", "2")
    assert proc.returncode == 0, proc.stderr
    return root / "data"


def test_tiny_config_learns_onsets_and_reconstruction(groove_data, tmp_path):
    out = tmp_path / "run"
    overrides = [f"data.folder={groove_data}", f"log.out={out}", f"train.steps={STEPS}", f"train.batch_size={BATCH}",
                 f"log.val_every={VAL_EVERY}",
                 "log.checkpoint_every=1000", "log.media_every=0"]
    proc = run_module("trainer.train", "--config", REPO / "configs" / "tiny.yaml", *overrides, timeout=2700)
    assert proc.returncode == 0, proc.stderr[-3000:]

    config = load_config(REPO / "configs" / "tiny.yaml", overrides)
    torch.manual_seed(config.train.seed)
    untrained = InverseDrumMachine(config.model).eval()
    trained = load_model(out / "checkpoints" / "last.pt")
    clips = ClipDataset(groove_data, HELD_OUT)
    assert len(clips) == 12  # 6 performances x 2 kits, none seen in training
    before, after, chance = pooled_onset_f(untrained, clips), pooled_onset_f(trained, clips), pooled_onset_f(trained, clips, shift=3)
    print("\nheld-out onset F (class: untrained, chance, trained):",
          {c: (round(before[c], 3), round(chance[c], 3), round(after[c], 3)) for c in CLASSES})
    for c in MAIN_CLASSES:
        assert after[c] > chance[c] + 0.1 and after[c] > before[c] + 0.1, c
    assert sum(after[c] for c in MAIN_CLASSES) > 2 * sum(chance[c] for c in MAIN_CLASSES)

    # reconstruction: the validation loss terms of the untrained and the trained model, on the same crops
    loader = validation_loader(validation_set(config.data), Context(), 8, 0)
    start, end = (validate(m, loader, Context(), config, None) for m in (untrained, trained))
    tb = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0})
    tb.Reload()
    logged = [e.value for e in tb.Scalars("val/mrstft")]
    print(f"validation MRSTFT {start['mrstft']:.3f} untrained -> {end['mrstft']:.3f}; logged every {VAL_EVERY} steps:",
          [round(v, 3) for v in logged])
    assert len(logged) == STEPS // VAL_EVERY and logged[-1] == pytest.approx(end["mrstft"], rel=1e-4)
    assert end["mrstft"] < 0.5 * start["mrstft"] and logged[-1] < logged[0]
