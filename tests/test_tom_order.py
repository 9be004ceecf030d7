"""The mid tom split off by pitch (`idm.tom_order`), on tom tracks generated here and written as WAV."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import REPO, run_idm
from data.recorded_kits import hydrogen_instruments, read_kit_list
from evaluation.transcription import score_onsets
from evaluation.systems import describe, parse_system
from idm.audio import read_audio
from idm.config import ModelConfig
from idm.constants import CLASSES, FRAME_RATE, HOP_LENGTH, SAMPLE_RATE
from idm.peaks import model_peak_params, peak_pick
from idm.separate import detect_onsets, transcribe
from idm.tom_order import HIGH, LOW, MID, MID_TOM_GAP, hit_pitch, split_mid_tom, split_toms

KICK = CLASSES.index("KD")
PITCHES = {LOW: 82.0, MID: 125.0, HIGH: 150.0}
"""Hz of the generated toms: the mid tom 3.2 semitones below the high one, as in ForzeeStereo."""


def tom_track(path, hits, seed=0):
    """A WAV of decaying tom hits {frame: Hz} over noise with a kick every 90 frames (between the
    toms' hits of `frames_of`), written to `path` and read back as float32."""
    rng = np.random.default_rng(seed)
    n = (max(hits) + 200) * HOP_LENGTH
    t = np.arange(int(0.6 * SAMPLE_RATE)) / SAMPLE_RATE
    x = 0.01 * rng.standard_normal(n)
    for frame in range(10, n // HOP_LENGTH - 100, 90):
        a = frame * HOP_LENGTH
        x[a:a + len(t)] += 0.5 * np.sin(2 * np.pi * 55 * t) * np.exp(-t / 0.08)
    for frame, hz in hits.items():
        hz *= 2 ** (rng.uniform(-0.3, 0.3) / 12)
        a = frame * HOP_LENGTH
        hit = np.sin(2 * np.pi * hz * t) * np.exp(-t / 0.25) + 0.3 * rng.standard_normal(len(t)) * np.exp(-t / 0.01)
        x[a:a + len(t)] += 0.3 * hit
    sf.write(str(path), (x / np.abs(x).max() * 0.9).astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
    audio, rate = sf.read(str(path), dtype="float32")
    assert rate == SAMPLE_RATE
    return audio


def frames_of(toms: dict, start: int = 30, every: int = 45) -> dict:
    """{tom: frames}, the toms' hits taking turns every `every` frames."""
    order = [k for k in toms for _ in range(toms[k])]
    np.random.default_rng(1).shuffle(order)
    out = {k: [] for k in toms}
    for i, k in enumerate(order):
        out[k].append(start + i * every)
    return out


def grid_of(labelled: dict, n_frames: int) -> np.ndarray:
    """A picked onset grid (K, M) with the given {row: frames}, and kicks at frames 10 and 100."""
    grid = np.zeros((len(CLASSES), n_frames), dtype=np.float32)
    grid[KICK, [10, 100]] = 1
    for row, frames in labelled.items():
        grid[row, frames] = 1
    return grid


def test_hit_pitch_reads_each_toms_pitch_from_a_wav(tmp_path):
    frames = frames_of({LOW: 4, MID: 4, HIGH: 4})
    audio = tom_track(tmp_path / "toms.wav", {f: PITCHES[k] for k, fs in frames.items() for f in fs})
    for k, fs in frames.items():
        for f in fs:
            assert abs(12 * np.log2(hit_pitch(audio, f) / PITCHES[k])) < 0.8  # hits are detuned by up to 0.3
    assert np.isnan(hit_pitch(audio, len(audio) // HOP_LENGTH - 2))  # the track ends within the window


@pytest.mark.parametrize("heard_as", [LOW, HIGH])
def test_a_mid_tom_heard_as_another_tom_is_split_off_by_pitch(tmp_path, heard_as):
    frames = frames_of({LOW: 8, MID: 8, HIGH: 6})
    audio = tom_track(tmp_path / "toms.wav", {f: PITCHES[k] for k, fs in frames.items() for f in fs})
    other = HIGH if heard_as == LOW else LOW
    heard = grid_of({heard_as: frames[heard_as] + frames[MID], other: frames[other]}, len(audio) // HOP_LENGTH)
    split = split_mid_tom(heard, audio, MID_TOM_GAP)
    assert split is not heard and heard[MID].sum() == 0  # the input is left as it was
    for k in (LOW, MID, HIGH):
        assert np.flatnonzero(split[k]).tolist() == frames[k]
    untouched = [k for k in range(len(CLASSES)) if k not in (LOW, MID, HIGH)]
    np.testing.assert_array_equal(split[untouched], heard[untouched])


def test_toms_without_parted_pitches_stay_as_heard(tmp_path):
    frames = frames_of({LOW: 8, HIGH: 8})  # two toms, as a kit without a mid tom
    audio = tom_track(tmp_path / "two.wav", {f: PITCHES[k] for k, fs in frames.items() for f in fs})
    heard = grid_of(frames, len(audio) // HOP_LENGTH)
    np.testing.assert_array_equal(split_mid_tom(heard, audio, MID_TOM_GAP), heard)
    three = frames_of({LOW: 8, MID: 8, HIGH: 6})
    audio = tom_track(tmp_path / "three.wav", {f: PITCHES[k] for k, fs in three.items() for f in fs})
    heard = grid_of({LOW: three[LOW] + three[MID], HIGH: three[HIGH]}, len(audio) // HOP_LENGTH)
    np.testing.assert_array_equal(split_mid_tom(heard, audio, 12.0), heard)  # 7 semitones apart: not 12
    octaves = frames_of({LOW: 8, HIGH: 8})  # a "group" two octaves up is a harmonic or another drum
    audio = tom_track(tmp_path / "octaves.wav", {f: 82.0 * (4 if k == HIGH else 1) for k, fs in octaves.items()
                                                 for f in fs})
    heard = grid_of({LOW: octaves[LOW] + octaves[HIGH]}, len(audio) // HOP_LENGTH)
    np.testing.assert_array_equal(split_mid_tom(heard, audio, MID_TOM_GAP), heard)


FORZEE_KIT = next(k for k in read_kit_list(REPO / "configs" / "recorded_kits.yaml") if k.name == "forzee_stereo")
FORZEE = Path(FORZEE_KIT.path)
FILL_CLASSES = ("KD", "HH_CHH", "TT_HMT", "TT_LMT", "TT_HFT")


def forzee_fills(path) -> tuple:
    """A WAV of ForzeeStereo's recorded drums (unheard by the released model): a bar of kick and
    hi-hat, then a fill of three high, three mid and two low tom hits, in eighths at 120 bpm,
    written and read back. Returns the audio and the true onsets {class: seconds}."""
    instruments = hydrogen_instruments(FORZEE)
    gain_and_layers = {c: instruments[FORZEE_KIT.classes[c]] for c in FILL_CLASSES}
    shots = {c: read_audio(layers[-1].path).numpy() * gain for c, (gain, layers) in gain_and_layers.items()}
    eighth, n = SAMPLE_RATE // 4, 12 * SAMPLE_RATE
    x, truth = np.zeros(n), {c: [] for c in FILL_CLASSES}
    gains = np.random.default_rng(0).uniform(0.7, 1.0, n // eighth)
    for i in range(n // eighth - 4):
        groove = [["KD", "HH_CHH"], ["HH_CHH"]][i % 2]
        for code in groove if (i // 8) % 2 == 0 else [["TT_HMT", "TT_LMT", "TT_HFT"][(i % 8) // 3]]:
            a = i * eighth
            shot = shots[code][:n - a]
            x[a:a + len(shot)] += gains[i] * shot
            truth[code].append(a / SAMPLE_RATE)
    sf.write(str(path), (x / np.abs(x).max() * 0.9).astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
    audio, _ = sf.read(str(path), dtype="float32")
    return audio, {c: np.array(t) for c, t in truth.items()}


@pytest.mark.skipif(not FORZEE.is_dir(), reason="needs hydrogen-drumkits (apt-get install; .ci/run installs it)")
def test_the_released_model_finds_a_recorded_mid_tom_split_off_by_pitch_in_the_api_and_the_command_line(
        tmp_path, model):
    audio, truth = forzee_fills(tmp_path / "fills.wav")
    assert model.config.mid_tom_gap == 0  # the released model never splits unless asked
    as_released = detect_onsets(torch.from_numpy(audio), model)[0]
    assert all(np.array_equal(t, detect_onsets(torch.from_numpy(audio), model, mid_tom_gap=0)[0][c])
               for c, t in as_released.items())
    split = detect_onsets(torch.from_numpy(audio), model, mid_tom_gap=MID_TOM_GAP)[0]
    found = {name: {c: score_onsets(truth[c], onsets[c])["tp"] for c in ("TT_HFT", "TT_LMT", "TT_HMT")}
             for name, onsets in (("released", as_released), ("split", split))}
    assert found["split"]["TT_LMT"] >= found["released"]["TT_LMT"] + 3  # hits heard as another tom move
    assert found["split"]["TT_HMT"] == found["released"]["TT_HMT"] > 0  # the right ones stay
    toms = ("TT_HFT", "TT_LMT", "TT_HMT")
    assert sorted(np.concatenate([split[c] for c in toms])) == sorted(np.concatenate([as_released[c] for c in toms]))
    assert all(np.array_equal(split[c], as_released[c]) for c in CLASSES if c not in toms)
    with torch.no_grad():
        analysis = model.analyse(torch.from_numpy(audio)[None])
    picked = peak_pick(torch.sigmoid(analysis.onset_logits), **model_peak_params(model.config))
    expected = split_mid_tom(picked[0].numpy(), audio, MID_TOM_GAP)
    config = ModelConfig.from_dict({**model.config.to_dict(), "mid_tom_gap": MID_TOM_GAP})
    np.testing.assert_array_equal(split_toms(picked, torch.from_numpy(audio)[None], config)[0].numpy(), expected)
    heard = transcribe(torch.from_numpy(audio), model, mid_tom_gap=MID_TOM_GAP)  # a moved hit keeps its velocity
    moved = [(f, k) for k in (LOW, HIGH) for f in np.flatnonzero(picked[0, k].numpy() > expected[k])]
    assert len(moved) >= 3 and all(expected[MID, f] for f, _ in moved)
    mid_frames = list(np.round(heard.onsets[0]["TT_LMT"] * FRAME_RATE).astype(int))
    for f, k in moved:
        assert heard.velocities[0]["TT_LMT"][mid_frames.index(f)] == pytest.approx(float(analysis.velocity[0, k, f]))
    proc = run_idm("separate", tmp_path / "fills.wav", "-o", tmp_path / "out", "--mid-tom-gap", MID_TOM_GAP, "-q")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in (tmp_path / "out" / "fills" / "onsets.tsv").read_text().splitlines()[1:]]
    written = {c: sorted(round(float(t) * FRAME_RATE) for t, code, _ in rows if code == c) for c in CLASSES}
    assert written == {c: np.flatnonzero(expected[k]).tolist() for k, c in enumerate(CLASSES)}


def test_bad_gaps_are_refused(tmp_path):
    proc = run_idm("separate", tmp_path / "any.wav", "--mid-tom-gap", "-1")
    assert proc.returncode == 2 and "'-1' is not a non-negative number of semitones" in proc.stderr
    with pytest.raises(ValueError, match="mid_tom_gap -1: semitones"):
        ModelConfig(mid_tom_gap=-1)
    assert parse_system("idm-44-train-kits+tom-pitch") == ("idm", "idm-44-train-kits", "tom-pitch")
    assert describe("idm-44-train-kits+tom-pitch") == "mixture + mid tom split by pitch"
