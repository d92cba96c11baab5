"""``GET /metrics``: a small Prometheus registry (text exposition format 0.0.4).

Built on ``prometheus_client`` (the maintained reference client) rather than a writer of our
own: it escapes label values and formats numbers as Prometheus parses them. Each gateway app
reads its metrics at scrape time from its own state (a custom collector), not from counters in
process-global memory, so several processes of one city sharing a database answer alike, and
tests serving several gateways in one process do not mix them up.

To add metrics, write a function ``(gw) -> Iterable[Metric]`` and add it to :data:`SOURCES`.
Read at scrape time here: credentials issued by type (the database: every process of a city
answers alike), how long ago each peer's documents were last fetched (the federation sync), and
how old this gateway's own status data (as its verifiers use it) and its newest signed trust list
are. The app's own request counters (requests by route and status, durations, verify answers by
reason) are :mod:`gateway.observe`'s, rendered beside these by :func:`render`.

Deliberately not here: what the audit metrics say (:func:`gateway.witness_views.audit_metrics`),
and counting requests (:mod:`gateway.observe`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from gateway.core import Gateway
from gateway.models import CredentialRow, PeerDocumentRow, TrustListRow
from gateway.witness_views import audit_metrics

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
Source = Callable[[Gateway], Iterable[Metric]]
MAX_PEERS = 1000  # bound on peer labels (a federation's cities and regions)
MAX_TYPES = 1000  # bound on credential type labels (the type registry's)


def issuance_metrics(gw: Gateway) -> Iterator[Metric]:
    """``ecert_credentials_issued_total{type}``: credentials this gateway issued (delegated
    copies left out), from the database."""
    issued = CounterMetricFamily(
        "ecert_credentials_issued", "Credentials issued by this gateway, by type", labels=["type"]
    )
    with gw.sessions() as session:
        rows = session.execute(
            select(CredentialRow.type, func.count())
            .where(CredentialRow.delegated_from.is_(None))
            .group_by(CredentialRow.type)
            .order_by(CredentialRow.type)
            .limit(MAX_TYPES)
        ).all()
    for ctype, count in rows:
        issued.add_metric([ctype], count)
    yield issued


def _peer(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def freshness_metrics(gw: Gateway) -> Iterator[Metric]:
    """``ecert_federation_sync_age_seconds{peer}`` (since a document of that peer gateway was
    last fetched), ``ecert_own_status_list_age_seconds`` (the oldest of this gateway's own
    status lists as its verifiers hold them) and ``ecert_trust_list_age_seconds`` (since this
    gateway signed its newest trust list)."""
    now = gw.clock()
    with gw.sessions() as session:
        fetched = session.execute(
            select(PeerDocumentRow.url, PeerDocumentRow.fetched_at).where(
                PeerDocumentRow.fetched_at.is_not(None)
            )
        ).all()
        trust_iat = session.scalar(select(func.max(TrustListRow.iat)))
    newest: dict[str, int] = {}
    for url, at in fetched:
        if at is None:  # not selected; a type checker cannot know
            continue
        peer = _peer(url)
        if peer in newest or len(newest) < MAX_PEERS:
            newest[peer] = max(at, newest.get(peer, at))
    sync = GaugeMetricFamily(
        "ecert_federation_sync_age_seconds",
        "Seconds since a document of each peer gateway was last fetched",
        labels=["peer"],
    )
    for peer in sorted(newest):
        sync.add_metric([peer], max(0, now - newest[peer]))
    yield sync
    state = gw.state
    remote = {uri for uris in state.remote_status_uris.values() for uri in uris}
    own = [s.snapshot.iat for uri, s in state.statuses.items() if uri not in remote]
    status_age = GaugeMetricFamily(
        "ecert_own_status_list_age_seconds",
        "Age of the oldest of this gateway's own status lists as its verifiers hold them",
    )
    if own:
        status_age.add_metric([], max(0, now - min(own)))
    yield status_age
    trust_age = GaugeMetricFamily(
        "ecert_trust_list_age_seconds", "Seconds since this gateway signed its newest trust list"
    )
    if trust_iat is not None:
        trust_age.add_metric([], max(0, now - trust_iat))
    yield trust_age


SOURCES: list[Source] = [audit_metrics, issuance_metrics, freshness_metrics]


def leader_metric(leads: bool) -> Metric:
    """``ecert_federation_sync_leader``: 1 while this process leads its city's federation sync
    (:mod:`gateway.cluster`: one process of a city at a time), else 0. Summed over a city's
    processes it is 1; 0 everywhere means no process syncs (``ECERT_FEDERATION_SYNC`` off, or
    between a leader's death and another's next try)."""
    gauge = GaugeMetricFamily(
        "ecert_federation_sync_leader",
        "1 while this process leads its city's federation sync, else 0",
    )
    gauge.add_metric([], 1 if leads else 0)
    return gauge


class _GatewayCollector(Collector):
    def __init__(self, gw: Gateway, sources: Iterable[Source]) -> None:
        self.gw = gw
        self.sources = list(sources)

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source(self.gw)


def registry_for(gw: Gateway, sources: Iterable[Source] = SOURCES) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_GatewayCollector(gw, sources))
    return registry


def render(
    gw: Gateway, requests: CollectorRegistry | None = None, *, sync_leader: bool | None = None
) -> bytes:
    """The metrics of ``gw`` as Prometheus text (format 0.0.4), followed by ``requests`` (the
    serving app's own counters, :class:`gateway.observe.Observed`) when given; with
    ``sync_leader`` (the serving process's), :func:`leader_metric` too."""
    sources = (
        SOURCES if sync_leader is None else [*SOURCES, lambda _gw: [leader_metric(sync_leader)]]
    )
    text = generate_latest(registry_for(gw, sources))
    return text if requests is None else text + generate_latest(requests)
