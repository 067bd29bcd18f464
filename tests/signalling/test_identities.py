"""The identity index of one node: which sockets an ending closes, and a hello racing it."""

from __future__ import annotations

from core.identity import Principal, Role
from core.identity.types import EndReason, SessionsEnded
from signalling.connection import Connection, Limits
from signalling.identities import Identities, decode_identity, encode_ended, encode_replace


class _Nowhere:
    async def send(self, text: str) -> None:
        return None

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> None:
        return None

    async def close(self, code: int, reason: str) -> None:
        return None


def _conn(account: str, session: str, device: str | None = None) -> Connection:
    conn = Connection(_Nowhere(), Limits())
    conn.principal = Principal(account, Role.PRISONER, "est", session, device_id=device)
    return conn


def test_a_hello_checked_while_its_session_ended_is_closed_as_it_registers() -> None:
    """The session ended between the token check and the socket's registration:
    the ending is remembered, so the socket is not missed."""
    index = Identities()
    assert index.ended(SessionsEnded(EndReason.SIGNED_OUT, account_id="a", session_id="s1")) == []
    assert index.add(_conn("a", "s1")) is EndReason.SIGNED_OUT
    assert index.add(_conn("a", "s2")) is None  # a new sign-in is another session
    assert index.add(_conn("b", "s1")) is None


def test_each_ending_closes_only_the_sockets_it_names() -> None:
    index = Identities()
    one, two = _conn("a", "s1", "dev-1"), _conn("a", "s2", "dev-2")
    theirs = _conn("b", "s3", "dev-1")
    for conn in (one, two, theirs):
        assert index.add(conn) is None
    signed_out = SessionsEnded(EndReason.SIGNED_OUT, account_id="a", session_id="s1")
    assert index.ended(signed_out) == [one]
    device = SessionsEnded(EndReason.DEVICE_REVOKED, device_id="dev-1")
    assert sorted(c.id for c in index.ended(device)) == sorted([one.id, theirs.id])
    assert index.ended(SessionsEnded(EndReason.ACCOUNT_DISABLED, account_id="a")) == [one, two]
    assert index.remove(one) and not index.remove(one)


def test_identity_messages_round_trip_and_junk_is_ignored() -> None:
    ended = SessionsEnded(EndReason.RELEASED, account_id="a")
    assert decode_identity(encode_ended(ended)) == ended
    assert decode_identity(encode_replace("c1")) == "c1"
    for junk in (b"", b"[]", b'{"kind":"ended","reason":"nope"}', b'{"kind":"other"}', b"\xff"):
        assert decode_identity(junk) is None
