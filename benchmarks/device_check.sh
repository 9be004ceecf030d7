#!/usr/bin/env bash
# Prepare the device check for a lent GPU machine here, then print the one command to run there.
#
#   bash benchmarks/device_check.sh [PREP]      (PREP: an ignored folder of the tree, default device_check)
#
# The GPU machine has Python 3.12 with torch, torchaudio, numpy, scipy, pyyaml, tensorboard, tqdm
# and matplotlib, and no network; only the working tree travels there (../shared does not). So:
#   1. the released checkpoint is copied to PREP/pretrained (the command sets IDM_CHECKPOINTS to it);
#   2. soundfile and mir_eval, with cffi, pycparser and decorator, are installed from PyPI for
#      CPython $PY_VERSION on manylinux x86_64 into PREP/site (the command puts it on PYTHONPATH);
#   3. the command is printed: give it to the device tool with carry=["PREP"]. It writes
#      $OUT/device_check/device_check.{json,md} and stops starting checks after 540 s.
# The demo loop travels with the tree: tests/reference/idm-demo-mix.flac holds the samples of
# ../shared/audio/idm-demo-mix.wav. Nothing is half-written: PREP appears complete or not at all.
set -euo pipefail
cd "$(dirname "$0")/.."
PREP=${1:-device_check}
SHARED=${SHARED:-../shared}
PYTHON=${PYTHON:-.venv/bin/python}
PY_VERSION=${PY_VERSION:-3.12}
CHECKPOINT="$SHARED/pretrained/idm-44-train-kits"

test -f "$CHECKPOINT/model.yaml" || { echo "device_check.sh: $CHECKPOINT: no released checkpoint there (set SHARED)" >&2; exit 2; }
rm -rf "$PREP.partial"
mkdir -p "$PREP.partial/pretrained"
cp -r "$CHECKPOINT" "$PREP.partial/pretrained/"
"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: --target "$PREP.partial/site" \
    --python-version "$PY_VERSION" --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    soundfile mir_eval cffi pycparser decorator
rm -rf "$PREP"
mv "$PREP.partial" "$PREP"

echo "prepared $PREP ($(du -sh "$PREP" | cut -f1)). On the GPU machine, in the tree's root, with carry [\"$PREP\"]:"
echo "IDM_CHECKPOINTS=\$PWD/$PREP/pretrained PYTHONPATH=\$PWD/$PREP/site python3 benchmarks/device_check.py --device cuda --out \$OUT/device_check"
