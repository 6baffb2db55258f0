"""Prometheus metrics for one app (its own registry: no module globals, two apps in one process do not mix).

``GET /metrics`` serves them in Prometheus' text format (``curl -s localhost:5000/metrics``). What is there:

* ``imagelens_requests_total{route,method,status}`` and ``imagelens_request_duration_seconds{route,features}``;
* ``imagelens_errors_total{status,code}``: every 4xx/5xx by Azure's inner error code;
* ``imagelens_queue_depth{pool}`` (work and URL-fetch pools), ``imagelens_in_flight_requests``,
  ``imagelens_admission_rejections_total{reason}`` (queue, in_flight, body_size ...);
* ``imagelens_model_load_seconds{model}``: the last load time of each loaded model;
* ``process_resident_memory_bytes`` and the other ``process_*`` series (CPU seconds, open files).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class _ModelLoads(Collector):
    def __init__(self, load_seconds: Callable[[], Mapping[str, float]]) -> None:
        self._load_seconds = load_seconds

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "imagelens_model_load_seconds", "Seconds the last load of each model took.", labels=["model"]
        )
        for model, seconds in sorted(dict(self._load_seconds()).items()):
            family.add_metric([model], seconds)
        yield family


class Metrics:
    def __init__(
        self,
        pools: Mapping[str, Any],
        in_flight: Callable[[], int],
        load_seconds: Callable[[], Mapping[str, float]],
    ) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter(
            "imagelens_requests", "Requests answered.", ["route", "method", "status"], registry=reg
        )
        self.latency = Histogram(
            "imagelens_request_duration_seconds",
            "Time from the request's arrival to its answer.",
            ["route", "features"],
            buckets=_BUCKETS,
            registry=reg,
        )
        self.errors = Counter(
            "imagelens_errors",
            "Error answers by status and Azure inner code.",
            ["status", "code"],
            registry=reg,
        )
        self.rejections = Counter(
            "imagelens_admission_rejections",
            "Requests refused before their body was read or their work queued.",
            ["reason"],
            registry=reg,
        )
        queue = Gauge("imagelens_queue_depth", "Work running or waiting, per pool.", ["pool"], registry=reg)
        for name, pool in pools.items():
            queue.labels(name).set_function(_pending(pool))
        Gauge(
            "imagelens_in_flight_requests",
            "Requests with a body admitted and not yet answered.",
            registry=reg,
        ).set_function(lambda: float(in_flight()))
        reg.register(_ModelLoads(load_seconds))
        ProcessCollector(registry=reg)

    def observe(
        self, route: str, method: str, features: str, status: int, code: str | None, seconds: float
    ) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, features).observe(seconds)
        if status >= 400:
            self.errors.labels(str(status), code or "unknown").inc()

    def reject(self, reason: str) -> None:
        self.rejections.labels(reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _pending(pool: Any) -> Callable[[], float]:
    return lambda: float(pool.pending)


def feature_label(query: Mapping[str, str], known: Iterable[str]) -> str:
    """The requested features as a bounded label: known names, sorted, joined with '+'; '' when none."""
    raw = query.get("features") or query.get("visualFeatures") or ""
    allowed = {k.lower(): k for k in known}
    names = sorted({allowed.get(t.strip().lower(), "other") for t in raw.split(",") if t.strip()})
    return "+".join(names[:12])
