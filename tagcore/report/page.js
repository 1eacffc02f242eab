/*
 * tagcore HTML report: every view computed here from the embedded requests after the filter,
 * with the library's semantics (DESIGN.md, "Aggregation semantics"):
 *
 * - node totals count each request once per node (full attribution);
 * - split attribution divides each request's cost among the distinct nodes of one set that it
 *   hits, in integer nano-dollars: the floor to each, the remainder one nano-dollar at a time to
 *   the first hit nodes in path order (node ids are in path order); requests that hit none go
 *   to "(untagged)";
 * - money is summed exactly (integer nano-dollars, BigInt past 2**53) and shown to the cent;
 * - latency quantiles are numpy's linear interpolation.
 *
 * Reads the JSON in #tagcore-data (see tagcore/report/_data.py) and the filter evaluator
 * TagcoreFilter (tagcore/report/filter.js). Text views are drawn at once; the Plotly charts
 * when TagcoreReport.charts() is called after plotly.js has loaded.
 */
(function () {
  "use strict";

  var MAX_SHARE_ROWS = 25;
  var MAX_CHARGEBACK_ROWS = 20;
  var MAX_SERIES = 9;
  var MAX_SUN_CHILDREN = 24;
  var ACTIVITY_ROWS = 200;
  var TWO53 = 9007199254740992;

  // ------------------------------------------------------------------------------ helpers

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "text") e.textContent = v;
        else if (k === "cls") e.className = v;
        else if (k === "style") e.setAttribute("style", v);
        else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? "" : String(v));
      });
    }
    (kids || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return e;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function commas(s) { return s.replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

  /** Dollars to the cent from exact nanos (BigInt), half up; "<$0.01" below half a cent. */
  function money(nanos) {
    var v = typeof nanos === "bigint" ? nanos : BigInt(nanos);
    var neg = v < 0n;
    if (neg) v = -v;
    if (v > 0n && v < 5000000n) return (neg ? "-" : "") + "<$0.01";
    var cents = (v + 5000000n) / 10000000n;
    var whole = cents / 100n;
    var frac = String(cents % 100n).padStart(2, "0");
    return (neg ? "-" : "") + "$" + commas(String(whole)) + "." + frac;
  }

  /** One request's cost: more digits than cents, so that small costs do not read as $0.00. */
  function smallMoney(nanos) {
    var d = nanos / 1e9;
    if (nanos === 0) return "$0";
    if (d >= 1) return "$" + commas(d.toFixed(2));
    var s = d.toFixed(d >= 0.01 ? 4 : 6).replace(/0+$/, "");
    if (/\.\d?$/.test(s)) s = d.toFixed(2);
    return "$" + s;
  }

  function count(x) {
    if (!isFinite(x)) return "-";
    if (Number.isInteger(x)) return commas(String(x));
    return commas(x.toFixed(1));
  }

  function compact(x) {
    if (!isFinite(x)) return "-";
    var units = [[1e9, "B"], [1e6, "M"], [1e3, "k"]];
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(x) >= units[i][0]) {
        var v = x / units[i][0];
        return (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) + units[i][1];
      }
    }
    return count(Math.round(x * 10) / 10);
  }

  function pct(share) { return isFinite(share) ? (100 * share).toFixed(1) + "%" : "-"; }

  function ms(x) { return x === null || !isFinite(x) ? "-" : commas(x.toFixed(0)) + " ms"; }

  function ratio(a, b) {  // a / b of two BigInts as a float
    if (b === 0n) return NaN;
    return Number(a * 1000000000n / b) / 1e9;
  }

  // ------------------------------------------------------------------------------ time

  var TZ = "UTC";
  var dtf = null;

  function parts(msv) {
    if (TZ === "UTC") {
      var s = new Date(msv).toISOString();
      return { date: s.slice(0, 10), time: s.slice(11, 19) };
    }
    if (!dtf) {
      dtf = new Intl.DateTimeFormat("en-CA", {
        timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
        minute: "2-digit", second: "2-digit", hourCycle: "h23",
      });
    }
    var p = {};
    dtf.formatToParts(new Date(msv)).forEach(function (x) { p[x.type] = x.value; });
    return { date: p.year + "-" + p.month + "-" + p.day, time: p.hour + ":" + p.minute + ":" + p.second };
  }

  function stamp(msv, secs) {
    var p = parts(msv);
    return p.date + " " + (secs ? p.time : p.time.slice(0, 5));
  }

  function tzLabel() { return TZ.toUpperCase() === "UTC" ? "UTC" : TZ; }

  // ------------------------------------------------------------------------------ exact sums

  /** Per-slot integer sums, exact at any size: a float64 part kept at or below 2**53 and a
   * BigInt part it is flushed into when the next value would pass it. */
  function Acc(size) { this.lo = new Float64Array(size); this.hi = null; }
  Acc.prototype.add = function (i, c) {
    if (this.lo[i] > TWO53 - c) {
      if (!this.hi) this.hi = new Map();
      this.hi.set(i, (this.hi.get(i) || 0n) + BigInt(this.lo[i]));
      this.lo[i] = 0;
    }
    this.lo[i] += c;
  };
  Acc.prototype.get = function (i) {
    var v = BigInt(this.lo[i]);
    return this.hi && this.hi.has(i) ? v + this.hi.get(i) : v;
  };
  Acc.prototype.num = function (i) { return Number(this.get(i)); };

  // ------------------------------------------------------------------------------ data

  var D = null;       // the embedded data, decoded
  var R = null;       // D.requests
  var T = null;       // D.trie
  var S = {           // the state of the page
    filter: null, rows: null, error: null, views: null, usageLevel: 1, seriesDim: -1,
    chargeDims: [], plotly: false, selfcheck: null,
  };

  function decode(raw) {
    var t = raw.trie;
    var nn = t.parents.length;
    var parents = Int32Array.from(t.parents);
    var paths = new Array(nn);
    var depth = new Int32Array(nn);
    var kids = new Int32Array(nn);
    var maxDepth = 0;
    for (var i = 0; i < nn; i++) {  // parents come before their children (path order)
      var p = parents[i];
      paths[i] = p < 0 ? t.segments[i] : paths[p] + "/" + t.segments[i];
      depth[i] = p < 0 ? 1 : depth[p] + 1;
      if (p >= 0) kids[p]++;
      if (depth[i] > maxDepth) maxDepth = depth[i];
    }
    var index = new Map();
    for (i = 0; i < nn; i++) index.set(paths[i], i);
    raw.trie = { paths: paths, parents: parents, segments: t.segments, depth: depth, kids: kids,
      n: nn, maxDepth: maxDepth, index: index };
    var q = raw.requests;
    var n = q.n;
    var ts = new Float64Array(n);
    var acc = q.ts0_ms;
    for (i = 0; i < n; i++) { acc += q.ts_delta_ms[i]; ts[i] = acc; }
    var off = new Int32Array(n + 1);
    for (i = 0; i < n; i++) off[i + 1] = off[i] + q.tag_counts[i];
    var bin = atob(q.latency_f64);
    var bytes = new Uint8Array(bin.length);
    for (i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var view = new DataView(bytes.buffer);
    var lat = new Float64Array(n);
    for (i = 0; i < n; i++) lat[i] = view.getFloat64(8 * i, true);
    var status = new Int32Array(n).fill(q.status_mode);
    for (i = 0; i < q.status_rows.length; i++) status[q.status_rows[i]] = q.status_vals[i];
    var codes = q.tag_codes;
    var tagIds = new Int32Array(q.tag_ids.length);
    for (i = 0; i < tagIds.length; i++) tagIds[i] = codes[q.tag_ids[i]];
    raw.requests = {
      n: n, ts_ms: ts, model: Int32Array.from(q.model), prompt: Float64Array.from(q.prompt),
      completion: Float64Array.from(q.completion), cost_nanos: Float64Array.from(q.cost_nanos),
      latency_ms: lat, status: status, tag_offsets: off, tag_ids: tagIds,
    };
    // the bucket of each request on the chart's grid (which the filter does not change)
    var starts = raw.buckets.starts_ms;
    var bucket = new Int32Array(n).fill(-1);
    var b = 0;
    for (i = 0; i < n; i++) {  // requests are oldest first
      while (b + 1 < starts.length && starts[b + 1] <= ts[i]) b++;
      bucket[i] = starts.length && starts[b] <= ts[i] ? b : -1;
    }
    raw.requests.bucket = bucket;
    return raw;
  }

  // ------------------------------------------------------------------------------ aggregation

  function matchedRows(mask) {
    var n = R.n;
    var k = 0;
    for (var i = 0; i < n; i++) k += mask[i];
    var rows = new Int32Array(k);
    k = 0;
    for (i = 0; i < n; i++) if (mask[i]) rows[k++] = i;
    return rows;
  }

  /** numpy.quantile(a, q) with the default (linear) method, a sorted. */
  function quantile(a, q) {
    var n = a.length;
    if (!n) return null;
    var virt = (n - 1) * q;
    var lo = Math.floor(virt);
    var hi = Math.min(lo + 1, n - 1);
    var g = virt - lo;
    var x = a[lo];
    var y = a[hi];
    var d = y - x;
    return g >= 0.5 ? y - d * (1 - g) : x + d * g;
  }

  function totals(rows) {
    var cost = new Acc(1);
    var prompt = 0;
    var completion = 0;
    var errors = 0;
    var lat = new Float64Array(rows.length);
    var m = 0;
    for (var k = 0; k < rows.length; k++) {
      var r = rows[k];
      cost.add(0, R.cost_nanos[r]);
      prompt += R.prompt[r];
      completion += R.completion[r];
      if (R.status[r] >= 400) errors++;
      var l = R.latency_ms[r];
      if (l === l) lat[m++] = l;
    }
    lat = lat.subarray(0, m).sort();
    return { requests: rows.length, cost: cost.get(0), prompt: prompt, completion: completion,
      errors: errors, p50: quantile(lat, 0.5), p95: quantile(lat, 0.95) };
  }

  /** Full attribution: per node, every request under it once. */
  function nodeTotals(rows) {
    var nn = T.n;
    var req = new Float64Array(nn);
    var cost = new Acc(nn);
    var seen = new Int32Array(nn).fill(-1);
    var off = R.tag_offsets;
    var ids = R.tag_ids;
    var parents = T.parents;
    for (var k = 0; k < rows.length; k++) {
      var r = rows[k];
      var c = R.cost_nanos[r];
      for (var j = off[r]; j < off[r + 1]; j++) {
        var v = ids[j];
        while (v >= 0 && seen[v] !== r) {  // ancestors of a seen node are seen
          seen[v] = r;
          req[v] += 1;
          cost.add(v, c);
          v = parents[v];
        }
      }
    }
    return { req: req, cost: cost };
  }

  /** The set of the children of `parent` (-1: the top-level tags): slot of every node (the set
   * node whose subtree holds it, else -1), slots in path order. */
  function setOf(parent) {
    var nn = T.n;
    var slot = new Int32Array(nn).fill(-1);
    var nodes = [];
    var want = parent < 0 ? 1 : T.depth[parent] + 1;
    for (var v = 0; v < nn; v++) {
      var p = T.parents[v];
      if (T.depth[v] === want && (parent < 0 ? p < 0 : p === parent)) {
        slot[v] = nodes.length;
        nodes.push(v);
      } else if (T.depth[v] > want && p >= 0) {
        slot[v] = slot[p];
      }
    }
    return { parent: parent, slot: slot, nodes: nodes };
  }

  /** Split attribution over a set; `bucketed` also sums each slot's nanos per time bucket. */
  function splitRollup(rows, set, bucketed) {
    var ns = set.nodes.length;
    var width = ns + 1;  // slot ns: (untagged)
    var cost = new Acc(width);
    var req = new Float64Array(width);
    var tokens = new Float64Array(width);
    var seen = new Int32Array(width).fill(-1);
    var hits = [];
    var nb = bucketed ? D.buckets.starts_ms.length : 0;
    var series = bucketed ? new Float64Array(nb * width) : null;
    var off = R.tag_offsets;
    var ids = R.tag_ids;
    var slot = set.slot;
    for (var k = 0; k < rows.length; k++) {
      var r = rows[k];
      hits.length = 0;
      for (var j = off[r]; j < off[r + 1]; j++) {
        var s = slot[ids[j]];
        if (s >= 0 && seen[s] !== r) { seen[s] = r; hits.push(s); }
      }
      if (!hits.length) hits.push(ns);
      else if (hits.length > 1) hits.sort(function (a, b) { return a - b; });
      var n = hits.length;
      var c = R.cost_nanos[r];
      var share = Math.floor(c / n);
      var rem = c - share * n;
      var w = 1 / n;
      var tok = (R.prompt[r] + R.completion[r]) / n;
      var bk = bucketed ? R.bucket[r] : -1;
      for (var a = 0; a < n; a++) {
        var h = hits[a];
        var part = share + (a < rem ? 1 : 0);
        cost.add(h, part);
        req[h] += w;
        tokens[h] += tok;
        if (bk >= 0) series[bk * width + h] += part;
      }
    }
    return { set: set, cost: cost, req: req, tokens: tokens, series: series, width: width };
  }

  function byModel(rows) {
    var m = D.models.length;
    var cost = new Acc(m);
    var req = new Float64Array(m);
    var tokens = new Float64Array(m);
    for (var k = 0; k < rows.length; k++) {
      var r = rows[k];
      var i = R.model[r];
      cost.add(i, R.cost_nanos[r]);
      req[i] += 1;
      tokens[i] += R.prompt[r] + R.completion[r];
    }
    var out = [];
    for (var i2 = 0; i2 < m; i2++) {
      if (req[i2]) out.push({ key: D.models[i2], req: req[i2], tokens: tokens[i2], cost: cost.get(i2), order: i2 });
    }
    out.sort(function (a, b) { return a.cost > b.cost ? -1 : a.cost < b.cost ? 1 : a.order - b.order; });
    return out;
  }

  /** Rows of a split roll-up: cost descending, ties in path order, (untagged) last of ties. */
  function splitRows(sp) {
    var out = [];
    var ns = sp.set.nodes.length;
    for (var s = 0; s <= ns; s++) {
      if (sp.req[s] > 0) {
        out.push({ slot: s, node: s < ns ? sp.set.nodes[s] : -1,
          key: s < ns ? T.paths[sp.set.nodes[s]] : D.untagged, req: sp.req[s],
          tokens: sp.tokens[s], cost: sp.cost.get(s) });
      }
    }
    out.sort(function (a, b) { return a.cost > b.cost ? -1 : a.cost < b.cost ? 1 : a.slot - b.slot; });
    return out;
  }

  function compute(rows) {
    var v = { rows: rows, totals: totals(rows), nodes: nodeTotals(rows) };
    v.models = byModel(rows);
    v.charge = S.chargeDims.map(function (d) { return splitRows(splitRollup(rows, setOf(d), false)); });
    v.series = splitRollup(rows, setOf(S.seriesDim), true);
    return v;
  }

  // ------------------------------------------------------------------------------ filter

  function readHash() {
    var h = location.hash.replace(/^#/, "");
    if (!h) return null;
    var found = null;
    h.split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      var k = i < 0 ? kv : kv.slice(0, i);
      if (k === "filter") {
        var raw = i < 0 ? "" : kv.slice(i + 1);
        try { found = decodeURIComponent(raw.replace(/\+/g, "%20")); } catch (e) { found = raw; }
      }
    });
    return found;
  }

  function writeHash(text) {
    var url = text ? "#filter=" + encodeURIComponent(text) : location.pathname + location.search;
    try {
      history.replaceState(null, "", url);
    } catch (e) {
      if (text) location.hash = "filter=" + encodeURIComponent(text);
    }
  }

  function quoteTag(path) {
    if (window.TagcoreFilter && TagcoreFilter.format) {
      try { return TagcoreFilter.format({ type: "tag", path: path, exact: false }); } catch (e) { /* below */ }
    }
    var bare = path[0] !== "=" && !/^(and|or|not|all|none)$/i.test(path) &&
      !/[\s&|~()"'*?]/.test(path);
    return bare ? path : '"' + path.replace(/["\\*?]/g, "\\$&") + '"';
  }

  function setFilter(text, fromHash) {
    var input = $("filter-input");
    if (input.value !== text) input.value = text;
    if (!fromHash) writeHash(text);
    apply(text);
  }

  function apply(text) {
    var mask;
    var err = null;
    try {
      if (!window.TagcoreFilter) throw new Error("the filter evaluator (filter.js) is missing");
      mask = TagcoreFilter.mask(text, T_FILTER, R);
    } catch (e) {
      err = e;
    }
    var box = $("filter-error");
    var input = $("filter-input");
    if (err) {
      S.error = err;
      box.textContent = "Bad filter: " + (err && err.message ? err.message : String(err)) +
        "\n(the numbers below are those of the last valid filter" +
        (S.filter ? ": " + S.filter : ", none") + ")";
      box.hidden = false;
      input.classList.add("invalid");
      document.body.classList.add("filter-bad");
      $("matched").setAttribute("data-state", "error");
      return;
    }
    S.error = null;
    box.hidden = true;
    box.textContent = "";
    input.classList.remove("invalid");
    document.body.classList.remove("filter-bad");
    S.filter = text;
    S.rows = matchedRows(mask);
    S.views = compute(S.rows);
    $("matched").setAttribute("data-state", "ok");
    render();
  }

  var T_FILTER = null;  // {paths, parents} for TagcoreFilter

  // ------------------------------------------------------------------------------ views

  function render() {
    var v = S.views;
    var t = v.totals;
    $("matched").setAttribute("data-filter", S.filter || "");
    var mc = $("matched-count");
    mc.textContent = commas(String(t.requests));
    mc.setAttribute("data-count", String(t.requests));
    var md = $("matched-dollars");
    md.textContent = money(t.cost);
    md.setAttribute("data-cost-nanos", t.cost.toString());
    renderHeadline(v);
    renderShares(v);
    renderCharge(v);
    renderActivity(v);
    if (S.plotly) { renderSunburst(v); renderSeries(v); }
  }

  function kpi(id, label, value, sub, data) {
    var attrs = { cls: "kpi", id: id };
    Object.keys(data || {}).forEach(function (k) { attrs["data-" + k] = data[k]; });
    return el("div", attrs, [el("div", { cls: "label", text: label }),
      el("div", { cls: "value", text: value, title: value }),
      el("div", { cls: "sub", text: sub || "\u00a0", title: sub || "" })]);
  }

  function renderHeadline(v) {
    var t = v.totals;
    var all = D.expected && D.expected.totals ? D.expected.totals : null;
    var allN = R.n;
    var allCost = BigInt(all ? all.cost_nanos : 0);
    var filtered = t.requests !== allN || S.filter;
    var box = $("headline");
    clear(box);
    box.appendChild(kpi("kpi-requests", "Requests", count(t.requests),
      filtered ? "of " + count(allN) + " (" + pct(t.requests / allN) + ")" : D.window.label,
      { value: t.requests }));
    box.appendChild(kpi("kpi-cost", "Cost", money(t.cost),
      filtered && allCost > 0n ? pct(ratio(t.cost, allCost)) + " of " + money(allCost)
        : (t.requests ? smallMoney(Number(t.cost) / t.requests) + " per request on average" : ""),
      { "cost-nanos": t.cost.toString() }));
    box.appendChild(kpi("kpi-tokens", "Tokens", compact(t.prompt + t.completion),
      compact(t.prompt) + " prompt, " + compact(t.completion) + " completion",
      { value: t.prompt + t.completion }));
    box.appendChild(kpi("kpi-errors", "Errors", count(t.errors),
      t.requests ? pct(t.errors / t.requests) + " of requests (status \u2265 400)" : "",
      { value: t.errors }));
    box.appendChild(kpi("kpi-p50", "Latency p50", ms(t.p50), "median", { value: t.p50 === null ? "" : t.p50 }));
    box.appendChild(kpi("kpi-p95", "Latency p95", ms(t.p95), "95th percentile",
      { value: t.p95 === null ? "" : t.p95 }));
  }

  function tagCell(path, label, cls) {
    if (path === null) return el("td", { cls: "tag untagged", text: label });
    return el("td", { cls: "tag" + (cls ? " " + cls : ""), title: path + " (click to filter)" }, [
      el("span", { cls: "linkish", text: label, onclick: function () { setFilter(quoteTag(path)); } })]);
  }

  function barCell(share) {
    var w = Math.max(0, Math.min(1, share || 0)) * 100;
    return el("td", { style: "width: 28%" }, [el("div", { cls: "bar" }, [el("span", { style: "width:" + w.toFixed(2) + "%" })])]);
  }

  function renderShares(v) {
    var lvl = S.usageLevel;
    var grand = v.totals.cost;
    var nodes = [];
    for (var i = 0; i < T.n; i++) if (T.depth[i] === lvl && v.nodes.req[i] > 0) nodes.push(i);
    var cost = nodes.map(function (i2) { return v.nodes.cost.get(i2); });
    var order = nodes.map(function (_, k) { return k; });
    order.sort(function (a, b) { return cost[a] > cost[b] ? -1 : cost[a] < cost[b] ? 1 : nodes[a] - nodes[b]; });
    var tbl = $("share-bars");
    clear(tbl);
    tbl.setAttribute("data-level", String(lvl));
    tbl.appendChild(el("tr", null, [el("th", { text: "tag" }), el("th", { cls: "num", text: "requests" }),
      el("th", { cls: "num", text: "cost" }), el("th", { cls: "num", text: "share" }), el("th")]));
    if (!nodes.length) {
      tbl.appendChild(el("tr", null, [el("td", { colspan: 5, cls: "empty", text: "no tagged requests" })]));
      return;
    }
    var limit = order.length <= MAX_SHARE_ROWS + 1 ? order.length : MAX_SHARE_ROWS;
    order.slice(0, limit).forEach(function (k) {
      var id = nodes[k];
      var share = grand > 0n ? ratio(cost[k], grand) : 0;
      tbl.appendChild(el("tr", { "data-tag": T.paths[id], "data-cost-nanos": cost[k].toString(),
        "data-requests": v.nodes.req[id] }, [
        tagCell(T.paths[id], T.paths[id]), el("td", { cls: "num", text: count(v.nodes.req[id]) }),
        el("td", { cls: "num", text: money(cost[k]) }), el("td", { cls: "num", text: pct(share) }),
        barCell(share)]));
    });
    if (order.length > limit) {
      tbl.appendChild(el("tr", { cls: "more" }, [el("td", { colspan: 5,
        text: commas(String(order.length - limit)) + " more tags at level " + lvl +
          " (the filter box narrows them, e.g. " + quoteTag(T.paths[nodes[order[limit]]]) + ")" })]));
    }
  }

  function chargeTable(title, dimAttr, rows, total, opts) {
    var tbl = el("table", { cls: "tbl fit", "data-dim": dimAttr });
    tbl.appendChild(el("tr", null, [el("th", { text: opts.keyLabel }), el("th", { cls: "num", text: "requests" }),
      el("th", { cls: "num", text: "tokens" }), el("th", { cls: "num", text: "cost" }), el("th", { cls: "num", text: "share" })]));
    var shown = rows.slice(0, rows.length <= MAX_CHARGEBACK_ROWS + 1 ? rows.length : MAX_CHARGEBACK_ROWS);
    shown.forEach(function (row) {
      var attrs = { "data-cost-nanos": row.cost.toString(), "data-requests": row.req };
      attrs[opts.attr] = row.key;
      var isUntagged = opts.attr === "data-tag" && row.node < 0;
      var label = opts.short && !isUntagged ? row.key.slice(opts.short) : row.key;
      tbl.appendChild(el("tr", attrs, [
        opts.attr === "data-tag" ? tagCell(isUntagged ? null : row.key, label) : el("td", { cls: "tag", text: row.key, title: row.key }),
        el("td", { cls: "num", text: count(row.req) }), el("td", { cls: "num", text: compact(row.tokens) }),
        el("td", { cls: "num", text: money(row.cost) }),
        el("td", { cls: "num", text: total > 0n ? pct(ratio(row.cost, total)) : "-" })]));
    });
    if (rows.length > shown.length) {
      var rest = rows.slice(shown.length);
      var rc = rest.reduce(function (a, r) { return a + r.cost; }, 0n);
      var rq = rest.reduce(function (a, r) { return a + r.req; }, 0);
      var rt = rest.reduce(function (a, r) { return a + r.tokens; }, 0);
      tbl.appendChild(el("tr", { cls: "more", "data-rest": rest.length, "data-cost-nanos": rc.toString() }, [
        el("td", { cls: "tag", text: commas(String(rest.length)) + " more" }), el("td", { cls: "num", text: count(Math.round(rq * 10) / 10) }),
        el("td", { cls: "num", text: compact(rt) }), el("td", { cls: "num", text: money(rc) }),
        el("td", { cls: "num", text: total > 0n ? pct(ratio(rc, total)) : "-" })]));
    }
    var sum = rows.reduce(function (a, r) { return a + r.cost; }, 0n);
    tbl.appendChild(el("tr", { cls: "total", "data-total-nanos": sum.toString() }, [
      el("td", { cls: "tag", text: "total" }), el("td", { cls: "num", text: count(Math.round(rows.reduce(function (a, r) { return a + r.req; }, 0) * 10) / 10) }),
      el("td", { cls: "num", text: compact(rows.reduce(function (a, r) { return a + r.tokens; }, 0)) }),
      el("td", { cls: "num", text: money(sum) }), el("td", { cls: "num", text: total > 0n ? pct(ratio(sum, total)) : "-" })]));
    return tbl;
  }

  /** Nodes to break down by (children of): the top-level tags with children, then deeper
   * ones with at least two children while the list is short; `keep` is always listed. */
  function dimOptions(keep) {
    var out = [];
    var i;
    for (i = 0; i < T.n; i++) if (T.depth[i] === 1 && T.kids[i] > 0) out.push(i);
    for (var d = 2; d <= 3; d++) {
      var more = [];
      for (i = 0; i < T.n; i++) if (T.depth[i] === d && T.kids[i] > 1) more.push(i);
      if (out.length + more.length > 120) break;
      out = out.concat(more);
    }
    if (keep !== undefined && keep >= 0 && out.indexOf(keep) < 0) out.push(keep);
    return out.sort(function (a, b) { return a - b; });
  }

  function renderCharge(v) {
    var box = $("chargeback");
    clear(box);
    var total = v.totals.cost;
    S.chargeDims.forEach(function (d, k) {
      var sel = el("select", { "aria-label": "dimension", onchange: function (e) {
        S.chargeDims[k] = Number(e.target.value);
        S.views.charge[k] = splitRows(splitRollup(S.rows, setOf(S.chargeDims[k]), false));
        renderCharge(S.views);
      } });
      dimOptions(d).forEach(function (i) {
        sel.appendChild(el("option", { value: i, text: T.paths[i], selected: i === d }));
      });
      var name = T.paths[d];
      box.appendChild(el("section", { cls: "card chargeback", id: "chargeback-" + k, "data-dim": name }, [
        el("div", { cls: "card-head" }, [el("h2", { text: "Chargeback by " + name }), el("label", { cls: "small" }, ["by ", sel])]),
        el("p", { cls: "muted small", text: "Split: each request's cost is divided among the " + name +
          "/* tags it carries; requests with none are (untagged). Rows add up to the total." }),
        chargeTable(name, name, v.charge[k], total, { keyLabel: name, attr: "data-tag", short: name.length + 1 })]));
    });
    box.appendChild(el("section", { cls: "card chargeback", id: "chargeback-model", "data-dim": "model" }, [
      el("div", { cls: "card-head" }, [el("h2", { text: "By model" })]),
      el("p", { cls: "muted small", text: "Each request under its model. Rows add up to the total." }),
      chargeTable("model", "model", v.models, total, { keyLabel: "model", attr: "data-model" })]));
  }

  function renderActivity(v) {
    var rows = v.rows;
    var tbl = $("activity-log");
    clear(tbl);
    tbl.appendChild(el("tr", null, [el("th", { text: "time (" + tzLabel() + ")" }), el("th", { text: "model" }),
      el("th", { text: "tags" }), el("th", { cls: "num", text: "tokens (prompt \u2192 completion)" }),
      el("th", { cls: "num", text: "cost" }), el("th", { cls: "num", text: "latency" }), el("th", { cls: "num", text: "status" })]));
    var shown = Math.min(ACTIVITY_ROWS, rows.length);
    $("activity-note").textContent = rows.length ? "the latest " + commas(String(shown)) + " of " +
      commas(String(rows.length)) + " matched requests, newest first" : "";
    if (!rows.length) {
      tbl.appendChild(el("tr", null, [el("td", { colspan: 7, cls: "empty", text: "no requests match" })]));
      return;
    }
    var frag = document.createDocumentFragment();
    for (var k = rows.length - 1; k >= rows.length - shown; k--) {
      var r = rows[k];
      var chips = [];
      for (var j = R.tag_offsets[r]; j < R.tag_offsets[r + 1]; j++) {
        chips.push(chip(T.paths[R.tag_ids[j]]));
      }
      var st = R.status[r];
      frag.appendChild(el("tr", { "data-row": r }, [
        el("td", { cls: "mono small", text: stamp(R.ts_ms[r], true) }),
        el("td", { text: D.models[R.model[r]] }),
        el("td", { cls: "tags" }, chips.length ? chips : [el("span", { cls: "untagged small", text: "no tags" })]),
        el("td", { cls: "num", text: count(R.prompt[r]) + " \u2192 " + count(R.completion[r]) }),
        el("td", { cls: "num", text: smallMoney(R.cost_nanos[r]), "data-cost-nanos": R.cost_nanos[r] }),
        el("td", { cls: "num", text: ms(isNaN(R.latency_ms[r]) ? null : R.latency_ms[r]) }),
        el("td", { cls: "num" + (st >= 400 ? " status-bad" : ""), text: String(st) })]));
    }
    tbl.appendChild(frag);
  }

  function chip(path) {
    return el("span", { cls: "chip", text: path, title: "filter to " + path, "data-tag": path,
      style: "background:" + tint(path), onclick: function () { setFilter(quoteTag(path)); } });
  }

  var PALETTE = ["#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692",
    "#B6E880", "#FF97FF", "#FECB52"];
  var rootColor = new Map();

  function colorOfRoot(root) {
    if (!rootColor.has(root)) rootColor.set(root, PALETTE[rootColor.size % PALETTE.length]);
    return rootColor.get(root);
  }

  function tint(path) {  // the top-level tag's color, light
    var c = colorOfRoot(path.split("/")[0]);
    return c + "22";
  }

  // ------------------------------------------------------------------------------ charts

  /** Text for Plotly, which reads a few HTML tags (<b>, <a href>...) and entities in labels:
   * a tag is data, never markup. */
  function ptext(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  var PLOT_CONFIG = { displaylogo: false, responsive: true, displayModeBar: "hover",
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"] };

  function renderSunburst(v) {
    var box = $("sunburst");
    var grand = v.totals.cost;
    var useCost = grand > 0n;
    var nodes = v.nodes;
    var size = function (i) { return useCost ? nodes.cost.num(i) : nodes.req[i]; };
    var children = new Map();
    for (var i = 0; i < T.n; i++) {
      if (nodes.req[i] <= 0) continue;
      var p = T.parents[i];
      if (!children.has(p)) children.set(p, []);
      children.get(p).push(i);
    }
    var ids = ["all"];
    var labels = ["all"];
    var parents = [""];
    var values = [0];
    var custom = [[v.totals.requests ? "all requests" : "no requests", money(grand) + " \u00b7 100% of filtered cost",
      count(v.totals.requests)]];
    var colors = ["#ffffff"];
    if (!children.has(-1)) {
      clear(box);
      box.appendChild(el("div", { cls: "empty", text: "no tagged requests match" }));
      box.removeAttribute("data-plotted");
      return;
    }
    function sortKids(list) {
      return list.slice().sort(function (a, b) { return size(b) - size(a) || a - b; });
    }
    function walk(parentId, parentKey, parentSize, parentTotal, root) {
      var list = sortKids(children.get(parentId) || []);
      if (!list.length) return;
      var shown = list.slice(0, MAX_SUN_CHILDREN);
      var more = list.slice(MAX_SUN_CHILDREN);
      var sum = 0;
      list.forEach(function (c) { sum += size(c); });
      var k = parentId < 0 ? 1 : parentSize / Math.max(parentTotal, sum, 1e-300) * (1 - 1e-9);
      shown.forEach(function (c) {
        var r = parentId < 0 ? T.paths[c] : root;
        var s = size(c) * k;
        var cost = nodes.cost.get(c);
        ids.push("n" + c);
        labels.push(ptext(T.segments[c]));
        parents.push(parentKey);
        values.push(s);
        custom.push([ptext(T.paths[c]), money(cost) + " \u00b7 " + (grand > 0n ? pct(ratio(cost, grand)) : "-") + " of filtered cost",
          count(nodes.req[c])]);
        colors.push(parentId < 0 ? colorOfRoot(r) : "");
        walk(c, "n" + c, s, size(c), r);
      });
      if (more.length) {
        var ms2 = 0;
        more.forEach(function (c) { ms2 += size(c); });
        ids.push("more" + parentId);
        labels.push("+" + more.length + " more");
        parents.push(parentKey);
        values.push(ms2 * k);
        custom.push([ptext((parentId < 0 ? "" : T.paths[parentId] + "/") + "\u2026 (" + more.length + " smaller tags)"),
          money(more.reduce(function (a, c) { return a + nodes.cost.get(c); }, 0n)) + " summed over these tags", "-"]);
        colors.push("#d9dde3");
      }
    }
    walk(-1, "all", 0, 0, null);
    var top = 0;
    for (var q = 1; q < ids.length; q++) if (parents[q] === "all") top += values[q];
    values[0] = top;
    var trace = {
      type: "sunburst", ids: ids, labels: labels, parents: parents, values: values,
      branchvalues: "total", customdata: custom, maxdepth: 3, sort: false,
      marker: { colors: colors, line: { color: "#fff", width: 1 } },
      hovertemplate: "<b>%{customdata[0]}</b><br>%{customdata[1]}<br>%{customdata[2]} requests<extra></extra>",
      textinfo: "label", insidetextorientation: "radial",
    };
    var layout = { margin: { l: 4, r: 4, t: 4, b: 4 }, paper_bgcolor: "rgba(0,0,0,0)",
      extendsunburstcolors: true, font: { size: 12 } };
    var loading = box.querySelector(".loading, .empty");
    if (loading) box.removeChild(loading);
    window.Plotly.react(box, [trace], layout, PLOT_CONFIG);
    box.setAttribute("data-plotted", String(ids.length));
  }

  function bucketLabel(msv) {
    var p = parts(msv);
    var f = D.buckets.freq;
    return f === "1h" ? p.date + " " + p.time.slice(0, 5) : p.date;
  }

  function renderSeries(v) {
    var box = $("series");
    var sp = v.series;
    var nb = D.buckets.starts_ms.length;
    var width = sp.width;
    var ns = width - 1;
    var dimName = S.seriesDim < 0 ? "top-level tag" : T.paths[S.seriesDim];
    var unit = { "1h": "Hourly", "1D": "Daily", "1W": "Weekly", "1MS": "Monthly" }[D.buckets.freq] || "";
    $("series-title").textContent = unit + " cost by " + dimName;
    var note = "Split: each request's cost is divided among the " + (S.seriesDim < 0 ? "top-level tags" : dimName + "/* tags") +
      " it carries, so the bars add up to the cost of the " + (D.buckets.freq === "1h" ? "hour" : "bucket") + "." +
      " Buckets in " + tzLabel() + ".";
    if (D.rest.n) note += " Buckets start at the earliest embedded request.";
    $("series-note").textContent = note;
    if (!nb || !v.rows.length) {
      clear(box);
      box.appendChild(el("div", { cls: "empty", text: "no requests match" }));
      box.removeAttribute("data-plotted");
      return;
    }
    var totalBy = [];
    for (var s = 0; s <= ns; s++) totalBy.push({ s: s, c: sp.cost.num(s) });
    var real = totalBy.filter(function (x) { return x.s < ns && x.c > 0; }).sort(function (a, b) { return b.c - a.c || a.s - b.s; });
    var keep = real.length <= MAX_SERIES + 1 ? real : real.slice(0, MAX_SERIES);
    var other = real.slice(keep.length);
    var x = D.buckets.starts_ms.map(bucketLabel);
    var traces = [];
    function ys(slots) {
      var y = new Array(nb).fill(0);
      for (var b = 0; b < nb; b++) {
        for (var k = 0; k < slots.length; k++) y[b] += sp.series[b * width + slots[k]];
        y[b] /= 1e9;
      }
      return y;
    }
    keep.forEach(function (x2) {
      var node = sp.set.nodes[x2.s];
      var name = S.seriesDim < 0 ? T.paths[node] : T.paths[node].slice(T.paths[S.seriesDim].length + 1);
      var tr = { type: "bar", name: ptext(name), x: x, y: ys([x2.s]),
        hovertemplate: "%{x}<br>%{fullData.name}: $%{y:,.2f}<extra></extra>" };
      if (S.seriesDim < 0) tr.marker = { color: colorOfRoot(T.paths[node]) };
      traces.push(tr);
    });
    if (other.length) {
      traces.push({ type: "bar", name: "(" + other.length + " others)", x: x, y: ys(other.map(function (o) { return o.s; })),
        marker: { color: "#c3c8d0" }, hovertemplate: "%{x}<br>" + other.length + " others: $%{y:,.2f}<extra></extra>" });
    }
    if (totalBy[ns].c > 0) {
      traces.push({ type: "bar", name: D.untagged, x: x, y: ys([ns]), marker: { color: "#e3e6ea" },
        hovertemplate: "%{x}<br>" + D.untagged + ": $%{y:,.2f}<extra></extra>" });
    }
    var layout = { barmode: "stack", margin: { l: 60, r: 10, t: 34, b: 50 }, paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)", yaxis: { title: { text: "cost ($)" }, tickprefix: "$", gridcolor: "#eceef1", rangemode: "tozero" },
      xaxis: { type: "category", tickangle: nb > 12 ? -45 : 0, automargin: true },
      legend: { orientation: "v", x: 1.01, y: 1, font: { size: 12 } }, bargap: 0.25, font: { size: 12 } };
    var loading = box.querySelector(".loading, .empty");
    if (loading) box.removeChild(loading);
    window.Plotly.react(box, traces, layout, PLOT_CONFIG);
    box.setAttribute("data-plotted", String(traces.length));
  }

  // ------------------------------------------------------------------------------ self-check

  function selfCheck(v) {
    var e = D.expected;
    if (!e || !e.totals) return "ok";
    var bad = [];
    function eq(what, got, want) { if (String(got) !== String(want)) bad.push(what + ": page " + got + ", library " + want); }
    function close(what, got, want) {
      if (want === null && got === null) return;
      if (want === null || got === null || Math.abs(got - want) > 1e-9 * Math.max(1, Math.abs(want))) {
        bad.push(what + ": page " + got + ", library " + want);
      }
    }
    var t = v.totals;
    eq("requests", t.requests, e.totals.requests);
    eq("cost_nanos", t.cost, e.totals.cost_nanos);
    eq("prompt tokens", t.prompt, e.totals.prompt);
    eq("completion tokens", t.completion, e.totals.completion);
    eq("errors", t.errors, e.totals.errors);
    close("p50", t.p50, e.totals.p50);
    close("p95", t.p95, e.totals.p95);
    (e.level1 || []).forEach(function (row) {
      var id = T.index.get(row[0]);
      if (id === undefined) { bad.push("level 1: no node " + row[0]); return; }
      eq("level 1 " + row[0] + " requests", v.nodes.req[id], row[1]);
      eq("level 1 " + row[0] + " cost", v.nodes.cost.get(id), row[2]);
    });
    Object.keys(e.chargeback || {}).forEach(function (dim) {
      var id = T.index.get(dim);
      if (id === undefined) { bad.push("chargeback: no node " + dim); return; }
      var rows = splitRows(splitRollup(v.rows, setOf(id), false));
      e.chargeback[dim].forEach(function (want, k) {
        var got = rows[k];
        if (!got) { bad.push("chargeback " + dim + ": missing row " + want[0]); return; }
        eq("chargeback " + dim + " row " + k, got.key, want[0]);
        close("chargeback " + dim + " " + want[0] + " requests", got.req, want[1]);
        eq("chargeback " + dim + " " + want[0] + " cost", got.cost, want[2]);
      });
    });
    (e.models || []).forEach(function (want, k) {
      var got = v.models[k];
      if (!got) { bad.push("models: missing " + want[0]); return; }
      eq("model row " + k, got.key, want[0]);
      eq("model " + want[0] + " requests", got.req, want[1]);
      eq("model " + want[0] + " cost", got.cost, want[2]);
    });
    if (e.series && S.seriesDim < 0) {
      var sp = v.series;
      var starts = D.buckets.starts_ms;
      e.series.starts_ms.forEach(function (st, k) {
        var b = starts.indexOf(st);
        if (b < 0) { if (e.series.cost[k] !== 0) bad.push("series: no bucket " + st); return; }
        var sum = 0;
        for (var s2 = 0; s2 < sp.width; s2++) sum += sp.series[b * sp.width + s2];
        if (Math.abs(sum / 1e9 - e.series.cost[k]) > 1e-6) bad.push("series bucket " + st + ": page " + sum / 1e9 + ", library " + e.series.cost[k]);
      });
    }
    return bad.length ? bad.slice(0, 8).join("; ") : "ok";
  }

  // ------------------------------------------------------------------------------ setup

  function header() {
    TZ = D.tz || "UTC";
    document.title = D.title;
    $("title").textContent = D.title;
    var w = D.window;
    var lg = D.log;
    var sub = "Window: " + w.label;
    if (lg.requests && (w.since_ms !== null || w.until_ms !== null)) {
      var lo = w.since_ms !== null ? w.since_ms : lg.first_ms;
      var hi = w.until_ms !== null ? w.until_ms : lg.last_ms;
      if (lo !== null && hi !== null) sub += ", " + stamp(lo) + " to " + stamp(hi) + " " + tzLabel();
    }
    var wt = D.window_totals;
    sub += " (" + count(wt.requests) + " requests, " + money(wt.cost_nanos) + ")";
    if (lg.requests) {
      sub += " \u00b7 Log: " + count(lg.requests) + " requests, " + stamp(lg.first_ms).slice(0, 10) + " to " +
        stamp(lg.last_ms).slice(0, 10) + ", " + money(lg.cost_nanos);
    }
    if (D.source) sub += " \u00b7 " + D.source;
    $("subtitle").textContent = sub;
    $("generated").textContent = "generated " + D.generated.replace("T", " ").replace("+00:00", " UTC");
    if (D.rest.n) {
      var rest = D.rest;
      var note = $("cap-note");
      note.hidden = false;
      note.setAttribute("data-rest", String(rest.n));
      note.textContent = "This page holds the latest " + count(R.n) + " of the window's " + count(wt.requests) +
        " requests (from " + stamp(R.ts_ms[0]) + " " + tzLabel() + "); the filter and every view cover those. " +
        "The " + count(rest.n) + " older requests (" + stamp(rest.first_ms) + " to " + stamp(rest.last_ms) + ", " +
        money(rest.cost_nanos) + ", " + compact(rest.prompt + rest.completion) + " tokens, " + count(rest.errors) +
        " errors) are counted in the window's totals above only. Use a shorter --last or a larger cap to embed them.";
    }
    $("footer").textContent = "tagcore report \u00b7 self-contained: no network access \u00b7 " +
      count(R.n) + " requests embedded, " + count(T.n) + " tag nodes.";
  }

  function controls() {
    var lv = $("usage-level");
    for (var l = 1; l <= Math.max(1, T.maxDepth); l++) {
      lv.appendChild(el("option", { value: l, text: String(l), selected: l === S.usageLevel }));
    }
    lv.addEventListener("change", function () { S.usageLevel = Number(lv.value); renderShares(S.views); });
    var sd = $("series-dim");
    sd.appendChild(el("option", { value: -1, text: "top-level tag", selected: true }));
    dimOptions(-1).forEach(function (i) { sd.appendChild(el("option", { value: i, text: T.paths[i] })); });
    sd.addEventListener("change", function () {
      S.seriesDim = Number(sd.value);
      S.views.series = splitRollup(S.rows, setOf(S.seriesDim), true);
      if (S.plotly) renderSeries(S.views);
    });
    var input = $("filter-input");
    var timer = null;
    input.addEventListener("input", function () {
      if (timer) clearTimeout(timer);
      timer = setTimeout(function () { writeHash(input.value.trim() ? input.value : ""); apply(input.value); }, 120);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { if (timer) clearTimeout(timer); writeHash(input.value.trim() ? input.value : ""); apply(input.value); }
    });
    $("filter-clear").addEventListener("click", function () { setFilter(""); input.focus(); });
    window.addEventListener("hashchange", function () {
      var h = readHash();
      var text = h === null ? "" : h;
      if (text !== S.filter || S.error) setFilter(text, true);
    });
  }

  var TIMES = [];
  function mark(name) {  // milliseconds since the page started loading, for the curious
    TIMES.push(name + "=" + Math.round(performance.now()));
    document.body.setAttribute("data-timing", TIMES.join(" "));
  }

  function init() {
    mark("start");
    var node = $("tagcore-data");
    var raw = JSON.parse(node.textContent);
    mark("parsed");
    D = decode(raw);
    mark("decoded");
    R = D.requests;
    T = D.trie;
    T_FILTER = { paths: T.paths, parents: T.parents };
    S.chargeDims = (D.dims || []).map(function (d) { return T.index.get(d); }).filter(function (i) { return i !== undefined; });
    header();
    controls();
    // the self-check: the page's numbers for every embedded request against the library's
    var all = new Uint8Array(R.n).fill(1);
    var v0 = compute(matchedRows(all));
    mark("computed");
    S.selfcheck = selfCheck(v0);
    mark("checked");
    document.body.setAttribute("data-selfcheck", S.selfcheck);
    if (S.selfcheck !== "ok") {
      var n = $("selfcheck-note");
      n.hidden = false;
      n.textContent = "Self-check failed: the page's numbers differ from the library's: " + S.selfcheck;
      console.error("tagcore report self-check failed: " + S.selfcheck);
    }
    var h = readHash();
    var text = h !== null ? h : (D.initial_filter || "");
    $("filter-input").value = text;
    if (!text) {
      S.filter = "";
      S.rows = v0.rows;
      S.views = v0;
      render();
    } else {
      if (h === null) writeHash(text);
      apply(text);
      if (!S.views) {  // a bad filter in the address: show everything under the error
        S.filter = "";
        S.rows = v0.rows;
        S.views = v0;
        render();
        $("matched").setAttribute("data-state", "error");
      }
    }
    document.body.setAttribute("data-ready", "1");
    mark("views");
  }

  /** Run the inlined plotly.js (kept as text so that it does not delay the first paint),
   * then draw the charts. */
  function loadCharts() {
    try {  // whether the numbers were on screen before plotly.js runs
      performance.getEntriesByType("paint").forEach(function (p) { mark(p.name); });
    } catch (e) { /* old browsers */ }
    var src = document.getElementById("tagcore-plotly");
    if (!window.Plotly && src && src.textContent.length > 100) {
      var s = document.createElement("script");
      s.textContent = src.textContent;
      src.textContent = "";
      document.body.appendChild(s);  // runs it
      s.remove();
    }
    if (window.Plotly) window.TagcoreReport.charts();
    else document.body.setAttribute("data-charts", "unavailable");
  }

  window.TagcoreReport = {
    charts: function () {
      if (!window.Plotly || !S.views) return;
      mark("plotly");
      S.plotly = true;
      renderSunburst(S.views);
      mark("sunburst");
      renderSeries(S.views);
      document.body.setAttribute("data-charts", "1");
      mark("charts");
    },
    state: S,
    money: money,
    quantile: quantile,
  };

  try {
    init();
    // the numbers first; the charts once the page is parsed and a frame has been shown
    var done = false;
    var go = function () { if (!done) { done = true; loadCharts(); } };
    var later = function () {  // after a frame, or a moment where frames are not drawn
      requestAnimationFrame(function () { requestAnimationFrame(function () { setTimeout(go, 0); }); });
      setTimeout(go, 100);
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", later);
    else later();
  } catch (e) {
    document.body.setAttribute("data-ready", "error");
    var n = document.getElementById("selfcheck-note");
    if (n) { n.hidden = false; n.textContent = "The report could not start: " + (e && e.message ? e.message : e); }
    throw e;
  }
})();
