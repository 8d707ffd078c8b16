"""SIP2 codec throughput: interlend vs pysip2 on the same realistic frame mix.

Run by hand (``make bench``).  The machine is shared and noisy, so both codecs run
interleaved in the same process, round after round, on the same frames; the report
gives the median of each and the median of the per-round ratios, never one absolute
time alone.

The mix is what a self-check kiosk session sends and receives, weighted by how often
each exchange happens (checkouts and checkins dominate; patron information carries
item lists), every frame with the AY/AZ trailer as most ILSs are configured.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import pysip2

from protocols.sip2 import DEFAULT_DIALECT, Message, decode, encode
from protocols.sip2.samples import sample_messages

if TYPE_CHECKING:
    from collections.abc import Callable

# Exchanges of a kiosk session and their relative frequency.
WEIGHTS = {
    "11": 25, "12": 25,  # checkout
    "09": 20, "10": 20,  # checkin
    "23": 8, "24": 8,    # patron status
    "63": 7, "64": 7,    # patron information (with item lists)
    "17": 10, "18": 10,  # item information
    "29": 5, "30": 5,    # renew
    "99": 3, "98": 3,    # status
    "93": 2, "94": 2,    # login
}  # fmt: skip


def frame_mix() -> list[bytes]:
    """The weighted mix of frames, each with an AY/AZ trailer."""
    by_code = {m.code: m for m in sample_messages()}
    frames = []
    for code, weight in WEIGHTS.items():
        frame = encode(by_code[code], sequence=weight % 10, error_detection=True)
        frames.extend([frame] * weight)
    return frames


def ours_round_trip(frames: list[bytes]) -> None:
    for frame in frames:
        decoded = decode(frame, DEFAULT_DIALECT)
        encode(decoded.message, DEFAULT_DIALECT, sequence=decoded.sequence, error_detection=True)


def pysip2_round_trip(frames: list[bytes]) -> None:
    for frame in frames:
        decoded = pysip2.decode_message(frame)
        pysip2.encode_message(
            decoded.message, sequence_number=decoded.sequence_number, checksum=True
        )


def ours_decode(frames: list[bytes]) -> None:
    for frame in frames:
        decode(frame, DEFAULT_DIALECT)


def pysip2_decode(frames: list[bytes]) -> None:
    for frame in frames:
        pysip2.decode_message(frame)


def ours_encode(messages: list[tuple[Message, int | None]]) -> None:
    for message, sequence in messages:
        encode(message, DEFAULT_DIALECT, sequence=sequence, error_detection=True)


def pysip2_encode(messages: list[tuple[pysip2.SIPMessage, int | None]]) -> None:
    for message, sequence in messages:
        pysip2.encode_message(message, sequence_number=sequence, checksum=True)


def timed(run: Callable[[], None]) -> float:
    gc.collect()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


@dataclass(frozen=True)
class Result:
    """Medians over the rounds; speedup is pysip2's time over ours (above 1: we are faster)."""

    benchmark: str
    interlend_frames_per_s: float
    pysip2_frames_per_s: float
    speedup_median: float
    speedup_min: float
    speedup_max: float


def compare(
    name: str, ours: Callable[[], None], theirs: Callable[[], None], frames: int, rounds: int
) -> Result:
    """Interleave both codecs for ``rounds`` rounds; frames per second and ratios."""
    ours_rates, their_rates, ratios = [], [], []
    for n in range(rounds):
        # Alternate which runs first so neither always gets the warmer cache.
        if n % 2:
            t_theirs, t_ours = timed(theirs), timed(ours)
        else:
            t_ours, t_theirs = timed(ours), timed(theirs)
        ours_rates.append(frames / t_ours)
        their_rates.append(frames / t_theirs)
        ratios.append(t_theirs / t_ours)
    return Result(
        name,
        statistics.median(ours_rates),
        statistics.median(their_rates),
        statistics.median(ratios),
        min(ratios),
        max(ratios),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds (default 21)")
    parser.add_argument("--repeat", type=int, default=20, help="passes over the mix per round")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    args = parser.parse_args(argv)

    mix = frame_mix() * args.repeat
    ours_messages = [(decode(f).message, decode(f).sequence) for f in mix]
    their_messages = [
        (d.message, d.sequence_number) for d in (pysip2.decode_message(f) for f in mix)
    ]
    results = [
        compare(
            "decode+encode",
            lambda: ours_round_trip(mix),
            lambda: pysip2_round_trip(mix),
            len(mix),
            args.rounds,
        ),
        compare(
            "decode", lambda: ours_decode(mix), lambda: pysip2_decode(mix), len(mix), args.rounds
        ),
        compare(
            "encode",
            lambda: ours_encode(ours_messages),
            lambda: pysip2_encode(their_messages),
            len(mix),
            args.rounds,
        ),
    ]
    if args.json:
        for result in results:
            print(json.dumps(asdict(result)))
        return 0
    print(
        f"SIP2 codec, {len(frame_mix())}-frame kiosk mix x {args.repeat}, "
        f"{args.rounds} interleaved rounds, Python {sys.version.split()[0]}"
    )
    print(f"{'':15}{'interlend/s':>14}{'pysip2/s':>14}{'speedup (median, min-max)':>30}")
    for r in results:
        print(
            f"{r.benchmark:15}{r.interlend_frames_per_s:14,.0f}{r.pysip2_frames_per_s:14,.0f}"
            f"{r.speedup_median:>14.2f}x ({r.speedup_min:.2f}-{r.speedup_max:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
