"""The HTML report rendered in a real headless browser (Debian's ``chromium``).

One batch of chromium runs (in parallel) renders the bundled sample's report: plain, with
``#filter=`` addresses, through a harness that changes the address and types in the filter box,
capped, and a control page that does touch the network (so that the network check is known to
see requests). The tests then read the dumped DOM and chromium's stderr and net log:

- no console output at all (errors, uncaught exceptions and CSP violations are console lines);
- no request leaves the page (the net log holds none but chromium's own);
- the matched count and dollars equal ``log.filter(...)``'s, for several filters;
- the headline, the share bars and the chargeback rows equal the library's frames;
- the page's self-check against the library's numbers passed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

import tagcore as tc

CHROMIUM = shutil.which("chromium")
NO_CHROMIUM = ("Debian's chromium is not installed (apt-get install chromium): the HTML "
               "report's browser tests need a real headless browser")
pytest.importorskip("plotly", reason="the HTML report inlines plotly.js: pip install "
                                     "'tagcore[viz]'")

from tagcore.report import report  # noqa: E402

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=10000", "--disable-background-networking",
         "--disable-component-update", "--disable-default-apps", "--disable-extensions",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--host-resolver-rules=MAP * ~NOTFOUND"]
LAST = "7D"
FILTERS = ["customer/acme", "customer/acme & ~env/staging", "feature/* | org/**", "*/London",
           "=customer", "not customer", "(customer/globex or customer/hooli) and env/production",
           '"feature/code-review"', "none", ""]
BAD = "customer/acme &"

HARNESS = """<script>
(function () {
  var F = %s, out = [], i = 0;
  function read(f) {
    var c = document.getElementById("matched-count"), d = document.getElementById("matched-dollars");
    var e = document.getElementById("filter-error");
    return {filter: f, count: c.getAttribute("data-count"), text: c.textContent,
            nanos: d.getAttribute("data-cost-nanos"), dollars: d.textContent,
            state: document.getElementById("matched").getAttribute("data-state"),
            error: e.hidden ? null : e.textContent, hash: location.hash};
  }
  function step() {
    if (i > 0) out.push(read(F[i - 1]));
    if (i === F.length) { typed(); return; }
    location.hash = "filter=" + encodeURIComponent(F[i++]);
    setTimeout(step, 60);
  }
  function typed() {  // typing in the box updates the views and the address
    var box = document.getElementById("filter-input");
    box.value = "customer/globex";
    box.dispatchEvent(new Event("input"));
    setTimeout(function () { out.push(read("typed")); controls(); }, 400);
  }
  function pick(sel, text) {
    var o = Array.prototype.find.call(sel.options, function (x) { return x.text === text; });
    sel.value = o.value;
    sel.dispatchEvent(new Event("change"));
  }
  function rows(id) {
    return Array.prototype.map.call(document.querySelectorAll("#" + id + " tr[data-tag]"),
      function (r) { return [r.getAttribute("data-tag"), r.getAttribute("data-cost-nanos")]; });
  }
  function controls() {  // the selects and a click on a tag chip, under customer/globex
    pick(document.getElementById("usage-level"), "2");
    pick(document.getElementById("series-dim"), "customer");
    pick(document.querySelector("#chargeback-0 select"), "org");
    var got = {level2: rows("share-bars"), org: rows("chargeback-0"),
               series: document.getElementById("series").getAttribute("data-plotted"),
               title: document.getElementById("series-title").textContent};
    var chip = document.querySelector("#activity-log .chip[data-tag^='feature/']");
    got.chip = chip.getAttribute("data-tag");
    chip.click();
    setTimeout(function () {
      got.after = read("chip");
      got.after.box = document.getElementById("filter-input").value;
      out.push(got);
      document.body.setAttribute("data-harness", JSON.stringify(out));
    }, 50);
  }
  setTimeout(step, 0);
})();
</script>
"""


class _Dom(HTMLParser):
    """The elements of a dumped DOM with their attributes, text and enclosing ids."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr", "path", "rect", "circle", "line", "stop", "use"}

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[dict] = []
        self.stack: list[dict] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        e = {"tag": tag, "attrs": dict(attrs), "text": [],
             "ids": [x["attrs"]["id"] for x in self.stack if "id" in x["attrs"]]}
        self.elements.append(e)
        if tag not in self.VOID:
            self.stack.append(e)

    def handle_startendtag(self, tag, attrs):
        self.elements.append({"tag": tag, "attrs": dict(attrs), "text": [],
                              "ids": [x["attrs"]["id"] for x in self.stack if "id" in x["attrs"]]})

    def handle_endtag(self, tag):
        for k in range(len(self.stack) - 1, -1, -1):
            if self.stack[k]["tag"] == tag:
                del self.stack[k:]
                break

    def handle_data(self, data):
        for e in self.stack:
            e["text"].append(data)

    def by_id(self, id_: str) -> dict:
        return next(e for e in self.elements if e["attrs"].get("id") == id_)

    def text(self, id_: str) -> str:
        return "".join(self.by_id(id_)["text"]).strip()

    def rows(self, inside: str, attr: str = "data-tag") -> list[dict]:
        return [e["attrs"] for e in self.elements
                if e["tag"] == "tr" and attr in e["attrs"] and inside in e["ids"]]


def money(nanos: int) -> str:
    """The page's dollars: to the cent, half up, from exact nanos; '<$0.01' below half a cent."""
    if 0 < nanos < 5_000_000:
        return "<$0.01"
    d = (Decimal(nanos) / Decimal(10**9)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"${d:,.2f}"


def _chromium(url: str, tmp: Path, name: str, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    args = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / ('profile-' + name)}",
            f"--log-net-log={tmp / (name + '.netlog.json')}", *extra, "--dump-dom", url]
    with open(tmp / f"{name}.dom.html", "wb") as out, \
            open(tmp / f"{name}.stderr.txt", "wb") as err:
        return subprocess.Popen(args, stdout=out, stderr=err)


class Run:
    def __init__(self, tmp: Path, name: str):
        self.name = name
        self.dom_text = (tmp / f"{name}.dom.html").read_text(encoding="utf-8", errors="replace")
        self.stderr = (tmp / f"{name}.stderr.txt").read_text(encoding="utf-8", errors="replace")
        self.netlog = tmp / f"{name}.netlog.json"
        self.dom = _Dom(self.dom_text)
        self.body = next(e["attrs"] for e in self.dom.elements if e["tag"] == "body")

    def console(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ":CONSOLE" in ln]

    def page_requests(self) -> list[str]:
        """URLs the page asked for: net-log requests made for the file:// page (chromium's own
        background requests have no page behind them)."""
        text = self.netlog.read_text(encoding="utf-8", errors="replace").rstrip().rstrip(",")
        if not text.endswith("}"):  # a log cut short still ends its events' list
            text += "]}"
        try:
            log = json.loads(text)
        except ValueError:
            log = json.loads(text[:text.rfind("},") + 1] + "]}")
        out = []
        for ev in log.get("events", []):
            p = ev.get("params") or {}
            url = str(p.get("url", ""))
            page = "file://" in str(p.get("network_isolation_key", "")) or \
                "site=file://" in str(p.get("site_for_cookies", ""))
            if url and page and not url.startswith(("file:", "data:", "blob:")):
                out.append(url)
        return sorted(set(out))


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Write the reports and render them all, in parallel; the runs by name."""
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    tmp = tmp_path_factory.mktemp("report_html")
    log = tc.load_sample()
    sample = tmp / "sample.html"
    report(log, last=LAST, title="Sample <report> & co").save(sample)
    harness = tmp / "harness.html"
    text = sample.read_text(encoding="utf-8")
    text = text.replace("</body>", HARNESS % json.dumps(FILTERS + [BAD, "customer/initech"])
                        + "</body>")
    harness.write_text(text, encoding="utf-8")
    capped = tmp / "capped.html"
    report(log, last=LAST, cap=100).save(capped)
    nasty = tmp / "nasty.html"  # tags that look like markup, and a title too
    recs = [{"ts": 1_700_000_000 + i, "model": "m<b>", "prompt_tokens": 1, "completion_tokens": 1,
             "cost": 0.01, "latency_ms": 5.0, "status": 200,
             "request_tags": [t, "customer/<i>acme"]}
            for i, t in enumerate(['<a href="https:x.invalid">x', "<img src=x onerror=alert(1)>",
                                   "&amp;<b>b", "</script><script>alert(1)</script>"])]
    report(tc.RequestLog.from_records(recs), title="</title><script>alert(1)</script>").save(nasty)
    control = tmp / "control.html"
    control.write_text('<html><body><img src="http://127.0.0.1:9/x.png"><script>'
                       'fetch("http://127.0.0.1:9/y").catch(function () {});</script>'
                       '</body></html>', encoding="utf-8")
    runs = {
        "plain": (sample.as_uri(), ("--window-size=1400,2400",
                                     f"--screenshot={tmp / 'sample.png'}")),
        "acme": (sample.as_uri() + "#filter=customer%2Facme", ()),
        "combo": (sample.as_uri() + "#filter=" + quote("customer/acme & ~env/staging", safe=""),
                  ()),
        "bad": (sample.as_uri() + "#filter=" + quote(BAD, safe=""), ()),
        "harness": (harness.as_uri(), ()),
        "capped": (capped.as_uri(), ()),
        "nasty": (nasty.as_uri(), ()),
        "control": (control.as_uri(), ()),
    }
    t0 = time.perf_counter()
    procs = {k: _chromium(url, tmp, k, extra) for k, (url, extra) in runs.items()}
    for k, p in procs.items():
        try:
            p.wait(timeout=90)
        except subprocess.TimeoutExpired:
            p.kill()
            pytest.fail(f"chromium did not finish rendering {k} in 90 s")
    elapsed = time.perf_counter() - t0
    return {"log": log, "tmp": tmp, "elapsed": elapsed, "sample": sample,
            **{k: Run(tmp, k) for k in runs}}


def _window(log):
    return log.filter(last=LAST)


# ------------------------------------------------------------------------------ the page runs


@pytest.mark.parametrize("name", ["plain", "acme", "combo", "harness", "capped", "nasty"])
def test_no_console_output_and_no_network(pages, name):
    run = pages[name]
    assert run.body.get("data-ready") == "1", run.stderr[-2000:]
    assert run.body.get("data-charts") == "1", "the charts were not drawn"
    assert run.console() == [], "\n".join(run.console())
    assert run.page_requests() == []


def test_network_check_sees_requests(pages):
    """The control page asks for two URLs: the check above would have seen them."""
    assert pages["control"].page_requests() == ["http://127.0.0.1:9/x.png",
                                                "http://127.0.0.1:9/y"]


def test_self_check_passed(pages):
    for name in ("plain", "acme", "capped"):
        assert pages[name].body.get("data-selfcheck") == "ok", pages[name].body


_REMOTE = re.compile(r"""(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:https?:)?//""",
                     re.I)


def _markup(text: str) -> str:
    """The HTML without the contents of its <script> elements (plotly.js holds URLs in strings
    for maps it never loads here)."""
    return re.sub(r"(<script\b[^>]*>).*?(</script>)", r"\1\2", text, flags=re.S | re.I)


def test_no_remote_src_or_href_and_a_strict_csp(pages):
    text = pages["sample"].read_text(encoding="utf-8")
    assert not _REMOTE.search(_markup(text))
    assert not _REMOTE.search(_markup(pages["plain"].dom_text))  # after the charts are drawn
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert csp and "default-src 'none'" in csp.group(1)
    assert "connect-src" not in csp.group(1)  # falls back to 'none'
    # the page's own code and data: no http(s) URL outside plotly.js
    plotly_js = text.index('id="tagcore-plotly"')
    assert not re.search(r"https?://", text[:plotly_js].split('id="tagcore-data"')[1])


def test_tags_are_text_never_markup(pages):
    run = pages["nasty"]
    assert run.body.get("data-selfcheck") == "ok"
    tags = [e for e in run.dom.elements if e["attrs"].get("data-tag")]
    assert {e["attrs"]["data-tag"] for e in tags} >= {'<a href="https:x.invalid">x',
                                                       "customer/<i>acme"}
    body = run.dom_text[run.dom_text.index("<body"):]
    assert not [e for e in run.dom.elements if e["tag"] in ("a", "i", "img", "b")]
    assert "alert(1)</script>" not in _markup(body)
    assert run.dom.text("title") == "</title><script>alert(1)</script>"


def test_title_is_escaped(pages):
    run = pages["plain"]
    assert run.dom.text("title") == "Sample <report> & co"
    assert "<title>Sample &lt;report&gt; &amp; co</title>" in run.dom_text


# ------------------------------------------------------------------------------ numbers


def _matched(run):
    c = run.dom.by_id("matched-count")["attrs"]["data-count"]
    d = run.dom.by_id("matched-dollars")["attrs"]["data-cost-nanos"]
    return int(c), int(d), run.dom.text("matched-count"), run.dom.text("matched-dollars")


@pytest.mark.parametrize("name,expr", [("plain", None), ("acme", "customer/acme"),
                                       ("combo", "customer/acme & ~env/staging")])
def test_address_filter_matches_the_library(pages, name, expr):
    log = pages["log"]
    sel = log.filter(expr, last=LAST)
    nanos = int(sel.totals()["cost_nanos"])
    n, got_nanos, n_text, dollars = _matched(pages[name])
    assert (n, got_nanos) == (len(sel), nanos)
    assert n_text == f"{len(sel):,}"
    assert dollars == money(nanos)
    assert pages[name].dom.by_id("matched")["attrs"].get("data-filter") == (expr or "")


def test_filters_through_the_address_and_the_box(pages):
    log = pages["log"]
    got = json.loads(pages["harness"].body["data-harness"])
    by = {g["filter"]: g for g in got if "filter" in g}
    for expr in FILTERS:
        sel = log.filter(expr or None, last=LAST)
        nanos = int(sel.totals()["cost_nanos"])
        g = by[expr]
        assert g["state"] == "ok" and g["error"] is None, g
        assert (int(g["count"]), int(g["nanos"])) == (len(sel), nanos), expr
        assert g["dollars"] == money(nanos), expr
    # a bad filter says why, as the library does, and keeps the last good views
    bad = by[BAD]
    with pytest.raises(tc.FilterSyntaxError) as exc:
        log.filter(BAD)
    assert bad["state"] == "error"
    assert exc.value.reason in bad["error"] and f"position {exc.value.position}" in bad["error"]
    assert int(bad["count"]) == len(_window(log))  # the views of the filter before: ""
    # typing updates the address (#filter=...) and the numbers
    typed = by["typed"]
    assert typed["hash"] == "#filter=customer%2Fglobex"
    sel = log.filter("customer/globex", last=LAST)
    assert int(typed["count"]) == len(sel)


def test_controls_and_tag_chips(pages):
    """The level and dimension selects and a click on a tag chip, under customer/globex."""
    log = pages["log"]
    got = json.loads(pages["harness"].body["data-harness"])[-1]
    sel = log.filter("customer/globex", last=LAST)
    df = sel.rollup(level=2, metrics=["cost_nanos"])
    assert got["level2"] == [[str(t), str(c)] for t, c in zip(df.index, df["cost_nanos"])]
    df = sel.rollup(under="org", attribution="split", metrics=["cost_nanos"])
    assert got["org"] == [[str(t), str(c)] for t, c in zip(df.index, df["cost_nanos"])]
    assert got["title"] == "Daily cost by customer" and int(got["series"]) >= 1
    chip = got["chip"]
    sel = log.filter(chip, last=LAST)
    assert got["after"]["box"] == chip and got["after"]["hash"] == "#filter=" + quote(chip, safe="")
    assert int(got["after"]["count"]) == len(sel)
    assert int(got["after"]["nanos"]) == int(sel.totals()["cost_nanos"])


def test_bad_filter_in_the_address_shows_the_error(pages):
    run = pages["bad"]
    assert run.body.get("data-ready") == "1"
    err = run.dom.by_id("filter-error")
    assert "hidden" not in err["attrs"]
    assert "unexpected end of input" in "".join(err["text"])
    # a bad filter is not a crash: one uncaught error would be a console line
    assert run.console() == []
    n, nanos, _, _ = _matched(run)  # everything is shown under the message
    assert n == len(_window(pages["log"]))


def test_headline_equals_the_library(pages):
    w = _window(pages["log"])
    t = w.totals()
    run = pages["plain"]
    a = {k: run.dom.by_id(k)["attrs"] for k in ("kpi-requests", "kpi-cost", "kpi-tokens",
                                                 "kpi-errors", "kpi-p50", "kpi-p95")}
    assert int(a["kpi-requests"]["data-value"]) == t["requests"]
    assert int(a["kpi-cost"]["data-cost-nanos"]) == t["cost_nanos"]
    assert int(a["kpi-tokens"]["data-value"]) == t["total_tokens"]
    assert int(a["kpi-errors"]["data-value"]) == t["errors"]
    lat = w.latency_ms[~np.isnan(w.latency_ms)]
    assert float(a["kpi-p50"]["data-value"]) == float(np.quantile(lat, 0.5)) == t["latency_p50"]
    assert float(a["kpi-p95"]["data-value"]) == float(np.quantile(lat, 0.95))
    assert money(int(t["cost_nanos"])) in "".join(run.dom.by_id("kpi-cost")["text"])


def _check_share_bars(run, sel):
    df = sel.rollup(level=1, metrics=["requests", "cost_nanos"])
    rows = run.dom.rows("share-bars")
    assert [r["data-tag"] for r in rows] == [str(t) for t in df.index]
    assert [int(r["data-cost-nanos"]) for r in rows] == df["cost_nanos"].tolist()
    assert [int(r["data-requests"]) for r in rows] == df["requests"].tolist()


def _check_chargeback(run, sel, dim, section):
    df = sel.rollup(under=dim, attribution="split", metrics=["requests", "cost_nanos"])
    rows = run.dom.rows(section)
    assert [r["data-tag"] for r in rows] == [str(t) for t in df.index]
    assert [int(r["data-cost-nanos"]) for r in rows] == df["cost_nanos"].tolist()
    assert np.allclose([float(r["data-requests"]) for r in rows], df["requests"], rtol=1e-12)
    total = next(e["attrs"] for e in run.dom.elements
                 if e["tag"] == "tr" and "data-total-nanos" in e["attrs"] and section in e["ids"])
    assert int(total["data-total-nanos"]) == int(sel.totals()["cost_nanos"])  # adds up


def test_share_bars_equal_the_rollup(pages):
    _check_share_bars(pages["plain"], _window(pages["log"]))
    _check_share_bars(pages["acme"], pages["log"].filter("customer/acme", last=LAST))


def test_chargeback_equals_the_split_rollup(pages):
    w = _window(pages["log"])
    run = pages["plain"]
    assert run.dom.by_id("chargeback-0")["attrs"]["data-dim"] == "customer"
    assert run.dom.by_id("chargeback-1")["attrs"]["data-dim"] == "feature"
    _check_chargeback(run, w, "customer", "chargeback-0")
    _check_chargeback(run, w, "feature", "chargeback-1")
    sel = pages["log"].filter("customer/acme & ~env/staging", last=LAST)
    _check_chargeback(pages["combo"], sel, "customer", "chargeback-0")
    _check_chargeback(pages["combo"], sel, "feature", "chargeback-1")


def test_by_model_equals_a_group_by(pages):
    w = _window(pages["log"])
    rows = pages["plain"].dom.rows("chargeback-model", attr="data-model")
    want: dict[str, int] = {}
    for code, c in zip(w.model_codes.tolist(), w.cost.tolist()):
        want[w.models[code]] = want.get(w.models[code], 0) + c
    assert {r["data-model"]: int(r["data-cost-nanos"]) for r in rows} == want
    assert [int(r["data-cost-nanos"]) for r in rows] == sorted(want.values(), reverse=True)


def test_activity_log_lists_the_latest_requests(pages):
    run = pages["acme"]
    sel = pages["log"].filter("customer/acme", last=LAST)
    rows = [e for e in run.dom.elements if e["tag"] == "tr" and "data-row" in e["attrs"]]
    assert len(rows) == min(200, len(sel))
    chips = [e["attrs"]["data-tag"] for e in run.dom.elements
             if e["tag"] == "span" and "chip" in e["attrs"].get("class", "")
             and "activity-log" in e["ids"]]
    order = np.argsort(sel.ts, kind="stable")[::-1][:200]
    want = [t for r in order.tolist() for t in sel.tags_of(int(r))]
    assert chips == want
    costs = [int(e["attrs"]["data-cost-nanos"]) for e in run.dom.elements
             if e["tag"] == "td" and "data-cost-nanos" in e["attrs"] and "activity-log" in e["ids"]]
    assert costs == sel.cost[order].tolist()


def test_charts_are_drawn(pages):
    run = pages["plain"]
    assert int(run.dom.by_id("sunburst")["attrs"]["data-plotted"]) > 20
    assert int(run.dom.by_id("series")["attrs"]["data-plotted"]) >= 5
    assert run.dom_text.count('class="slice') > 20  # the sunburst's sectors
    assert "2026-11-13" in run.dom_text and "2026-11-20" in run.dom_text  # the daily axis


def test_capped_page_says_so_and_covers_the_latest(pages):
    run = pages["capped"]
    w = _window(pages["log"])
    note = run.dom.by_id("cap-note")
    assert "hidden" not in note["attrs"] and int(note["attrs"]["data-rest"]) == len(w) - 100
    assert "latest 100 of the window's 983 requests" in "".join(note["text"])
    emb = w[np.argsort(w.ts, kind="stable")[-100:]]
    n, nanos, _, _ = _matched(run)
    assert (n, nanos) == (100, int(emb.totals()["cost_nanos"]))
    _check_share_bars(run, emb)
    _check_chargeback(run, emb, "customer", "chargeback-0")


def test_screenshot_was_taken(pages):
    png = pages["tmp"] / "sample.png"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000


# ------------------------------------------------------------------------------ Python side


def test_report_object_and_to_html(tmp_path):
    log = tc.load_sample()
    r = report(log, last="30D", cap=500, filter="customer/acme")
    assert r.info["embedded"] == 500 and r.info["rest"] == len(log.filter(last="30D")) - 500
    assert len(r.embedded) == 500 and len(r.window) == r.info["window_requests"]
    assert "500 of" in repr(r) and "tagcore report" in r._repr_html_()
    p = r.save(tmp_path / "r.html")
    assert p.read_text(encoding="utf-8") == r.html
    assert r.size == p.stat().st_size < 6_000_000
    out = log.to_html(tmp_path / "log.html", title="T")
    assert out == os.fspath(tmp_path / "log.html") and Path(out).stat().st_size > 4_000_000
    with pytest.raises(tc.FilterSyntaxError):
        report(log, filter="a &")
    with pytest.raises(ValueError, match="cap"):
        report(log, cap=0)
    with pytest.raises(TypeError):
        report("not a log")


def test_the_package_is_callable_as_its_function():
    """``tc.report(log)`` works whether ``tc.report`` resolves to the function or, once the
    subpackage is imported, to the package itself."""
    import tagcore.report as pkg

    r = pkg(tc.load_sample(), cap=10)
    assert isinstance(r, pkg.Report) and r.info["embedded"] == 10


def test_data_is_compact_and_exact():
    log = tc.load_sample()
    r = report(log, last="all")
    m = re.search(r'<script type="application/json" id="tagcore-data">(.*?)</script>', r.html,
                  re.S)
    d = json.loads(m.group(1))
    q = d["requests"]
    assert q["n"] == len(log) and sum(q["tag_counts"]) == log.tag_ids.size
    order = np.argsort(log.ts, kind="stable")
    assert sorted(q["cost_nanos"]) == sorted(log.cost.tolist())
    assert q["cost_nanos"] == log.cost[order].tolist()
    ts = np.cumsum([q["ts0_ms"]] + q["ts_delta_ms"][1:])
    assert ts.tolist() == (log.ts[order] // 1_000_000).tolist()
    # the trie's node ids are in path order
    paths = []
    for seg, p in zip(d["trie"]["segments"], d["trie"]["parents"]):
        paths.append(seg if p < 0 else paths[p] + "/" + seg)
    ids = [log.trie.id(p) for p in paths]
    assert list(log.trie.tree_order(ids)) == ids
    assert "<" not in m.group(1)  # nothing that could end the <script>


def test_cli_writes_the_page(tmp_path, capsys):
    from tagcore.cli import main

    path = tmp_path / "report.html"
    assert main(["report", "--html", str(path), "--title", "Sample"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {path}" in out and "MB" in out and "last 7 days" in out
    text = path.read_text(encoding="utf-8")
    assert "<title>Sample</title>" in text and '"label":"last 7 days"' in text
    assert main(["report", "--html", str(path), "--last", "30D", "--filter",
                 "customer/acme", "--cap", "1000"]) == 0
    assert "the older" in capsys.readouterr().out
    assert '"initial_filter":"customer/acme"' in path.read_text(encoding="utf-8")
    assert main(["report", "--html", str(path), "--under", "customer"]) == 2
    assert "--under does not apply" in capsys.readouterr().err


def test_cli_subprocess(tmp_path):
    path = tmp_path / "r.html"
    res = subprocess.run([sys.executable, "-m", "tagcore", "report", "--html", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert path.stat().st_size > 4_000_000 and "wrote" in res.stdout
