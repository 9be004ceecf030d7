"""The synthesiser's CPU training path against the plain definition, one process per run.

    python benchmarks/train_paths.py [--runs 3]

Runs `train_speed.py --no-stages` in a subprocess for each (config, path) pair, so that each
peak resident set is its own, and prints one table: step time (median), the floor measured in
the same process (`tap_floor.py`), step / floor against the target 1.5 x floor + 1 s, peak RSS,
and the speed-up of the training path over the definition measured in this run. Configs: the
released run (batch 1 x 6 s on the CPU), the fine-tuning run (conditioning only, true kits,
3 s crops) and the tiny config at its batch of 8 (narrower than `MIN_CHANNELS`, so both of its
rows run the definition: the check that it is not slower).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = (("configs/idm_stemgmd.yaml", []), ("configs/finetune_kits.yaml", []), ("configs/tiny.yaml", ["--batch", "8"]))


def run(config: str, extra: list, synth: str, runs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        subprocess.run([sys.executable, str(HERE / "train_speed.py"), "--config", str(HERE.parent / config),
                        "--synth", synth, "--runs", str(runs), "--no-stages", "--json", str(out), *extra],
                       check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for config, extra in RUNS:
        results = {synth: run(config, extra, synth, args.runs) for synth in ("plain", "fast")}
        for synth, r in results.items():
            speedup = results["plain"]["step_s"] / r["step_s"]
            rows.append((config, r["batch"], synth, r["step_s"], r["floor_s"], r["gemm_gflops"], r["peak_gib"],
                         speedup))
    print(f"machine: {results['fast']['machine']}")
    print("config                         batch  synth   step s   floor s  GFLOP/s  step/floor  target s  peak GiB  "
          "vs plain")
    for config, batch, synth, step, floor, rate, peak, speedup in rows:
        print(f"{config:<30} {batch:>5}  {synth:<6} {step:8.2f} {floor:9.2f} {rate:8.0f} {step / floor:11.2f} "
              f"{1.5 * floor + 1:9.2f} {peak:9.2f} {speedup:8.2f}x")


if __name__ == "__main__":
    main()
