"""Separating many files: one file end to end (`separate_file`), and a batch of them in this
process or in parallel worker processes (`run_batch`), with progress bars and a failure list."""

import multiprocessing
import os
import queue
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace

import torch
from tqdm import tqdm

from .audio import AudioError, read_audio_file
from .checkpoint import load_model
from .constants import SAMPLE_RATE
from .onset_files import OnsetFileError, onset_rows, onsets_midi, onsets_tsv
from .one_shots import fit_length
from .separate import iter_segments, kit_index, transcribe
from .signals_held import signals_held
from .stems import RESIDUAL, fold
from .track_writer import OutputError, OutputSpec, TrackWriter

FILE_ERRORS = (AudioError, OnsetFileError, OutputError, OSError, RuntimeError, ValueError)
"""Problems that fail one file and let the batch go on."""


@dataclass(frozen=True)
class SeparateSettings:
    """Everything needed to separate a file; plain data, so worker processes can receive it."""

    model: str  # model name or checkpoint path
    output: OutputSpec
    layout: dict  # stem name -> class indices (see idm.stems)
    device: str = "cpu"
    masking: str = "wiener"
    alpha: float = 1.0
    seed: int = 0
    segment: float = 30.0
    residual: bool = False
    midi: bool = False
    keep_sr: bool = False
    onsets: dict = None  # {class: times}: a transcription used instead of the model's (one input only)
    one_shots: dict = None  # {class code: [one-shots]}: recorded one-shots used instead of synthesised ones
    kit: str = None  # a kit of the model (name or id) used instead of the predicted one
    mid_tom_gap: float = None  # semitones at which the mid tom is split off by pitch (None: the model's)

    def writer(self, track: str, rate: int = SAMPLE_RATE, frames: int = None, notes=None) -> TrackWriter:
        """The writer of `track`'s outputs under these settings."""
        stems = list(self.layout) + ([RESIDUAL] if self.residual else [])
        extra = [("onsets", "tsv")] + ([("onsets", "mid")] if self.midi else [])
        return TrackWriter(self.output, track, stems, extra, rate, frames, notes)


def for_model(settings: SeparateSettings, model, notes=None) -> SeparateSettings:
    """The settings with the kit checked against `model` and the one-shots fitted to its one-shot
    length (once, with notes, instead of once per file)."""
    if settings.kit is not None:
        kit_index(model, settings.kit)
    if settings.one_shots:
        settings = replace(settings, one_shots=fit_length(settings.one_shots, model.config.one_shot_length, notes))
    return settings


def separate_file(path, track: str, model, settings: SeparateSettings, notes=None, progress=None) -> str:
    """Separate one file and write its outputs; returns a one-line summary.

    progress(done, total) is called with the seconds of audio written so far: once with
    done = 0 when the file is read, then after each segment.
    """
    settings.writer(track).check()  # fail before the work if outputs would be replaced
    audio, rate, frames = read_audio_file(path, notes)
    total = audio.shape[-1] / SAMPLE_RATE
    if progress:
        progress(0.0, total)
    tr = transcribe(audio, model, onsets=settings.onsets, seed=settings.seed, notes=notes, kit=settings.kit,
                    one_shots=settings.one_shots, mid_tom_gap=settings.mid_tom_gap)
    out_rate = rate if settings.keep_sr else SAMPLE_RATE
    if out_rate != SAMPLE_RATE and notes:
        notes(f"{path}: writing stems at {out_rate} Hz (--keep-sr)")
    with settings.writer(track, out_rate, frames, notes) as writer:
        for seg in iter_segments(tr, model, settings.masking, settings.alpha, settings.segment):
            stems = fold(seg.separated[0], settings.layout)
            blocks = dict(zip(settings.layout, stems.numpy()))
            if settings.residual:
                blocks[RESIDUAL] = (seg.mixture[0] - stems.sum(0)).numpy()
            writer.write(blocks)
            if progress:
                progress(seg.stop / SAMPLE_RATE, total)
        rows = onset_rows(tr.onsets[0], tr.velocities[0])
        writer.add("onsets", "tsv", onsets_tsv(rows))
        if settings.midi:
            writer.add("onsets", "mid", onsets_midi(rows, name=track))
        written = writer.commit()
    folder = os.path.commonpath([str(p.parent) for p in written])
    return f"{path}: {len(rows)} onsets, {len(written)} files in {folder}"


_FILE_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]"


class _Bars:
    """The overall bar (files) and one bar per slot (seconds of the file being separated)."""

    def __init__(self, n_files: int, slots: int, enabled: bool):
        self.enabled = enabled
        self.overall = tqdm(total=n_files, unit="file", desc="separating", position=0, disable=not enabled,
                            dynamic_ncols=True)
        self.slots, self.positions = {}, {}
        self.n_slots = slots

    def update(self, key, name: str, done: float, total: float) -> None:
        """Progress of the file in slot `key`: done = 0 starts its bar."""
        if done == 0 or key not in self.slots:
            self._start(key, name, total)
        bar = self.slots[key]
        bar.n = min(round(done, 1), bar.total)
        bar.refresh()

    def _start(self, key, name: str, total: float) -> None:
        if key in self.slots:
            self.slots[key].close()
            position = self.positions[key]
        else:
            position = self.positions[key] = 1 + len(self.positions) % self.n_slots
        self.slots[key] = tqdm(total=round(total, 1), unit="s", desc=name, position=position, leave=False,
                               disable=not self.enabled, dynamic_ncols=True, bar_format=_FILE_BAR)

    def file_done(self) -> None:
        self.overall.update(1)

    def close(self) -> None:
        for bar in self.slots.values():
            bar.close()
        self.overall.close()


def _printer(quiet: bool):
    def note(line: str) -> None:
        if not quiet:
            tqdm.write(line, file=sys.stderr)
    return note


def run_batch(inputs, settings: SeparateSettings, jobs: int = 1, quiet: bool = False) -> list:
    """Separate every `Input`; returns (path, error line) of each file that failed.

    jobs > 1 runs that many worker processes (CPU only), each with its share of the CPU
    threads. Progress bars show when stderr is a terminal and `quiet` is off.
    """
    model = load_model(settings.model, device=settings.device)  # checked here, before any worker starts
    settings = for_model(settings, model, None if quiet else _printer(quiet))
    progress_bars = _Bars(len(inputs), max(1, jobs), not quiet and sys.stderr.isatty())
    try:
        if jobs <= 1 or len(inputs) <= 1:
            return _run_here(inputs, settings, model, quiet, progress_bars)
        return _run_pool(inputs, settings, jobs, quiet, progress_bars)
    finally:
        progress_bars.close()


def _report(line: str, quiet: bool) -> None:
    if not quiet:
        tqdm.write(line)


def _run_here(inputs, settings, model, quiet, bars) -> list:
    note, failed = _printer(quiet), []
    for item in inputs:
        def progress(done, total, track=item.track):
            bars.update(0, track, done, total)
        try:
            _report(separate_file(item.path, item.track, model, settings, note, progress), quiet)
        except FILE_ERRORS as exc:
            failed.append((item.path, _error_line(item.path, exc)))
            tqdm.write(f"idm: error: {failed[-1][1]}", file=sys.stderr)
        bars.file_done()
    return failed


def _error_line(path, exc) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if str(path) in text else f"{path}: {text}"


_worker = {}  # the model, settings and message queue of a worker process, set once by _init_worker

STOP_SECONDS = 30.0
"""After Ctrl-C, how long the workers have to abandon their files before they are killed."""


def _init_worker(settings, messages, threads):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the workers
    _worker.update(messages=messages, held=True, stop=False)  # a stop while loading waits for the first file
    signal.signal(signal.SIGTERM, _on_stop)
    torch.set_num_threads(threads)
    torch.set_grad_enabled(False)
    _worker.update(settings=settings, model=load_model(settings.model, device=settings.device), held=False)


def _on_stop(*_):
    """SIGTERM: unwind (so the staging folder is removed), unless the model is still loading: then
    the stop is only noted, and taken when the first file starts."""
    if _worker["held"]:
        _worker["stop"] = True
    else:
        sys.exit(1)


def _send(kind: str, payload) -> None:
    """Put a message for the parent on the queue with SIGTERM held back: a multiprocessing queue
    interrupted inside `put` can lose its feeder thread's wake-up, and the worker then hangs at exit."""
    with signals_held((signal.SIGTERM,)):
        _worker["messages"].put((kind, payload))


def _work(item):
    if _worker["stop"]:
        sys.exit(1)
    pid = os.getpid()
    try:
        line = separate_file(item.path, item.track, _worker["model"], _worker["settings"],
                             notes=lambda text: _send("note", text),
                             progress=lambda done, total: _send("progress", (pid, item.track, done, total)))
        return line, None
    except FILE_ERRORS as exc:
        return None, _error_line(item.path, exc)


def _run_pool(inputs, settings, jobs, quiet, bars) -> list:
    """Worker processes (spawned, so no thread state is inherited), each holding the model once.

    On Ctrl-C (or any other exception here) every worker is stopped before the exception goes on.
    """
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    note, failed, pending = _printer(quiet), [], {}
    others = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(jobs, context, _init_worker, (settings, messages, threads))
    try:
        for item in inputs:
            pending[pool.submit(_work, item)] = item
        while pending:
            done, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            _drain(messages, bars, note)
            for future in done:
                item = pending.pop(future)
                try:
                    line, error = future.result()
                except BrokenProcessPool:
                    line, error = None, f"{item.path}: the worker process died (out of memory?)"
                if error:
                    failed.append((item.path, error))
                    tqdm.write(f"idm: error: {error}", file=sys.stderr)
                else:
                    _report(line, quiet)
                bars.file_done()
        _drain(messages, bars, note)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        killed = stop_processes([p for p in multiprocessing.active_children() if p not in others])
        if killed:
            tqdm.write(f"idm: {killed} worker(s) did not stop within {STOP_SECONDS:.0f} s and were killed; "
                       "their staging folders (.idm-*) may remain in the output folder", file=sys.stderr)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return failed


def stop_processes(processes, timeout: float = STOP_SECONDS) -> int:
    """Send SIGTERM to each process, wait for all to exit, and kill those still running after
    `timeout` seconds, so that Ctrl-C never waits without bound; returns how many were killed."""
    for process in processes:
        process.terminate()
    deadline, killed = time.monotonic() + timeout, 0
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.exitcode is None:
            process.kill()
            process.join()
            killed += 1
    return killed


def _drain(messages, bars, note) -> None:
    """Show what the workers reported: notes and progress."""
    while True:
        try:
            kind, payload = messages.get_nowait()
        except queue.Empty:
            return
        if kind == "note":
            note(payload)
        else:
            bars.update(*payload)
