"""The bus that joins nodes: in-process for one node, Redis for several."""

from signalling.bus.base import Bus, Handler, Subscription
from signalling.bus.factory import create_bus

__all__ = ["Bus", "Handler", "Subscription", "create_bus"]
