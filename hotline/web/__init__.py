"""The one aiohttp application: portal, REST API, web chat, desk, health and metrics."""
from .app import create_app  # noqa: F401
