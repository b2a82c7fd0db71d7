"""JSON answers as every handler writes them: UTF-8 text kept readable (Chinese not escaped)."""
from __future__ import annotations

import json

from aiohttp import web


def json_response(data, status: int = 200, **kwargs) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False), **kwargs)
