"""The HTML report: one self-contained, offline page with the views of a usage dashboard.

``tc.report(log)`` (or ``log.to_html(path)``, or ``tagcore report --html report.html``) builds
one HTML file that holds its data and scripts (plotly.js, the filter evaluator, the page): it
opens from disk in any browser, and its Content-Security-Policy forbids any network access.

The page shows, for the report's window (``last="7D"`` by default: the seven days up to the
log's last request, as the text ``tagcore report``): the headline (requests, cost, tokens,
errors, latency p50/p95), usage by tag as share bars, the tag hierarchy as a drillable
sunburst, cost per day (or hour) by top-level tag, chargeback tables by customer, feature and
model (split attribution: rows add up to the total) and the activity log. A filter box takes
tagcore's filter syntax (``customer/acme & ~env/staging``) and narrows every view; the filter
lives in the page's address (``report.html#filter=customer%2Facme``).

The page computes every number from the embedded requests with the library's semantics, so that
it shows what ``log.filter(...)`` and ``log.rollup(...)`` return; it checks itself against the
library's numbers (embedded too) and says so if they differ. At most ``cap`` requests (the
latest) are embedded; the older ones of the window are summarized, and the page says so.

Plotting needs plotly (``pip install 'tagcore[viz]'``), whose bundled ``plotly.min.js`` the page
inlines.
"""

from __future__ import annotations

import os
import re
import sys
import types
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagcore.report._data import build_data

if TYPE_CHECKING:  # pragma: no cover
    from tagcore.log import RequestLog

__all__ = ["Report", "report"]

_MARK = re.compile(r"<!--TAGCORE:([A-Z_]+)-->")


def _asset(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def _plotly_js() -> str:
    try:
        import plotly
    except ImportError:
        raise ImportError("the HTML report inlines plotly.js: pip install 'tagcore[viz]' "
                          "(plotly>=5.22)") from None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise ImportError(f"plotly is installed but has no bundled plotly.min.js at {path}; "
                          "reinstall it: pip install --force-reinstall 'plotly>=5.22'")
    text = path.read_text(encoding="utf-8")
    if re.search(r"</script|<!--", text, re.IGNORECASE):  # would end the inline <script>
        text = re.sub(r"<(/script|!--)", r"\\x3c\1", text, flags=re.IGNORECASE)
    return text


def _html_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _script_safe(text: str) -> str:
    """JavaScript source to inline: a closing tag inside it would end the <script>."""
    return re.sub(r"<(/script|!--)", r"<\\\1", text, flags=re.IGNORECASE)


@dataclass(frozen=True, repr=False)
class Report:
    """A built HTML report: :attr:`html` is the page; :meth:`save` writes it.

    ``window`` is the log of the report's window and ``embedded`` the requests the page holds
    (the latest ``cap`` of the window); ``info`` says how many, and the size of the data.

    >>> from tagcore import load_sample
    >>> from tagcore.report import report
    >>> r = report(load_sample(), title="Sample")
    >>> r.info["embedded"], r.html.startswith("<!DOCTYPE html>")
    (983, True)
    """

    html: str
    info: dict[str, Any]
    window: RequestLog = field(compare=False)
    embedded: RequestLog = field(compare=False)

    @property
    def size(self) -> int:
        """Bytes of the page as UTF-8."""
        return len(self.html.encode("utf-8"))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` atomically (a temporary file renamed over it); returns
        the path.

        >>> import os, tempfile
        >>> from tagcore import load_sample
        >>> from tagcore.report import report
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = report(load_sample()).save(os.path.join(d, "r.html"))
        ...     p.stat().st_size > 1_000_000
        True
        """
        from tagcore.io._common import _atomic

        with _atomic(path) as fh:
            fh.write(self.html.encode("utf-8"))
        return Path(path)

    def __repr__(self) -> str:
        i = self.info
        return (f"<tagcore Report {i['title']!r}: {i['window']}, {i['embedded']:,} of "
                f"{i['window_requests']:,} requests embedded, {self.size / 1e6:.1f} MB>")

    def _repr_html_(self) -> str:
        return ("<div><b>tagcore report</b> " + _html_escape(repr(self)[1:-1]) +
                "; <code>.save('report.html')</code> writes it, a self-contained page that "
                "opens offline in any browser.</div>")


def report(log: RequestLog, *, last: str | None = "7D", since: Any = None, until: Any = None,
           title: str | None = None, cap: int | None = 100_000, tz: str = "UTC",
           filter: str | None = None, source: str | None = None) -> Report:
    """The HTML report of ``log``'s window: one self-contained page (see the module's doc).

    ``last`` (default ``"7D"``: ``now - 7D < ts <= now``, ``now`` the log's last timestamp;
    ``None`` or ``"all"`` for all time), ``since`` and ``until`` choose the window as in
    :meth:`RequestLog.filter`; ``cap`` is how many of its latest requests the page holds (the
    rest are summarized; ``None`` for all); ``tz`` the time zone of the shown times and of the
    chart's days; ``filter`` the filter the page opens with when its address names none;
    ``source`` a note on where the log came from.

    >>> from tagcore import load_sample
    >>> r = report(load_sample(), last="30D", filter="customer/acme")
    >>> r.info["window_requests"] > 983, r.info["embedded"] == r.info["window_requests"]
    (True, True)
    """
    from tagcore import __version__
    from tagcore.log import RequestLog

    if not isinstance(log, RequestLog):
        raise TypeError(f"log: expected a RequestLog, got {type(log).__name__}")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise ValueError(f"cap: expected an integer >= 1 or None, got {cap!r}")
    if filter is not None:
        from tagcore.filters import parse_filter

        parse_filter(filter)  # a bad filter is the caller's error, here, not the page's
    data, info, window, emb = build_data(log, last=last, since=since, until=until,
                                         title=title, cap=cap, tz=tz, source=source,
                                         initial_filter=filter)
    parts = {
        "VERSION": __version__,
        "TITLE": _html_escape(title or "tagcore report"),
        "CSS": _asset("page.css").replace("</", "<\\/"),
        "DATA": data,
        "FILTER_JS": _script_safe(_asset("filter.js")),
        "PAGE_JS": _script_safe(_asset("page.js")),
        "PLOTLY_JS": _plotly_js(),
    }
    html = _MARK.sub(lambda m: parts[m.group(1)], _asset("page.html"))
    from tagcore.report._data import window_label

    info = {**info, "title": title or "tagcore report",
            "window": window_label(None if isinstance(last, str) and
                                   last.strip().lower() in ("all", "none", "0") else last,
                                   since, until)}
    return Report(html=html, info=info, window=window, embedded=emb)


class _CallableModule(types.ModuleType):
    """``tagcore.report`` is both this package and its function: ``tc.report(log)`` works
    whichever of the two ``tc.report`` resolves to once the package is imported."""

    def __call__(self, *args: Any, **kwargs: Any) -> Report:
        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
