"""GMD-style drum performances of ten styles: grooves, tom fills, crashes, open hi-hats, ghost notes.

`performance(rng, style, bpm, bars)` plays `bars` bars of 4/4 the way a drummer of the Groove
MIDI Dataset would: a style's kick and snare patterns varied bar to bar, a timekeeper that
moves between hi-hat and ride (with the hi-hat pedal on 2 and 4) by section, open hi-hats and ghost notes where the style has
them, a tom fill at the end of most phrases (high, mid and floor toms), a crash after each
fill, and human timing and dynamics. Notes use GMD's pitches (`idm.constants.GMD_PITCH_TO_CLASS`),
so every one of the nine classes occurs in every style.
"""

from dataclasses import dataclass

import numpy as np

from idm.constants import GMD_PITCH_TO_CLASS

TICKS_PER_BEAT = 480
"""GMD's MIDI resolution."""

KICK, SNARE, RIM, SIDE_STICK = 36, 38, 40, 37
CLOSED_HH, PEDAL_HH, OPEN_HH = 42, 44, 46
HIGH_TOMS, MID_TOMS, FLOOR_TOMS = (50, 48), (47, 45), (43, 58)
CRASHES, RIDE, RIDE_BELL = (49, 57, 55), 51, 53


@dataclass(frozen=True)
class Style:
    """How a style is played: tempo range, grid (4 steps a beat, or 3 for triplet feel), swing of
    the off-beat steps (0.5 straight), bar patterns (one character a step, 'x' a hit), habits,
    and the phrase length in bars (a fill ends each phrase; hi-hat and ride take turns by phrase)."""

    name: str
    tempo: tuple
    kicks: tuple
    snares: tuple
    hats: tuple
    steps: int = 4
    swing: float = 0.5
    ghosts: float = 0.0
    """Chance of a ghost snare on each free off-beat step."""
    open_hats: float = 0.25
    """Chance that a hi-hat step on an "and" (the "let" of a triplet) is played open."""
    phrase: int = 4
    snare_pitch: int = SNARE


STYLES = (
    Style("rock", (84, 144), ("x.......x.......", "x.......x.x.....", "x.x.....x.......", "x......xx......."),
          ("....x.......x...",), ("x.x.x.x.x.x.x.x.",)),
    Style("funk", (82, 118), ("x..x......x..x..", "x.....x...x.....", "x..x..x....x...."),
          ("....x.......x...", "....x.....x.x..."), ("xxxxxxxxxxxxxxxx", "x.xxx.xxx.xxx.xx"), ghosts=0.3),
    Style("hiphop", (76, 100), ("x......x..x.....", "x.x.......x.....", "x......x.xx....."),
          ("....x.......x...",), ("x.x.x.x.x.x.x.x.", "xxxxxxxxxxxxxxxx"), swing=0.58, ghosts=0.1),
    Style("jazz", (110, 220), ("x.....x.....", "x.........x."), ("......x.....", "..x.....x..."),
          ("x..x.xx..x.x",), steps=3, ghosts=0.25, open_hats=0.0, phrase=8),
    Style("shuffle", (88, 140), ("x.....x.....", "x.....x.x..."), ("...x.....x..",), ("x.xx.xx.xx.x",),
          steps=3, open_hats=0.15),
    Style("latin", (100, 150), ("x..xx..xx..xx..x", "x..x..x.x..x..x."), ("...x..x...x..x..",),
          ("x.x.x.x.x.x.x.x.",), snare_pitch=SIDE_STICK),
    Style("disco", (108, 132), ("x...x...x...x...",), ("....x.......x...",), ("xxxxxxxxxxxxxxxx",),
          open_hats=0.6),
    Style("metal", (130, 190), ("xxxxxxxxxxxxxxxx", "x.x.x.x.x.x.x.x."), ("....x.......x...",),
          ("x.x.x.x.x.x.x.x.",), open_hats=0.1),
    Style("reggae", (66, 92), ("........x.......",), ("........x.......",), ("x.xxx.xxx.xxx.xx",),
          swing=0.55, snare_pitch=RIM),
    Style("punk", (150, 200), ("x.x.....x.x.....", "x...x...x...x..."), ("....x.......x...",),
          ("x.x.x.x.x.x.x.x.",), phrase=8),
)
"""The styles `make kits-data` plays, cycled over the performances."""

FILLS = (
    (HIGH_TOMS, HIGH_TOMS, MID_TOMS, MID_TOMS, FLOOR_TOMS, FLOOR_TOMS, FLOOR_TOMS, FLOOR_TOMS),
    ((SNARE,), HIGH_TOMS, (SNARE,), MID_TOMS, (SNARE,), FLOOR_TOMS, MID_TOMS, FLOOR_TOMS),
    (HIGH_TOMS, MID_TOMS, FLOOR_TOMS, MID_TOMS, HIGH_TOMS, MID_TOMS, FLOOR_TOMS, FLOOR_TOMS),
    (FLOOR_TOMS, (KICK,), FLOOR_TOMS, (KICK,), MID_TOMS, (KICK,), HIGH_TOMS, (SNARE,)),
)
"""Tom fills, one voice a step: the last steps of a fill bar play the end of one of these."""


def _step_tick(step: int, steps: int, swing: float) -> int:
    """Tick of grid step `step` in a bar (steps a beat: 4 or 3), off-beat steps delayed by swing."""
    beat, within = divmod(step, steps)
    if steps == 4 and within % 2 == 1:
        return beat * TICKS_PER_BEAT + (within - 1) * TICKS_PER_BEAT // 4 + int(2 * swing * TICKS_PER_BEAT / 4)
    return beat * TICKS_PER_BEAT + within * TICKS_PER_BEAT // steps


def performance(rng: np.random.Generator, style: Style, bpm: float, bars: int) -> list:
    """Notes (tick, GMD pitch, velocity) of `bars` bars of `style`, sorted; the last bar ends on a crash."""
    steps = 4 * style.steps
    bar_ticks = 4 * TICKS_PER_BEAT
    timing = 0.008 * bpm / 60 * TICKS_PER_BEAT  # about 8 ms of timing spread, in ticks
    notes, placed = [], set()

    def hit(bar: int, step: int, pitch: int, velocity: float) -> None:
        if (bar, step, GMD_PITCH_TO_CLASS[pitch]) in placed:  # one hit of a class per grid step (no flams)
            return
        placed.add((bar, step, GMD_PITCH_TO_CLASS[pitch]))
        tick = bar * bar_ticks + _step_tick(step, style.steps, style.swing)
        tick += int(round(rng.normal(0, timing))) if (bar, step) != (0, 0) else 0
        notes.append((max(0, tick), pitch, int(np.clip(velocity + rng.normal(0, 6), 1, 127))))

    ride = False
    kick, snare, hats = (style.kicks[0], style.snares[0], style.hats[0])
    for bar in range(bars):
        if bar % style.phrase == 0:  # a new section: hi-hat and ride take turns (jazz starts on the ride)
            section = bar // style.phrase
            ride = (section % 2 == 1) ^ (style.name == "jazz") ^ bool(rng.random() < 0.2)
            hats = style.hats[rng.integers(len(style.hats))]
        if (bar == 0 and rng.random() < 0.5) or (bar % style.phrase and rng.random() < 0.15):
            hit(bar, 0, int(rng.choice(CRASHES)), 110)  # a crash to start, or an accent inside a phrase
        if rng.random() < 0.4:
            kick = style.kicks[rng.integers(len(style.kicks))]
            snare = style.snares[rng.integers(len(style.snares))]
        fill_steps = 0
        if bar % style.phrase == style.phrase - 1 or bar == bars - 1:
            fill_steps = int(rng.choice([style.steps, 2 * style.steps, 2 * style.steps, 4 * style.steps]))
            fill = FILLS[rng.integers(len(FILLS))]
        for step in range(steps):
            in_fill = step >= steps - fill_steps
            off_beat = step % style.steps != 0
            if in_fill:
                voices = fill[(step - (steps - fill_steps)) * len(fill) // fill_steps]
                hit(bar, step, int(rng.choice(voices)), rng.uniform(80, 120))
                continue
            if hats[step] == "x":
                if ride:
                    bell = step % style.steps == 0 and rng.random() < 0.1
                    hit(bar, step, RIDE_BELL if bell else RIDE, rng.uniform(60, 100) if off_beat else 95)
                elif step % style.steps == 2 and rng.random() < style.open_hats:  # on an "and" (or a "let")
                    hit(bar, step, OPEN_HH, rng.uniform(75, 110))
                else:
                    hit(bar, step, CLOSED_HH, rng.uniform(45, 80) if off_beat else rng.uniform(80, 105))
            if kick[step] == "x":
                hit(bar, step, KICK, rng.uniform(85, 122) if style.name != "jazz" else rng.uniform(30, 60))
            if snare[step] == "x":
                hit(bar, step, style.snare_pitch, rng.uniform(95, 125))
            elif off_beat and rng.random() < style.ghosts:
                hit(bar, step, SNARE, rng.uniform(18, 45))
            if ride and step % style.steps == 0 and (step // style.steps) % 2 == 1:
                hit(bar, step, PEDAL_HH, rng.uniform(50, 80))  # the foot keeps the hi-hat on 2 and 4
        if fill_steps:
            hit(bar + 1, 0, KICK, 115)
            hit(bar + 1, 0, int(rng.choice(CRASHES)), 115)
    return sorted(notes)
