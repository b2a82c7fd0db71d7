"""The application's typed keys, in a module of their own so that handlers can import them
without importing the app factory (which mounts every channel and so imports the handlers)."""
from __future__ import annotations

from aiohttp import web

from ..services import Services
from .metrics import Metrics

SERVICES = web.AppKey("services", Services)
METRICS = web.AppKey("metrics", Metrics)
