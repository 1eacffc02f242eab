"""The five benchmark questions (see ``reference.py``) answered by pandas, Polars, DuckDB and chDB.

Each peer is a class with

- ``e2e(path, q)``: end-to-end from the Parquet file (read + all string work + answer), the
  question's own best plan: read only the columns it needs, generate prefixes only where needed;
- ``prepare(path)``: untimed, builds the engine's preferred in-memory representation: one row per
  request with its numeric columns and ``nodes``, the request's de-duplicated closure (every
  prefix of every tag, each once), the analogue of tagcore's CSR log; built the fast way (prefixes
  generated for distinct tags only, or per row in ClickHouse, whichever was faster here);
- ``query(state, q)``: the question answered from that representation.

Both return the canonical frames of ``reference.canonical``.

Idioms (from each engine's docs):
- pandas: ``read_parquet(dtype_backend="pyarrow")`` for the list column so ``Series.explode`` is
  Arrow's flatten, ``factorize``, prefixes of the distinct tags in Python, ``merge`` on integer
  codes, ``drop_duplicates`` of (request, node), ``groupby`` on a categorical;
- Polars: lazy ``scan_parquet`` with projection pushdown, ``explode``, prefixes of the distinct
  tags (``str.split`` + ``list.head(depth)`` + ``list.join``), ``join`` back, ``unique`` on
  (request, node), ``group_by``; per-row ``list.eval`` where only the first segment is needed;
- DuckDB: ``read_parquet(file_row_number=true)``, ``unnest`` joined to a prefix table of the
  distinct tags (dense integer node ids) then ``DISTINCT``; per-row ``list_transform``/``list_distinct`` lambdas (new
  ``lambda x:`` syntax) where only one segment is needed; ``quantile_cont(x, [0.5, 0.95])``;
- chDB: ``file(path, Parquet, structure)`` with an explicit structure (skips schema inference),
  ``ARRAY JOIN arrayDistinct(arrayFlatten(arrayMap(t -> prefixes(t), request_tags)))``,
  ``quantilesExactInclusive(0.5, 0.95)`` (R-7, numpy's linear interpolation).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from reference import NS_PER_DAY, Q2_FILTER, Q2_UNDER, Q3_DAYS, Q4_UNDER, UNTAGGED, canonical

__all__ = ["PandasPeer", "PolarsPeer", "DuckDBPeer", "ChDBPeer", "PEERS"]

_SUMS = ["cost", "prompt_tokens", "completion_tokens"]
_WINDOW_NS = Q3_DAYS * NS_PER_DAY


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# =========================================================================================== pandas


class PandasPeer:
    name = "pandas"
    modules = ("pandas", "pyarrow")

    @staticmethod
    def _read(path, columns):
        import pandas as pd

        tags = None
        if "request_tags" in columns:
            tags = pd.read_parquet(path, columns=["request_tags"], dtype_backend="pyarrow")["request_tags"]
            columns = [c for c in columns if c != "request_tags"]
        df = pd.read_parquet(path, columns=columns) if columns else pd.DataFrame(index=tags.index)
        return df, tags

    @staticmethod
    def _closure(tags, keep=None):
        """(rid, node code) pairs, each once, and the node names, for a list<string> Series."""
        ex = tags.explode().dropna()
        rid = ex.index.to_numpy()
        codes, uniq = pd.factorize(ex)
        rows = []
        for i, tag in enumerate(uniq):
            parts = tag.split("/")
            for d in range(1, len(parts) + 1):
                node = "/".join(parts[:d])
                if keep is None or keep(node):
                    rows.append((i, node))
        pref = pd.DataFrame(rows, columns=["tag", "node"])
        node_codes, node_names = pd.factorize(pref["node"])
        pref["node"] = node_codes
        m = pd.DataFrame({"rid": rid, "tag": codes}).merge(pref, on="tag")[["rid", "node"]]
        m = m.drop_duplicates()
        return m["rid"].to_numpy(), m["node"].to_numpy(), np.asarray(node_names, dtype=object)

    @staticmethod
    def _sums(df, rid, node, names, cols):
        part = df[cols].take(rid).reset_index(drop=True)
        part["requests"] = 1
        part["tag"] = pd.Categorical.from_codes(node, categories=names)
        return part.groupby("tag", observed=True, sort=False).sum()

    def e2e(self, path, q):
        if q in ("Q1", "Q2"):
            df, tags = self._read(path, _SUMS + ["request_tags"])
            keep = None
            if q == "Q2":
                sel = self._closure(tags, keep=lambda p: p == Q2_FILTER)[0]
                sel = np.unique(sel)
                df, tags = df.take(sel).reset_index(drop=True), tags.take(sel).reset_index(drop=True)
                keep = lambda p: p.startswith(Q2_UNDER + "/")  # noqa: E731
            rid, node, names = self._closure(tags, keep)
            return canonical(self._sums(df, rid, node, names, _SUMS), q)
        if q == "Q3":
            df, tags = self._read(path, ["ts", "cost", "request_tags"])
            now = df["ts"].max()
            sel = np.flatnonzero((df["ts"] > now - pd.Timedelta(days=Q3_DAYS)) & (df["ts"] <= now))
            df, tags = df.take(sel).reset_index(drop=True), tags.take(sel).reset_index(drop=True)
            rid, node, names = self._closure(tags, keep=lambda p: "/" not in p)
            part = pd.DataFrame({"day": df["ts"].dt.floor("D").array.take(rid),
                                 "tag": pd.Categorical.from_codes(node, categories=names),
                                 "cost": df["cost"].take(rid).to_numpy()})
            return canonical(part.groupby(["day", "tag"], observed=True).sum().reset_index(), q)
        if q == "Q4":
            df, tags = self._read(path, ["cost", "request_tags"])
            rid, node, names = self._closure(tags, keep=lambda p: p.startswith(Q4_UNDER + "/") and p.count("/") == 1)
            return self._split(df["cost"], rid, node, names)
        if q == "Q5":
            df, tags = self._read(path, ["latency_ms", "request_tags"])
            rid, node, names = self._closure(tags, keep=lambda p: "/" not in p)
            return self._quantiles(df["latency_ms"], rid, node, names)
        raise ValueError(q)

    @staticmethod
    def _split(cost, rid, node, names):
        k = np.bincount(rid, minlength=len(cost))
        share = cost.take(rid).to_numpy() / k[rid]
        out = pd.Series(share).groupby(pd.Categorical.from_codes(node, categories=names), observed=True).sum()
        untagged = cost[k == 0].sum()
        if (k == 0).any():
            out = pd.concat([out, pd.Series({UNTAGGED: untagged})])
        return canonical(pd.DataFrame({"cost": out}), "Q4")

    @staticmethod
    def _quantiles(lat, rid, node, names):
        s = pd.Series(lat.take(rid).to_numpy())
        g = s.groupby(pd.Categorical.from_codes(node, categories=names), observed=True)
        out = g.quantile([0.5, 0.95]).unstack()
        out.columns = ["latency_p50", "latency_p95"]
        return canonical(out, "Q5")

    def prepare(self, path):
        df, tags = self._read(path, ["ts", "latency_ms"] + _SUMS + ["request_tags"])
        rid, node, names = self._closure(tags)
        depth = np.array([p.count("/") + 1 for p in names])
        return {"req": df, "rid": rid, "node": node, "names": names, "depth": depth}

    def query(self, st, q):
        req, rid, node, names, depth = st["req"], st["rid"], st["node"], st["names"], st["depth"]
        if q == "Q1":
            return canonical(self._sums(req, rid, node, names, _SUMS), q)
        if q == "Q2":
            (code,) = np.flatnonzero(names == Q2_FILTER)
            sel = np.zeros(len(req), dtype=bool)
            sel[rid[node == code]] = True
            under = np.char.startswith(names.astype(str), Q2_UNDER + "/")
            m = sel[rid] & under[node]
            return canonical(self._sums(req, rid[m], node[m], names, _SUMS), q)
        if q == "Q3":
            ts = req["ts"]
            now = ts.max()
            win = ((ts > now - pd.Timedelta(days=Q3_DAYS)) & (ts <= now)).to_numpy()
            m = win[rid] & (depth[node] == 1)
            part = pd.DataFrame({"day": ts.dt.floor("D").array.take(rid[m]),
                                 "tag": pd.Categorical.from_codes(node[m], categories=names),
                                 "cost": req["cost"].take(rid[m]).to_numpy()})
            return canonical(part.groupby(["day", "tag"], observed=True).sum().reset_index(), q)
        if q == "Q4":
            is_cust = np.char.startswith(names.astype(str), Q4_UNDER + "/") & (depth == 2)
            m = is_cust[node]
            return self._split(req["cost"], rid[m], node[m], names)
        if q == "Q5":
            m = depth[node] == 1
            return self._quantiles(req["latency_ms"], rid[m], node[m], names)
        raise ValueError(q)


# =========================================================================================== Polars


class PolarsPeer:
    name = "polars"
    modules = ("polars",)

    @staticmethod
    def _prefixes(tags):
        """LazyFrame (tag, node, depth) for the distinct tags of a LazyFrame with a ``tag`` column."""
        import polars as pl

        return (tags.select(pl.col("tag").unique())
                .with_columns(parts=pl.col("tag").str.split("/"))
                .with_columns(depth=pl.int_ranges(1, pl.col("parts").list.len() + 1, dtype=pl.UInt32))
                .explode("depth")
                .with_columns(node=pl.col("parts").list.head(pl.col("depth")).list.join("/"))
                .select("tag", "node", "depth"))

    @classmethod
    def _rollup(cls, lf, node_filter=None):
        import polars as pl

        ex = (lf.with_row_index("rid").explode("request_tags").rename({"request_tags": "tag"})
              .drop_nulls("tag").collect().lazy())
        pref = cls._prefixes(ex)
        if node_filter is not None:
            pref = pref.filter(node_filter)
        # de-duplicate (request, node) on integer node ids, not on strings
        pref = pref.with_columns(node_id=pl.col("node").rank("dense").cast(pl.UInt32)).collect().lazy()
        names = pref.select("node_id", "node").unique("node_id")
        return (ex.join(pref.select("tag", "node_id"), on="tag")
                .unique(["rid", "node_id"])
                .group_by("node_id")
                .agg(pl.len().alias("requests"), *[pl.col(c).sum() for c in _SUMS])
                .join(names, on="node_id").drop("node_id")
                .rename({"node": "tag"}).collect().to_pandas())

    @staticmethod
    def _l1():
        import polars as pl

        return pl.col("request_tags").list.eval(pl.element().str.split("/").list.first()).list.unique()

    @staticmethod
    def _cust():
        import polars as pl

        e = pl.element()
        return (pl.col("request_tags")
                .list.eval(e.filter(e.str.starts_with(Q4_UNDER + "/")).str.extract(r"^([^/]+/[^/]+)", 1))
                .list.unique())

    @staticmethod
    def _q3(lf, l1):
        import polars as pl

        return (lf.filter((pl.col("ts") > pl.col("ts").max() - pl.duration(days=Q3_DAYS))
                          & (pl.col("ts") <= pl.col("ts").max()))
                .select(pl.col("ts").dt.truncate("1d").alias("day"), "cost", l1.alias("tag"))
                .explode("tag").drop_nulls("tag")
                .group_by("day", "tag").agg(pl.col("cost").sum())
                .collect().to_pandas())

    @staticmethod
    def _q4(lf, cust):
        import polars as pl

        k = pl.col("tag").list.len()
        out = (lf.select("cost", cust.alias("tag"))
               .with_columns(pl.when(k == 0).then(pl.lit([UNTAGGED])).otherwise(pl.col("tag")).alias("tag"),
                             (pl.col("cost") / pl.max_horizontal(k, 1)).alias("cost"))
               .explode("tag").group_by("tag").agg(pl.col("cost").sum())
               .collect().to_pandas())
        return out

    @staticmethod
    def _q5(lf, l1):
        import polars as pl

        return (lf.select("latency_ms", l1.alias("tag")).explode("tag").drop_nulls("tag")
                .group_by("tag").agg(pl.col("latency_ms").quantile(0.5, "linear").alias("latency_p50"),
                                     pl.col("latency_ms").quantile(0.95, "linear").alias("latency_p95"))
                .collect().to_pandas())

    def e2e(self, path, q):
        import polars as pl

        lf = pl.scan_parquet(path)
        if q == "Q1":
            return canonical(self._rollup(lf.select(*_SUMS, "request_tags")), q)
        if q == "Q2":
            e = pl.element()
            sel = pl.col("request_tags").list.eval((e == Q2_FILTER) | e.str.starts_with(Q2_FILTER + "/")).list.any()
            return canonical(self._rollup(lf.select(*_SUMS, "request_tags").filter(sel),
                                          pl.col("node").str.starts_with(Q2_UNDER + "/")), q)
        if q == "Q3":
            return canonical(self._q3(lf.select("ts", "cost", "request_tags"), self._l1()), q)
        if q == "Q4":
            return canonical(self._q4(lf.select("cost", "request_tags"), self._cust()), q)
        if q == "Q5":
            return canonical(self._q5(lf.select("latency_ms", "request_tags"), self._l1()), q)
        raise ValueError(q)

    def prepare(self, path):
        import polars as pl

        lf = pl.scan_parquet(path).with_row_index("rid")
        ex = lf.select("rid", "request_tags").explode("request_tags").rename({"request_tags": "tag"}).drop_nulls("tag")
        ex = ex.collect().lazy()
        closure = (ex.join(self._prefixes(ex).select("tag", "node"), on="tag")
                   .select("rid", pl.col("node").cast(pl.Categorical))
                   .unique(["rid", "node"]).group_by("rid").agg(pl.col("node").alias("nodes")))
        req = (lf.select("rid", "ts", "cost", "prompt_tokens", "completion_tokens", "latency_ms")
               .join(closure, on="rid", how="left", maintain_order="left")
               .with_columns(pl.col("nodes").fill_null(pl.lit([], dtype=pl.List(pl.Categorical))))
               .drop("rid").collect())
        return req.rechunk()

    def query(self, req, q):
        import polars as pl

        lf = req.lazy()
        e = pl.element()
        if q == "Q1":
            out = (lf.select(*_SUMS, "nodes").explode("nodes").drop_nulls("nodes")
                   .group_by("nodes").agg(pl.len().alias("requests"), *[pl.col(c).sum() for c in _SUMS])
                   .rename({"nodes": "tag"}).collect().to_pandas())
            return canonical(out, q)
        if q == "Q2":
            out = (lf.filter(pl.col("nodes").list.contains(pl.lit(Q2_FILTER, pl.Categorical)))
                   .select(*_SUMS, pl.col("nodes").list.eval(e.filter(e.cast(pl.String).str.starts_with(Q2_UNDER + "/"))))
                   .explode("nodes").drop_nulls("nodes")
                   .group_by("nodes").agg(pl.len().alias("requests"), *[pl.col(c).sum() for c in _SUMS])
                   .rename({"nodes": "tag"}).collect().to_pandas())
            return canonical(out, q)
        l1 = pl.col("nodes").list.eval(e.filter(~e.cast(pl.String).str.contains("/", literal=True)))
        if q == "Q3":
            return canonical(self._q3(lf.select("ts", "cost", "nodes"), l1), q)
        if q == "Q4":
            cust = pl.col("nodes").list.eval(e.filter(e.cast(pl.String).str.contains(r"^customer/[^/]+$")))
            return canonical(self._q4(lf.select("cost", "nodes"), cust), q)
        if q == "Q5":
            return canonical(self._q5(lf.select("latency_ms", "nodes"), l1), q)
        raise ValueError(q)


# =========================================================================================== DuckDB


_DUCK_PREFIX = """pref AS (
  SELECT tag, unnest(list_transform(range(1, len(parts) + 1),
                                    lambda i: array_to_string(parts[1:i], '/'))) AS node
  FROM (SELECT tag, string_split(tag, '/') AS parts FROM (SELECT DISTINCT tag FROM ex)))"""
_DUCK_L1 = "list_distinct(list_transform(request_tags, lambda t: split_part(t, '/', 1)))"
_DUCK_CUST = (f"list_distinct(list_transform(list_filter(request_tags, lambda t: starts_with(t, '{Q4_UNDER}/')),"
              " lambda t: split_part(t, '/', 1) || '/' || split_part(t, '/', 2)))")


class DuckDBPeer:
    name = "duckdb"
    modules = ("duckdb",)

    def __init__(self):
        import duckdb

        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")

    def _df(self, sql):
        return self.con.sql(sql).df()

    @staticmethod
    def _sql_q3(src, tags_expr):
        return f"""
        WITH src AS (SELECT epoch_ns(ts) AS t, cost, {tags_expr} AS l1 FROM {src}),
             win AS (SELECT t, cost, l1 FROM src WHERE t > (SELECT max(t) FROM src) - {_WINDOW_NS}
                                             AND t <= (SELECT max(t) FROM src))
        SELECT (t // {NS_PER_DAY}) * {NS_PER_DAY} AS day, tag, sum(cost) AS cost
        FROM (SELECT t, cost, unnest(l1) AS tag FROM win) GROUP BY ALL"""

    @staticmethod
    def _sql_q4(src, cust_expr):
        return f"""
        WITH r AS (SELECT cost, {cust_expr} AS c FROM {src})
        SELECT tag, sum(cost) AS cost FROM (
            SELECT unnest(c) AS tag, cost / len(c) AS cost FROM r WHERE len(c) > 0
            UNION ALL SELECT '{UNTAGGED}' AS tag, cost FROM r WHERE len(c) = 0) GROUP BY tag"""

    @staticmethod
    def _sql_q5(src, l1_expr):
        return f"""
        SELECT tag, q[1] AS latency_p50, q[2] AS latency_p95 FROM (
          SELECT tag, quantile_cont(latency_ms, [0.5, 0.95]) AS q
          FROM (SELECT latency_ms, unnest({l1_expr}) AS tag FROM {src}) GROUP BY tag)"""

    def e2e(self, path, q):
        src = f"read_parquet({_sql_str(str(path))}, file_row_number = true)"
        sums = ", ".join(_SUMS)
        agg = ("count(*) AS requests, sum(cost) AS cost, sum(prompt_tokens)::BIGINT AS prompt_tokens, "
               "sum(completion_tokens)::BIGINT AS completion_tokens")
        if q in ("Q1", "Q2"):
            where, node_where = "", ""
            if q == "Q2":
                where = (f"WHERE len(list_filter(request_tags, lambda t: t = {_sql_str(Q2_FILTER)}"
                         f" OR starts_with(t, {_sql_str(Q2_FILTER + '/')}))) > 0")
                node_where = f"WHERE starts_with(node, {_sql_str(Q2_UNDER + '/')})"
            sql = f"""
            WITH ex AS (SELECT file_row_number AS rid, {sums}, unnest(request_tags) AS tag FROM {src} {where}),
            {_DUCK_PREFIX},
            ids AS (SELECT tag, node, dense_rank() OVER (ORDER BY node) AS node_id FROM pref {node_where}),
            rn AS (SELECT DISTINCT rid, node_id, {sums} FROM ex JOIN ids USING (tag)),
            agg AS (SELECT node_id, {agg} FROM rn GROUP BY node_id)
            SELECT node AS tag, * EXCLUDE (node_id, node)
            FROM agg JOIN (SELECT DISTINCT node_id, node FROM ids) USING (node_id)"""
            return canonical(self._df(sql), q)
        if q == "Q3":
            return canonical(self._df(self._sql_q3(src, _DUCK_L1)), q)
        if q == "Q4":
            return canonical(self._df(self._sql_q4(src, _DUCK_CUST)), q)
        if q == "Q5":
            return canonical(self._df(self._sql_q5(src, _DUCK_L1)), q)
        raise ValueError(q)

    def prepare(self, path):
        src = f"read_parquet({_sql_str(str(path))}, file_row_number = true)"
        self.con.execute(f"""
        CREATE OR REPLACE TABLE req AS
        WITH base AS (SELECT file_row_number AS rid, * FROM {src}),
        ex AS (SELECT rid, unnest(request_tags) AS tag FROM base),
        {_DUCK_PREFIX},
        rn AS (SELECT rid, list(DISTINCT node) AS nodes FROM ex JOIN pref USING (tag) GROUP BY rid)
        SELECT base.rid, ts, cost, prompt_tokens, completion_tokens, latency_ms,
               coalesce(nodes, []::VARCHAR[]) AS nodes
        FROM base LEFT JOIN rn USING (rid) ORDER BY base.rid""")
        return self

    def query(self, st, q):
        agg = ("count(*) AS requests, sum(cost) AS cost, sum(prompt_tokens)::BIGINT AS prompt_tokens, "
               "sum(completion_tokens)::BIGINT AS completion_tokens")
        sums = ", ".join(_SUMS)
        l1 = "list_filter(nodes, lambda x: NOT contains(x, '/'))"
        if q == "Q1":
            return canonical(self._df(f"SELECT tag, {agg} FROM (SELECT {sums}, unnest(nodes) AS tag FROM req) GROUP BY tag"), q)
        if q == "Q2":
            sql = f"""SELECT tag, {agg} FROM (
                SELECT {sums}, unnest(list_filter(nodes, lambda x: starts_with(x, {_sql_str(Q2_UNDER + '/')}))) AS tag
                FROM req WHERE list_contains(nodes, {_sql_str(Q2_FILTER)})) GROUP BY tag"""
            return canonical(self._df(sql), q)
        if q == "Q3":
            src = "(SELECT ts, cost, nodes AS request_tags FROM req)"
            return canonical(self._df(self._sql_q3(src, l1.replace("nodes", "request_tags"))), q)
        if q == "Q4":
            cust = f"list_filter(nodes, lambda x: x LIKE '{Q4_UNDER}/%' AND NOT x LIKE '{Q4_UNDER}/%/%')"
            return canonical(self._df(self._sql_q4("req", cust)), q)
        if q == "Q5":
            return canonical(self._df(self._sql_q5("req", l1)), q)
        raise ValueError(q)


# =========================================================================================== chDB

_CH_PREFIXES = ("arrayMap(t -> arrayMap(i -> arrayStringConcat(arraySlice(splitByChar('/', t), 1, i), '/'),"
                " range(1, length(splitByChar('/', t)) + 1)), request_tags)")
_CH_NODES = f"arrayDistinct(arrayFlatten({_CH_PREFIXES}))"
_CH_L1 = "arrayDistinct(arrayMap(t -> splitByChar('/', t)[1], request_tags))"
_CH_CUST = (f"arrayDistinct(arrayMap(t -> concat('{Q4_UNDER}/', splitByChar('/', t)[2]),"
            f" arrayFilter(t -> startsWith(t, '{Q4_UNDER}/'), request_tags)))")
_CH_STRUCTURE = ("ts DateTime64(9, 'UTC'), prompt_tokens Int64, completion_tokens Int64, cost Float64, "
                 "latency_ms Float64, request_tags Array(String)")


class ChDBPeer:
    name = "chdb"
    modules = ("chdb",)
    _tables = 0

    def __init__(self):
        import chdb

        self.conn = chdb.connect(":memory:")
        self.db = "tagbench"

    def _df(self, sql):
        return self.conn.query(sql, "DataFrame")

    @staticmethod
    def _sql_rollup(src, where="", node_filter=""):
        nodes = _CH_NODES if not node_filter else f"arrayFilter(x -> {node_filter}, {_CH_NODES})"
        return f"""
        SELECT node AS tag, count() AS requests, sum(cost) AS cost, sum(prompt_tokens) AS prompt_tokens,
               sum(completion_tokens) AS completion_tokens
        FROM {src} ARRAY JOIN {nodes} AS node {where} GROUP BY node"""

    @staticmethod
    def _sql_q3(src, l1):
        return f"""
        WITH (SELECT max(toUnixTimestamp64Nano(ts)) FROM {src}) AS now
        SELECT intDiv(t, {NS_PER_DAY}) * {NS_PER_DAY} AS day, tag, sum(cost) AS cost FROM (
          SELECT toUnixTimestamp64Nano(ts) AS t, cost, {l1} AS l1 FROM {src}
          WHERE t > now - {_WINDOW_NS} AND t <= now)
        ARRAY JOIN l1 AS tag GROUP BY day, tag"""

    @staticmethod
    def _sql_q4(src, cust):
        return f"""
        SELECT tag, sum(share) AS cost FROM (
          SELECT {cust} AS c, if(empty(c), ['{UNTAGGED}'], c) AS tags, cost / greatest(length(c), 1) AS share
          FROM {src}) ARRAY JOIN tags AS tag GROUP BY tag"""

    @staticmethod
    def _sql_q5(src, l1):
        return f"""
        SELECT tag, q[1] AS latency_p50, q[2] AS latency_p95 FROM (
          SELECT tag, quantilesExactInclusive(0.5, 0.95)(latency_ms) AS q
          FROM {src} ARRAY JOIN {l1} AS tag GROUP BY tag)"""

    def e2e(self, path, q):
        src = f"file({_sql_str(str(path))}, Parquet, {_sql_str(_CH_STRUCTURE)})"
        if q == "Q1":
            return canonical(self._df(self._sql_rollup(src)), q)
        if q == "Q2":
            where = (f"WHERE arrayExists(t -> t = {_sql_str(Q2_FILTER)} OR startsWith(t, {_sql_str(Q2_FILTER + '/')}),"
                     " request_tags)")
            src2 = f"(SELECT * FROM {src} {where})"
            return canonical(self._df(self._sql_rollup(src2, node_filter=f"startsWith(x, {_sql_str(Q2_UNDER + '/')})")), q)
        if q == "Q3":
            return canonical(self._df(self._sql_q3(src, _CH_L1)), q)
        if q == "Q4":
            return canonical(self._df(self._sql_q4(src, _CH_CUST)), q)
        if q == "Q5":
            return canonical(self._df(self._sql_q5(src, _CH_L1)), q)
        raise ValueError(q)

    def prepare(self, path):
        # chDB connections in one process share one engine: give every prepared log its own table
        ChDBPeer._tables += 1
        table = f"{self.db}.req_{os.getpid()}_{ChDBPeer._tables}"
        src = f"file({_sql_str(str(path))}, Parquet, {_sql_str(_CH_STRUCTURE)})"
        self.conn.query(f"CREATE DATABASE IF NOT EXISTS {self.db}")
        self.conn.query(f"DROP TABLE IF EXISTS {table}")
        self.conn.query(f"""
            CREATE TABLE {table} ENGINE = Memory AS
            SELECT ts, cost, prompt_tokens, completion_tokens, latency_ms,
                   CAST({_CH_NODES} AS Array(LowCardinality(String))) AS nodes FROM {src}""")
        return table

    def query(self, st, q):
        src = st
        l1 = "arrayFilter(x -> position(x, '/') = 0, nodes)"
        if q == "Q1":
            return canonical(self._df(f"""
                SELECT node AS tag, count() AS requests, sum(cost) AS cost, sum(prompt_tokens) AS prompt_tokens,
                       sum(completion_tokens) AS completion_tokens
                FROM {src} ARRAY JOIN nodes AS node GROUP BY node"""), q)
        if q == "Q2":
            return canonical(self._df(f"""
                SELECT node AS tag, count() AS requests, sum(cost) AS cost, sum(prompt_tokens) AS prompt_tokens,
                       sum(completion_tokens) AS completion_tokens
                FROM {src} ARRAY JOIN arrayFilter(x -> startsWith(x, {_sql_str(Q2_UNDER + '/')}), nodes) AS node
                WHERE has(nodes, {_sql_str(Q2_FILTER)}) GROUP BY node"""), q)
        if q == "Q3":
            return canonical(self._df(self._sql_q3(src, l1)), q)
        if q == "Q4":
            cust = f"arrayFilter(x -> match(x, '^{Q4_UNDER}/[^/]+$'), nodes)"
            return canonical(self._df(self._sql_q4(src, cust)), q)
        if q == "Q5":
            return canonical(self._df(self._sql_q5(src, l1)), q)
        raise ValueError(q)


PEERS = {"pandas": PandasPeer, "polars": PolarsPeer, "duckdb": DuckDBPeer, "chdb": ChDBPeer}
