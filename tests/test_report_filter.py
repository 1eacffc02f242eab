"""The report's JavaScript filter (tagcore/report/filter.js) against Python, in real chromium.

Each test builds one small HTML page in ``tmp_path`` that inlines filter.js and a JSON payload (a
log's trie and CSR tag arrays, in the shape the report embeds, and a list of filter strings),
opens it with headless Debian chromium (``--dump-dom``), and reads back what the page wrote into
the DOM: for each string either the canonical form (``TagcoreFilter.format``) and one row mask
per log, or the syntax error's position and message. These must equal ``str(parse_filter(s))``,
the rows of ``log.filter(s)`` and ``FilterSyntaxError.position`` / ``str(error)``.

Strings come from a hand-written list of corners and from hypothesis (well-formed filters built
from the logs' own tags with spelling variants, then mutated and raw strings for refusals), all in
one chromium launch per test: a launch costs about a second.
"""

from __future__ import annotations

import html
import json
import random
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import tagcore as tc
from tagcore.filters import FilterSyntaxError, parse_filter
from tagcore.log import RequestLog

FILTER_JS = Path(__file__).resolve().parents[1] / "tagcore" / "report" / "filter.js"
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"
HEX = np.array(list("0123456789abcdef"))


# ------------------------------------------------------------------------------ chromium


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    return exe


def run_page(exe: str, tmp_path: Path, name: str, page: str,
             netlog: bool = False) -> tuple[str, str, Path | None]:
    """Open ``page`` in headless chromium; return (dumped DOM, stderr, net log path)."""
    path = tmp_path / f"{name}.html"
    path.write_text(page, encoding="utf-8")
    net = tmp_path / f"{name}-netlog.json" if netlog else None
    cmd = [exe, "--headless=new", "--no-sandbox", "--disable-gpu",
           f"--user-data-dir={tmp_path / (name + '-profile')}", "--no-first-run",
           "--no-default-browser-check", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-extensions",
           "--enable-logging=stderr", "--v=0"]
    if net is not None:
        cmd.append(f"--log-net-log={net}")
    cmd += ["--dump-dom", path.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, timeout=120)
    dom = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}):\n{err[-3000:]}"
    return dom, err, net


def console_lines(stderr: str) -> list[str]:
    """Lines chromium logged for the page's console (every level logs as INFO:CONSOLE)."""
    return [ln for ln in stderr.splitlines() if re.search(r":CONSOLE[:(]", ln)]


def page_requests(netlog: Path) -> list[str]:
    """URLs of network requests the page made (chromium's own background traffic, such as
    component updates, has no initiator and is left out)."""
    data = json.loads(netlog.read_text(encoding="utf-8"))
    names = {v: k for k, v in data["constants"]["logEventTypes"].items()}
    out = []
    for ev in data["events"]:
        params = ev.get("params") or {}
        if names.get(ev["type"]) == "URL_REQUEST_START_JOB" and "url" in params:
            nik = str(params.get("network_isolation_key", ""))
            if params.get("initiator") != "not an origin" or "file://" in nik:
                out.append(params["url"])
    return out


def script_json(obj: Any) -> str:
    """JSON safe to put inside a <script> element."""
    return json.dumps(obj, ensure_ascii=True).replace("<", "\\u003c")


def dom_json(dom: str) -> Any:
    m = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    assert m is not None and m.group(1), f"the page wrote no result:\n{dom[-2000:]}"
    return json.loads(html.unescape(m.group(1)))


# ------------------------------------------------------------------------------ the data


def export(log: RequestLog) -> dict[str, Any]:
    """The ``trie`` and ``requests`` (tag CSR) fields of the contract, from the log's own arrays:
    every node of the trie, in id order."""
    return {
        "trie": {"paths": list(log.trie.paths), "parents": log.trie.parents.tolist()},
        "requests": {"n": len(log), "tag_offsets": log.tag_offsets.tolist(),
                     "tag_ids": log.tag_ids.tolist()},
    }


def export_subset(full: RequestLog, cap: int) -> tuple[RequestLog, dict[str, Any]]:
    """The shape of what the HTML report embeds: the latest ``cap`` requests, oldest first, over
    a trie of only the nodes they use (and their ancestors), in path order with new ids.

    (The report's own encoding, tagcore.report._data, is checked by the page's tests; this
    checks filter.js on a subset trie whose ids are not the log's.)
    """
    rows = np.argsort(full.ts, kind="stable")[-cap:]
    emb = full[rows]
    trie = full.trie
    used = np.zeros(len(trie), dtype=bool)
    used[emb.tag_ids] = True
    parents = np.asarray(trie.parents)
    for v in np.flatnonzero(used).tolist():
        while v >= 0:
            used[v] = True
            v = int(parents[v])
    nodes = trie.tree_order(np.flatnonzero(used))
    local = np.full(len(trie), -1, dtype=np.int64)
    local[nodes] = np.arange(nodes.size)
    gpar = parents[nodes]
    return with_row_ids(emb), {
        "trie": {"paths": [trie.path(int(v)) for v in nodes],
                 "parents": np.where(gpar >= 0, local[np.maximum(gpar, 0)], -1).tolist()},
        "requests": {"n": len(emb), "tag_offsets": emb.tag_offsets.tolist(),
                     "tag_ids": local[emb.tag_ids].tolist()},
    }


def with_row_ids(log: RequestLog) -> RequestLog:
    """The same log with a ``request_id`` extra holding each row's index."""
    return RequestLog(ts=log.ts, model_codes=log.model_codes, models=log.models,
                      prompt_tokens=log.prompt_tokens, completion_tokens=log.completion_tokens,
                      cost=log.cost, latency_ms=log.latency_ms, status=log.status,
                      tag_offsets=log.tag_offsets, tag_ids=log.tag_ids, trie=log.trie,
                      extras={"request_id": [str(i) for i in range(len(log))]})


# nested paths and awkward spellings: keyword-like, quotes, wildcards and '=' as literal
# characters, white space inside segments, composed accents, astral characters
NESTED_PATHS = [
    "customer/acme", "customer/acme/eu", "customer/acme/us/west", "customers/bolt",
    "customer/bolt", "geo/UK/London", "geo/US/CA/SF", "geo/US/NY", "London", "org",
    "org/eng/search/ranking/v2", "org/eng/search", "org/sales", "env/prod", "env/staging",
    "caf\u00e9/cr\u00e8me", "Cafe\u0301/x", "na\u00efve/r\u00e9sum\u00e9", "my tag/with spaces",
    "and/or", "ALL", "None/x", "not", "weird/a*b", "weird/q?", "weird/=eq", "weird/it's",
    'weird/say "hi"', "weird/back\\slash", "weird/[abc]", "emoji/\U0001f600", "a.b/c-d",
    "UPPER/Case", "upper/case", "\u00df/stra\u00dfe", "\u01c4/\u01c5", "nb\u00a0sp/x",
    "deep/a/b/c/d/e/f/g/h", "deep/a/x/c", "x/y/x/y/x",
]


def nested_log(n: int = 1500, seed: int = 14) -> RequestLog:
    """``n`` requests with 0 to 4 tags each from NESTED_PATHS."""
    rng = random.Random(seed)
    recs = []
    for i in range(n):
        k = rng.choice([0, 1, 1, 2, 2, 3, 4])
        recs.append({"ts": 1_700_000_000 + i, "model": rng.choice(["m1", "m2"]),
                     "prompt_tokens": 1, "completion_tokens": 1, "cost": 0.001,
                     "latency_ms": 10, "status": 200,
                     "request_tags": rng.sample(NESTED_PATHS, k)})
    return RequestLog.from_records(recs)


@pytest.fixture(scope="module")
def logs() -> dict[str, tuple[RequestLog, dict[str, Any]]]:
    """name -> (log whose request_id is the row number, its trie and tags as the page gets them).

    The whole sample and the nested log, with their full tries in id order; and, as the report
    embeds them, the latest 40 and 12 of their requests over tries of only the nodes those
    use, in path order.
    """
    sample, nested = tc.load_sample(), nested_log()
    return {"sample": (with_row_ids(sample), export(sample)),
            "nested": (with_row_ids(nested), export(nested)),
            "sample-latest": export_subset(sample, 40),
            "nested-latest": export_subset(nested, 12)}


def mask_hex(mask: np.ndarray) -> str:
    """Row mask as hex, 4 rows a digit (first row in the high bit), as the page writes it."""
    bits = np.zeros(-(-mask.size // 4) * 4, dtype=np.int64)
    bits[:mask.size] = mask
    return "".join(HEX[bits.reshape(-1, 4) @ np.array([8, 4, 2, 1])])


Logs = dict[str, tuple[RequestLog, dict[str, Any]]]


def python_result(expr: str, logs: Logs) -> dict[str, Any]:
    """What the page must write for ``expr``: the parse error, or the canonical string and the
    rows ``log.filter(expr)`` selects in each log (as hex masks)."""
    try:
        f = parse_filter(expr)
    except FilterSyntaxError as exc:
        return {"pos": exc.position, "message": str(exc)}
    masks = {}
    for name, (log, _) in logs.items():
        sub = log.filter(expr)
        codes, values = sub.extras["request_id"]
        rows = np.asarray(values, dtype=np.int64)[codes]
        mask = np.zeros(len(log), dtype=bool)
        mask[rows] = True
        masks[name] = mask_hex(mask)
    return {"format": str(f), "masks": masks}


HARNESS = """
(function () {
  var data = JSON.parse(document.getElementById("payload").textContent);
  function hex(m) {
    var s = "";
    for (var i = 0; i < m.length; i += 4) {
      s += ((m[i] << 3) | ((m[i + 1] || 0) << 2) | ((m[i + 2] || 0) << 1) | (m[i + 3] || 0))
        .toString(16);
    }
    return s;
  }
  var results = data.exprs.map(function (text) {
    try {
      var ast = TagcoreFilter.parse(text);
      var masks = {};
      data.logs.forEach(function (log) {
        masks[log.name] = hex(TagcoreFilter.mask(ast, log.trie, log.requests));
      });
      return {format: TagcoreFilter.format(ast), masks: masks};
    } catch (err) {
      if (err instanceof TagcoreFilter.SyntaxError) return {pos: err.pos, message: err.message};
      return {crash: String(err && err.stack || err)};
    }
  });
  var extra = {};
  if (data.extra) extra = new Function("data", "hex", data.extra)(data, hex);
  var out = JSON.stringify({results: results, extra: extra}).replace(/[\\u007f-\\uffff]/g,
    function (c) { return "\\\\u" + ("000" + c.charCodeAt(0).toString(16)).slice(-4); });
  document.getElementById("out").textContent = out;
})();
"""


def make_page(payload: dict[str, Any], harness: str = HARNESS, csp: str | None = CSP) -> str:
    meta = f'<meta http-equiv="Content-Security-Policy" content="{csp}">' if csp else ""
    js = FILTER_JS.read_text(encoding="utf-8")
    assert "</script" not in js.lower()
    return ("<!doctype html><html><head><meta charset=\"utf-8\">" + meta
            + "<title>filter.js test</title></head><body><pre id=\"out\"></pre>"
            + '<script type="application/json" id="payload">' + script_json(payload)
            + "</script><script>" + js + "</script><script>" + harness + "</script>"
            + "</body></html>")


def run_exprs(exe: str, tmp_path: Path, name: str, exprs: list[str],
              logs: Logs, extra: str | None = None) -> dict[str, Any]:
    payload = {"exprs": exprs, "extra": extra,
               "logs": [{"name": k, **data} for k, (_, data) in logs.items()]}
    page = make_page(payload, csp=None if extra else CSP)  # new Function needs eval
    dom, err, _ = run_page(exe, tmp_path, name, page)
    assert console_lines(err) == [], "\n".join(console_lines(err))
    got = dom_json(dom)
    assert len(got["results"]) == len(exprs)
    return got


def compare(exprs: list[str], got: list[dict[str, Any]], logs: Logs) -> list[dict[str, Any]]:
    """The Python results; assert the page's equal them, listing every difference."""
    want = [python_result(e, logs) for e in exprs]
    bad = [(e, w, g) for e, w, g in zip(exprs, want, got) if w != g]
    if bad:
        lines = []
        for e, w, g in bad[:15]:
            if "masks" in w and "masks" in g:
                w = {**w, "masks": {k: v == g["masks"].get(k) for k, v in w["masks"].items()}}
                g = {**g, "masks": "(rows differ where False)"}
            lines.append(f"{e!r}\n  python: {w}\n  js:     {g}")
        pytest.fail(f"{len(bad)} of {len(exprs)} filters differ:\n" + "\n".join(lines))
    return want


# ------------------------------------------------------------------------------ corners

CORNERS = [
    # empty and white space (Python's white space: \x1c-\x1f, \x85, NBSP, ideographic space)
    "", " ", "\t\n", "\x1c\x1d\x1e\x1f", "\x85", "\u00a0\u3000\u2028", "\ufeff",
    # tags, paths, segment-awareness, exact
    "customer", "customer/acme", "=customer", "= customer/acme", "customers", "custom",
    "customer/acme/eu", "=customer/acme/eu", "London", "geo/UK", "org", "=org", "zzz", "~zzz",
    " customer / acme ", "/customer//acme/", "'customer / acme '", '"  "', "'/'", "///",
    # operators, keywords in any case, precedence, parentheses
    "customer & ~env/staging", "customer/acme and not env/staging", "a | b & c",
    "customer AND NOT env/production Or beta", "nOt customer", "(customer | org) & env/prod",
    "~(customer | org)", "~~customer", "not not not customer", "customer&org|env",
    "(a)", "((((customer))))", "all", "ALL", "none", "None", "~all", "~none", "all & customer",
    "none | customer", "'all'", '"ALL"', "'None'/x", "None/x", "and/or", "'and/or'", "'not'",
    "not", "and", "or", "NOT NOT", "customer & all | none",
    # globs
    "customer/*", "*/London", "**/London", "org/**", "=org/**", "**", "*", "=*", "***",
    "=***", "org/***", "=org/***", "*/*/*", "org/*/search", "org/**/v2", "**/**",
    "customer/a*", "customer/*e*", "customer/c?me", "customer/????", "geo/U?", "geo/*/*", "=geo/*", "deep/**/c",
    "deep/*/x/*", "x/**/x/y", "x/y/**/y/x", "**/x/**", "weird/[abc]", "weird/[a*",
    "'customer / *'", "customer/ac?e*", "*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*",
    # literal wildcards and quoting
    "'weird/a*b'", "'weird/a\\*b'", '"weird/a\\*b"', "weird/a*b", "'weird/q\\?'", "weird/q?",
    "'weird/q\\?*'", "weird/=eq", "=weird/=eq", "==weird", "'weird/it\\'s'", '"weird/it\'s"',
    "'weird/say \"hi\"'", '"weird/say \\"hi\\""', "'weird/back\\\\slash'", "weird/back\\slash",
    "'weird/back\\slash'", '"my tag/with spaces"', "my tag/with spaces", "'my tag/*'",
    "'a", '"a', "'a\\'", "a'b", 'a"b"', "'\\", "''", '""', "=''", "= ", "=",
    # unicode: composed vs decomposed, case, astral, white space inside a segment
    "caf\u00e9/cr\u00e8me", "cafe\u0301/cre\u0300me", "'cafe\u0301 / cre\u0300me'",
    "Caf\u00e9", "caf\u00e9", "CAF\u00c9", "emoji/\U0001f600", "emoji/?", "emoji/*\U0001f600",
    "'nb\u00a0sp/x'", "nb\u00a0sp/x", "\u00df", "stra\u00dfe", "\u01c4/*", "\u01c4/\u01c5",
    "UPPER", "upper", "upper/Case", "UPPER/*", "*/case", "*/Case",
    # refusals: syntax
    "(", ")", "(customer", "customer)", "(customer))", "customer &", "& customer",
    "customer & | org", "customer org", "customer ~org", "~", "not", "customer (org)",
    "()", "customer &&& org", "|", "a | | b", "= = a", "=(a)", "=~a", "=all", "=none",
    "customer = org", "a & (b | c", "a & (b | (c)", "~(", "((", "all all",
    # refusals: tags
    "a\x00b", "'a\tb'", "'a\nb'", "ac\u200bme", "'x\u202ey'", "\u2060", "a\x7f",
    "a\x9f", "'\u2029'", "'tag\U000e0041'", "'tag\U000e0020'", "'\U000e0000'",
    "'\U000e0001'", "x\U000e007f", "\ud800", "a/\udfff", "'\ud800*'",
    "a" * 256, "a" * 257, "\u00e9" * 128, "\u00e9" * 129, "/".join("abcdefghijklmnop"),
    "/".join("abcdefghijklmnopq"), "/".join("abcdefghijklmnopq") + "*",
    "'a\x1cb'", "a\x1cb", "'\x1c'", "'a\x85b'", "a\x85b",
    # globs are not checked like tags (control and invisible characters are kept)
    "'a\tb*'", "ac\u200bme*", "a\x00*", "'*\u202e'",
    # nesting limit: 200 levels of '~' and '('
    "~" * 200 + "customer", "~" * 201 + "customer", "(" * 200 + "customer" + ")" * 200,
    "(" * 201 + "customer" + ")" * 201, "~(" * 100 + "org" + ")" * 100,
    "~(" * 100 + "~org" + ")" * 100, "(" * 199 + "~~org" + ")" * 199,
    " & ".join(["org"] * 300), " | ".join(f"customer/c{i}" for i in range(100)),
]


def test_corners_equal_python(chromium: str, tmp_path: Path, logs: Logs):
    exprs = CORNERS
    got = run_exprs(chromium, tmp_path, "corners", exprs, logs)
    want = compare(exprs, got["results"], logs)
    # the list covers both outcomes and masks that are neither empty nor full
    errors = sum("pos" in w for w in want)
    assert 60 < errors < len(want) - 100
    partial = {e for e, w in zip(exprs, want) if "masks" in w
               and any(set(m) - {"0"} and set(m) - {"f"} for m in w["masks"].values())}
    assert {"customer/*", "**/London", "cafe\u0301/cre\u0300me", "'weird/a\\*b'"} <= partial


# ------------------------------------------------------------------------------ generated

SPACE = st.sampled_from([" ", " ", " ", "  ", "\t", "\n", "\u00a0", "\u3000", "\x85", "\x1f",
                         "\u2003"])
OPT_SPACE = st.one_of(st.just(""), SPACE)


def node_paths(logs: Logs) -> list[str]:
    """Every node path of the logs, in a fixed shuffled order (hypothesis favours the first)."""
    paths = sorted({p for log, _ in logs.values() for p in log.trie.paths})
    random.Random(14).shuffle(paths)
    return paths


@st.composite
def leaf(draw, paths: list[str]) -> str:
    """A tag or glob as written by a person: spelling variants, quoting, '='."""
    known = st.sampled_from(paths)
    path = draw(st.one_of(known, known, known, st.text("abcxyzé/ ", min_size=1, max_size=6)))
    segs = path.split("/")
    if draw(st.booleans()):  # a glob made from the path
        segs = [draw(st.sampled_from([s, s, "*", "**", "***", s[:1] + "*", "*" + s[-1:],
                                      s[:1] + "?" * max(0, len(s) - 1), "?", "*" + s + "*"]))
                for s in segs]
        segs = draw(st.sampled_from([[], ["**"], ["*"]])) + segs
        segs += draw(st.sampled_from([[], ["**"], ["*"]]))
    form = draw(st.sampled_from(["keep"] * 4 + ["nfd", "upper", "lower", "pad", "slashes"]))
    if form == "nfd":
        segs = [unicodedata.normalize("NFD", s) for s in segs]
    elif form in ("upper", "lower"):
        segs = [getattr(s, form)() for s in segs]
    elif form == "pad":
        segs = [draw(OPT_SPACE) + s + draw(OPT_SPACE) for s in segs]
    elif form == "slashes":
        segs = [s + draw(st.sampled_from(["", "/", "//"])) for s in segs]
        segs[0] = draw(st.sampled_from(["", "/"])) + segs[0]
    text = "/".join(segs)
    style = draw(st.sampled_from(["bare", "bare", "double", "single", "escaped"]))
    if style == "double":
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif style == "single":
        text = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    elif style == "escaped":  # wildcards meant literally
        text = '"' + re.sub(r'([\\"*?])', r"\\\1", text) + '"'
    return draw(st.sampled_from(["", "", "", "=", "= "])) + text


def combine(kids: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    sym = st.tuples(kids, OPT_SPACE, st.sampled_from(["&", "|"]), OPT_SPACE, kids)
    word = st.tuples(kids, SPACE, st.sampled_from(["and", "or", "AND", "Or", "oR"]), SPACE, kids)
    neg = st.tuples(st.sampled_from(["~", "~ ", "not ", "NOT ", "Not\t"]), kids)
    par = st.tuples(st.just("("), OPT_SPACE, kids, OPT_SPACE, st.just(")"))
    return st.one_of(sym, word, neg, par).map("".join)


def expressions(paths: list[str]) -> st.SearchStrategy[str]:
    atoms = st.one_of(*[leaf(paths)] * 5, st.sampled_from(["none", "all", "ALL", "None", "nOnE"]))
    return st.recursive(atoms, combine, max_leaves=8)


NASTY = ["&", "|", "~", "(", ")", '"', "'", "=", "\\", "*", "?", "**", "/", " ", "and", "OR",
         " not ", "all", "none", "\x00", "\u200b", "\t", "\ufeff", "\u2028", "e\u0301", "\ud800",
         "\x1c", "\x85", "é", "\u00a0"]


def mutated(paths: list[str]) -> st.SearchStrategy[str]:
    def apply(args: tuple[str, int, str, str]) -> str:
        text, at, piece, how = args
        at = at % (len(text) + 1)
        if how == "insert":
            return text[:at] + piece + text[at:]
        if how == "delete":
            return text[:at] + text[at + 1:]
        if how == "truncate":
            return text[:at]
        return text[:at] + piece + text[at + len(piece):]

    return st.tuples(expressions(paths), st.integers(0, 400), st.sampled_from(NASTY),
                     st.sampled_from(["insert", "delete", "truncate", "replace"])).map(apply)


RAW = st.lists(st.sampled_from(list("ab/&|~()\"'=\\*? \t") + ["and", "NOT", "all", "é",
                                                                "e\u0301", "\x00", "\u200b"]),
               max_size=14).map("".join)


def collect(strategy: st.SearchStrategy[str], n: int) -> list[str]:
    """``n`` examples of ``strategy`` (hypothesis' generation, no test run per example)."""
    out: list[str] = []

    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def gather(x: str) -> None:
        out.append(x)

    gather()
    return out


def test_generated_filters_equal_python(chromium: str, tmp_path: Path,
                                        logs: Logs):
    paths = node_paths(logs)
    exprs = list(dict.fromkeys(collect(expressions(paths), 700) + collect(mutated(paths), 400)
                               + collect(RAW, 200)))
    got = run_exprs(chromium, tmp_path, "generated", exprs, logs)
    want = compare(exprs, got["results"], logs)
    # the batch is large and mixed: many parse, many are refused, many select some rows only
    ok = [w for w in want if "masks" in w]
    assert len(exprs) > 900
    assert len(ok) > 300 and len(want) - len(ok) > 150
    partial = [w for w in ok if any(set(m) - {"0"} and set(m) - {"f"}
                                    for m in w["masks"].values())]
    assert len(partial) > 100


# ------------------------------------------------------------------------------ the API


API_CHECKS = r"""
var out = {};
var log = data.logs[0];
var text = "customer/acme & ~env/staging";
// a string or a parsed tree give the same mask; whitespace only is everything
out.same = hex(TagcoreFilter.mask(text, log.trie, log.requests))
  === hex(TagcoreFilter.mask(TagcoreFilter.parse(text), log.trie, log.requests));
out.blank = Array.from(TagcoreFilter.mask(" \u3000", log.trie, log.requests)).every(
  function (v) { return v === 1; });
out.type = Object.prototype.toString.call(TagcoreFilter.mask("customer", log.trie,
  log.requests));
// the mask handed out is the caller's: changing it changes no later answer
var m = TagcoreFilter.mask("customer", log.trie, log.requests);
var before = hex(m);
m.fill(0);
out.fresh = hex(TagcoreFilter.mask("customer", log.trie, log.requests)) === before;
// typed arrays work as well as JSON arrays
var typed = {n: log.requests.n, tag_offsets: Float64Array.from(log.requests.tag_offsets),
             tag_ids: Int32Array.from(log.requests.tag_ids)};
out.typed = hex(TagcoreFilter.mask("org/** | ~customer/*", log.trie, typed))
  === hex(TagcoreFilter.mask("org/** | ~customer/*", log.trie, log.requests));
// a trie whose ids do not put parents first (same nodes, reversed ids) gives the same rows
var n = log.trie.paths.length;
var rev = {paths: log.trie.paths.slice().reverse(),
           parents: log.trie.parents.slice().reverse().map(function (p) {
             return p < 0 ? -1 : n - 1 - p; })};
var revReq = {n: log.requests.n, tag_offsets: log.requests.tag_offsets,
              tag_ids: log.requests.tag_ids.map(function (i) { return n - 1 - i; })};
out.reversed = ["customer", "org/**", "*/London", "=org/*", "~customer/acme/eu"].every(
  function (f) {
    return hex(TagcoreFilter.mask(f, rev, revReq))
      === hex(TagcoreFilter.mask(f, log.trie, log.requests));
  });
// the error: a SyntaxError subclass of Error with reason, text and position
try { TagcoreFilter.parse("customer & | org"); } catch (e) {
  out.error = {isError: e instanceof Error, name: e.name, reason: e.reason, pos: e.pos,
               position: e.position, text: e.text};
}
return out;
"""


def test_api_details(chromium: str, tmp_path: Path, logs: Logs):
    got = run_exprs(chromium, tmp_path, "api", [], {"nested": logs["nested"]}, extra=API_CHECKS)
    assert got["extra"] == {
        "same": True, "blank": True, "type": "[object Uint8Array]", "fresh": True,
        "typed": True, "reversed": True,
        "error": {"isError": True, "name": "FilterSyntaxError", "reason": "unexpected '|'",
                  "pos": 11, "position": 11, "text": "customer & | org"},
    }


# ------------------------------------------------------------------------------ offline


OFFLINE = """
(function () {
  var violations = [];
  document.addEventListener("securitypolicyviolation", function (e) {
    violations.push(e.blockedURI);
  });
  var data = JSON.parse(document.getElementById("payload").textContent);
  var log = data.logs[0];
  var counts = data.exprs.map(function (text) {
    try {
      return TagcoreFilter.mask(text, log.trie, log.requests).reduce(function (a, b) {
        return a + b; }, 0);
    } catch (err) {
      return err instanceof TagcoreFilter.SyntaxError ? "error at " + err.pos : String(err);
    }
  });
  document.getElementById("out").textContent = JSON.stringify({
    counts: counts, violations: violations,
    resources: performance.getEntriesByType("resource").length});
  %s
})();
"""


def test_offline_no_network_no_console(chromium: str, tmp_path: Path,
                                       logs: Logs):
    log, data = logs["sample"]
    exprs = ["customer/acme & ~env/staging", "org/**", "(oops", ""]
    payload = {"exprs": exprs, "logs": [{"name": "sample", **data}]}
    dom, err, net = run_page(chromium, tmp_path, "offline",
                             make_page(payload, OFFLINE % ""), netlog=True)
    assert console_lines(err) == [], "\n".join(console_lines(err))
    assert net is not None and page_requests(net) == []
    got = dom_json(dom)
    assert got == {"counts": [len(log.filter(exprs[0])), len(log.filter(exprs[1])),
                              "error at 5", len(log)],
                   "violations": [], "resources": 0}

    # the checks can fail: a page that logs an error and fetches an image trips both
    bad = "console.error('deliberate'); new Image().src = 'http://127.0.0.1:9/x.png';"
    dom, err, net = run_page(chromium, tmp_path, "control",
                             make_page(payload, OFFLINE % bad, csp=None), netlog=True)
    assert any("deliberate" in ln for ln in console_lines(err))
    assert net is not None and page_requests(net) == ["http://127.0.0.1:9/x.png"]
