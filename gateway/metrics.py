"""``GET /metrics``: a small Prometheus registry (text exposition format 0.0.4).

Built on ``prometheus_client`` (the maintained reference client) rather than a writer of our
own: it escapes label values and formats numbers as Prometheus parses them. Each gateway app
reads its metrics at scrape time from its own state (a custom collector), not from counters in
process-global memory, so several processes of one city sharing a database answer alike, and
tests serving several gateways in one process do not mix them up.

To add metrics (issue 12 will), write a function ``(gw) -> Iterable[Metric]`` and add it to
:data:`SOURCES`. Deliberately not here: what the audit metrics say
(:func:`gateway.witness_views.audit_metrics`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from gateway.core import Gateway
from gateway.witness_views import audit_metrics

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
Source = Callable[[Gateway], Iterable[Metric]]
SOURCES: list[Source] = [audit_metrics]


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


def render(gw: Gateway) -> bytes:
    """The metrics of ``gw`` as Prometheus text (format 0.0.4)."""
    return generate_latest(registry_for(gw))
