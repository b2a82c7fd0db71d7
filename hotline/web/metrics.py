"""Prometheus metrics of one gateway process, on its own registry (served at /metrics)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("hotline_http_requests", "HTTP requests served",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("hotline_http_request_duration_seconds", "HTTP request latency",
                                 ["route"], registry=self.registry,
                                 buckets=(.002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5))
        self.cases_created = Counter("hotline_cases_created", "Cases registered", ["channel", "kind"],
                                     registry=self.registry)
        self.lookups = Counter("hotline_case_lookups", "Case look-ups by citizens", ["result"],
                               registry=self.registry)
        self.bot_turns = Counter("hotline_bot_turns", "Dialogue turns served", ["channel"],
                                 registry=self.registry)

    def watch_bot(self, services) -> None:
        """Texts the bot understood from its parse cache or with the model (read at each scrape:
        the engine may be loaded, or reloaded, after the app is made)."""
        self.registry.register(_ParseCacheCollector(services))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ParseCacheCollector:
    def __init__(self, services):
        self.services = services

    def collect(self):
        family = CounterMetricFamily("hotline_bot_parses", "Citizen texts understood, by where the "
                                     "understanding came from", labels=["source"])
        caches = getattr(self.services.engine, "parse_caches", None) or []  # one per language
        if caches:
            family.add_metric(["cache"], sum(c.hits for c in caches))
            family.add_metric(["model"], sum(c.misses + c.uncached for c in caches))
        yield family
