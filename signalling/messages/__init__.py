"""The message families, one module each: session, room, negotiation, status, notices, mode."""

from signalling.messages.base import ClientMessage
from signalling.messages.mode import CallBack, Mode, ModeOffer
from signalling.messages.negotiation import Answer, Candidate, IceRestart, Offer
from signalling.messages.notices import Notice
from signalling.messages.room import Admit, BringBack, ConfirmIdentity, End, IceRefresh, Join, Leave
from signalling.messages.session import Hello, Ping, Reauth
from signalling.messages.status import Quality

__all__ = [
    "Admit",
    "Answer",
    "BringBack",
    "CallBack",
    "Candidate",
    "ClientMessage",
    "ConfirmIdentity",
    "End",
    "Hello",
    "IceRefresh",
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
