"""The store: one SQLAlchemy async engine over SQLite (embedded) or PostgreSQL."""

from core.db.engine import Database, create_database
from core.db.migrate import upgrade

__all__ = ["Database", "create_database", "upgrade"]
