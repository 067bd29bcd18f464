"""The PostgreSQL privileges of the application's role, generated from the table metadata.

The service should not run as the role that owns the tables: an owner can drop
triggers, truncate and rewrite anything. It runs as a role that holds only
what the code needs, table by table. Every table gets ordinary DML by default,
so a table that later work adds needs nothing here; a table that must be
narrower says so beside its declaration with `info={PRIVILEGES: (...)}` (the
audit log's tables do). `throughcare db grants --role NAME` prints the SQL.
"""

from __future__ import annotations

import re

from sqlalchemy import MetaData

PRIVILEGES = "privileges"
DEFAULT_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
APPEND_ONLY = ("SELECT", "INSERT")
_KNOWN = {"SELECT", "INSERT", "UPDATE", "DELETE"}
# Tables that exist in the database but are not declared on the metadata.
_UNDECLARED: dict[str, tuple[str, ...]] = {"alembic_version": ("SELECT",)}
_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def table_privileges(metadata: MetaData) -> dict[str, tuple[str, ...]]:
    """Each table's privileges for the application role, by table name."""
    found = dict(_UNDECLARED)
    for table in metadata.sorted_tables:
        privileges = tuple(table.info.get(PRIVILEGES, DEFAULT_PRIVILEGES))
        unknown = set(privileges) - _KNOWN
        if unknown:
            raise ValueError(f"{table.name}: unknown privileges {sorted(unknown)}")
        found[table.name] = privileges
    return found


def grant_statements(metadata: MetaData, role: str, *, schema: str = "public") -> list[str]:
    """SQL that leaves `role` with exactly the privileges of `table_privileges`.

    Safe to run again: it revokes everything on the schema's tables first, so a
    narrowed table loses what it had. Run it as the tables' owner, after
    `throughcare db upgrade`.
    """
    if not _ROLE.fullmatch(role):
        raise ValueError("a role name is lower-case letters, digits and underscores")
    statements = [
        f'REVOKE ALL ON ALL TABLES IN SCHEMA "{schema}" FROM "{role}"',
        f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA "{schema}" FROM "{role}"',
        f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"',
    ]
    for name, privileges in sorted(table_privileges(metadata).items()):
        statements.append(f'GRANT {", ".join(privileges)} ON "{name}" TO "{role}"')
    statements.append(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"')
    return statements
