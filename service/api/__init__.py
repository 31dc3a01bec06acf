"""The server HTTP API (docs/protocol.md, Server HTTP API; contract/openapi.json): a
product's backend posts into rooms, reads history and members, deletes messages and
disconnects (and bans) members, with a bearer key from SERVER_API_KEYS."""

from __future__ import annotations

from .routes import ApiRelay, api_routes

__all__ = ["ApiRelay", "api_routes"]
