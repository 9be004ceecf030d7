"""Checkpoint loading: the released file through the name table, our own format, and failures."""

import functools
import http.server
import shutil
import threading

import pytest
import torch

from idm import InverseDrumMachine, ModelConfig, load_model, save_model
from idm.checkpoint import PRETRAINED, RELEASED_NAMES, CheckpointError, rename_released, resolve_checkpoint
from idm.mel import mel_filterbank

from conftest import run_idm

NAME = "idm-44-train-kits"


@pytest.fixture(scope="module")
def released_file():
    return resolve_checkpoint(NAME)


def test_released_checkpoint_maps_every_tensor(released_file):
    blob = torch.load(released_file, map_location="cpu", weights_only=True)
    state = blob["state_dict"]
    assert len(state) == 330 and sum(v.numel() for v in state.values()) == 608642
    renamed = rename_released(state)
    assert len(renamed) == 329  # all but the unused conditioning_vector
    model = InverseDrumMachine()
    assert set(renamed) == set(model.state_dict())
    # the envelope's `scale` is a buffer, as in the authors' code (exactly 20.0 after ~400k steps):
    # 541 938 trainable numbers, not 541 939 as when it was wrongly a parameter
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 541938
    assert "synth.envelope.scale" in dict(model.named_buffers())
    assert renamed["synth.envelope.scale"].item() == 20.0


def test_every_table_rule_is_used(released_file):
    import re

    state = torch.load(released_file, map_location="cpu", weights_only=True)["state_dict"]
    for pattern, _ in RELEASED_NAMES:
        assert any(re.fullmatch(pattern, name) for name in state), pattern


def test_our_mel_filterbank_equals_the_stored_buffer(model):
    assert torch.allclose(mel_filterbank(513, 128), model.encoder.mel.filterbank, atol=1e-6)


def test_own_format_round_trip(tmp_path, model):
    path = tmp_path / "m.pt"
    save_model(model, path)
    again = load_model(path)
    for (n1, a), (n2, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert n1 == n2 and torch.equal(a, b)
    small = InverseDrumMachine(ModelConfig(synth_channels=8, synth_layers=3, one_shot_length=4410))
    save_model(small, tmp_path / "small.pt")
    assert load_model(tmp_path / "small.pt").config == small.config


def test_missing_and_unused_tensors_are_listed(tmp_path, released_file):
    blob = torch.load(released_file, map_location="cpu", weights_only=True)
    del blob["state_dict"]["encoder.pooling.classifier.2.bias"]
    path = tmp_path / "missing.ckpt"
    torch.save(blob, path)
    with pytest.raises(CheckpointError, match=r"missing 1: kit_classifier\.out\.bias"):
        load_model(path)
    blob["state_dict"]["encoder.extra.weight"] = torch.zeros(1)
    torch.save(blob, path)
    with pytest.raises(CheckpointError, match=r"encoder\.extra\.weight"):
        load_model(path)


def test_truncated_and_foreign_files(tmp_path, released_file):
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(released_file.read_bytes()[:100000])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_model(truncated)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_model(text)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_model(tmp_path / "nothing.ckpt")


def test_checksum_mismatch_in_checkpoint_folder(tmp_path, monkeypatch, released_file):
    folder = tmp_path / NAME
    folder.mkdir()
    data = bytearray(released_file.read_bytes())
    data[-10] ^= 0xFF
    (folder / PRETRAINED[NAME]["filename"]).write_bytes(bytes(data))
    monkeypatch.setenv("IDM_CHECKPOINTS", str(tmp_path))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_model(NAME)


def test_offline_error_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("IDM_CHECKPOINTS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setitem(PRETRAINED, NAME, dict(PRETRAINED[NAME], url="http://127.0.0.1:9/none.ckpt"))
    with pytest.raises(CheckpointError, match=r"offline, put val-epoch=518-global_step=0\.ckpt") as err:
        load_model(NAME)
    assert str(tmp_path / "idm" / NAME) in str(err.value)
    assert not any((tmp_path / "idm" / NAME).iterdir())  # no partial download left behind


@pytest.fixture
def served(tmp_path, released_file):
    root = tmp_path / "www"
    root.mkdir()
    shutil.copy(released_file, root / "good.ckpt")
    (root / "bad.ckpt").write_bytes(b"x" * 1000)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_verifies_and_caches(tmp_path, monkeypatch, served):
    monkeypatch.delenv("IDM_CHECKPOINTS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setitem(PRETRAINED, NAME, dict(PRETRAINED[NAME], url=f"{served}/bad.ckpt"))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_model(NAME)
    cached = tmp_path / "cache" / "idm" / NAME / PRETRAINED[NAME]["filename"]
    assert not cached.exists() and not any(cached.parent.iterdir())
    monkeypatch.setitem(PRETRAINED, NAME, dict(PRETRAINED[NAME], url=f"{served}/good.ckpt"))
    assert isinstance(load_model(NAME), InverseDrumMachine)
    assert cached.is_file()


def test_folder_path_with_one_checkpoint(tmp_path, model):
    save_model(model, tmp_path / "run" / "best.pt")
    assert isinstance(load_model(tmp_path / "run"), InverseDrumMachine)
    save_model(model, tmp_path / "run" / "last.pt")
    with pytest.raises(CheckpointError, match="expected one .ckpt or .pt file, found 2"):
        load_model(tmp_path / "run")


def test_list_models_names_each_model_and_its_file():
    proc = run_idm("separate", "--list-models")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("idm-44-train-kits (default): released IDM")
    assert str(resolve_checkpoint("idm-44-train-kits")) in proc.stdout
    proc = run_idm("separate")
    assert proc.returncode == 1 and "give audio files or folders to separate (or --list-models)" in proc.stderr


def test_the_recorded_kits_model_ships_with_the_package_and_is_verified(tmp_path, monkeypatch, clip_path):
    """idm-44-recorded-kits: in idm/models, its sha256 checked, the released synthesiser and kits with
    a trained analysis, a track context and a spectral onset branch; listed, and separated with by name."""
    from idm import checkpoint
    from evaluation.systems import parse_system

    name = "idm-44-recorded-kits"
    path = resolve_checkpoint(name)
    assert path == checkpoint.BUNDLED / f"{name}.pt" and (checkpoint.BUNDLED / f"{name}.md").is_file()
    ours, released = load_model(name), load_model(NAME)
    assert ours.config.kits == released.config.kits
    theirs = released.state_dict()
    added = set(ours.state_dict()) - set(theirs)
    assert {k.split(".")[0] for k in added} == {"context", "spectral"} and set(theirs) <= set(ours.state_dict())
    changed = {k for k, v in ours.state_dict().items() if k not in added and not torch.equal(v, theirs[k])}
    assert changed and not any(k.startswith("synth.") for k in changed)
    assert parse_system(f"{name}+gt-onsets") == ("idm", name, "gt-onsets")
    proc = run_idm("separate", "--list-models")
    assert f"{name}: " in proc.stdout and str(path) in proc.stdout
    proc = run_idm("separate", clip_path, "-n", name, "-o", tmp_path / "out", "-q")
    assert proc.returncode == 0 and (tmp_path / "out" / "clip" / "tom_mid.wav").is_file(), proc.stderr
    corrupt = tmp_path / "models"
    corrupt.mkdir()
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    (corrupt / f"{name}.pt").write_bytes(bytes(data))
    monkeypatch.setattr(checkpoint, "BUNDLED", corrupt)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_model(name)
    (corrupt / f"{name}.pt").unlink()
    with pytest.raises(CheckpointError, match="missing from this installation"):
        load_model(name)
