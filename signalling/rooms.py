"""A consult room: its state machine, its members, and what each step tells whom.

Everything here is pure: an operation validates fully before it changes
anything, then mutates the room and returns an `Outbox` of effects (messages to
log and deliver, audit records, calls to scheduling, connections to close) for
the hub to carry out. A refused operation raises and leaves the room as it was,
which the property-based tests check.

There is a way back from every state but `ended`, for as long as the
appointment's window is open: a member who dropped resumes (or joins again from
a fresh page) and is back where it was; a patient who left, or whose reclaim
window ran out, comes back through the waiting room and the room goes back to
`waiting` until the clinician admits again; a clinician who left rejoins. Only
the clinician's `end`, or the window closing, ends a consult.

Third parties (issue 18): an invited interpreter, chaperone or officer waits and
is admitted like the patient. Up to `MAX_PEOPLE` people are in a room at once,
in a mesh of peer connections; the recorder (a server member) is not counted.
For each pair the member earlier in `OFFER_ORDER` offers (`offerer`). An officer
joins only before the clinician confirms the prisoner's identity
(`confirm_identity`), which puts every officer on hold: the others close their
connections to the officer, nothing is relayed to or from a member on hold, and
it is sent nothing but its own hold, return and the end, until the clinician
brings it back (`bring_back`) or it leaves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from core.events import Action
from scheduling.types import AppointmentView
from signalling.errors import ErrorCode, SignallingError
from signalling.room_recording import RoomRecording

EVERYONE = "*"
MAX_PEOPLE = 4
"""People in a consult at once (waiting, present or away); server members are not people."""
SERVER_ROLES = frozenset({"recorder"})
OFFER_ORDER = ("clinician", "interpreter", "chaperone", "officer", "patient")
"""Of two members, the one whose role comes first offers (by participant id in a tie)."""


def offerer(a: tuple[str, str], b: tuple[str, str]) -> str:
    """Which of two (participant, role) pairs sends the offer between them."""

    def rank(m: tuple[str, str]) -> tuple[int, str]:
        role = m[1]
        return (OFFER_ORDER.index(role) if role in OFFER_ORDER else len(OFFER_ORDER), m[0])

    return min(a, b, key=rank)[0]


class ConsultState(StrEnum):
    WAITING = "waiting"
    ADMITTED = "admitted"
    IN_CALL = "in_call"
    ENDED = "ended"


TRANSITIONS: dict[ConsultState, frozenset[ConsultState]] = {
    ConsultState.WAITING: frozenset({ConsultState.ADMITTED, ConsultState.ENDED}),
    # Back to waiting: the admitted patient left (or did not come back in time).
    ConsultState.ADMITTED: frozenset(
        {ConsultState.IN_CALL, ConsultState.WAITING, ConsultState.ENDED}
    ),
    ConsultState.IN_CALL: frozenset({ConsultState.WAITING, ConsultState.ENDED}),
    ConsultState.ENDED: frozenset(),
}


class CallMode(StrEnum):
    """The fallback ladder: video, then audio only, then a call-back by phone.

    A consult that requires video skips audio only. Video and audio only go
    both ways (a person may try video again); a call-back is the last step.
    """

    VIDEO = "video"
    AUDIO = "audio"
    CALL_BACK = "call_back"


IN_A_CALL = frozenset({ConsultState.ADMITTED, ConsultState.IN_CALL})
OFFER_SWITCH_S = 10
"""How long both pages show an offer of audio only before the clinician's page moves the call."""


class MemberStatus(StrEnum):
    WAITING = "waiting"
    PRESENT = "present"
    AWAY = "away"
    LEFT = "left"


ACTIVE = frozenset({MemberStatus.WAITING, MemberStatus.PRESENT, MemberStatus.AWAY})


@dataclass
class Member:
    participant: str
    role: str
    status: MemberStatus
    admitted: bool
    conn: str | None
    since: str
    check: dict[str, str] | None = None
    waiting_since: str | None = None
    node: str | None = None
    device: str | None = None
    on_hold: bool = False

    def view(self) -> dict[str, Any]:
        return {
            "participant": self.participant,
            "role": self.role,
            "status": self.status.value,
            "admitted": self.admitted,
            "check": self.check,
            "on_hold": self.on_hold,
        }


@dataclass(frozen=True)
class Delivery:
    recipients: tuple[str, ...]
    body: dict[str, Any]


@dataclass(frozen=True)
class AuditEffect:
    action: Action
    actor: str
    details: dict[str, Any]


@dataclass
class Outbox:
    deliveries: list[Delivery] = field(default_factory=list)
    audits: list[AuditEffect] = field(default_factory=list)
    call_events: list[tuple[str, str]] = field(default_factory=list)
    kicks: list[str] = field(default_factory=list)
    call_backs: list[tuple[str, str | None]] = field(default_factory=list)
    """(clinician, the patient's device): a call-back task to open in scheduling."""
    queue_changed: bool = False
    first_join: bool = False
    summary: dict[str, Any] | None = None
    """The plain per-call summary to keep when the call ends (`Room.call_summary`)."""
    holds: list[tuple[str, str]] = field(default_factory=list)
    """(member, by whom) put on hold: its relay allocations to cut (`signalling.relay_cut`)."""

    def send(self, recipients: tuple[str, ...], body: dict[str, Any]) -> None:
        if recipients:
            self.deliveries.append(Delivery(recipients, {**body, "v": 1}))

    def audit(self, action: Action, actor: str, at: datetime, **details: Any) -> None:
        self.audits.append(AuditEffect(action, actor, {"at": at.isoformat(), **details}))


def _iso(value: datetime) -> str:
    return value.isoformat()


def _seconds_between(start: str | None, end: datetime) -> int | None:
    if start is None:
        return None
    return max(0, int((end - datetime.fromisoformat(start)).total_seconds()))


@dataclass
class Room(RoomRecording):
    appointment: str
    establishment: str
    clinician_id: str
    prisoner_id: str
    service: str
    status: str
    relay_only: bool
    starts_at: str
    ends_at: str
    window_opens: str
    window_closes: str
    state: ConsultState
    created_at: str
    members: dict[str, Member] = field(default_factory=dict)
    admitted_at: str | None = None
    call_started_at: str | None = None
    ended_at: str | None = None
    ended_reason: str | None = None
    video_required: bool = False
    mode: CallMode = CallMode.VIDEO
    # What the per-call summary keeps (no clinical text): first arrival in the
    # waiting room, admits, the longest wait for a re-admit, mode changes, and
    # the worst link any side reported.
    first_arrival_at: str | None = None
    admits: int = 0
    readmit_wait_s: int | None = None
    mode_changes: int = 0
    worst_loss_pct: float | None = None
    lowest_bitrate_kbps: float | None = None
    identity_confirmed_at: str | None = None
    # Who was present when, and on hold when: [participant, role, event, at], event
    # one of present, left, on_hold, back (for the attendance report: `presence`).
    presence: list[list[str]] = field(default_factory=list)
    # Recording (signalling/room_recording.py): off, asking the patient, or on;
    # who moved it last, since when, and "declined"/"withdrawn" once the patient
    # said so in this consult (then the clinician cannot ask again in it).
    recording: str = "off"
    recording_by: str | None = None
    recording_since: str | None = None
    recording_closed: str | None = None

    # ------------------------------------------------------------ persistence

    @classmethod
    def open(cls, view: AppointmentView, now: datetime) -> Room:
        return cls(
            appointment=view.id,
            establishment=view.establishment_id,
            clinician_id=view.clinician_id,
            prisoner_id=view.prisoner_id,
            service=view.service,
            status=view.status,
            relay_only=view.relay_only,
            starts_at=_iso(view.starts_at),
            ends_at=_iso(view.ends_at),
            window_opens=_iso(view.window_opens),
            window_closes=_iso(view.window_closes),
            state=ConsultState.WAITING,
            created_at=_iso(now),
            video_required=view.video_required,
        )

    def view(self) -> AppointmentView:
        return AppointmentView(
            id=self.appointment,
            establishment_id=self.establishment,
            prisoner_id=self.prisoner_id,
            clinician_id=self.clinician_id,
            service=self.service,
            starts_at=datetime.fromisoformat(self.starts_at),
            ends_at=datetime.fromisoformat(self.ends_at),
            window_opens=datetime.fromisoformat(self.window_opens),
            window_closes=datetime.fromisoformat(self.window_closes),
            status=self.status,
            relay_only=self.relay_only,
            video_required=self.video_required,
        )

    def to_json(self) -> str:
        # orjson writes the dataclasses and enums as asdict + json.dumps did, a
        # tenth of the cost: every change of a room (a storm's resumes) writes it.
        return orjson.dumps(self, option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def from_json(cls, raw: str | bytes) -> Room:
        data = orjson.loads(raw)
        members = {
            k: Member(**{**m, "status": MemberStatus(m["status"])})
            for k, m in data.pop("members").items()
        }
        mode = CallMode(data.pop("mode", CallMode.VIDEO.value))
        return cls(
            **{**data, "state": ConsultState(data["state"]), "members": members, "mode": mode}
        )

    # ------------------------------------------------------------ views

    def others(self, participant: str, *, admitted_only: bool = True) -> tuple[str, ...]:
        """Who hears of `participant`'s steps: never a member on hold."""
        return tuple(
            m.participant
            for m in self.members.values()
            if m.participant != participant
            and m.status in ACTIVE
            and not m.on_hold
            and (m.admitted or not admitted_only)
        )

    def people(self) -> int:
        """People in the room now (waiting, present or away); the recorder is not one."""
        return sum(
            1 for m in self.members.values() if m.status in ACTIVE and m.role not in SERVER_ROLES
        )

    def _mark(self, member: Member, event: str, now: datetime) -> None:
        self.presence.append([member.participant, member.role, event, _iso(now)])

    def clinicians(self) -> tuple[str, ...]:
        return tuple(
            m.participant
            for m in self.members.values()
            if m.role == "clinician" and m.status in ACTIVE
        )

    def active_member(self, participant: str) -> Member | None:
        member = self.members.get(participant)
        if member is None or member.status not in ACTIVE:
            return None
        return member

    def snapshot(self, participant: str) -> dict[str, Any]:
        me = self.members.get(participant)
        held = me is not None and me.on_hold
        return {
            "appointment": self.appointment,
            "state": self.state.value,
            "mode": self.mode.value,
            "video_required": self.video_required,
            "identity_confirmed": self.identity_confirmed_at is not None,
            "you": me.view() if me else None,
            # A member on hold is told of nobody.
            "members": []
            if held
            else [m.view() for m in self.members.values() if m.status in ACTIVE],
            "recording": None if held else self.recording_view(),
        }

    def summary(self) -> dict[str, Any]:
        """Where the consult stands, for the clinician's list (no health detail)."""

        def member(role: str) -> dict[str, Any] | None:
            found = [m for m in self.members.values() if m.role == role]
            if not found:
                return None
            m = found[0]
            return {
                "participant": m.participant,
                "status": m.status.value,
                "admitted": m.admitted,
                "since": m.since,
                "waiting_since": m.waiting_since if m.status in ACTIVE else None,
                "check": m.check,
            }

        return {
            "appointment": self.appointment,
            "state": self.state.value,
            "patient": member("patient"),
            "clinician": member("clinician"),
            "ended_reason": self.ended_reason,
            "mode": self.mode.value,
        }

    @property
    def ended(self) -> bool:
        return self.state is ConsultState.ENDED

    # ------------------------------------------------------------ the state machine

    def transition(self, to: ConsultState) -> None:
        if to not in TRANSITIONS[self.state]:
            raise SignallingError(
                ErrorCode.INVALID_TRANSITION,
                debug_context={"from": self.state.value, "to": to.value},
            )
        self.state = to

    def _refuse_if_ended(self) -> None:
        if self.ended:
            raise SignallingError(ErrorCode.ROOM_ENDED)

    # ------------------------------------------------------------ operations

    def join(
        self,
        participant: str,
        role: str,
        conn: str,
        check: dict[str, str] | None,
        now: datetime,
    ) -> Outbox:
        """Enter the room, or come back to it from a fresh page.

        A member still in the room (present, waiting, or away within its
        reclaim window) is put back where it was, on this connection: the older
        one is closed. An admitted member coming back this way has a new page
        and so a new peer connection: the others get `joined`, which tells
        them to start the media again (the clinician offers). Anyone who had
        left comes back as new: a patient through the waiting room, a
        clinician straight in.
        """
        self._refuse_if_ended()
        existing = self.members.get(participant)
        if existing is not None and existing.role != role:
            raise SignallingError(ErrorCode.NOT_ALLOWED)
        staying = existing is not None and existing.status in ACTIVE
        if not staying and role == "officer" and self.identity_confirmed_at is not None:
            # An officer checks the identity at the start, before anything clinical.
            raise SignallingError(ErrorCode.JOIN_REFUSED, reason="identity_checked")
        if not staying and role not in SERVER_ROLES and self.people() >= MAX_PEOPLE:
            raise SignallingError(ErrorCode.ROOM_FULL)
        out = Outbox()
        if existing is not None and existing.conn and existing.conn != conn:
            out.kicks.append(existing.conn)
        out.first_join = existing is None
        at = _iso(now)
        if existing is not None and existing.status in ACTIVE:
            return self._rejoin(existing, conn, check, now, out)
        if out.first_join:
            out.audit(Action.JOINED, participant, now, role=role)
        else:
            out.audit(Action.RECONNECTED, participant, now, role=role)
        if role == "clinician":
            member = Member(participant, role, MemberStatus.PRESENT, True, conn, at, check)
            self.members[participant] = member
            self._mark(member, "present", now)
            out.send(self.others(participant), {"type": "joined", **_who(member)})
            return out
        member = Member(participant, role, MemberStatus.WAITING, False, conn, at, check, at)
        self.members[participant] = member
        self._enter_waiting(member, now, out)
        return out

    def _rejoin(
        self,
        member: Member,
        conn: str,
        check: dict[str, str] | None,
        now: datetime,
        out: Outbox,
    ) -> Outbox:
        participant = member.participant
        member.conn = conn
        member.since = _iso(now)
        if check is not None:
            member.check = check
        out.audit(Action.RECONNECTED, participant, now, role=member.role)
        if member.on_hold:
            # A fresh page of a member on hold: still on hold, and nobody is told.
            member.status = MemberStatus.PRESENT
            out.send((participant,), {"type": "on_hold", "participant": participant})
            return out
        if not member.admitted:
            member.status = MemberStatus.WAITING
            out.queue_changed = True
            out.send(
                self.clinicians(),
                {"type": "arrived", **_who(member), "check": member.check, "at": member.since},
            )
            return out
        member.status = MemberStatus.PRESENT
        out.send(self.others(participant), {"type": "joined", **_who(member)})
        if member.role != "clinician":
            out.send((participant,), self._admitted_message())
        return out

    def _enter_waiting(self, member: Member, now: datetime, out: Outbox) -> None:
        if member.role == "patient" and self.first_arrival_at is None:
            self.first_arrival_at = _iso(now)
        out.audit(Action.WAITING, member.participant, now)
        out.call_events.append(("waiting", member.participant))
        out.send(
            self.clinicians(),
            {"type": "arrived", **_who(member), "check": member.check, "at": member.since},
        )
        out.queue_changed = True

    def _admitted_message(self) -> dict[str, Any]:
        return {
            "type": "admitted",
            "appointment": self.appointment,
            "participants": [
                m.view() for m in self.members.values() if m.status in ACTIVE and not m.on_hold
            ],
        }

    def admit(self, by: str, participant: str, now: datetime) -> Outbox:
        self._refuse_if_ended()
        clinician = self.active_member(by)
        if clinician is None or clinician.role != "clinician":
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        member = self.members.get(participant)
        if member is None:
            raise SignallingError(ErrorCode.NOT_A_MEMBER)
        # An away patient is not admitted in absentia: it comes back first.
        if (
            member.role in ("clinician", *SERVER_ROLES)
            or member.admitted
            or member.status is not MemberStatus.WAITING
        ):
            raise SignallingError(ErrorCode.NOT_WAITING)
        patient = member.role == "patient"
        if patient and self.state is ConsultState.WAITING:
            self.transition(ConsultState.ADMITTED)
            self.admitted_at = self.admitted_at or _iso(now)
        out = Outbox(queue_changed=patient)
        waited = _seconds_between(member.waiting_since, now)
        if patient:
            if self.admits and waited is not None:
                self.readmit_wait_s = max(self.readmit_wait_s or 0, waited)
            self.admits += 1
        member.admitted = True
        member.status = MemberStatus.PRESENT
        member.since = _iso(now)
        self._mark(member, "present", now)
        out.audit(
            Action.ADMITTED, by, now, participant=participant, role=member.role, waited_s=waited
        )
        if patient:
            out.call_events.append(("admitted", by))
        out.send((participant,), self._admitted_message())
        out.send(self.others(participant), {"type": "joined", **_who(member)})
        return out

    def leave(self, participant: str, reason: str, now: datetime) -> Outbox:
        """The member is out until it joins again; a patient then waits to be admitted."""
        member = self.active_member(participant)
        if member is None:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        was_admitted = member.admitted
        out = Outbox(queue_changed=member.role == "patient")
        out.audit(Action.LEFT, participant, now, reason=reason)
        out.send(
            self.others(participant, admitted_only=False) if was_admitted else self.clinicians(),
            {"type": "left", "participant": participant, "reason": reason},
        )
        member.status = MemberStatus.LEFT
        member.conn = None
        member.since = _iso(now)
        if was_admitted:
            self._mark(member, "left", now)
        if member.role == "patient":
            self.recording_ends("left", participant, now, out)  # recording: the patient went
        if member.role != "clinician":
            # Anyone but the clinician comes back through the waiting room.
            member.admitted = False
            member.on_hold = False
            member.waiting_since = None
        if member.role == "patient":
            self._back_to_waiting_if_nobody_admitted()
        return out

    def _back_to_waiting_if_nobody_admitted(self) -> None:
        if self.state not in (ConsultState.ADMITTED, ConsultState.IN_CALL):
            return
        if not any(
            m.role == "patient" and m.admitted and m.status in ACTIVE for m in self.members.values()
        ):
            self.transition(ConsultState.WAITING)

    def end(self, by: str | None, reason: str, now: datetime) -> Outbox:
        self._refuse_if_ended()
        if by is not None:
            clinician = self.active_member(by)
            if clinician is None or clinician.role != "clinician":
                raise SignallingError(ErrorCode.NOT_IN_ROOM)
        recipients = tuple(m.participant for m in self.members.values() if m.status in ACTIVE)
        out = Outbox(queue_changed=True)
        self.recording_ends("ended", by or "system", now, out)  # recording: stops with the call
        self.transition(ConsultState.ENDED)
        self.ended_at = _iso(now)
        self.ended_reason = reason
        call_s = _seconds_between(self.admitted_at, now)
        out.summary = self.call_summary(now, call_s)
        for member in self.members.values():
            if member.status in ACTIVE:
                if member.admitted:
                    self._mark(member, "left", now)
                member.status = MemberStatus.LEFT
                member.conn = None
        out.summary["presence"] = self.presence_report()
        out.audit(Action.CALL_ENDED, by or "system", now, reason=reason, call_s=call_s, by=by)
        out.call_events.append(("ended", by or "system"))
        out.send(recipients, {"type": "ended", "reason": reason, "by": by})
        return out

    def call_summary(self, now: datetime, call_s: int | None) -> dict[str, Any]:
        """The plain row kept when the call ends: who came, when, and how the link was.

        Taken before the members are marked as left, so that a patient still
        waiting at the end (unanswered) is told apart from one who had gone
        (abandoned).
        """
        patient = next((m for m in self.members.values() if m.role == "patient"), None)
        if self.admits:
            answer = "answered"
        elif patient is None:
            answer = "absent"
        elif patient.status in ACTIVE:
            answer = "unanswered"
        else:
            answer = "abandoned"
        wait_s = None
        if self.first_arrival_at is not None and self.admitted_at is not None:
            since = max(
                datetime.fromisoformat(self.first_arrival_at),
                datetime.fromisoformat(self.starts_at),
            )
            wait_s = max(0, int((datetime.fromisoformat(self.admitted_at) - since).total_seconds()))
        return {
            "attended": sorted({m.role for m in self.members.values()}),
            "patient_attended": patient is not None,
            "first_arrival_at": self.first_arrival_at,
            "first_admit_at": self.admitted_at,
            "wait_s": wait_s,
            "admits": self.admits,
            "readmit_wait_s": self.readmit_wait_s,
            "call_s": call_s,
            "ended_at": _iso(now),
            "ended_reason": self.ended_reason or "",
            "answer": answer,
            "mode_changes": self.mode_changes,
            "final_mode": self.mode.value,
            "worst_loss_pct": self.worst_loss_pct,
            "lowest_bitrate_kbps": self.lowest_bitrate_kbps,
        }

    def presence_report(self) -> list[dict[str, Any]]:
        """Per member, in order of arrival: its role, when present and when on hold.

        No names: a member is its role and its place (`n`) among those of that role.
        """
        rows: dict[str, dict[str, Any]] = {}
        counts: dict[str, int] = {}
        for participant, role, event, at in self.presence:
            row = rows.get(participant)
            if row is None:
                counts[role] = counts.get(role, 0) + 1
                row = rows[participant] = {
                    "role": role,
                    "n": counts[role],
                    "present": [],
                    "on_hold": [],
                }
            spans = row["on_hold" if event in ("on_hold", "back") else "present"]
            if event in ("present", "on_hold"):
                spans.append([at, None])
            elif spans and spans[-1][1] is None:
                spans[-1][1] = at
            if event == "left" and row["on_hold"] and row["on_hold"][-1][1] is None:
                row["on_hold"][-1][1] = at
        return list(rows.values())

    def note_quality(self, loss_pct: float, bitrate_kbps: float) -> bool:
        """Keep the worst link seen; True if this report was worse than any before."""
        worse = False
        if self.worst_loss_pct is None or loss_pct > self.worst_loss_pct:
            self.worst_loss_pct = loss_pct
            worse = True
        if self.lowest_bitrate_kbps is None or bitrate_kbps < self.lowest_bitrate_kbps:
            self.lowest_bitrate_kbps = bitrate_kbps
            worse = True
        return worse

    def away(self, participant: str, conn: str, now: datetime) -> Outbox:
        """A connection dropped; nothing happens if a newer one already took over."""
        out = Outbox()
        member = self.active_member(participant)
        if self.ended or member is None or member.conn != conn:
            return out
        member.status = MemberStatus.AWAY
        member.conn = None
        member.since = _iso(now)
        if member.on_hold:
            return out
        out.send(
            self.others(participant) if member.admitted else self.clinicians(),
            {"type": "away", "participant": participant},
        )
        return out

    def resume(self, participant: str, conn: str, now: datetime) -> Outbox:
        """The same page is back on a new connection: it keeps its peer connection."""
        if self.ended:
            raise SignallingError(ErrorCode.RESUME_FAILED, reason="ended")
        member = self.active_member(participant)
        if member is None:
            raise SignallingError(ErrorCode.RESUME_FAILED, reason="expired")
        out = Outbox()
        if member.conn and member.conn != conn:
            out.kicks.append(member.conn)
        member.conn = conn
        member.status = MemberStatus.PRESENT if member.admitted else MemberStatus.WAITING
        member.since = _iso(now)
        out.audit(Action.RECONNECTED, participant, now, role=member.role)
        if member.on_hold:
            return out
        others = self.others(participant) if member.admitted else self.clinicians()
        out.send(others, {"type": "reconnected", "participant": participant})
        if member.admitted and self.state in (ConsultState.ADMITTED, ConsultState.IN_CALL):
            # Whoever offers between the two restarts ICE on their connection.
            for other in self.others(participant):
                peer = self.members[other]
                first = offerer((participant, member.role), (other, peer.role))
                if first == participant:
                    out.send((participant,), {"type": "ice_restart", "from": other})
                else:
                    out.send((other,), {"type": "ice_restart", "from": participant})
        return out

    def expire_away(self, now: datetime, reclaim_s: float) -> Outbox:
        """Members away for longer than the reclaim window have left."""
        out = Outbox()
        for member in list(self.members.values()):
            if member.status is not MemberStatus.AWAY:
                continue
            gone = (now - datetime.fromisoformat(member.since)).total_seconds()
            if gone >= reclaim_s:
                step = self.leave(member.participant, "timeout", now)
                _merge(out, step)
        return out

    def orphaned(self, dead_nodes: set[str], now: datetime) -> Outbox:
        """Members whose node died without a word are away, as if their link dropped."""
        out = Outbox()
        for member in self.members.values():
            if (
                member.node in dead_nodes
                and member.conn
                and member.status in (MemberStatus.WAITING, MemberStatus.PRESENT)
            ):
                _merge(out, self.away(member.participant, member.conn, now))
        return out

    def nodes(self) -> set[str]:
        return {
            m.node
            for m in self.members.values()
            if m.node and m.conn and m.status in (MemberStatus.WAITING, MemberStatus.PRESENT)
        }

    def check_relay(self, sender: str, conn: str, to: str) -> Member:
        self._refuse_if_ended()
        me = self.active_member(sender)
        if me is None or me.conn != conn:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        if not me.admitted:
            raise SignallingError(ErrorCode.NOT_ADMITTED)
        if me.on_hold:
            raise SignallingError(ErrorCode.ON_HOLD)
        target = self.active_member(to)
        if target is None or not target.admitted or to == sender:
            raise SignallingError(ErrorCode.NOT_A_MEMBER)
        if target.on_hold:
            raise SignallingError(ErrorCode.PARTICIPANT_ON_HOLD)
        return target

    def start_call(self, now: datetime) -> bool:
        if self.state is not ConsultState.ADMITTED:
            return False
        self.transition(ConsultState.IN_CALL)
        self.call_started_at = _iso(now)
        return True

    def notice(self, by: str, text: str, now: datetime) -> Outbox:
        self._refuse_if_ended()
        clinician = self.active_member(by)
        if clinician is None or clinician.role != "clinician":
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        patients = tuple(
            m.participant
            for m in self.members.values()
            if m.role == "patient" and m.status in ACTIVE
        )
        if not patients:
            raise SignallingError(ErrorCode.NOT_A_MEMBER)
        out = Outbox()
        out.send(patients, {"type": "notice", "from": by, "text": text, "at": _iso(now)})
        out.audit(Action.MESSAGE_SENT, by, now, length=len(text), to=list(patients))
        return out

    # ------------------------------------------------------------ the identity check

    def _clinician(self, by: str) -> Member:
        self._refuse_if_ended()
        clinician = self.active_member(by)
        if clinician is None:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        if clinician.role != "clinician":
            raise SignallingError(ErrorCode.NOT_ALLOWED)
        return clinician

    def confirm_identity(self, by: str, now: datetime) -> Outbox:
        """The clinician saw the officer confirm who the patient is: every officer goes on hold.

        Only once, and only with the patient and an officer in the call. From
        here on no officer joins (`join`).
        """
        self._clinician(by)
        if self.identity_confirmed_at is not None:
            raise SignallingError(
                ErrorCode.INVALID_TRANSITION,
                debug_context={"from": "identity_confirmed", "to": "identity_confirmed"},
            )
        officers = [
            m
            for m in self.members.values()
            if m.role == "officer" and m.admitted and m.status in ACTIVE
        ]
        patient_in = any(
            m.role == "patient" and m.admitted and m.status in ACTIVE for m in self.members.values()
        )
        if not officers or not patient_in:
            raise SignallingError(ErrorCode.NOT_A_MEMBER)
        self.identity_confirmed_at = _iso(now)
        out = Outbox()
        out.audit(Action.IDENTITY_CONFIRMED, by, now, officers=len(officers))
        for officer in officers:
            self._hold(officer, by, now, out)
        return out

    def _hold(self, member: Member, by: str, now: datetime, out: Outbox) -> None:
        member.on_hold = True
        self._mark(member, "on_hold", now)
        out.holds.append((member.participant, by))
        out.audit(Action.PUT_ON_HOLD, by, now, participant=member.participant, role=member.role)
        # The others close their connections to it; it is told only that it waits.
        out.send(self.others(member.participant), {"type": "on_hold", **_who(member)})
        out.send((member.participant,), {"type": "on_hold", **_who(member)})

    def bring_back(self, by: str, participant: str, now: datetime) -> Outbox:
        """The clinician brings a member on hold back into the call: the media starts again."""
        self._clinician(by)
        member = self.active_member(participant)
        if member is None:
            raise SignallingError(ErrorCode.NOT_A_MEMBER)
        if not member.on_hold:
            raise SignallingError(
                ErrorCode.INVALID_TRANSITION,
                debug_context={"from": "not_on_hold", "to": "brought_back"},
            )
        member.on_hold = False
        self._mark(member, "back", now)
        out = Outbox()
        out.audit(Action.BROUGHT_BACK, by, now, participant=participant, role=member.role)
        out.send((participant,), self._admitted_message())
        out.send(self.others(participant), {"type": "joined", **_who(member)})
        return out

    # ------------------------------------------------------------ the ladder

    def _in_call_member(self, by: str) -> Member:
        """`by` as an admitted member of a consult that is in a call (or about to be)."""
        self._refuse_if_ended()
        member = self.active_member(by)
        if member is None:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        if not member.admitted:
            raise SignallingError(ErrorCode.NOT_ADMITTED)
        if self.state not in IN_A_CALL:
            raise SignallingError(
                ErrorCode.INVALID_TRANSITION,
                debug_context={"from": self.state.value, "to": "mode"},
            )
        return member

    def _admitted(self) -> tuple[str, ...]:
        return tuple(
            m.participant
            for m in self.members.values()
            if m.admitted and m.status in ACTIVE and not m.on_hold
        )

    def offer_mode(self, by: str, cause: str, now: datetime) -> Outbox:
        """A page saw the video fail: both sides are offered audio only.

        Nothing changes yet; the clinician's page moves the call after
        `OFFER_SWITCH_S` unless someone does sooner. A consult that requires
        video has no audio-only step (`video_required`).
        """
        if self._in_call_member(by).on_hold:
            raise SignallingError(ErrorCode.ON_HOLD)
        if self.video_required:
            raise SignallingError(ErrorCode.VIDEO_REQUIRED)
        if self.mode is not CallMode.VIDEO:
            raise SignallingError(
                ErrorCode.INVALID_TRANSITION,
                debug_context={"from": self.mode.value, "to": "mode_offered"},
            )
        out = Outbox()
        out.send(
            self._admitted(),
            {
                "type": "mode_offered",
                "mode": CallMode.AUDIO.value,
                "cause": cause,
                "by": by,
                "switch_in_s": OFFER_SWITCH_S,
            },
        )
        return out

    def change_mode(self, by: str, mode: str, cause: str, now: datetime) -> Outbox:
        """Video or audio only, for both sides; asking for the mode it is in changes nothing."""
        if self._in_call_member(by).on_hold:
            raise SignallingError(ErrorCode.ON_HOLD)
        target = CallMode(mode)
        if target is CallMode.AUDIO and self.video_required:
            raise SignallingError(ErrorCode.VIDEO_REQUIRED)
        if self.mode is CallMode.CALL_BACK:
            raise SignallingError(
                ErrorCode.INVALID_TRANSITION,
                debug_context={"from": self.mode.value, "to": target.value},
            )
        out = Outbox()
        if target is self.mode:
            return out
        return self._move(out, by, target, cause, now)

    def call_back(self, by: str, cause: str, now: datetime) -> Outbox:
        """The clinician will phone: the wing's staff bring the patient to a phone.

        Allowed whatever the state of the call (a patient whose link died may
        be back in the waiting room), once, and only to the consult's
        clinician. It stays the same appointment.
        """
        self._refuse_if_ended()
        clinician = self.active_member(by)
        if clinician is None:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        if clinician.role != "clinician":
            raise SignallingError(ErrorCode.NOT_ALLOWED)
        patient = next((m for m in self.members.values() if m.role == "patient"), None)
        if patient is None:
            raise SignallingError(ErrorCode.NOT_A_MEMBER)
        if self.mode is CallMode.CALL_BACK:
            raise SignallingError(
                ErrorCode.INVALID_TRANSITION,
                debug_context={"from": self.mode.value, "to": CallMode.CALL_BACK.value},
            )
        out = Outbox()
        out.call_backs.append((by, patient.device))
        return self._move(out, by, CallMode.CALL_BACK, cause, now)

    def _move(self, out: Outbox, by: str, target: CallMode, cause: str, now: datetime) -> Outbox:
        previous = self.mode
        self.mode = target
        self.mode_changes += 1
        out.audit(
            Action.CALL_MODE_CHANGED,
            by,
            now,
            mode=target.value,
            previous=previous.value,
            cause=cause,
            video_required=self.video_required,
        )
        recipients = tuple(
            m.participant for m in self.members.values() if m.status in ACTIVE and not m.on_hold
        )
        out.send(
            recipients,
            {
                "type": "mode",
                "mode": target.value,
                "previous": previous.value,
                "cause": cause,
                "by": by,
            },
        )
        return out


def _who(member: Member) -> dict[str, Any]:
    return {"participant": member.participant, "role": member.role}


def _merge(into: Outbox, step: Outbox) -> None:
    into.deliveries.extend(step.deliveries)
    into.audits.extend(step.audits)
    into.call_events.extend(step.call_events)
    into.kicks.extend(step.kicks)
    into.call_backs.extend(step.call_backs)
    into.queue_changed = into.queue_changed or step.queue_changed
    into.summary = into.summary or step.summary
