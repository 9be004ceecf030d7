"""The README's tables of `make transcriber-results`, read from its summaries.

    python benchmarks/transcriber_tables.py [RESULTS] [--systems idm-44-train-kits idm-44-recorded-kits]

RESULTS (default results/transcriber) holds one `make eval` folder per condition (clean, room,
compressed). Prints, as Markdown: pooled onset F per class (9 classes; clean also with the
per-track mean and its 95% bootstrap interval) and the mean of the nine per system and condition;
then masked SI-SDR in the 5 groups (mean [95% bootstrap interval]), with the `+gt-onsets`
variants of the clean condition. `--doc FILE` also writes every table of every condition (each
`summary.md`, its headings one level down, and `confusion.csv`) as one page, FILE (as
docs/transcriber_results.md).
"""

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.spaces import stem_names  # noqa: E402

CONDITIONS = ("clean", "room", "compressed")


def condition_folders(results: Path):
    """(condition, its `make eval` folder) for each condition that RESULTS holds, in `CONDITIONS` order."""
    for condition in CONDITIONS:
        if (results / condition).is_dir():
            yield condition, results / condition


def read_rows(path: Path) -> list:
    if not path.is_file():
        raise SystemExit(f"{path}: not found; run make transcriber-results first")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def onset_table(results: Path, systems) -> list:
    """Markdown lines: pooled onset F per class, one row per system and condition."""
    names = stem_names(9)
    lines = ["| system | " + " | ".join(names) + " | mean of 9 |", "|" + " --- |" * (len(names) + 2)]
    for condition, folder in condition_folders(results):
        rows = {(r["system"], r["stem"]): r for r in read_rows(folder / "onsets_summary.csv") if r["space"] == "9"}
        for system in systems:
            cells, pooled = [], []
            for name in names:
                r = rows.get((system, name))
                if r is None:
                    raise SystemExit(f"{folder}: no onset scores of {system} for {name}")
                pooled.append(float(r["pooled_f"]))
                cell = f"{pooled[-1]:.3f}"
                if condition == "clean":
                    cell += f" ({float(r['f_mean']):.2f} [{float(r['ci_low']):.2f}, {float(r['ci_high']):.2f}])"
                cells.append(cell)
            lines.append(f"| {system}, {condition} | " + " | ".join(cells) + f" | {sum(pooled) / len(pooled):.3f} |")
    return lines


def separation_table(results: Path, systems, metric: str = "si_sdr") -> list:
    """Markdown lines: masked `metric` in the 5 groups, mean [95% interval], per system and condition."""
    names = stem_names(5)
    lines = ["| system | " + " | ".join(names) + " |", "|" + " --- |" * (len(names) + 1)]
    for condition, folder in condition_folders(results):
        rows = {(r["system"], r["stem"]): r for r in read_rows(folder / "summary.csv")
                if (r["space"], r["output"], r["metric"]) == ("5", "masked", metric)}
        variants = [s + v for v in ("", "+gt-onsets") for s in systems]
        for system in variants:
            if (system, names[0]) not in rows:
                continue
            cells = [f"{float(rows[system, n]['mean']):.2f} [{float(rows[system, n]['ci_low']):.2f}, "
                     f"{float(rows[system, n]['ci_high']):.2f}]" for n in names]
            lines.append(f"| {system}, {condition} | " + " | ".join(cells) + " |")
    return lines


DOC_INTRO = ("# Transcription trained on recorded kits: every table\n\n`make transcriber-results` on the 24 tracks "
             "of `test_test_kits` of the default `make kits-data` (the two recorded test kits), {machine}. Mean "
             "[95% bootstrap interval] over tracks. See [transcriber.md](transcriber.md) and the README's "
             "\"Transcription trained on recorded kits\".\n")


def results_page(results: Path, machine: str) -> str:
    """Every condition's `summary.md` (headings one level down) and confusion counts, as one page."""
    parts = [DOC_INTRO.format(machine=machine)]
    for condition, folder in condition_folders(results):
        summary = (folder / "summary.md").read_text().split("\n", 1)[1]  # without its "# Evaluation" title
        summary = "\n".join("#" + line if line.startswith("#") else line for line in summary.splitlines())
        confusion = (folder / "confusion.csv").read_text().strip()
        parts.append(f"## Condition: {condition}\n{summary}\n\n### Confusion counts ({condition})\n\n"
                     f"```\n{confusion}\n```\n")
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="?", default="results/transcriber", type=Path)
    parser.add_argument("--systems", nargs="+", default=["idm-44-train-kits", "idm-44-recorded-kits"])
    parser.add_argument("--doc", type=Path, help="also write every table of every condition to this Markdown file")
    parser.add_argument("--machine", default="2 AMD EPYC cores", help="the machine, for --doc's intro")
    args = parser.parse_args(argv)
    if args.doc:
        args.doc.write_text(results_page(args.results, args.machine))
    print("Onset F (50 ms), pooled over the tracks; clean also per-track mean [95% bootstrap interval]:\n")
    print("\n".join(onset_table(args.results, args.systems)))
    print("\n5 groups, masked SI-SDR in dB (mean [95% bootstrap interval]):\n")
    print("\n".join(separation_table(args.results, args.systems)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
