"""LiteLLM into tagcore: :class:`TagcoreLogger` records every request LiteLLM makes.

A LiteLLM SDK or proxy user gets tagcore's path roll-ups and exact split attribution with one
line of config: the logger is a LiteLLM ``CustomLogger`` that records each success and each
failure (sync and async calls, streamed or not) into a :class:`tagcore.Recorder`, with the
request's tags, model, tokens, LiteLLM's own cost, latency and status. Needs ``litellm``
(``pip install 'tagcore[litellm]'``).

SDK::

    import litellm
    from tagcore.integrations.litellm import TagcoreLogger

    usage = TagcoreLogger("usage/")   # a folder of durable segments; None: in memory
    litellm.callbacks = [usage]
    litellm.completion(model="gpt-4o-mini", messages=[...],
                       metadata={"tags": ["customer/acme", "feature:chat"]})
    log = usage.recorder.snapshot()   # a RequestLog: log.rollup(), log.rollup(split=...)

Proxy (``config.yaml``; ``my_callbacks.py`` next to it holds
``usage = TagcoreLogger("/var/lib/tagcore/usage")``)::

    litellm_settings:
      callbacks: my_callbacks.usage

Tags are the ones LiteLLM puts in the request's ``StandardLoggingPayload``
(``request_tags``: the body's ``tags`` and ``metadata.tags``, the ``x-litellm-tags``
header, key and team tags), read exactly as :func:`tagcore.read_litellm_payloads` reads a
file of payloads (``key:value`` becomes the path ``key/value``; ``key_value="keep"`` keeps
them as written), so a request recorded live and the same request read from LiteLLM's logs
give the same row. The cost is LiteLLM's ``response_cost`` (none: the recorder's price table
prices the tokens, or the row is flagged unpriced, never $0); the time is the request's
``startTime``.

LiteLLM registers one logger per recorder: a second ``TagcoreLogger`` of the same recorder
is the same logger to LiteLLM (never a request recorded twice).

A request the logger cannot record (a payload it cannot read, or a tag the recorder's policy
refuses) never breaks the LiteLLM call: it is counted in :attr:`TagcoreLogger.failed`, kept in
:attr:`TagcoreLogger.last_error` and logged as a warning on the ``tagcore.integrations.litellm``
logger.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

try:
    from litellm.integrations.custom_logger import CustomLogger
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "tagcore.integrations.litellm needs litellm: pip install 'tagcore[litellm]' "
        f"({exc})") from exc

from tagcore.gateway.recorder import Recorder
from tagcore.io._values import _RowError
from tagcore.io._vendor import FormatError, KeyValue, _check_key_value
from tagcore.io.litellm import _payload_record

__all__ = ["TagcoreLogger"]

_log = logging.getLogger(__name__)


class TagcoreLogger(CustomLogger):
    """A LiteLLM ``CustomLogger`` that records every success and failure into ``recorder``.

    ``recorder``: a :class:`tagcore.Recorder`, or a folder for a new durable one, or ``None``
    (a new in-memory recorder). ``key_value``: ``"path"`` (default) maps LiteLLM's
    ``key:value`` tags to ``key/value`` paths, ``"keep"`` keeps them. Other keyword arguments
    go to LiteLLM's ``CustomLogger`` (e.g. ``turn_off_message_logging``).

    >>> import tagcore as tc
    >>> usage = TagcoreLogger(tc.Recorder())
    >>> usage.record_payload({"id": "r1", "model": "gpt-4o", "status": "success",
    ...     "startTime": 1766000068.28466, "endTime": 1766000070.07935, "prompt_tokens": 10,
    ...     "completion_tokens": 20, "response_cost": 0.000225,
    ...     "request_tags": ["customer/acme", "feature:chat"]})
    >>> log = usage.recorder.snapshot()
    >>> log.tags_of(0), log.cost.tolist(), round(float(log.latency_ms[0]), 2)
    (['customer/acme', 'feature/chat'], [225000], 1794.69)
    """

    def __init__(self, recorder: Recorder | str | os.PathLike[str] | None = None, *,
                 key_value: KeyValue = "path", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_key_value(key_value)
        if recorder is None or isinstance(recorder, (str, os.PathLike)):
            recorder = Recorder(recorder)
        elif not callable(getattr(recorder, "record", None)):
            raise TypeError(f"recorder: expected a tagcore.Recorder, a folder or None, got "
                            f"{type(recorder).__name__}")
        self.recorder = recorder
        self.key_value = key_value
        # LiteLLM keeps one logger per key of its class name and public str/int/bool
        # attributes: loggers of one recorder are one logger, of two recorders two
        self.recorder_id = id(recorder)
        self._failed = 0
        self._last_error: BaseException | None = None
        self._lock = threading.Lock()

    @property
    def failed(self) -> int:
        """How many requests could not be recorded."""
        return self._failed

    @property
    def last_error(self) -> BaseException | None:
        """Why the last of them could not."""
        return self._last_error

    # ------------------------------------------------------------------ LiteLLM's hooks

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=False)

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=True)

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=False)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=True)

    # -------------------------------------------------------------------------- recording

    def record_payload(self, payload: Mapping[str, Any]) -> None:
        """Record one ``StandardLoggingPayload`` (raises on one it cannot read: a
        :class:`tagcore.FormatError`, or the recorder's own error)."""
        try:
            rec = _payload_record(payload, None, self.key_value, normalize=False)
        except _RowError as exc:
            raise FormatError(f"LiteLLM payload {payload.get('id', '')!r}: {exc.field}: "
                              f"{exc.reason}") from None
        cost = rec["cost"]
        self.recorder.record(
            rec["request_tags"], model=rec["model"], prompt_tokens=rec["prompt_tokens"],
            completion_tokens=rec["completion_tokens"], cached_tokens=rec["cached_tokens"],
            reasoning_tokens=rec["reasoning_tokens"], cost=cost,
            latency_ms=rec["latency_ms"], status=rec["status"], ts=rec["ts"],
            request_id=rec.get("request_id"), user=rec.get("user"), key=rec.get("key"))

    def _record(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any, *,
                failed: bool) -> None:
        try:
            payload = kwargs.get("standard_logging_object") if isinstance(kwargs, Mapping) \
                else None
            if not isinstance(payload, Mapping):
                payload = _payload_of_call(kwargs, response_obj, start_time, end_time, failed)
            self.record_payload(payload)
        except Exception as exc:  # never break the LiteLLM call; count and say it
            with self._lock:
                self._failed += 1
                self._last_error = exc
            _log.warning("tagcore: a LiteLLM request was not recorded: %s", exc)


def _epoch(t: Any) -> Any:
    """LiteLLM's call times are naive local ``datetime``s: epoch seconds (local time, as
    Python reads a naive datetime), so that they are not taken for UTC."""
    return t.timestamp() if isinstance(t, _dt.datetime) else t


def _payload_of_call(kwargs: Any, response_obj: Any, start_time: Any, end_time: Any,
                     failed: bool) -> dict[str, Any]:
    """A ``StandardLoggingPayload``-shaped dict from a call's ``kwargs`` and response, for a
    LiteLLM that passes no ``standard_logging_object``."""
    kwargs = kwargs if isinstance(kwargs, Mapping) else {}
    params = kwargs.get("litellm_params")
    metadata = (params.get("metadata") if isinstance(params, Mapping) else None) \
        or kwargs.get("metadata") or {}
    usage = getattr(response_obj, "usage", None)
    if usage is not None and not isinstance(usage, Mapping):
        dump = getattr(usage, "model_dump", None)
        usage = dump() if callable(dump) else dict(vars(usage))
    exc = kwargs.get("exception")
    code = getattr(exc, "status_code", None)
    return {
        "id": getattr(response_obj, "id", None) or kwargs.get("litellm_call_id"),
        "model": kwargs.get("model"),
        "status": "failure" if failed else "success",
        "error_information": {"error_code": str(code)} if failed and code else None,
        "startTime": _epoch(start_time),
        "endTime": _epoch(end_time),
        "response_cost": kwargs.get("response_cost"),
        "request_tags": metadata.get("tags") if isinstance(metadata, Mapping) else None,
        "metadata": {"usage_object": usage} if isinstance(usage, Mapping) else {},
    }
