"""A stream's resumable state: checking a saved state, and the workers' turn order.

A state is ``epoch`` and ``batches_done`` (one count per DataLoader worker, ``[n]``
in-process) plus the settings the position depends on and the files' fingerprints. A
DataLoader takes batches from its workers in turn (0, 1, ..., 0, 1, ...), skipping those
that are done; after a resume the stream *rotates* which worker reads which range, so that
the first worker the new DataLoader asks is the one the interrupted run would have asked
next, and the resumed order is the uninterrupted run's remaining order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tabloader._checks import check_int, type_error
from tabloader._plan import EpochLayout, round_robin_counts

__all__ = [
    "CONFIGURABLE",
    "FIXED",
    "check_settings",
    "next_worker",
    "read_state",
    "rotated_round_robin",
]

#: settings that ``make_loader`` / ``configure`` may change: checked when the stream is read
CONFIGURABLE = ("shuffle", "seed", "drop_last", "rank", "world_size")
#: settings fixed when the stream is created: checked by ``load_state_dict``
FIXED = ("batch_size", "shuffle_buffer", "n_rows")


def next_worker(counts: Sequence[int], done: Sequence[int]) -> int:
    """The worker a DataLoader asks next after its workers did ``done`` of ``counts``."""
    active = [w for w in range(len(counts)) if done[w] < counts[w]]
    if not active:
        return 0
    low = min(done[w] for w in active)
    return next(w for w in active if done[w] == low)


def rotated_round_robin(counts: list[int], start: list[int], taken: int) -> list[int]:
    """Per-worker batches done after ``taken`` more batches from a resumed ``start``.

    The resumed DataLoader's worker ``i`` reads the range of worker
    ``(i + next_worker(counts, start)) % n``, so its turns start there.
    """
    r = next_worker(counts, start)
    done = round_robin_counts(counts[r:] + counts[:r], start[r:] + start[:r], taken)
    r = len(done) - r
    return done[r:] + done[:r]


def check_settings(state: Mapping[str, Any], mine: Mapping[str, Any], keys: Sequence[str]) -> None:
    """Raise ``ValueError`` when a saved setting differs from this stream's (the seed only
    matters when shuffling)."""
    for key in keys:
        if key == "seed" and not (state.get("shuffle", mine["shuffle"]) or mine["shuffle"]):
            continue
        if key in state and state[key] != mine[key]:
            hint = ""
            if key in CONFIGURABLE:
                hint = (
                    f"; create the stream, or call make_loader, with the {key}= the state "
                    "was saved with"
                )
            raise ValueError(
                f"state should come from a stream with the same {key}, but it has "
                f"{key}={state[key]!r} and this stream has {key}={mine[key]!r}{hint}"
            )


def read_state(state: Any, unit_rows: np.ndarray, mine: Mapping[str, Any]) -> tuple[int, list[int]]:
    """Check a state's ``epoch`` and ``batches_done``; the position it resumes.

    ``batches_done`` needs one count per worker, each at most that worker's batches in
    the epoch (for the state's own ranks, batch size and ``drop_last``). A position at
    the end of its epoch is the start of the next one.
    """
    if not isinstance(state, Mapping) or "epoch" not in state or "batches_done" not in state:
        raise ValueError(
            "state should be a stream state_dict (a dict with 'epoch' and 'batches_done'), "
            f"but got {state!r}"
        )
    version = check_int("version", state.get("version", 1), low=1)
    if version > mine["version"]:
        raise ValueError(
            f"version should be at most {mine['version']} (the newest stream state this "
            f"tabloader reads), but got version={version}; update tabloader"
        )
    epoch = check_int("epoch", state["epoch"], low=0)
    done = state["batches_done"]
    what = "a non-empty list of non-negative integers (batches done per DataLoader worker)"
    if isinstance(done, (str, bytes)) or not isinstance(done, Sequence):
        raise type_error("batches_done", what, done)
    if not done:
        raise ValueError(f"batches_done should be {what}, but got batches_done={list(done)!r}")
    done = [check_int(f"batches_done[{i}]", d, low=0) for i, d in enumerate(done)]
    check_settings(state, mine, FIXED)
    get = {k: state.get(k, mine[k]) for k in ("batch_size", "drop_last", "rank", "world_size")}
    ws = check_int("world_size", get["world_size"], low=1)
    layout = EpochLayout(
        unit_rows,
        epoch=0,
        shuffle=False,
        seed=0,
        batch_size=check_int("batch_size", get["batch_size"], low=1),
        drop_last=bool(get["drop_last"]),
        rank=check_int("rank", get["rank"], low=0, high=ws - 1),
        world_size=ws,
    )
    counts = layout.worker_counts(len(done))
    for w, (d, c) in enumerate(zip(done, counts)):
        if d > c:
            nw = len(done) if len(done) > 1 else 0
            raise ValueError(
                f"batches_done[{w}] should be at most {c} (the batches of "
                + (f"worker {w} of num_workers={nw}" if nw else "one epoch")
                + f" of rank {get['rank']} of world_size={get['world_size']}), but got "
                f"batches_done={done}"
            )
    if done == counts:  # saved on the epoch's last batch: resume at the next epoch
        return epoch + 1, [0] * len(done)
    return epoch, done
