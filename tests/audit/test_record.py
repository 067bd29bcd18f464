"""The leaf encoding: one byte string per event, the fast encoder identical to the reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from audit.record import LeafEncoder, leaf_bytes

ids = st.one_of(st.none(), st.text(max_size=36))


@given(
    seq=st.integers(0, 2**40),
    offset=st.integers(0, 10**15),
    establishment=ids,
    actor=st.text(min_size=1, max_size=64),
    subject=ids,
    appointment=ids,
    ciphertext=st.binary(max_size=64),
)
def test_the_memoised_encoder_matches_the_reference(
    seq: int,
    offset: int,
    establishment: str | None,
    actor: str,
    subject: str | None,
    appointment: str | None,
    ciphertext: bytes,
) -> None:
    at = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=offset)
    expected = leaf_bytes(
        seq, at, establishment, actor, "booked", subject, appointment, "k", ciphertext
    )
    encoder = LeafEncoder()
    for when in (at, at.replace(tzinfo=None), at.replace(tzinfo=None).isoformat(sep=" ")):
        assert (
            encoder.leaf(
                seq, when, establishment, actor, "booked", subject, appointment, "k", ciphertext
            )
            == expected
        )


def test_none_and_empty_are_different_leaves() -> None:
    at = datetime(2026, 3, 3, tzinfo=UTC)
    assert leaf_bytes(1, at, None, "a", "b", None, None, "k", b"") != leaf_bytes(
        1, at, "", "a", "b", None, None, "k", b""
    )
