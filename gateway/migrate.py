"""Run Alembic migrations programmatically (no alembic.ini needed on the operator's side).

Every ``ecert`` command and every ``serve`` opens the database through
:meth:`gateway.core.Gateway.open`, which asks :func:`needs_upgrade` first: one query of the
revision recorded in the database. Alembic itself (about 0.2 s of imports) is loaded only when
that revision is not :data:`HEAD`, so a command on a current database does not pay for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from trust.errors import FetchError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0017"  # the newest revision in migrations/versions (a test holds it to Alembic's head)


class MigrationError(FetchError):
    """The database's schema could not be brought to this version's (e.g. it is newer)."""


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def needs_upgrade(engine: Engine) -> bool:
    """False only when the database records exactly :data:`HEAD` (a fresh database, one of an
    older version, or one Alembic never touched: True)."""
    try:
        with engine.connect() as conn:
            recorded = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            return list(recorded) != [HEAD]
    except SQLAlchemyError:
        return True  # no alembic_version table yet


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command
    from alembic.util import CommandError

    try:
        command.upgrade(alembic_config(url), revision)
    except CommandError as exc:
        raise MigrationError(f"cannot migrate the database to {revision}: {exc}") from exc
