"""`python -m evaluation.run DATA --split SPLIT --models M1 M2 ... --out OUT`: every system on
every track, scored, summarised and plotted.

DATA is a folder written by `make preprocess` (evaluate one of its splits) or a folder of
track folders with reference stems (see `evaluation.tracks`). Each (system, track) result
is cached under OUT/cache as soon as it is done, so an interrupted run resumes where it
stopped; a checkpoint file that changed is re-evaluated. Written to OUT:

- `scores.csv`: separation scores per system, track, space (5, 9), output (masked, synth), stem;
- `onsets.csv`: onset scores per system, track, space, stem;
- `summary.csv`, `onsets_summary.csv`, `summary.md`: mean, median, 95% bootstrap interval;
- `bars.png` (5 groups) and `bars9.png` (9 classes): masked SI-SDR and nSDR per stem;
- `example.png`: the first track's masked stems and onsets, reference against each system;
- `confusion.csv` and `confusion/<system>.png`: where each system's onsets go, reference class
  against estimated class (`evaluation.confusion`), for systems that transcribe.
"""

import argparse
import csv
import io
import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from idm.constants import SAMPLE_RATE
from idm.files import atomic_path, write_text_if_changed
from idm.separate import segment_samples
from idm.stems import fold_stems

from .conditions import CONDITIONS, in_condition
from .confusion import COLUMNS as CONFUSION_COLUMNS
from .confusion import confusion_rows
from .plots import bar_plot, confusion_plot, example_plot
from .report import markdown, summarize_separation, summarize_transcription
from .score import outputs_in_space, score_track
from .separation import SCORING_VERSION, SEPARATION_METRICS, SILENT_MODES
from .spaces import SPACES, fold_onsets
from .systems import build_system, describe, parse_system, system_identity, system_key, system_names
from .tracks import open_tracks
from .transcription import TRANSCRIPTION_METRICS, WINDOW

EXAMPLE_SECONDS = 10.0
"""Seconds of the example track shown in example.png."""
DEFAULT_TEMPLATES = "nmfd_templates.pt"
"""The NMFD template file looked for in DATA when --nmfd-templates is not given."""
DEFAULT_ONE_SHOTS = "one_shots"
"""The one-shot folder (`<kit>/` each) looked for in DATA, then beside it (as `make kits-data` writes
it), when --one-shots is not given."""


class EvaluationError(Exception):
    """A problem with the arguments or the output folder, reported in one line."""


def _cache_file(out: Path, system: str, track_id: str) -> Path:
    return out / "cache" / system_key(system) / f"{track_id}.json"


_worker = {}
"""Per process: the track source, the options and the systems built so far."""


def _init_worker(data, split, options) -> None:
    torch.set_num_threads(options.pop("threads"))
    _worker.update(tracks=open_tracks(data, split, options.get("kits", ())), options=options, systems={})


def _evaluate(task) -> tuple:
    """Score system `name` on track `index`; returns (name, index, result dict, example or None)."""
    name, index, with_example = task
    systems, options = _worker["systems"], _worker["options"]
    if name not in systems:
        systems[name] = build_system(name, options["nmfd_templates"], options["one_shots"])
    system, track = systems[name], in_condition(_worker["tracks"].load(index), options.get("condition", "clean"))
    reason = system.skip_reason(track)
    if options.get("transcription_only") and not (hasattr(system, "transcribes") and system.transcribes()):
        reason = "no transcription of its own to score (--transcription-only)"
    if reason:
        return name, index, {"track": track.id, "skipped": reason}, None
    estimate = system.transcription(track) if options.get("transcription_only") else system(track)
    seg = segment_samples(options["segment"]) if options["segment"] else None
    result = {"track": track.id, **score_track(track, estimate, options["spaces"], options["silent"], seg,
                                               options["window"])}
    example = None
    if with_example:
        n = min(track.mixture.shape[-1], int(EXAMPLE_SECONDS * SAMPLE_RATE))
        space = min(track.space, 5)
        masked = outputs_in_space(estimate, track.mixture, space)["masked"][:, :n].numpy()
        onsets = fold_onsets(estimate.onsets, space) if estimate.onsets is not None else None
        example = {"masked": masked, "onsets": onsets}
    return name, index, result, example


def _write_csv(path: Path, rows: list, columns) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text_if_changed(path, buffer.getvalue())


def _check_options(out: Path, options: dict) -> None:
    path = out / "options.json"
    if path.is_file():
        previous = json.loads(path.read_text())
        changed = [k for k in sorted(set(options) | set(previous)) if previous.get(k) != options.get(k)]
        if changed:
            raise EvaluationError(f"{out}: holds results computed with other options ("
                                  + ", ".join(f"{k}: {previous.get(k)!r} -> {options.get(k)!r}" for k in changed)
                                  + "); use another --out or delete it")
    write_text_if_changed(path, json.dumps(options, indent=1, sort_keys=True) + "\n")


def _check_system_cache(out: Path, name: str, nmfd_templates, one_shots, notes) -> None:
    folder = out / "cache" / system_key(name)
    identity, path = system_identity(name, nmfd_templates, one_shots), folder / "system.json"
    if path.is_file() and json.loads(path.read_text()) != identity:
        stale = [f for f in folder.rglob("*.json") if f != path]
        for f in stale + [out / "cache" / "example" / f"{system_key(name)}.npz"]:
            f.unlink(missing_ok=True)
        notes(f"{name}: its checkpoint, weights, templates or one-shots changed since its results were cached; "
              f"re-evaluating {len(stale)} tracks")
    write_text_if_changed(path, json.dumps(identity, sort_keys=True) + "\n")


def evaluate(data, split, systems, out, jobs: int = 1, segment: float = None, silent: str = "exclude",
             window: float = WINDOW, spaces=SPACES, limit: int = None, progress: bool = True,
             notes=print, nmfd_templates=None, one_shots=None, condition: str = "clean",
             transcription_only: bool = False, kits=()) -> dict:
    """Run `systems` on the tracks and write OUT's tables and plots; returns the summaries.
    NMFD cases that need one-shot templates read `nmfd_templates` (default DATA/nmfd_templates.pt),
    `+gt-one-shots` systems the kits' one-shot folders in `one_shots` (default DATA/one_shots, or
    one_shots beside DATA). `condition` records every track in a room or compressed first
    (`evaluation.conditions`). `transcription_only` scores only the transcriptions (onsets and
    confusion tables; no synthesis or separation), for systems that transcribe. `kits` keeps only
    those kits' items of a preprocessed folder (such as a kit held out of a model's training)."""
    out = Path(out)
    if nmfd_templates is None and (Path(data) / DEFAULT_TEMPLATES).is_file():
        nmfd_templates = Path(data) / DEFAULT_TEMPLATES
    nmfd_templates = str(Path(nmfd_templates).resolve()) if nmfd_templates else None
    if one_shots is None:
        one_shots = next((p for p in (Path(data) / DEFAULT_ONE_SHOTS, Path(data).parent / DEFAULT_ONE_SHOTS)
                          if p.is_dir()), None)
    elif not Path(one_shots).is_dir():
        raise EvaluationError(f"{one_shots}: no such one-shot folder")
    one_shots = str(Path(one_shots).resolve()) if one_shots else None
    tracks = open_tracks(data, split, kits)
    for name in systems:
        parse_system(name)
    if len(set(systems)) != len(systems):
        raise EvaluationError("a system is named twice")
    indices = list(range(len(tracks)))[:limit]
    options = {"data": str(Path(data).resolve()), "split": split, "segment": segment, "silent": silent,
               "window": window, "spaces": sorted(spaces), "scoring": SCORING_VERSION}
    if condition != "clean":  # clean runs keep the options (and caches) they had before conditions existed
        options["condition"] = condition
    if transcription_only:
        options["transcription_only"] = True
    if kits:
        options["kits"] = sorted(set(kits))
    out.mkdir(parents=True, exist_ok=True)
    _check_options(out, options)
    for name in systems:
        _check_system_cache(out, name, nmfd_templates, one_shots, notes)

    example_dir = out / "cache" / "example"
    todo = []
    for name in systems:
        example_file = example_dir / f"{system_key(name)}.npz"
        for i in indices:
            with_example = i == indices[0] and not example_file.is_file() and not transcription_only
            if with_example or not _cache_file(out, name, tracks.ids[i]).is_file():
                todo.append((name, i, with_example))
    worker_options = {**options, "threads": 1 if jobs > 1 else torch.get_num_threads(),
                      "nmfd_templates": nmfd_templates, "one_shots": one_shots}
    bar = tqdm(total=len(todo), desc="evaluating", unit="track", disable=not progress, file=sys.stderr)

    def store(name, index, result, example):
        with atomic_path(_cache_file(out, name, tracks.ids[index])) as tmp:
            tmp.write_text(json.dumps(result))
        if example is not None:
            with atomic_path(example_dir / f"{system_key(name)}.npz") as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, masked=example["masked"], has_onsets=example["onsets"] is not None,
                             **{f"onsets_{k}": v for k, v in (example["onsets"] or {}).items()})
        bar.update()

    if jobs > 1 and len(todo) > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, context, initializer=_init_worker,
                                 initargs=(data, split, worker_options)) as pool:
            for result in pool.map(_evaluate, todo):
                store(*result)
    elif todo:
        _init_worker(data, split, dict(worker_options))
        for task in todo:
            store(*_evaluate(task))
    bar.close()
    return write_reports(out, tracks, systems, indices, condition)


def write_reports(out: Path, tracks, systems, indices, condition: str = "clean") -> dict:
    """Gather the cached results of `systems` on `indices` and write the CSVs, summaries and plots."""
    separation, transcription, skipped, confusion = [], [], {}, {}
    for name in systems:
        for i in indices:
            result = json.loads(_cache_file(out, name, tracks.ids[i]).read_text())
            if "skipped" in result:
                skipped.setdefault(name, []).append(result["skipped"])
                continue
            separation += [{"system": name, "track": result["track"], **r} for r in result["separation"]]
            transcription += [{"system": name, "track": result["track"], **r} for r in result["transcription"]]
            if "confusion" in result:
                total = confusion.setdefault(name, {k: 0 for k in result["confusion"]})
                for key, value in result["confusion"].items():
                    total[key] = total[key] + np.asarray(value)
    _write_confusion(out, confusion)
    _write_csv(out / "scores.csv", separation,
               ("system", "track", "space", "output", "stem", *SEPARATION_METRICS, "silent", "segments"))
    _write_csv(out / "onsets.csv", transcription, ("system", "track", "space", "stem", *TRANSCRIPTION_METRICS))
    sep_summary, onset_summary = summarize_separation(separation), summarize_transcription(transcription)
    _write_csv(out / "summary.csv", sep_summary,
               ("system", "space", "output", "metric", "stem", "n", "n_silent", "mean", "median", "ci_low",
                "ci_high"))
    _write_csv(out / "onsets_summary.csv", onset_summary, list(onset_summary[0]) if onset_summary else ["system"])
    unavailable = {name: reasons[0] for name, reasons in skipped.items()
                   if len(reasons) == len(indices) and len(set(reasons)) == 1}
    recorded = "" if condition == "clean" else f", recorded {'in a room' if condition == 'room' else condition} " \
        "(evaluation.conditions)"
    notes = [f"{len(indices)} tracks{recorded}. Systems, and the information each one uses:", ""]
    notes += [f"- {name}: {describe(name)}" + (f" (unavailable: {unavailable[name]})" if name in unavailable else "")
              for name in systems]
    notes += [""] + [f"{name}: skipped {len(reasons)} tracks ({'; '.join(sorted(set(reasons)))})."
                     for name, reasons in skipped.items() if name not in unavailable]
    write_text_if_changed(out / "summary.md", markdown(sep_summary, onset_summary, systems, "Evaluation", notes,
                                                       unavailable))
    for space, file in ((5, "bars.png"), (9, "bars9.png")):
        if any(r["space"] == space for r in sep_summary):
            bar_plot(sep_summary, systems, out / file, space)
    if indices:
        _plot_example(out, tracks, systems, indices[0], condition)
    return {"separation": sep_summary, "transcription": onset_summary,
            "skipped": {name: len(reasons) for name, reasons in skipped.items()}, "unavailable": unavailable}


def _write_confusion(out: Path, confusion: dict) -> None:
    """`confusion.csv` (every system's table) and `confusion/<system>.png` (one heat map each)."""
    if not confusion:
        return
    rows = [row for name, c in confusion.items() for row in confusion_rows(name, c["counts"], c["n_ref"])]
    _write_csv(out / "confusion.csv", rows, ("system", "reference", "onsets", *CONFUSION_COLUMNS))
    for name, c in confusion.items():
        confusion_plot(name, c["counts"], c["n_ref"], out / "confusion" / f"{system_key(name)}.png")


def _plot_example(out: Path, tracks, systems, index: int, condition: str) -> None:
    track = in_condition(tracks.load(index), condition)
    space = min(track.space, 5)
    n = min(track.mixture.shape[-1], int(EXAMPLE_SECONDS * SAMPLE_RATE))
    estimates, onsets = {}, {}
    for name in systems:
        path = out / "cache" / "example" / f"{system_key(name)}.npz"
        if not path.is_file():
            continue
        saved = np.load(path)
        estimates[name] = saved["masked"]
        if bool(saved["has_onsets"]):
            onsets[name] = {k[len("onsets_"):]: saved[k] for k in saved.files if k.startswith("onsets_")}
    reference_onsets = fold_onsets(track.onsets, space) if track.onsets is not None else {}
    example_plot(track.id, fold_stems(track.stems, space)[:, :n].numpy(), estimates, reference_onsets, onsets,
                 out / "example.png", space)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.run", description=__doc__.split("\n")[0])
    parser.add_argument("data", help="a folder written by `make preprocess`, or a folder of track folders")
    parser.add_argument("--split", default="eval_session_test_kits",
                        help="split of a preprocessed folder (default: %(default)s)")
    parser.add_argument("--models", nargs="+", default=["idm-44-train-kits", "oracle-irm"], metavar="SYSTEM",
                        help=f"systems: {', '.join(system_names())}, or a checkpoint path (optionally "
                             "+gt-onsets, +gt-kit, +gt-one-shots); default: %(default)s")
    parser.add_argument("--out", required=True, help="output folder (results are cached there: rerun to resume)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (default: %(default)s)")
    parser.add_argument("--segment", type=float, help="score non-overlapping segments of this many seconds, "
                                                     "dropping silent ones (default: whole tracks)")
    parser.add_argument("--silent", choices=SILENT_MODES, default="exclude",
                        help="silent references: leave out of SDR means and count (exclude, default) or score "
                             "0 as the authors did (zero)")
    parser.add_argument("--window", type=float, default=WINDOW, help="onset tolerance in seconds (default 0.05)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N tracks")
    parser.add_argument("--nmfd-templates", metavar="FILE",
                        help=f"one-shot templates of NMFD cases 1a, 1b, 2 (python -m baselines.nmf.templates; "
                             f"default: DATA/{DEFAULT_TEMPLATES} when it exists)")
    parser.add_argument("--one-shots", metavar="DIR",
                        help=f"one-shots of each kit, DIR/<kit>/<stem>.wav, for +gt-one-shots (default: "
                             f"DATA/{DEFAULT_ONE_SHOTS}, or {DEFAULT_ONE_SHOTS} beside DATA, when it exists)")
    parser.add_argument("--condition", choices=CONDITIONS, default="clean",
                        help="record every test track first: as it is (clean, default), in a synthetic room, or "
                             "bus-compressed (evaluation.conditions)")
    parser.add_argument("--transcription-only", action="store_true",
                        help="score only the systems' own transcriptions (onset F, confusion tables): no synthesis "
                             "or separation, a small part of the time")
    parser.add_argument("--kits", nargs="+", default=[], metavar="KIT",
                        help="only these kits' items of a preprocessed folder (default: every kit)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        if args.jobs < 1 or (args.limit is not None and args.limit < 1):
            raise EvaluationError("--jobs and --limit must be positive")
        if args.segment is not None and not args.segment > 0:
            raise EvaluationError("--segment must be a positive number of seconds")
        evaluate(args.data, args.split, args.models, args.out, args.jobs, args.segment, args.silent,
                 args.window, limit=args.limit, progress=not args.quiet,
                 notes=lambda line: print(line, file=sys.stderr), nmfd_templates=args.nmfd_templates,
                 one_shots=args.one_shots, condition=args.condition,
                 transcription_only=args.transcription_only, kits=args.kits)
    except (EvaluationError, ValueError, OSError) as exc:
        print(f"evaluation: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evaluation: interrupted; finished tracks are cached; rerun the same command to resume", file=sys.stderr)
        return 130
    print(f"wrote {Path(args.out) / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
