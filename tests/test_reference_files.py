"""The compact reference files in tests/reference are what reference/build.py derives from the full
artifacts in ../shared (the authors' and the official LarsNet code's outputs), where those are here."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import REFERENCE, REPO

SHARED = Path(os.environ.get("IDM_SHARED", REPO.parent / "shared"))


@pytest.mark.skipif(not (SHARED / "reference").is_dir(), reason=f"{SHARED}/reference not here (the full "
                    "artifacts the compact files come from); the compact files alone are tested elsewhere")
def test_compact_files_are_rebuilt_identically(tmp_path):
    spec = importlib.util.spec_from_file_location("build", REFERENCE / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    build.main(SHARED, tmp_path)
    names = sorted(p.name for p in REFERENCE.iterdir() if p.suffix in (".npz", ".flac"))
    assert names == sorted(p.name for p in tmp_path.iterdir())
    for name in names:
        if name.endswith(".flac"):
            assert np.array_equal(sf.read(str(REFERENCE / name), dtype="int16")[0],
                                  sf.read(str(tmp_path / name), dtype="int16")[0])
            continue
        ours, rebuilt = np.load(REFERENCE / name), np.load(tmp_path / name)
        assert sorted(ours.files) == sorted(rebuilt.files), name
        for key in ours.files:
            assert np.array_equal(ours[key], rebuilt[key]), (name, key)
