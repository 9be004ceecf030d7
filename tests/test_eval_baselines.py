"""`make eval` with the baselines: IDM, NMFD cases, LarsNet (unavailable without weights, then
found) and the oracle in one table; NMFD templates made by `make nmfd-templates`."""

import os
import shutil

import torch

from baselines.larsnet import LarsNet
from baselines.larsnet.weights import save_released
from evaluation.spaces import stem_names
from conftest import make
from test_eval_run import read_csv


def test_make_eval_lists_idm_nmfd_larsnet_and_the_oracle(stemgmd_data, tmp_path, monkeypatch):
    data, out = stemgmd_data[0], tmp_path / "eval"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no released LarsNet weights anywhere
    torch.manual_seed(0)
    trained = tmp_path / "my-larsnet"
    save_released(LarsNet(), trained)
    shutil.copytree(data, tmp_path / "data")
    data = tmp_path / "data"
    proc = make("nmfd-templates", f"DATA={data}", "SPLIT=eval_session_test_kits", "ARGS=-q")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (data / "nmfd_templates.pt").is_file()

    systems = ["idm-44-train-kits", "nmfd-1a", "nmfd-4", "larsnet", f"larsnet:{trained}", "oracle-irm"]
    args = [f"DATA={data}", "SPLIT=eval_session_test_kits", f"MODELS={' '.join(systems)}", f"OUT={out}", "JOBS=2",
            "ARGS=-q"]
    proc = make("eval", *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = (out / "summary.md").read_text()
    table = text[text.index("## 5 classes, masked: SI-SDR"):].split("\n\n")[1].splitlines()
    assert [row.split(" | ")[0].strip("| ") for row in table[2:]] == systems
    assert "| larsnet | unavailable | unavailable |" in text
    assert "- larsnet: mixture (supervised on isolated stems) (unavailable: LarsNet weights not found" in text
    assert "- nmfd-1a: mixture + test-kit one-shots + true onsets" in text and "- nmfd-4: mixture\n" in text

    rows = read_csv(out / "scores.csv")
    masked = {(r["system"], r["space"], r["stem"]): r for r in rows if r["output"] == "masked"}
    nine = {s for s, space, _ in masked if space == "9"}
    assert nine == {"idm-44-train-kits", "nmfd-1a", "nmfd-4", "oracle-irm"}  # LarsNet has five stems only
    for stem in stem_names(5):
        assert (f"larsnet:{trained}", "5", stem) in masked
    mean = {s: sum(float(masked[s, "5", stem]["si_sdr"]) for stem in stem_names(5)) / 5 for s in ("nmfd-1a", "nmfd-4")}
    assert mean["nmfd-1a"] > mean["nmfd-4"] + 3, mean

    # weights put where LarsNet looks: its cached "unavailable" results are dropped and it is scored
    save_released(LarsNet(), tmp_path / "cache" / "idm" / "larsnet" / "pretrained_larsnet_models")
    proc = make("eval", *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "larsnet: its checkpoint, weights, templates or one-shots changed" in proc.stderr
    text = (out / "summary.md").read_text()
    assert "unavailable" not in text
    assert ("larsnet", "5", "kick") in {(r["system"], r["space"], r["stem"]) for r in read_csv(out / "scores.csv")}
    assert os.environ["XDG_CACHE_HOME"] == str(tmp_path / "cache")
