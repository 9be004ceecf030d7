"""The trainer's datasets over the preprocessed generated tree: crop lengths, onsets shifted into
the crop, peak normalisation, determinism across workers, fixed clips, stems, collate."""

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from data.datasets import ClipDataset, CropDataset, collate
from data.manifest import read_manifest

CODES = ("CY_CR", "CY_RD", "HH_CHH", "HH_OHH", "KD", "SD", "TT_HFT", "TT_HMT", "TT_LMT")


def annotation(path):
    """{class: times} read from an annotation TSV here, with the header skipped."""
    lines = [line.split("\t") for line in path.read_text().splitlines()[1:]]
    return {c: np.array([float(t) for t, k, _ in lines if k == c]) for c in CODES}


def test_crops_hold_the_right_audio_and_shifted_onsets(stemgmd_data):
    out, _ = stemgmd_data
    ds = CropDataset(out, "train_train_kits", seconds=6.0, seed=5, crops_per_epoch=12)
    row = read_manifest(out)[[r["split"] for r in read_manifest(out)].index("train_train_kits")]
    mixture, _ = sf.read(str(out / row["mixture"]), dtype="float32")
    onsets = annotation(out / row["annotation"])
    offsets = set()
    for i in range(len(ds)):
        example = ds[i]
        k, offset = ds.crop(i)
        offsets.add(offset)
        assert example["mixture"].shape == (6 * 44100,) and example["length"] == 6 * 44100
        assert 0 <= offset <= len(mixture) - 6 * 44100 and example["offset"] == offset / 44100
        piece = mixture[offset:offset + 6 * 44100]
        assert example["mixture"].abs().max() == pytest.approx(1.0)
        np.testing.assert_allclose(example["mixture"].numpy() / example["scale"], piece, atol=1e-3, rtol=2e-3)
        start = offset / 44100
        for c, code in enumerate(CODES):
            times = onsets[code]
            expected = times[(times >= start) & (times < start + 6.0)] - start
            np.testing.assert_allclose(example["onsets"][c], expected, atol=1e-9)
        assert example["kit_id"] == 0
    assert len(offsets) == len(ds)  # 12 different crops
    assert sum(len(t) for t in ds[0]["onsets"]) > 10


def test_crops_are_deterministic_and_worker_safe(stemgmd_data):
    out, _ = stemgmd_data
    a = CropDataset(out, ["train_train_kits", "val_train_kits"], seed=7, crops_per_epoch=16)
    b = CropDataset(out, ["train_train_kits", "val_train_kits"], seed=7, crops_per_epoch=16)
    assert [a.crop(i) for i in range(16)] == [b.crop(i) for i in range(16)]
    assert len({a.rows[a.crop(i)[0]]["split"] for i in range(16)}) == 2
    b.set_epoch(1)
    assert [a.crop(i) for i in range(16)] != [b.crop(i) for i in range(16)]
    assert [a.crop(i) for i in range(16)] != [CropDataset(out, ["train_train_kits", "val_train_kits"], seed=8,
                                                          crops_per_epoch=16).crop(i) for i in range(16)]
    serial = list(DataLoader(a, batch_size=4, collate_fn=collate))
    parallel = list(DataLoader(a, batch_size=4, collate_fn=collate, num_workers=2))
    assert len(serial) == len(parallel) == 4
    for x, y in zip(serial, parallel):
        assert torch.equal(x["mixture"], y["mixture"]) and x["id"] == y["id"]
        assert all(np.array_equal(p, q) for s, t in zip(x["onsets"], y["onsets"]) for p, q in zip(s, t))


def test_clips_full_length_fixed_offset_and_stems(stemgmd_data):
    out, _ = stemgmd_data
    rows = {r["id"]: r for r in read_manifest(out)}
    full = ClipDataset(out, ["eval_session_train_kits", "eval_session_test_kits"], normalize=False, stems=True)
    assert len(full) == 2
    batch = collate([full[0], full[1]])
    assert batch["kit_id"].tolist() == [0, 6]
    assert batch["mixture"].shape[0] == 2 and batch["stems"].shape[:2] == (2, 9)
    for j, item_id in enumerate(batch["id"]):
        n = rows[item_id]["samples"]
        assert batch["lengths"][j] == n
        mixture, _ = sf.read(str(out / rows[item_id]["mixture"]), dtype="float32")
        np.testing.assert_allclose(batch["mixture"][j, :n].numpy(), mixture, atol=1e-3, rtol=2e-3)
        np.testing.assert_allclose(batch["stems"][j, :, :n].sum(0).numpy(), mixture, atol=1e-5)
        assert [len(t) for t in batch["onsets"][j]] == [rows[item_id][f"n_{c}"] for c in CODES]
    window = ClipDataset(out, "val_train_kits", seconds=4.0, offset=2.0)
    example = window[0]
    assert example["mixture"].shape == (4 * 44100,) and example["offset"] == 2.0
    times = annotation(out / window.rows[0]["annotation"])["KD"]
    np.testing.assert_allclose(example["onsets"][CODES.index("KD")], times[(times >= 2) & (times < 6)] - 2, atol=1e-9)


def test_dataset_errors_name_the_problem(stemgmd_data, tmp_path):
    out, _ = stemgmd_data
    with pytest.raises(ValueError, match="no items in split 'val_test_kits'"):
        CropDataset(out, "val_test_kits")
    with pytest.raises(ValueError, match="has items without stems"):
        CropDataset(out, "train_train_kits", stems=True)
    with pytest.raises(FileNotFoundError, match="no manifest here"):
        CropDataset(tmp_path)


def test_items_sampling_takes_every_item_once_per_epoch(stemgmd_data):
    out, _ = stemgmd_data
    splits = ["eval_session_train_kits", "eval_session_test_kits", "val_train_kits"]
    ds = CropDataset(out, splits, seconds=1.0, seed=1, sampling="items")
    assert len(ds) == len(ds.rows) == 3  # the released run's epoch: one crop per item
    orders = {tuple(ds.crop(i, epoch)[0] for i in range(len(ds))) for epoch in range(8)}
    assert all(sorted(order) == [0, 1, 2] for order in orders) and len(orders) > 1  # a new order each epoch
    longer = CropDataset(out, splits, seconds=1.0, seed=1, sampling="items", crops_per_epoch=7)
    items = [longer.crop(i, 0)[0] for i in range(7)]
    assert sorted(items[:3]) == sorted(items[3:6]) == [0, 1, 2]
    assert len(CropDataset(out, splits, seconds=1.0, sampling="items", max_crops=2)) == 2
    with pytest.raises(ValueError, match="sampling must be one of items, duration"):
        CropDataset(out, splits, sampling="uniform")
