"""Prometheus metrics of one gateway process, on its own registry (served at /metrics)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
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

    def watch_collector(self, freezer) -> None:
        """The garbage collector's pauses (hotline/memory.py), read at each scrape."""
        self.registry.register(_CollectorCollector(freezer))

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


class _CollectorCollector:
    def __init__(self, freezer):
        self.freezer = freezer

    def collect(self):
        f = self.freezer.figures
        yield CounterMetricFamily("hotline_gc_full_collections", "Full garbage collections (of what is "
                                  "newer than the last one: older objects are frozen)", value=f.full_collections)
        yield GaugeMetricFamily("hotline_gc_longest_full_seconds", "Longest full collection so far",
                                value=f.longest_full_ms / 1000)
        yield CounterMetricFamily("hotline_gc_thaws", "Walks of every object (frozen ones included)",
                                  value=f.thaws)
        yield GaugeMetricFamily("hotline_gc_last_thaw_unreachable", "Unreachable objects the last walk of "
                                "every object found (cycles that died while frozen)", value=f.last_thaw_found)
