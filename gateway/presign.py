"""A register's next chunk signed in a second process while this one writes the chunk before.

Issue 13: ``ecert issue-batch`` ran on one core. Of the ~130 µs of CPU its second pass spent a
row, ~48 µs was minting (the ES256 signature 22 of them), and the other core only ran the
database (PostgreSQL) or nothing (SQLite). Here a chunk's numbers (its 流水号, status slots and
credential ids) are reserved in a short transaction of their own (:func:`sign_ahead`) and the
chunk is signed by a worker process, while this process plans and writes the chunk before it.

Nothing is decided ahead: the chunk's own transaction plans it under the agency's lock exactly
as before (:func:`gateway.batch_rows.issue_chunk`). When that plan issues exactly the rows that
were signed, with the same subjects, windows, key and agency, the signed rows are inserted;
otherwise (another run issued some of them meanwhile, the key was rotated, the worker failed or
took too long) they are dropped and the chunk is signed in this process as it always was. A
dropped reservation leaves unused numbers: a 流水号 never issued and a status slot no credential
points at, which nothing reads as a credential (serials were never promised without gaps: a
rolled-back issuance left one before too).

The worker (:class:`gateway.worker_process.WorkerProcess`) is spawned, not forked (this process
has threads), and reads nothing from the database. It gets the agency's signing key as
unencrypted PKCS #8 through the pipe to it: a child of this process, run by the same user, that
holds it in memory as this process does and ends with the run (:func:`second_signer` terminates
it however the run ends). Why not a thread: the signature releases the GIL, but the ~26 µs a row
around it (claims, JSON, base64, the row) does not.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization

from gateway.bulk_insert import JsonText
from gateway.core import Gateway
from gateway.issuance import (
    IssueRequest,
    Prepared,
    Reservation,
    Signer,
    load_signer,
    minted_rows,
    one_writer,
    prepare,
    reserve,
)
from gateway.models import AgencyRow
from gateway.worker_process import WorkerProcess
from trust.errors import EcertError
from trust.keys import PublicKey, SigningKey

# The most a chunk's signed rows are waited for once its turn comes: a chunk of 5,000 rows signs
# in about half a second. A worker that died fails its chunks at once; one that hangs is waited
# for this long, then ended, and the chunk is signed here.
WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class _Job:
    key_der: bytes
    kid: str
    agency: AgencyRow
    items: list[Prepared]
    reservation: Reservation
    now: int


def _sign(job: _Job) -> list[dict[str, Any]]:
    """In the worker: the job's rows, signed (:func:`gateway.issuance.minted_rows`), each
    subject as the JSON text its column stores (:class:`gateway.bulk_insert.JsonText`): made
    here, not by the process that inserts them."""
    private = serialization.load_der_private_key(job.key_der, password=None)
    key = SigningKey(private=private, public=PublicKey.from_object(private.public_key()))  # type: ignore[arg-type]
    rows = list(minted_rows(key, job.kid, job.agency, job.items, job.reservation, job.now))
    for row in rows:
        row["subject"] = JsonText.of(row["subject"])
    return rows


@dataclass(frozen=True)
class Presigned:
    """A chunk's rows signed ahead (:attr:`rows`), and what they were signed for (:attr:`of`)."""

    of: Pending
    rows: list[dict[str, Any]]

    @property
    def now(self) -> int:
        """The clock reading the rows were signed at: their chunk is planned as of it."""
        return self.of.now

    def prepared(self) -> dict[int, Prepared]:
        """Each signed request's preparation by its position in the chunk: the chunk's plan
        takes it as it is (:func:`gateway.batch_rows.plan_chunk`)."""
        return dict(zip(self.of.positions, self.of.items, strict=True))

    def matches(self, signer: Signer, planned: Sequence[Prepared | None]) -> bool:
        """Whether ``planned`` (a chunk's plan made under the lock at :attr:`now`, None for a
        row not issued now) issues exactly the preparations signed, in their places, with the
        key and the agency they were signed with."""
        agency = signer.agency
        if signer.kid != self.of.kid or (agency.uscc, agency.region_code) != self.of.agency:
            return False
        issued = [(n, p) for n, p in enumerate(planned) if p is not None]
        return [n for n, _ in issued] == self.of.positions and all(
            p is ahead for (_, p), ahead in zip(issued, self.of.items, strict=True)
        )


@dataclass(frozen=True)
class Pending:
    """A chunk being signed by the worker (:meth:`SecondSigner.sign_ahead`): the clock reading,
    key and agency it is signed with, and each signed request's position in the chunk and
    preparation."""

    now: int
    kid: str
    agency: tuple[str, str]  # uscc, region_code
    positions: list[int]
    items: list[Prepared]
    result: Future[list[dict[str, Any]]]
    signer: SecondSigner

    def collect(self, wait: float | None = None) -> Presigned | None:
        """The signed rows, waited for at most ``wait`` seconds (default
        :data:`WAIT_SECONDS`); None when the worker failed, died or did not answer in time.
        The chunk is then signed by the caller, and so is every later one: the worker is
        ended."""
        try:
            rows = self.result.result(timeout=WAIT_SECONDS if wait is None else wait)
        except Exception:  # whatever the worker raised, or its end: this chunk is signed here
            self.signer.close()
            return None
        if len(rows) != len(self.items):
            self.signer.close()
            return None
        return Presigned(self, rows)


class SecondSigner:
    """A worker process that signs chunks ahead; started on :meth:`start`, ended by
    :meth:`close` (:func:`second_signer` closes it however the run ends)."""

    def __init__(self) -> None:
        self._worker: WorkerProcess[_Job, list[dict[str, Any]]] | None = None
        self._closed = False

    @property
    def ready(self) -> bool:
        """Whether the worker runs and has imported what signing needs."""
        worker = self._worker
        return (
            worker is not None
            and worker.started.done()
            and worker.started.exception() is None
            and not self._closed
        )

    def wait_ready(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for the worker to be :attr:`ready`."""
        if self._worker is not None:
            wait([self._worker.started], timeout=timeout)
        return self.ready

    def start(self) -> None:
        """Spawn the worker, once, without waiting for it: a register's first pass runs
        meanwhile."""
        if self._worker is None and not self._closed:
            self._worker = WorkerProcess(_sign)  # ready once it imported this module

    def close(self) -> None:
        """End the worker; a chunk it is signing is dropped, not waited for. It is not
        started again."""
        self._closed = True
        if self._worker is not None:
            worker, self._worker = self._worker, None
            worker.close()

    def sign_ahead(
        self,
        gw: Gateway,
        *,
        agency_id: str,
        requests: Sequence[IssueRequest],
        validated: Sequence[dict[str, Any] | None],
    ) -> Pending | None:
        """Reserve numbers for the requests whose subject was validated (the rows a register's
        first pass found to issue) and hand them to the worker; None when there are none, the
        worker is not ready (a chunk is not kept waiting for it to start), or a request cannot
        be prepared (the chunk's own transaction then says why, as it always did)."""
        worker = self._worker
        positions = [n for n, subject in enumerate(validated) if subject is not None]
        if worker is None or not positions or not self.ready:
            return None
        now = gw.clock()
        try:
            with one_writer(gw), gw.transaction() as session:
                signer = load_signer(session, agency_id, lock=True)
                items = [
                    prepare(gw, signer.agency, requests[n], now, validated_subject=validated[n])
                    for n in positions
                ]
                key, kid = signer.key(gw)
                reservation, change = reserve(gw, session, signer, len(items), now)
        except EcertError:
            return None
        gw.live.changed(change)
        agency = signer.agency
        job = _Job(
            key.private.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            kid,
            AgencyRow(id=agency.id, uscc=agency.uscc, region_code=agency.region_code),
            [
                Prepared(i.request.for_signing(), i.ctype, i.subject, i.valid_from, i.valid_until)
                for i in items
            ],
            reservation,
            now,
        )
        return Pending(
            now, kid, (agency.uscc, agency.region_code), positions, items,
            worker.submit(job), self,
        )  # fmt: skip


@contextmanager
def second_signer() -> Iterator[SecondSigner]:
    """A :class:`SecondSigner`, not started; its worker ends with the block however it ends."""
    signer = SecondSigner()
    try:
        yield signer
    finally:
        signer.close()
