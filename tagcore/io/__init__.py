"""Reading and writing logs: native files (Parquet, JSONL, CSV, Arrow) and vendor exports.

One module per format over one shared :mod:`tagcore.io._common`, as in ``pandas.io``:

- :mod:`tagcore.io._common`: sources (paths, ``"-"``, file objects, gzip, BOM), the suffix
  table and sniffing (:func:`~tagcore.io._common.format_of`, also used by the CLI), the atomic
  writer, spreadsheet-safe cells, problem collection and the one ``on_error`` checker, column
  matching;
- :mod:`tagcore.io._values`: the parsers of money, time, counts and missing values;
- :mod:`tagcore.io._native`: tag lists to CSR, Python columns to a log (JSONL, CSV, Arrow);
- :mod:`tagcore.io.parquet` (:func:`read_parquet`, :func:`to_parquet`),
  :mod:`tagcore.io.jsonl` (:func:`read_jsonl`, :func:`to_jsonl`),
  :mod:`tagcore.io.csv` (:func:`read_csv`, :func:`to_csv`),
  :mod:`tagcore.io.arrow` (:func:`from_arrow`, :func:`~tagcore.io.arrow.log_to_arrow`),
  :mod:`tagcore.io._dispatch` (:func:`read_any`: every format below too, recognised by its
  fields with the table of :mod:`tagcore.io._shapes`; a file of no known format, or of
  several, is refused);
- vendor exports over :mod:`tagcore.io._vendor` (:class:`FormatError`, rows of JSON, JSONL
  and CSV, record collection, ``key:value`` tags, records to a log):
  :mod:`tagcore.io.openai` (:func:`read_openai_log`), :mod:`tagcore.io.litellm`
  (:func:`read_litellm_spend_logs`, :func:`read_litellm_payloads`), :mod:`tagcore.io.helicone`
  (:func:`read_helicone_export`), :mod:`tagcore.io.langfuse` (:func:`read_langfuse_traces`,
  :func:`read_langfuse_observations`), :mod:`tagcore.io.openrouter`
  (:func:`read_openrouter_activity`).

**``.json``** means JSON records, the same for :func:`read_any`, the vendor readers and the
CLI: the content decides, an array of records when it starts with ``[``, else JSONL (one object
per line). Writers (``tagcore export -o x.json``) write ``.json`` as JSONL.

**Columns** are the record fields of :meth:`RequestLog.from_records`, matched by name (exact,
else case-insensitive): ``ts``, ``model``, ``prompt_tokens``, ``completion_tokens``, ``cost``
(dollars) and/or ``cost_nanos`` (exact integer nano-dollars; preferred when both are present),
``latency_ms`` (empty/null/NaN = unknown), ``status``, ``request_tags``, and the optional
``cached_tokens``, ``reasoning_tokens``, ``request_id``, ``user``, ``key`` (missing = none).
``columns={native: name}`` renames; a list of native names reads only those.

**Only ``request_tags`` is required.** A column the file lacks is *unknown*, never zero: the
log lists it in :attr:`~tagcore.log.RequestLog.unknown`, the frames leave its metrics out and
a question that needs it raises :class:`~tagcore.log.UnknownColumnError`. Without ``cost`` and
``cost_nanos`` every request is unpriced, unless ``prices=`` (a
:class:`~tagcore.prices.PriceTable`) prices it from its model and tokens. A column that some
records give and others lack is a bad value in the records that lack it. Tags may be lists or
text (a JSON array, a Python list as pandas writes it, or ``tags_sep``-delimited: see
:func:`~tagcore.tags.tags_from_text`); epoch numbers are in ``ts_unit`` (``s`` by default);
``status`` is an HTTP code or ``"success"``/``"failure"``. Unknown columns of the file are
ignored. Writers emit every column the log knows, ``cost`` *and* ``cost_nanos``, and leave out
what it does not, so every format round-trips exactly (money to the nano-dollar, times to the
nanosecond, and the same unknowns).

- **Parquet** (needs ``pyarrow``, ``pip install 'tagcore[parquet]'``): ``ts`` as
  ``timestamp[ns, UTC]`` (any unit and zone is read; naive = UTC; integer or float = epoch
  numbers in ``ts_unit``; strings = ISO 8601), ``request_tags`` as ``list<string>``. The reader never makes a
  Python object per tag: the tag lists are read dictionary-encoded, only the *distinct* strings
  are normalized with :func:`~tagcore.tags.normalize_tag` and interned, and numpy maps codes to
  node ids; duplicates inside a request (also two strings that normalize to the same tag) are
  dropped with a vectorised pass.
- **JSONL** (``.jsonl``/``.ndjson``; one JSON object per line, blank lines skipped):
  ``request_tags`` a JSON array, ``ts`` an ISO string (naive = UTC) or an epoch number.
- **CSV**: a header line, one request per row, ``request_tags`` a JSON array in one cell, empty
  cell = missing.

**Errors** of the native readers name the file, the place (Parquet: ``row R``, 0-based; JSONL
and CSV: ``line N``, 1-based, the line where the record starts, as a text editor shows it) and
the column; the :class:`LogError` also carries ``.row`` (0-based record index) and ``.line``. A
truncated last line or invalid JSON is reported the same way. With ``on_error="skip"`` bad rows
are left out and counted (``log.dropped_rows``) and described (``log.problems``, the first 20).
Invalid tags follow the :class:`~tagcore.tags.TagPolicy`: they make the row bad, or with
``on_invalid="drop"`` are dropped and counted (``log.dropped_tags``).

**Writing is atomic**: the file is written to a temporary file in the same folder, flushed,
``fsync``-ed, then renamed over the target; on any error the temporary file is removed and a
previous file of that name is left untouched.

**CSV is safe to open in a spreadsheet.** The text columns are ``model``, ``request_id``,
``user``, ``key`` and the ``request_tags`` cell. A text cell that starts with ``=``, ``+``,
``-``, ``@``, a tab, a carriage return or ``'`` is written with one extra leading ``'``, and
:func:`read_csv` removes exactly one leading ``'`` from every text cell that starts with one,
so round trips are identical (``'x`` is written ``''x``). An empty string is written as a lone
``'`` (a spreadsheet shows an empty text cell), so that an empty cell can mean *missing*. The
``request_tags`` cell is a JSON array and always starts with ``[``: a spreadsheet judges a cell
by its first character, so tags inside the array (``["=cmd", "-x"]``) are harmless and are
written as they are (prefixing them would change the tags other tools read from the JSON).
Numeric cells are never negative, and ``ts`` starts with a digit.
"""

from __future__ import annotations

from tagcore.io._common import source_size
from tagcore.io._dispatch import read_any
from tagcore.io._vendor import FormatError, map_key_value_tag
from tagcore.io.arrow import from_arrow
from tagcore.io.csv import read_csv, to_csv
from tagcore.io.helicone import parse_helicone_export, read_helicone_export
from tagcore.io.jsonl import read_jsonl, to_jsonl
from tagcore.io.langfuse import (
    parse_langfuse_observations,
    parse_langfuse_traces,
    read_langfuse_observations,
    read_langfuse_traces,
)
from tagcore.io.litellm import (
    parse_litellm_payloads,
    parse_litellm_spend_logs,
    read_litellm_payloads,
    read_litellm_spend_logs,
)
from tagcore.io.openai import parse_openai_log, read_openai_log
from tagcore.io.openrouter import parse_openrouter_activity, read_openrouter_activity
from tagcore.io.parquet import read_parquet, to_parquet

__all__ = [
    # native files
    "from_arrow",
    "read_any",
    "read_csv",
    "read_jsonl",
    "read_parquet",
    "source_size",
    "to_csv",
    "to_jsonl",
    "to_parquet",
    # vendor exports
    "FormatError",
    "map_key_value_tag",
    "parse_helicone_export",
    "parse_langfuse_observations",
    "parse_langfuse_traces",
    "parse_litellm_payloads",
    "parse_litellm_spend_logs",
    "parse_openai_log",
    "parse_openrouter_activity",
    "read_helicone_export",
    "read_langfuse_observations",
    "read_langfuse_traces",
    "read_litellm_payloads",
    "read_litellm_spend_logs",
    "read_openai_log",
    "read_openrouter_activity",
]
