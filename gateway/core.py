"""``Gateway``: the composition root of one city gateway.

It holds the settings, the database (engine, session factory, :meth:`Gateway.transaction`), the
credential types and the clock, and builds the parts services share from them: the key ring
(``gw.keyring``, :mod:`gateway.keyring`), the live state holder (``gw.live``,
:mod:`gateway.live`) and the status slot allocator (``gw.slots``, :mod:`gateway.slots`). The CLI
and the HTTP app both build one with :meth:`Gateway.open`. A service that needs only some of
these takes those (the status list publisher, the confirmer, the background refresher); the
service modules that still take the whole gateway (``agencies``, ``keystore``, ``issuance``,
``status``, ``federation``, ``trustsync`` …) use most of it. It owns no route code.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gateway.clock import Clock, system_clock
from gateway.db import WRITE_OPTION, make_engine, make_sessionmaker
from gateway.errors import NotFound
from gateway.keyring import KeyRing
from gateway.live import StateHolder
from gateway.migrate import needs_upgrade, upgrade
from gateway.models import CityRow
from gateway.settings import Settings
from gateway.slots import SlotAllocator
from gateway.state import LiveState
from issuers.credential_types import TypeRegistry
from trust.errors import FetchError

log = logging.getLogger("ecert.gateway")


class NotInitialised(NotFound):
    """The data directory or database has no city yet."""


class Gateway:
    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        types: TypeRegistry,
        clock: Clock = system_clock,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_sessionmaker(engine)
        self.types = types
        self.clock = clock
        self.keyring = KeyRing(lambda: settings.passphrase)
        self.live = StateHolder(
            sessions=self.sessions,
            types=types,
            clock=clock,
            status_ttl=settings.status_ttl,
            status_validity=settings.status_list_validity,
        )
        self.slots = SlotAllocator(settings.status_list_size)

    @classmethod
    def open(
        cls, settings: Settings, *, clock: Clock = system_clock, migrate: bool = True
    ) -> Gateway:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine: Engine | None = None
        try:
            engine = make_engine(settings.db_url)
            if migrate and needs_upgrade(engine):
                upgrade(settings.db_url)
        except BaseException as exc:
            if engine is not None:
                engine.dispose()  # no pool left behind by a database that cannot be used
            if not isinstance(exc, SQLAlchemyError):
                raise
            where = make_url(settings.db_url).render_as_string(hide_password=True)
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise FetchError(f"cannot open the database {where}: {reason}") from exc
        return cls(settings=settings, engine=engine, types=TypeRegistry.load(), clock=clock)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back everything on any error.

        A change verifiers must see (:func:`gateway.state.mark_changed`) is the work's to
        apply once this has committed: ``gw.live.changed(change)`` after the ``with`` block.
        """
        with self.sessions() as session, session.begin():
            # Applied as the connection is procured, before it BEGINs: on SQLite that is
            # BEGIN IMMEDIATE (row locks on PostgreSQL come from SELECT … FOR UPDATE).
            session.connection(execution_options={WRITE_OPTION: True})
            yield session

    # --- city -----------------------------------------------------------------------------
    def city(self, session: Session) -> CityRow:
        city = session.get(CityRow, 1)
        if city is None:
            raise NotInitialised("this gateway is not initialised: run `ecert init` first")
        return city

    @property
    def public_url(self) -> str:
        """The URL printed into QR codes (held in the live state: no query per response)."""
        return self.state.public_url

    # --- live state -------------------------------------------------------------------------
    @property
    def state(self) -> LiveState:
        """The live state verifiers decide with (:attr:`StateHolder.state`)."""
        return self.live.state

    def reload(self) -> LiveState:
        """Rebuild the live state now (:meth:`StateHolder.reload`)."""
        return self.live.reload()
