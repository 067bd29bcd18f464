"""The STREAM format: what was sealed opens, anything else is refused."""

from __future__ import annotations

import os

import pytest

from media.stream_aead import (
    HEADER_LEN,
    TAG_LEN,
    Layout,
    Opener,
    Sealer,
    StreamError,
    open_all,
    seal_all,
)

KEY = bytes(range(32))
LABEL = "recording/r-1/media"
CHUNK = 64


def sealed(data: bytes, *, label: str = LABEL, key: bytes = KEY) -> bytes:
    return seal_all(key, label, data, chunk_size=CHUNK)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5])
def test_what_is_sealed_opens_and_is_not_the_plaintext(size: int) -> None:
    data = os.urandom(size)
    stored = sealed(data)
    assert open_all(KEY, LABEL, stored) == data
    assert Layout(CHUNK, len(stored)).plain_size == size
    if size >= 16:
        assert data not in stored


def test_sealing_in_pieces_is_sealing_at_once() -> None:
    data = os.urandom(5 * CHUNK + 7)
    sealer = Sealer(KEY, LABEL, chunk_size=CHUNK)
    out = bytearray(sealer.header)
    for i in range(0, len(data), 13):
        out += sealer.update(data[i : i + 13])
    out += sealer.finish()
    assert open_all(KEY, LABEL, bytes(out)) == data


def chunk_span(i: int) -> slice:
    start = HEADER_LEN + i * (CHUNK + TAG_LEN)
    return slice(start, start + CHUNK + TAG_LEN)


DATA = bytes(range(256)) * 2  # 8 chunks of 64


@pytest.mark.parametrize("offset", [0, 5, HEADER_LEN, HEADER_LEN + 70, -1])
def test_a_changed_byte_is_refused(offset: int) -> None:
    stored = bytearray(sealed(DATA))
    stored[offset] ^= 0x01
    with pytest.raises(StreamError):
        open_all(KEY, LABEL, bytes(stored))


def test_truncation_at_a_chunk_boundary_is_refused() -> None:
    stored = sealed(DATA)
    cut = stored[: chunk_span(5).start]
    with pytest.raises(StreamError, match="chunk 4 does not authenticate"):
        open_all(KEY, LABEL, cut)


def test_truncation_inside_a_chunk_is_refused() -> None:
    stored = sealed(DATA)
    with pytest.raises(StreamError):
        open_all(KEY, LABEL, stored[:-3])


def test_reordered_chunks_are_refused() -> None:
    stored = bytearray(sealed(DATA))
    a, b = stored[chunk_span(1)], stored[chunk_span(2)]
    stored[chunk_span(1)], stored[chunk_span(2)] = b, a
    with pytest.raises(StreamError, match="chunk 1 does not authenticate"):
        open_all(KEY, LABEL, bytes(stored))


def test_a_chunk_spliced_from_another_recording_is_refused() -> None:
    """Same key even (the worst case): the other stream's nonce prefix and label differ."""
    mine = bytearray(sealed(DATA))
    theirs = sealed(DATA, label="recording/r-2/media")
    mine[chunk_span(3)] = theirs[chunk_span(3)]
    with pytest.raises(StreamError, match="chunk 3"):
        open_all(KEY, LABEL, bytes(mine))


def test_a_whole_stream_under_another_label_or_key_is_refused() -> None:
    stored = sealed(DATA)
    with pytest.raises(StreamError):
        open_all(KEY, "recording/r-2/media", stored)
    with pytest.raises(StreamError):
        open_all(bytes(32), LABEL, stored)


def test_an_extra_chunk_appended_is_refused() -> None:
    stored = sealed(DATA)
    with pytest.raises(StreamError):
        open_all(KEY, LABEL, stored + stored[chunk_span(0)])


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 1),
        (0, CHUNK),
        (CHUNK - 1, CHUNK + 1),
        (CHUNK, 2 * CHUNK),
        (2 * CHUNK - 1, 2 * CHUNK),
        (3 * CHUNK + 10, 7 * CHUNK + 3),
        (len(DATA) - 1, len(DATA)),
        (0, len(DATA)),
    ],
)
def test_a_range_opens_only_the_chunks_that_hold_it(start: int, end: int) -> None:
    stored = sealed(DATA)
    opener = Opener(KEY, LABEL, stored[:HEADER_LEN], len(stored))
    chunks = opener.layout.chunks_for(start, end)
    lo = opener.layout.span(chunks[0])[0]
    hi = opener.layout.span(chunks[-1])[1]
    assert opener.open_range(chunks[0], stored[lo:hi], start, end) == DATA[start:end]
    assert len(chunks) == (end - 1) // CHUNK - start // CHUNK + 1


def test_a_range_read_of_a_tampered_chunk_is_refused_and_others_still_open() -> None:
    stored = bytearray(sealed(DATA))
    stored[chunk_span(4).start + 3] ^= 0xFF
    opener = Opener(KEY, LABEL, bytes(stored[:HEADER_LEN]), len(stored))
    with pytest.raises(StreamError, match="chunk 4"):
        opener.open_range(4, bytes(stored[chunk_span(4)]), 4 * CHUNK, 4 * CHUNK + 1)
    assert (
        opener.open_range(5, bytes(stored[chunk_span(5)]), 5 * CHUNK, 6 * CHUNK)
        == DATA[5 * CHUNK : 6 * CHUNK]
    )
