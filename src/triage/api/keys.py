"""Typed keys for what the aiohttp application and requests carry."""

from __future__ import annotations

import asyncio

from aiohttp import web

from triage.auth.principal import Principal
from triage.runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)
#: Set when the process begins to stop (app.begin_shutdown): event streams end.
STOPPING = web.AppKey("stopping", asyncio.Event)
REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)
#: The melding's source once the body parsed, for the rejection metric's label.
SOURCE = web.RequestKey("source", str)
#: The keyed digest of the caller's address, for the audit (audit/context.py).
ORIGIN = web.RequestKey("origin", str)
#: The person at the source a source system acts for (header Triage-On-Behalf-Of).
ON_BEHALF_OF = web.RequestKey("on_behalf_of", str)
