"""``tagcore report``: the overview of where the money went, or one roll-up."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tagcore.cli._base import CliError
from tagcore.cli._context import _check_under, _Ctx, _header
from tagcore.cli._format import _n, _Style, _width, _wrap, compact, count, money, pct, table
from tagcore.cli._output import _emit_text, emit_frame
from tagcore.log import RequestLog
from tagcore.query._common import col_total, unpriced_mask
from tagcore.tags import normalize_tag

_SUMMED = ["requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens", "cost",
           "cost_nanos", "share"]


def _usage_table(df: pd.DataFrame, style: _Style, *, label: str = "tag", tree: bool = False,
                 base_depth: int | None = None, with_bar: bool = True,
                 with_errors: bool = True, with_tokens: bool = True,
                 names: Sequence[str] | None = None,
                 groups: tuple[str, Sequence[str]] | None = None,
                 empty: str = "no requests") -> list[str]:
    """A roll-up frame as text: tag, requests, errors, tokens, cost, share and a bar; and the
    requests of unknown cost (``unpriced``) when some row has any."""
    if df.empty:
        return [f"  ({empty})"]
    if names is None:
        names = [str(t) for t in df.index]
    if tree:
        depths = df["depth"].to_numpy()
        b = int(depths[depths > 0].min()) if (depths > 0).any() else 1
        b = b if base_depth is None else base_depth
        names = [("  " * max(int(d) - b, 0) + (n.rsplit("/", 1)[-1] if int(d) > b else n))
                 for n, d in zip(names, depths)]
    cols: list[tuple[str, Sequence[str], str]] = [(label, names, "l")]
    if groups is not None:
        cols.insert(0, (groups[0], groups[1], "l"))
    cols.append(("requests", [count(v) for v in df["requests"]], "r"))
    if with_errors and "errors" in df:
        cols.append(("errors", [count(v) for v in df["errors"]], "r"))
    if with_tokens and "total_tokens" in df:
        cols.append(("tokens", [compact(v) for v in df["total_tokens"]], "r"))
    cols.append(("cost", [money(v) for v in df["cost"]], "r"))
    if "unpriced" in df and bool((df["unpriced"] > 0).any()):  # requests of unknown cost
        cols.append(("unpriced", [count(v) if v else "" for v in df["unpriced"]], "r"))
    cols.append(("share", [pct(v) for v in df["share"]], "r"))
    if with_bar:
        fixed = 2 + sum(_width(h, cells) + 2 for h, cells, _ in cols)
        bw = min(20, style.width - fixed - 2)
        if bw >= 8:
            cols.append(("", [style.bar(float(s), bw) for s in df["share"]], "l"))
    return table(cols, style)


def _dims(log: RequestLog) -> tuple[list[str], str | None]:
    """Dimensions for the 'top' sections and for the roll-up by level."""
    trie = log.trie
    if len(log) == 0:
        return [], None
    lvl1 = log.rollup(level=1, metrics=["cost_nanos"])
    have = [str(t) for t in lvl1.index]
    parents = np.asarray(trie.parents)
    depths = np.asarray(trie.depths)

    def n_children(p: str) -> int:
        return int((parents == trie.id(p)).sum())

    def max_depth(p: str) -> int:
        i = trie.id(p)
        sub = np.asarray(trie.under(i))
        return int(depths[sub].max()) if sub.size else 1

    tops: list[str] = [d for d in ("customer", "feature") if d in have]
    for d in have:  # by cost
        if len(tops) >= 2:
            break
        if d not in tops and n_children(d) >= 2:
            tops.append(d)
    rest = [d for d in have if d not in tops and n_children(d) >= 1]
    if not rest:
        return tops, None
    cost = lvl1["cost_nanos"]
    deep = max(rest, key=lambda d: (min(max_depth(d), 4), int(cost[d])))
    return tops, deep


def _level(attribution: str, under: str | None, level: int | None) -> int | None:
    """The roll-up's level: split and primary attribution with neither --under nor --level
    divide among the top-level tags.

    >>> _level("split", None, None), _level("full", None, None), _level("split", "env", None)
    (1, None, None)
    """
    if attribution != "full" and under is None and level is None:
        return 1
    return level


def cmd_report(ctx: _Ctx) -> None:
    args = ctx.args
    if getattr(args, "html", None) is not None:
        from tagcore.cli.html import cmd_report_html

        cmd_report_html(ctx)
        return
    custom = any(v is not None for v in (args.under, args.level, args.by, args.attribution,
                                         args.sort))
    attribution = args.attribution or "full"
    _check_under(ctx.full, args.under)
    if args.top is not None and args.top < 0:
        raise CliError("--top: expected a number >= 0")
    log = ctx.log
    if args.format != "table":
        under, level = args.under, _level(attribution, args.under, args.level)
        if args.top is not None and args.by is None and attribution != "full":
            df = log.top(args.top, under=under, level=level, attribution=attribution)
        else:
            df = log.rollup(under=under, level=level, attribution=attribution, by=args.by,
                            sort=args.sort or "cost")
            if args.top is not None:
                df = df.head(args.top)
        emit_frame(df, args, ctx.out)
        return
    lines = _header(ctx, "tagcore report")
    if custom:
        lines += [""] + _custom_report(ctx, attribution)
    else:
        lines += [""] + _overview(ctx)
    _emit_text("\n".join(lines) + "\n", args, ctx.out)


def _custom_report(ctx: _Ctx, attribution: str) -> list[str]:
    args, log, st = ctx.args, ctx.log, ctx.style
    under, level = args.under, _level(attribution, args.under, args.level)
    what = []
    if under:
        what.append(f"under {under}")
    if level:
        what.append(f"at level {level}")
    desc = " ".join(what) or "every tag"
    notes = {"full": "full attribution: a request counts under each tag it carries, so shares "
                     "may add up to more than 100%",
             "split": "split attribution: each request's cost is divided among the tags it "
                      "carries; rows add up to the total",
             "primary": "primary attribution: each request counts under its first tag; rows "
                        "add up to the total"}
    sort = args.sort or "cost"
    tree = sort == "path" and args.by is None
    lines = [f"Usage by tag, {desc} ({ctx.window_text()}), sorted by {sort}"]
    if args.by:
        df = log.rollup(under=under, level=level, attribution=attribution, by=args.by,
                        sort=sort, metrics=_SUMMED)
        if df.empty:
            return lines + ["  (no requests)"]
        shown = df if args.top is None else df.groupby(level=0, sort=False).head(args.top)
        lines += _usage_table(shown, st, names=[str(b) for _, b in shown.index],
                              groups=(args.by, [str(a) for a, _ in shown.index]))
    else:
        if args.top is not None and attribution != "full":
            df = log.top(args.top, under=under, level=level, attribution=attribution)
            shown, more = df, 0
        else:
            df = log.rollup(under=under, level=level, attribution=attribution, sort=sort,
                            metrics=_SUMMED)
            if tree and under is not None:
                path = normalize_tag(under)
                node = log.rollup(level=ctx.full.trie.depth(ctx.full.trie.id(path)),
                                  metrics=_SUMMED)
                node = node[node.index == path]
                if not node.empty:
                    df = pd.concat([node[df.columns], df])
            limit = args.top if args.top is not None else 40
            shown, more = df.iloc[:limit], max(len(df) - limit, 0)
        lines += _usage_table(shown, st, tree=tree)
        if more:
            lines.append(f"  ... {more} more rows (--top N, or --format csv for all)")
    of = "the filtered window's" if ctx.expr else "the window's"
    lines += ["", _wrap(f"Note: {notes[attribution]}; shares are of {of} total cost.",
                        st.width)]
    return lines


def _overview(ctx: _Ctx) -> list[str]:
    log, st, args = ctx.log, ctx.style, ctx.args
    n_top = 5 if args.top is None else args.top
    out: list[str] = []
    if len(log) == 0:
        return ["No requests in this window; try --last 30D or --last all."]
    lvl1 = log.rollup(level=1, metrics=_SUMMED)
    out.append(f"Where the money went, by top-level tag ({ctx.window_text()})")
    limit = 12
    out += _usage_table(lvl1.iloc[:limit], st, empty="no tagged requests")
    if len(lvl1) > limit:
        out.append(f"  ... {len(lvl1) - limit} more (tagcore report --level 1 --top 100)")
    untagged = int((np.diff(log.tag_offsets) == 0).sum())
    out.append(_wrap("A request counts under every tag it carries, so these shares overlap"
                     + (f"; {_n(untagged, 'request')} carry no tag." if untagged else "."),
                     st.width))
    tops, deep = _dims(log)
    for dim in tops:
        df = log.top(n_top, under=dim)
        plural = dim + ("s" if not dim.endswith("s") else "")
        out += ["", f"Top {plural} (split: a request naming two {plural} is divided between "
                    "them; rows add up)"]
        out += _usage_table(df, st, label=dim)
    # by model: a plain group-by on the model column
    out += ["", "By model"]
    out += _usage_table(_by_model(log), st, label="model", with_errors=True)
    if deep is not None:
        d = ctx.full.trie.depth(ctx.full.trie.id(deep))
        sub = log.rollup(under=deep, sort="path", metrics=_SUMMED)
        sub = sub[sub["depth"] <= d + 2]
        top = lvl1[lvl1.index == deep]
        df = pd.concat([top[sub.columns], sub]) if not sub.empty else top
        out += ["", f"Roll-up by level: {deep} (levels {d} to {int(df['depth'].max())}, "
                    "each row includes the rows under it)"]
        df = _tree_by_cost(df)
        shown = df.iloc[:16]
        out += _usage_table(shown, st, label="tag", tree=True, base_depth=d)
        if len(df) > 16:
            out.append(f"  ... {len(df) - 16} more ({ctx.cmd('report', '--under', deep, '--sort', 'path')})")
    out += ["", "Drill in:"]
    out += _examples(ctx, tops, deep)
    return out


def _tree_by_cost(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of a roll-up as a tree: each node followed by its children, largest cost first.

    >>> df = pd.DataFrame({"parent": [None, "a", "a", "a/x"], "cost_nanos": [3, 1, 2, 1]},
    ...                   index=["a", "a/x", "a/y", "a/x/z"])
    >>> _tree_by_cost(df).index.tolist()
    ['a', 'a/y', 'a/x', 'a/x/z']
    """
    tags = [str(t) for t in df.index]
    present = set(tags)
    cost = dict(zip(tags, df["cost_nanos"].tolist()))
    kids: dict[str | None, list[str]] = {}
    for t, p in zip(tags, df["parent"].tolist()):
        kids.setdefault(p if p in present else None, []).append(t)
    order: list[str] = []

    def walk(key: str | None) -> None:
        for t in sorted(kids.get(key, []), key=lambda x: -cost[x]):
            order.append(t)
            walk(t)

    walk(None)
    return df.loc[order]


def _by_model(log: RequestLog) -> pd.DataFrame:
    codes = log.model_codes
    m = len(log.models)
    req = np.bincount(codes, minlength=m)
    err = np.bincount(codes, weights=(log.status >= 400), minlength=m)
    tok = np.bincount(codes, weights=(log.prompt_tokens + log.completion_tokens).astype(float),
                      minlength=m)
    nanos = np.zeros(m, dtype=np.int64)
    np.add.at(nanos, codes, log.cost)
    grand = col_total(log, "cost")
    df = pd.DataFrame({"depth": 0, "requests": req, "errors": err.astype(np.int64),
                       "total_tokens": tok.astype(np.int64), "cost": nanos / 1e9,
                       "cost_nanos": nanos,
                       "share": nanos / grand if grand else np.zeros(m)},
                      index=pd.Index(list(log.models), name="model"))
    flags = unpriced_mask(log)
    if flags is not None:
        df["unpriced"] = np.bincount(codes[flags], minlength=m)
    df = df[df["requests"] > 0]
    return df.sort_values(["cost_nanos", "requests"], ascending=False, kind="stable")


def _examples(ctx: _Ctx, tops: list[str], deep: str | None) -> list[str]:
    log = ctx.log
    ex: list[tuple[str, str]] = []
    dim = tops[0] if tops else deep
    if dim is not None:
        ex.append((ctx.cmd("report", "--under", dim, "--level", "2", "--attribution", "split"),
                   f"chargeback by {dim}"))
    if deep is not None:
        ex.append((ctx.cmd("report", "--under", deep, "--sort", "path", "--last", "30D"),
                   f"the {deep} tree, last 30 days"))
    if dim is not None:
        first = log.top(1, under=dim).index[0]
        if first != "(other)":
            others = [t for t in ("env/staging",) if log.trie.get(t, -1) >= 0]
            expr = f"{first} & ~{others[0]}" if others else str(first)
            ex.append((ctx.cmd("filter", f"{expr}"), f"{first}"
                       + (" outside staging" if others else "")))
    ex.append((ctx.cmd("timeseries", "--freq", "1D", "--level", "1"),
               "daily cost per top-level tag"))
    if len(tops) >= 2:
        ex.append((ctx.cmd("pivot", tops[0], tops[1]),
                   f"cost per {tops[0]} and {tops[1]}"))
    ex.append((ctx.cmd("report", "--format", "csv", "-o", "usage.csv"),
               "every tag, for a spreadsheet"))
    w = max(len(c) for c, _ in ex)
    lines = []
    for c, d in ex:
        line = f"  {c.ljust(w)}  # {d}"
        lines.append(line if len(line) <= ctx.style.width else f"  {c}")
    return lines

