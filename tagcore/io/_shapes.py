"""Which fields identify each log format tagcore reads: one table for two doors.

* every vendor reader refuses input that is not its format (:func:`refusal`): when none of
  its format's key fields is in the first records (or the header of a CSV), it raises
  :class:`~tagcore.io._vendor.FormatError` naming the fields it looked for, and, when the
  fields are those of another known format, which reader reads that one;
* :func:`~tagcore.io.read_any` recognises the format of a file by the same fields
  (:func:`recognise`): exactly one format must match, else the file is refused with the list
  of what was looked for (no match) or of the formats that match (more than one).

A format matches the set of field names of the first :data:`SAMPLE` records (every key of
any of them; matched case-insensitively) when

* all of its ``requires`` fields are there (only tagcore's own logs have one:
  ``request_tags``),
* at least one of its ``fields`` is there, and
* none of its ``unless`` fields is: the fields of a format that shares a field with it
  (LiteLLM's records carry the ``response`` object of OpenAI logs; a Langfuse observation
  carries a trace's fields and its ``traceId``).

=========================  ==========================================  ======================
format                     any of                                      unless
=========================  ==========================================  ======================
tagcore log (native)       ts, cost, cost_nanos, latency_ms
                           (and always request_tags)
OpenAI log                 request, response                           spend, response_cost
LiteLLM SpendLogs          spend
LiteLLM payloads           response_cost, hidden_params,
                           model_map_information, saved_cache_cost
Helicone export            request_created_at, response_created_at,
                           response_status, request_properties,
                           helicone_user
Langfuse traces            timestamp, htmlPath, observationCount       traceId
Langfuse observations      traceId, type, usageDetails, costDetails,
                           calculatedTotalCost, parentObservationId
OpenRouter activity        generation_id, model_permaslug,
                           cost_total, tokens_prompt, tokens_completion
=========================  ==========================================  ======================

Nothing is guessed: a file with tagcore's ``request_tags`` and a Langfuse ``timestamp``
matches two formats and is refused, naming both readers.

>>> recognise({"request_tags", "ts", "cost"}).name
'native'
>>> recognise({"spend", "request_tags", "starttime"}).name
'litellm_spend_logs'
>>> recognise({"response", "response_cost", "request_tags"}).name
'litellm_payloads'
>>> recognise({"model", "tokens"})
Traceback (most recent call last):
...
tagcore.io._vendor.FormatError: x: not a log format tagcore knows: ...
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["SAMPLE", "SHAPES", "Shape", "hint", "recognise", "refusal", "sample_fields"]

SAMPLE = 100  # records whose fields decide


@dataclass(frozen=True)
class Shape:
    """One format: its name, what it is called, the reader that reads it, and its fields."""

    name: str
    title: str
    reader: str
    fields: tuple[str, ...]
    unless: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()

    def matches(self, found: Iterable[str]) -> bool:
        """Whether the (lower-case) field names ``found`` are of this format."""
        found = set(found)
        return (all(f.lower() in found for f in self.requires)
                and any(f.lower() in found for f in self.fields)
                and not any(f.lower() in found for f in self.unless))

    def looked_for(self) -> str:
        """``'r' and one of 'a', 'b' without 'c'``: what identifies the format."""
        text = ", ".join(repr(f) for f in self.fields)
        text = f"one of {text}" if len(self.fields) > 1 else text
        if self.requires:
            text = " and ".join(repr(f) for f in self.requires) + " and " + text
        if self.unless:
            text += " without " + " or ".join(repr(f) for f in self.unless)
        return text


_LITELLM = ("spend", "response_cost")

SHAPES: dict[str, Shape] = {s.name: s for s in (
    Shape("native", "a tagcore log", "tc.read_jsonl / tc.read_csv / tc.read_parquet",
          ("ts", "cost", "cost_nanos", "latency_ms"), requires=("request_tags",)),
    Shape("openai_log", "an OpenAI request/response log", "tc.read_openai_log",
          ("request", "response"), _LITELLM),
    Shape("litellm_spend_logs", "a LiteLLM SpendLogs export", "tc.read_litellm_spend_logs",
          ("spend",)),
    Shape("litellm_payloads", "LiteLLM StandardLoggingPayload records",
          "tc.read_litellm_payloads",
          ("response_cost", "hidden_params", "model_map_information", "saved_cache_cost")),
    Shape("helicone", "a Helicone export", "tc.read_helicone_export",
          ("request_created_at", "response_created_at", "response_status",
           "request_properties", "helicone_user")),
    Shape("langfuse_traces", "Langfuse traces", "tc.read_langfuse_traces",
          ("timestamp", "htmlPath", "observationCount"), ("traceId",)),
    Shape("langfuse_observations", "Langfuse observations", "tc.read_langfuse_observations",
          ("traceId", "type", "usageDetails", "costDetails", "calculatedTotalCost",
           "parentObservationId")),
    Shape("openrouter", "an OpenRouter activity export", "tc.read_openrouter_activity",
          ("generation_id", "model_permaslug", "cost_total", "tokens_prompt",
           "tokens_completion")),
)}


def _error(message: str) -> Exception:
    from tagcore.io._vendor import FormatError

    return FormatError(message)


def _found_text(found: set[str]) -> str:
    names = sorted(found)
    more = f", ... ({len(names) - 12} more)" if len(names) > 12 else ""
    return "(" + ", ".join(names[:12]) + more + ")" if names else "(no fields)"


def recognise(found: Iterable[str], name: str = "x") -> Shape:
    """The one format whose fields ``found`` (lower-case names) are; refuses none or several
    with a :class:`FormatError` that says what it looked for."""
    found = set(found)
    hits = [s for s in SHAPES.values() if s.matches(found)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        looked = "; ".join(f"{s.title}: {s.looked_for()}" for s in SHAPES.values())
        raise _error(f"{name}: not a log format tagcore knows: its fields {_found_text(found)} "
                     f"match none of: {looked}")
    which = "; ".join(f"{s.title} ({s.looked_for()}; read it with {s.reader})" for s in hits)
    raise _error(f"{name}: its fields {_found_text(found)} match more than one log format, "
                 f"so tagcore will not guess: {which}")


def refusal(shape: Shape, found: set[str], name: str, records: int | None) -> Exception | None:
    """The :class:`FormatError` of a reader of ``shape`` given the fields ``found`` in the
    first ``records`` records (``None``: a CSV header), or ``None`` when they are its format's.

    >>> print(refusal(SHAPES["langfuse_observations"], {"response_cost", "starttime"}, "p.json", 1))
    p.json: not Langfuse observations: none of its fields (one of 'traceId', 'type', \
'usageDetails', 'costDetails', 'calculatedTotalCost', 'parentObservationId') in the first record \
(response_cost, starttime); these are the fields of LiteLLM StandardLoggingPayload records: read \
them with tc.read_litellm_payloads
    """
    if shape.matches(found):
        return None
    where = "the header" if records is None else (
        "the first record" if records == 1 else f"the first {records} records")
    has = [f for f in shape.unless if f.lower() in found]
    if any(f.lower() in found for f in shape.fields) and has:
        why = f"{where} {_found_text(found)} also has {has[0]!r}"
    else:
        why = f"none of its fields ({shape.looked_for()}) in {where} {_found_text(found)}"
    return _error(f"{name}: not {shape.title}: {why}{hint(shape, found)}")


def hint(shape: Shape, found: set[str]) -> str:
    """``"; these are the fields of X: read them with Y"`` when ``found`` are the fields of
    exactly one other format than ``shape``, else ``""``."""
    others = [s for s in SHAPES.values() if s is not shape and s.matches(found)]
    if len(others) != 1:
        return ""
    return f"; these are the fields of {others[0].title}: read them with {others[0].reader}"


# =================================================================== sampling


def _first_values(text: str, n: int) -> list[object]:
    """Up to ``n`` JSON records at the start of ``text``: the elements of an array, the
    records of an API page (``{"data": [...]}``), or a sequence of values (JSONL, one
    object, pretty-printed objects). Stops quietly at the first value it cannot read (the
    reader reports it), so a truncated prefix is fine."""
    dec = json.JSONDecoder()
    out: list[object] = []
    i = len(text) - len(text.lstrip())
    if text[i:i + 1] == "[":
        i += 1
        while len(out) < n:
            while i < len(text) and text[i] in " \t\r\n,":
                i += 1
            if i >= len(text) or text[i] == "]":
                break
            try:
                value, i = dec.raw_decode(text, i)
            except (ValueError, RecursionError):
                break
            out.append(value)
        return out
    while len(out) < n:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if i >= len(text):
            break
        try:
            value, i = dec.raw_decode(text, i)
        except (ValueError, RecursionError):
            break
        if not out and isinstance(value, dict) and text[i:].strip() == "":
            for key in ("data", "records", "items", "logs"):
                if isinstance(value.get(key), list):
                    return value[key][:n]
        out.append(value)
    return out


def sample_fields(data: bytes, layout: str) -> tuple[set[str], int | None] | None:
    """The lower-case field names of the first :data:`SAMPLE` records of decompressed file
    content and how many records gave them (``None`` for a CSV header); ``None`` when no
    record can be read (the reader then reports why). ``layout``: ``"csv"`` or JSON."""
    head = data[: 1 << 20]
    text = head.decode("utf-8", "ignore")
    if layout == "csv":
        try:
            row = next(csv.reader(io.StringIO(text, newline="")), None)
        except csv.Error:
            return None
        if not row:
            return None
        return {c.strip().lower() for c in row}, None
    values = _first_values(text, SAMPLE)
    if not values and len(head) < len(data):  # a first record longer than the prefix
        values = _first_values(data.decode("utf-8", "ignore"), SAMPLE)
    records = [v for v in values if isinstance(v, dict)]
    if not records:
        return None
    found: set[str] = set()
    for r in records:
        found.update(str(k).strip().lower() for k in r)
    return found, len(records)
