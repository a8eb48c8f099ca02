"""Typed keys for what the aiohttp application and requests carry."""

from __future__ import annotations

from aiohttp import web

from triage.runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)
