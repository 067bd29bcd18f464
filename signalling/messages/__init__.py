"""The message families, one module each: session, room, negotiation, status, notices, mode."""

from signalling.messages.base import ClientMessage
from signalling.messages.mode import CallBack, Mode, ModeOffer
from signalling.messages.negotiation import Answer, Candidate, IceRestart, Offer
from signalling.messages.notices import Notice
from signalling.messages.room import Admit, End, Join, Leave
from signalling.messages.session import Hello, Ping, Reauth
from signalling.messages.status import Quality

__all__ = [
    "Admit",
    "Answer",
    "CallBack",
    "Candidate",
    "ClientMessage",
    "End",
    "Hello",
    "IceRestart",
    "Join",
    "Leave",
    "Mode",
    "ModeOffer",
    "Notice",
    "Offer",
    "Ping",
    "Quality",
    "Reauth",
]
