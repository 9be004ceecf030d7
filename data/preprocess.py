"""`python -m data.preprocess`: StemGMD (or a folder of your own recordings) -> training-ready data.

    python -m data.preprocess stemgmd /data/StemGMD /data/idm-stemgmd -j 8
    python -m data.preprocess folder ~/my-drums ~/my-drums-idm --kit studio_a

Writes under OUT: `mixtures/<id>.wav` (mono 44.1 kHz float), `annotations/*.tsv`
(`time_s<TAB>class<TAB>velocity`), `stems/<id>/<stem>.wav` for evaluation items,
`manifest.csv`, the training cache `cache/` and `report.txt`. Every item is written
atomically and marked done by its record under `records/`, so a run can be stopped at any
point and rerun: it picks up where it stopped, and a run with nothing new writes nothing.
"""

import argparse
import os
import shutil
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from tqdm import tqdm

from idm.constants import CLASSES
from idm.files import write_text_if_changed
from idm.onset_files import OnsetFileError

from .cache import CACHE_DTYPES, build_cache, cache_is_current
from .gmd import find_info_csv
from .items import done_record, process_item, source_frames
from .kit_table import KIT_TABLE, STEMGMD_KIT_TABLE, find_kit_table
from .manifest import MANIFEST, manifest_text
from .own import folder_items
from .stemgmd import ADAPTATION_SPLITS, SPLITS, check_splits, row_splits, stemgmd_items

REPORT = "report.txt"
ITEM_ERRORS = (OnsetFileError, OSError, RuntimeError, ValueError)
"""What an unusable source raises (AudioError and OnsetFileError are ValueErrors): the item fails, the run goes on."""


class PreprocessError(Exception):
    """A run that cannot start: a one-line reason."""


def _sweep_temporary_files(out: Path) -> int:
    """Remove the `.<name>.<random>.tmp` files that a killed run left behind; return how many."""
    removed = 0
    for dirpath, _, filenames in os.walk(out):
        for name in filenames:
            if name.startswith(".") and name.endswith(".tmp"):
                os.unlink(os.path.join(dirpath, name))
                removed += 1
    return removed


def estimate_bytes(items, done_samples: int, cache_dtype: str, progress: bool = False) -> dict:
    """Bytes the run will write: mixtures and stems of `items` (float32), and the whole cache."""
    mixtures = stems = 0
    samples = done_samples
    for item in tqdm(items, desc="estimating", unit="item", disable=not progress):
        try:
            n = source_frames(item)
        except (RuntimeError, OSError):  # unreadable files fail later, with their own message
            n = 0
        samples += n
        mixtures += 4 * n
        stems += 9 * 4 * n if item.keep_stems else 0
    return {"mixtures": mixtures, "stems": stems, "cache": samples * (2 if cache_dtype == "float16" else 4)}


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def _init_worker() -> None:
    import torch
    torch.set_num_threads(1)


def _process_all(out: Path, items, jobs: int, progress: bool) -> tuple:
    """Process items (in this process, or in `jobs` worker processes): ({id: record}, [(id, error)])."""
    records, failures = {}, []
    bar = tqdm(total=len(items), desc="preprocess", unit="item", disable=not progress)
    if jobs <= 1:
        for item in items:
            try:
                records[item.id] = process_item(out, item)
            except ITEM_ERRORS as exc:
                failures.append((item.id, str(exc)))
            bar.update()
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
            futures = {pool.submit(process_item, out, item): item for item in items}
            try:
                for future in as_completed(futures):
                    try:
                        records[futures[future].id] = future.result()
                    except ITEM_ERRORS as exc:
                        failures.append((futures[future].id, str(exc)))
                    bar.update()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    bar.close()
    return records, failures


def preprocess(plan, out, jobs: int = 1, cache_dtype: str = "float16", check_space: bool = True,
               dry_run: bool = False, paper_splits: bool = True, progress: bool = True, say=print) -> dict:
    """Run a plan (see `stemgmd_items`, `folder_items`) into `out`; returns the run's summary.

    Items already done from the same sources are not touched; the manifest, cache and report
    are rewritten only when their content changes.
    """
    out = Path(out)
    if not plan.items:
        example = f"; {len(plan.not_understood)} files not understood, e.g. {': '.join(plan.not_understood[0])}" \
            if plan.not_understood else ""
        raise PreprocessError(f"no items found to preprocess{example}")
    done = {}
    for item in tqdm(plan.items, desc="checking", unit="item", disable=not progress):
        record = done_record(out, item)
        if record is not None:
            done[item.id] = record
    todo = [item for item in plan.items if item.id not in done]
    done_samples = sum(r["row"]["samples"] for r in done.values())
    cache_needed = bool(todo) or not (out / MANIFEST).is_file() or not cache_is_current(out, cache_dtype)
    estimate = estimate_bytes(todo, done_samples, cache_dtype, progress)
    if not cache_needed:
        estimate["cache"] = 0
    existing = next(p for p in (out, *out.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    say(f"{len(plan.items)} items: {len(done)} already done, {len(todo)} to process; about "
        f"{_gb(sum(estimate.values()))} to write (mixtures {_gb(estimate['mixtures'])}, stems "
        f"{_gb(estimate['stems'])}, cache {_gb(estimate['cache'])}); {_gb(free)} free in {out}")
    if check_space and sum(estimate.values()) > free:
        raise PreprocessError(f"{out}: not enough free disk space ({_gb(free)} free, about "
                              f"{_gb(sum(estimate.values()))} needed); free some or pass --no-space-check")
    if dry_run:
        return {"records": {}, "failures": [], "processed": 0, "done": len(done), "dry_run": True}
    out.mkdir(parents=True, exist_ok=True)
    swept = _sweep_temporary_files(out)
    if swept:
        say(f"removed {swept} temporary files left by an interrupted run")
    records, failures = _process_all(out, todo, jobs, progress)
    records.update(done)
    ordered = [records[item.id] for item in plan.items if item.id in records]
    rows = [record["row"] for record in ordered]
    if paper_splits:
        check_splits(rows, plan.kits or STEMGMD_KIT_TABLE)
    if plan.kits is not None:
        write_text_if_changed(out / KIT_TABLE, plan.kits.text())
    write_text_if_changed(out / MANIFEST, manifest_text(rows))
    if rows and not cache_is_current(out, cache_dtype):
        build_cache(out, rows, cache_dtype, progress)
    write_text_if_changed(out / REPORT, dataset_report(ordered, plan, failures))
    return {"records": records, "failures": failures, "processed": len(todo) - len(failures),
            "done": len(done), "dry_run": False}


def dataset_report(records, plan, failures) -> str:
    """The report of what the output holds: counts per split and kit, dropped pitches, missing stems,
    notes on the audio, and every file that was not understood or failed."""
    rows = [r["row"] for r in records]
    lines = [f"{len(rows)} items, {sum(r['duration'] for r in rows) / 3600:.2f} hours of audio"]
    by_split = Counter(s or "(no split)" for r in rows for s in row_splits(r))
    order = [s for s in SPLITS + ADAPTATION_SPLITS if s in by_split] + sorted(s for s in by_split if s not in SPLITS + ADAPTATION_SPLITS)
    lines += ["", "items per split (the test splits include their eval_session items):"]
    lines += [f"  {s:<26}{by_split[s]:>8}" for s in order]
    by_kit = Counter((r["kit_id"], r["kit"] or "(no kit)") for r in rows)
    lines += ["", "items per kit (kit id):"] + [f"  {k:<22}{i:>4}{n:>8}" for (i, k), n in sorted(by_kit.items())]
    if plan.kits is not None:
        lacking = [k for k in plan.kits.kits.values() if k.lacks]
        lines += ["kits lacking classes (their onsets are left out of those kits' annotations): " + (
            "; ".join(f"{k.name} {' '.join(k.lacks)}" for k in lacking) if lacking else "none")]
        dropped_lacking = Counter()
        for r in records:
            dropped_lacking.update(r.get("lacking_onsets", {}))
        if dropped_lacking:
            lines += ["onsets left out for lacking classes: " + ", ".join(
                f"{c} {n}" for c, n in sorted(dropped_lacking.items()))]
    lines += ["", "onsets per class:"] + [f"  {c:<8}{sum(r[f'n_{c}'] for r in rows):>10}" for c in CLASSES]
    dropped = Counter()
    for r in records:
        dropped.update({int(p): n for p, n in r["dropped_pitches"].items()})
    lines += ["", "MIDI notes dropped (pitch outside the GMD table): " + (
        ", ".join(f"{p} ({n}x)" for p, n in sorted(dropped.items())) if dropped else "none")]
    late = sum(r["late_onsets"] for r in records)
    lines += [f"onsets after the end of the audio (dropped): {late}"]
    missing = Counter(c for r in rows for c in r["missing_stems"].split())
    lines += ["stem files absent (taken as silent): " + (
        ", ".join(f"{c} {n}x" for c, n in sorted(missing.items())) if missing else "none")]
    notes = Counter(n.split(": ", 1)[-1] for r in records for n in r["notes"])
    lines += [f"audio: {what}: {n} files" for what, n in sorted(notes.items())]
    if plan.skipped:
        lines += [f"items skipped: {n} {why}" for why, n in sorted(plan.skipped.items())]
    lines += ["", f"files not understood: {len(plan.not_understood)}"]
    lines += [f"  {path}: {why}" for path, why in plan.not_understood]
    lines += ["", f"items failed: {len(failures)}"] + [f"  {why}" for _, why in failures]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m data.preprocess", description=__doc__.split("\n\n")[0])
    sources = parser.add_subparsers(dest="source", required=True)
    gmd = sources.add_parser("stemgmd", help="a StemGMD tree with GMD's info.csv and MIDI files (any kits: "
                                             "a kits.csv at its root names them; see data.kit_table)")
    gmd.add_argument("root", type=Path, help="the StemGMD folder (stem files are found at any depth)")
    gmd.add_argument("--gmd", type=Path, help="GMD's info.csv or its folder (default: searched under ROOT)")
    gmd.add_argument("--stems", choices=("eval", "all", "none"), default="eval",
                     help="write mono stems for the evaluation splits (default), every item, or none")
    gmd.add_argument("--keep-unsplit", action="store_true",
                     help="also process items in none of the paper's splits (train/validation takes with test "
                          "kits), into the adaptation splits adapt_test_kits and adapt_val_test_kits")
    own = sources.add_parser("folder", help="a folder of your own mixtures with TSV or MIDI annotations")
    own.add_argument("root", type=Path, help="folder of mixtures (searched recursively)")
    own.add_argument("--annotations", type=Path, help="folder mirroring ROOT with the annotations (default: beside "
                                                      "each audio file)")
    own.add_argument("--labels", type=Path, help="CSV with a 'file' column and 'kit' and/or 'split' columns")
    own.add_argument("--kit", default="", help="kit name of the files the labels do not name")
    own.add_argument("--kits", help="comma-separated kit names in kit-id order (default: sorted)")
    own.add_argument("--val-fraction", type=float, default=0.1, help="share of unlabelled files for 'val'")
    own.add_argument("--test-fraction", type=float, default=0.0, help="share of unlabelled files for 'test'")
    for sub in (gmd, own):
        sub.add_argument("out", type=Path, help="output folder")
        sub.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (default 1)")
        sub.add_argument("--cache-dtype", choices=CACHE_DTYPES, default="float16",
                         help="sample type of the training cache (default float16)")
        sub.add_argument("--dry-run", action="store_true", help="find the items, estimate the disk use, and stop")
        sub.add_argument("--no-space-check", action="store_true", help="start even if the disk looks too small")
        sub.add_argument("-q", "--quiet", action="store_true", help="no progress bars and no plan line")
    return parser


def _plan(args, progress: bool):
    exclude = [args.out]
    if not args.root.is_dir():
        raise PreprocessError(f"{args.root}: no such folder")
    if args.source == "folder":
        kits = [k.strip() for k in args.kits.split(",")] if args.kits else None
        return folder_items(args.root, args.annotations, args.labels, args.kit, kits, args.val_fraction,
                            args.test_fraction, exclude)
    info = args.gmd or find_info_csv(args.root)
    if info is not None and Path(info).is_dir():
        info = find_info_csv(info, 0)
    if info is None or not Path(info).is_file():
        raise PreprocessError(f"{args.gmd or args.root}: no GMD info.csv found; pass --gmd /path/to/groove")
    return stemgmd_items(args.root, info, args.stems, args.keep_unsplit, exclude, progress,
                         find_kit_table(args.root))


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    progress = not args.quiet and sys.stderr.isatty()
    try:
        plan = _plan(args, progress)
        summary = preprocess(plan, args.out, args.jobs, args.cache_dtype, not args.no_space_check, args.dry_run,
                             args.source == "stemgmd", progress, say=print if not args.quiet else lambda _: None)
    except (PreprocessError, ValueError, OSError) as exc:
        print(f"preprocess: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("preprocess: interrupted; rerun the same command to continue", file=sys.stderr)
        return 130
    if summary["dry_run"]:
        return 0
    print(f"{summary['processed']} items processed, {summary['done']} already done, "
          f"{len(summary['failures'])} failed")
    print((args.out / REPORT).read_text(), end="")
    for _, why in summary["failures"]:
        print(f"preprocess: error: {why}", file=sys.stderr)
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
