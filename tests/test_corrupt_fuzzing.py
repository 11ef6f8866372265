"""The fuzzing behind tests/test_corrupt_run_files.py and test_corrupt_data_files.py.

Hypothesis cuts a file short, flips one of its bits or garbles a few of its bytes, a reader reads
it, and the outcome must be one the file allows: a one-line UserError naming the file, the
original content read back (a change that changes nothing, such as a gzip header's timestamp), a
still valid file accepted, or, for a cache entry, a correct rebuild. Any other exception fails the
test. ``COUNTS`` records how many cases each kind of file ran, by outcome."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genimg.errors import UserError

CASES = 40  # per kind of file
COUNTS: dict[str, Counter] = defaultdict(Counter)

_position = st.floats(min_value=0, max_value=1, exclude_max=True)
MUTATIONS = st.one_of(
    st.tuples(st.just("truncate"), _position),
    st.tuples(st.just("flip"), _position, st.integers(0, 7)),
    st.tuples(st.just("garble"), _position, st.binary(min_size=1, max_size=16)),
)


def mutate(data: bytes, mutation: tuple) -> bytes:
    kind, where = mutation[0], int(mutation[1] * len(data))
    if kind == "truncate":
        return data[:where]
    out = bytearray(data)
    if kind == "flip":
        out[where] ^= 1 << mutation[2]
    else:
        garble = mutation[2][: len(data) - where]
        out[where : where + len(garble)] = garble
    return bytes(out)


def fuzz(
    kind: str,
    path: Path,
    read: Callable[[], Any],
    accept: Callable[[Any], bool],
    names: tuple[str, ...] = (),
    cases: int = CASES,
) -> None:
    """Run ``cases`` mutations of ``path``; each ``read()`` must raise a one-line UserError naming
    the file (or one of ``names``), or return a result ``accept`` takes. The file is put back after
    each case."""
    original = path.read_bytes()
    names = names or (path.name,)

    @settings(
        max_examples=cases,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutation=MUTATIONS)
    def case(mutation):
        damaged = mutate(original, mutation)
        path.write_bytes(damaged)
        try:
            result = read()
        except UserError as error:
            message = str(error)
            assert len(message.splitlines()) == 1, message
            assert any(name in message for name in names), f"{kind} {mutation}: {message}"
            COUNTS[kind]["one-line error"] += 1
        else:
            assert accept(result), f"{kind} {mutation}: read back as {result!r:.200}"
            if damaged == original:
                outcome = "no change, read back"
            elif path.read_bytes() != damaged:
                outcome = "rebuilt"
            else:
                outcome = "accepted"  # a change that is still a valid file (a digit of a number) or harmless
            COUNTS[kind][outcome] += 1
        finally:
            path.write_bytes(original)

    case()
    total = sum(COUNTS[kind].values())
    print(f"fuzz {kind}: {total} cases, {dict(COUNTS[kind])}")
    assert total >= cases


def test_mutations_cut_flip_and_garble():
    data = bytes(range(10))
    assert mutate(data, ("truncate", 0.5)) == data[:5]
    assert mutate(data, ("flip", 0.0, 3)) == bytes([8]) + data[1:]
    assert mutate(data, ("garble", 0.95, b"xyz")) == data[:9] + b"x"
