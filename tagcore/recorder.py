"""Compatibility alias: the recorder now lives in :mod:`tagcore.gateway.recorder`."""

from tagcore.gateway.recorder import (
    ROW_DTYPE,
    Recorder,
    RecorderWarning,
    parse_usage,
    read_recorded,
)

__all__ = ["Recorder", "RecorderWarning", "read_recorded", "parse_usage", "ROW_DTYPE"]
