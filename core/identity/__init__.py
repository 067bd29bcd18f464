"""Accounts, devices, sign-in, tokens and sessions.

The types load first and alone: `core.permissions` reads them, and the service reads
`core.permissions`, so the service is loaded on first use rather than with the package.
"""

from typing import TYPE_CHECKING, Any

from core.identity.types import Principal, Role

if TYPE_CHECKING:
    from core.identity.service import IdentityService, SignInResult

__all__ = ["IdentityService", "Principal", "Role", "SignInResult"]


def __getattr__(name: str) -> Any:
    if name in ("IdentityService", "SignInResult"):
        from core.identity import service

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
