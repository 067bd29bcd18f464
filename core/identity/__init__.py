"""Accounts, devices, sign-in, tokens and sessions."""

from core.identity.service import IdentityService, SignInResult
from core.identity.types import Principal, Role

__all__ = ["IdentityService", "Principal", "Role", "SignInResult"]
