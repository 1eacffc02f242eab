"""Compatibility alias: the ASGI proxy now lives in :mod:`tagcore.gateway.proxy`."""

from tagcore.gateway.proxy import DEFAULT_PATHS, TagcoreProxy, UpstreamStreamError

__all__ = ["DEFAULT_PATHS", "TagcoreProxy", "UpstreamStreamError"]
