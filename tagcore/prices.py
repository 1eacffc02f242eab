"""Per-model token prices, held exactly, and request costs in integer nano-dollars.

A :class:`PriceTable` maps model names to per-token prices in LiteLLM's
``model_prices_and_context_window.json`` shape and prices requests exactly:

>>> from tagcore.prices import PriceTable
>>> table = PriceTable({"gpt-4o": {"input_cost_per_token": 2.5e-06,
...                                "output_cost_per_token": 1e-05,
...                                "cache_read_input_token_cost": 1.25e-06}})
>>> table.cost_nanos("gpt-4o", prompt_tokens=10, completion_tokens=20)   # 10 * 2500 + 20 * 10000
225000
>>> table.cost_nanos("openai/gpt-4o", 1000, 0, cached_tokens=400)         # 600 * 2500 + 400 * 1250
2000000
>>> table.cost_nanos("no-such-model", 10, 20) is None                    # unknown: never priced at 0
True
>>> table.unpriced
{'no-such-model': 1}

Conventions (each one a decision; the tests pin them):

* **Exact prices.** A float price is read through ``Decimal(repr(x))`` (so ``2.5e-06`` is exactly
  2500 nano-dollars per token, not the nearest binary float); strings and ``Decimal`` are read
  as written. Each price is kept as an integer numerator over ``10**k`` nano-dollars.
* **One rounding per request.** The exact cost of a request is summed over its token kinds and
  rounded once to the nearest nano-dollar, ties to even.
* **Token kinds.** ``cached_tokens`` and ``cache_creation_tokens`` are subsets of
  ``prompt_tokens`` (OpenAI's ``prompt_tokens_details.cached_tokens`` is; LiteLLM bills them that
  way too): the rest of the prompt is billed at ``input_cost_per_token``, cached tokens at
  ``cache_read_input_token_cost`` and cache writes at ``cache_creation_input_token_cost``.
  ``reasoning_tokens`` are a subset of ``completion_tokens``; they are billed at
  ``output_cost_per_reasoning_token`` when the model has one, else at the output rate.
* **Long-context tiers** follow LiteLLM (``litellm/litellm_core_utils/llm_cost_calc/utils.py``,
  ``_get_token_base_cost``, read in repo BerriAI/litellm): thresholds are read from the keys
  ``input_cost_per_token_above_<N>k_tokens`` / ``..._above_<N>_tokens`` with a non-null value; the
  highest threshold that ``prompt_tokens`` strictly exceeds selects the tier, and then *every*
  token of the request (input, output, cache read, cache creation) is billed at that tier's
  ``*_above_<N>..._tokens`` rate, falling back to the base rate for a kind the tier does not list.
  (LiteLLM makes the comparison inclusive for xAI only; we use the strict one throughout.)
  Service-tier variants (``_batches``, ``_flex``, ``_priority``...) are not used.
  A ``tiered_pricing`` list (``[{"range": [lo, hi], "input_cost_per_token": ...}, ...]``) is
  all-or-nothing as in LiteLLM's ``tiered_pricing.select_tier_for_input``: the tier with
  ``lo < prompt_tokens <= hi`` prices the whole request, prompts above the last range use the
  last tier; a prompt of 0 tokens uses the first tier (LiteLLM selects none there).
* **Model lookup**: the exact name; else, for ``provider/name``, the name without its first
  segment (``openai/gpt-4o-mini`` -> ``gpt-4o-mini``); else, for a name without ``/``, the one
  table key of the form ``<provider>/<name>`` if exactly one exists (``deepseek-chat`` ->
  ``deepseek/deepseek-chat``; an ambiguous name stays unknown). Names are case-sensitive.
* **Dated snapshots.** A name that none of those rules finds and that ends in a release date,
  ``-YYYY-MM-DD`` (OpenAI: ``gpt-4o-mini-2024-07-18``), ``-YYYYMMDD`` (Anthropic:
  ``claude-sonnet-4-5-20250929``) or ``@YYYYMMDD`` (Vertex AI: ``claude-3-5-haiku@20241022``),
  with a real calendar date from the year 2000 on, is looked up again without it, by the same
  rules (``openai/gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``). The dated key always wins when
  the table has it: LiteLLM's map lists most snapshots itself, some at other prices than their
  alias (``gpt-4o-2024-05-13``), so a small hand-written table is where the fallback matters.
  Requests priced through it are counted per model in :attr:`aliases`. Other version
  suffixes (``-0613``, ``-001``, ``-latest``, ``-v1:0``) are not stripped.
* **Never silently zero.** A request is *unpriced* (cost ``None`` from :meth:`cost_nanos`,
  ``unpriced_mask`` True and 0 in :meth:`price_many`) when its model is unknown or when it needs a
  rate the model lacks: input or output tokens without an input or output price. Unpriced
  requests are counted per model in :attr:`unpriced` (with a first reason in
  :attr:`unpriced_reasons`). Cached or cache-write tokens for a model without that cache rate
  are billed at the input rate (the model's listed price; LiteLLM at the version read falls back
  to 0.0, which we refuse) and counted per model in :attr:`fallbacks`; with
  ``missing_cache_rate="unpriced"`` such requests are unpriced instead.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from tagcore.coerce import to_decimal
from tagcore.errors import CoerceError

__all__ = ["PriceTable"]

# token kinds -> LiteLLM key of the base rate
_KINDS = ("input", "output", "cache_read", "cache_creation", "reasoning")
_BASE_KEYS = {
    "input": "input_cost_per_token",
    "output": "output_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_creation": "cache_creation_input_token_cost",
    "reasoning": "output_cost_per_reasoning_token",
}
_ABOVE_RE = re.compile(r"^input_cost_per_token_above_(\d+)(k?)_tokens$")
# a release date at the end of a model name: -YYYY-MM-DD, -YYYYMMDD or @YYYYMMDD
_DATED_RE = re.compile(r"^(.+?)(?:-(\d{4})-(\d{2})-(\d{2})|[-@](\d{4})(\d{2})(\d{2}))$")
_INT64_MAX = 2**63 - 1

Rate = tuple[int, int]  # (numerator, k): numerator / 10**k nano-dollars per token


def _parse_price(value: Any, model: str, field: str) -> Rate | None:
    """A price in dollars per token -> exact (numerator, k) nano-dollars per token."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise TypeError(f"price of {model!r} field {field!r}: expected a number, got "
                        f"{type(value).__name__} {value!r}")
    try:
        d = to_decimal(value, field)  # the library's one reading of a number
    except CoerceError as exc:
        raise ValueError(f"price of {model!r} field {field!r}: {exc.reason}") from None
    if not d.is_finite() or d < 0:
        raise ValueError(
            f"price of {model!r} field {field!r}: expected a finite price >= 0, got {value!r}"
        )
    if d.adjusted() >= 10:  # one token must cost less than int64 nano-dollars ($9.2e9)
        raise ValueError(f"price of {model!r} field {field!r}: {value!r} dollars per token "
                         "is too large (one token must fit in int64 nano-dollars)")
    _, digits, exp = d.scaleb(9).normalize().as_tuple()
    num = int("".join(map(str, digits)) or "0")
    if exp >= 0:
        return num * 10**exp, 0
    return num, -exp


def _undated(model: str) -> str | None:
    """``model`` without its trailing release date, or None when it has none.

    >>> [_undated(m) for m in ("gpt-4o-mini-2024-07-18", "claude-sonnet-4-5-20250929",
    ...                        "vertex_ai/claude-3-5-haiku@20241022", "gpt-4-0613",
    ...                        "m-2024-13-01", "m-19991231", "-2024-07-18")]
    ['gpt-4o-mini', 'claude-sonnet-4-5', 'vertex_ai/claude-3-5-haiku', None, None, None, None]
    """
    m = _DATED_RE.match(model)
    if m is None:
        return None
    g = m.groups()
    y, mo, d = (int(x) for x in (g[1:4] if g[1] is not None else g[4:7]))
    if y < 2000:
        return None
    try:
        datetime.date(y, mo, d)
    except ValueError:
        return None
    base = g[0]
    return base if base and not base.endswith(("/", "-", "@")) else None


def _rate_to_decimal(rate: Rate) -> Decimal:
    """Dollars per token as an exact Decimal."""
    return Decimal(rate[0]).scaleb(-rate[1] - 9)


class _Tiers:
    """One model's tiers: ``thresholds[i]`` (prompt must exceed it) and ``rates[i]`` per kind."""

    __slots__ = ("thresholds", "rates")

    def __init__(self, thresholds: list[int], rates: list[dict[str, Rate | None]]):
        self.thresholds = np.asarray(thresholds, dtype=np.int64)
        self.rates = rates

    def select(self, prompt_tokens: int) -> int:
        return int(np.searchsorted(self.thresholds, prompt_tokens, side="left")) - 1


def _build_tiers(model: str, entry: Mapping[str, Any]) -> _Tiers:
    base = {kind: _parse_price(entry.get(key), model, key) for kind, key in _BASE_KEYS.items()}
    if base["cache_read"] is None and entry.get("input_cost_per_token_cache_hit") is not None:
        base["cache_read"] = _parse_price(
            entry["input_cost_per_token_cache_hit"], model, "input_cost_per_token_cache_hit"
        )
    tiered = entry.get("tiered_pricing")
    # token tiers only: every tier has a [lo, hi] range and an input price (search tools
    # use tiered_pricing with per-query prices; those are not token prices and are ignored)
    token_tiers = (
        isinstance(tiered, list)
        and bool(tiered)
        and all(
            isinstance(t, Mapping)
            and isinstance(t.get("range"), (list, tuple))
            and len(t["range"]) == 2
            and "input_cost_per_token" in t
            for t in tiered
        )
    )
    if token_tiers and base["input"] is None:
        tiers = [(float(t["range"][0]), t) for t in tiered]  # type: ignore[union-attr]
        tiers.sort(key=lambda t: t[0])
        thresholds: list[int] = []
        rates: list[dict[str, Rate | None]] = []
        for j, (lo, tier) in enumerate(tiers):
            where = f"tiered_pricing[{j}]"
            out = _parse_price(
                tier.get("output_cost_per_token"), model, where + ".output_cost_per_token"
            )
            r = {
                "input": _parse_price(
                    tier.get("input_cost_per_token"), model, where + ".input_cost_per_token"
                ),
                "output": out if out is not None else base["output"],
                "cache_read": _parse_price(
                    tier.get("cache_read_input_token_cost"),
                    model,
                    where + ".cache_read_input_token_cost",
                ),
                "cache_creation": _parse_price(
                    tier.get("cache_creation_input_token_cost"),
                    model,
                    where + ".cache_creation_input_token_cost",
                ),
                "reasoning": _parse_price(
                    tier.get("output_cost_per_reasoning_token"),
                    model,
                    where + ".output_cost_per_reasoning_token",
                ),
            }
            thresholds.append(-1 if j == 0 else math.floor(lo))
            rates.append(r)
        return _Tiers(thresholds, rates)
    thresholds = [-1]
    rates = [base]
    above = []
    for key, value in entry.items():
        m = _ABOVE_RE.match(key)
        if m and value is not None:
            above.append((int(m.group(1)) * (1000 if m.group(2) else 1), m.group(1) + m.group(2)))
    for n, label in sorted(above):
        tier = dict(base)
        for kind in ("input", "output", "cache_read", "cache_creation"):
            key = f"{_BASE_KEYS[kind]}_above_{label}_tokens"
            r = _parse_price(entry.get(key), model, key)
            if r is not None:
                tier[kind] = r
        thresholds.append(n)
        rates.append(tier)
    return _Tiers(thresholds, rates)


def _round_half_even(total: int, k: int) -> int:
    if k == 0:
        return total
    d = 10**k
    q, r = divmod(total, d)
    if 2 * r > d or (2 * r == d and q % 2 == 1):
        q += 1
    return q


class PriceTable:
    """Per-model token prices; costs of requests as exact integer nano-dollars.

    ``prices`` maps a model name to LiteLLM-style fields (dollars per token):
    ``input_cost_per_token``, ``output_cost_per_token``, ``cache_read_input_token_cost``,
    ``cache_creation_input_token_cost``, ``output_cost_per_reasoning_token``, the
    ``*_above_<N>k_tokens`` tiers and ``tiered_pricing``; other fields are ignored. A
    ``sample_spec`` key is skipped. See the module docstring for the billing rules.

    >>> t = PriceTable({"m": {"input_cost_per_token": "1e-6", "output_cost_per_token": "2e-6",
    ...                       "input_cost_per_token_above_128k_tokens": "2e-6"}})
    >>> t.cost_nanos("m", 128_000, 0), t.cost_nanos("m", 128_001, 0)
    (128000000, 256002000)
    >>> nanos, unpriced = t.price_many(["m", "x"], [10, 10], [1, 1])
    >>> nanos.tolist(), unpriced.tolist()
    ([12000, 0], [False, True])
    """

    def __init__(
        self,
        prices: Mapping[str, Mapping[str, Any]],
        *,
        missing_cache_rate: Literal["input", "unpriced"] = "input",
    ) -> None:
        if missing_cache_rate not in ("input", "unpriced"):
            raise ValueError(
                f"missing_cache_rate must be 'input' or 'unpriced', got {missing_cache_rate!r}"
            )
        if not isinstance(prices, Mapping):
            raise TypeError(
                f"prices: expected a mapping of model -> price fields, got {type(prices).__name__}"
            )
        self.missing_cache_rate = missing_cache_rate
        self._models: dict[str, _Tiers] = {}
        for model, entry in prices.items():
            if model == "sample_spec":
                continue
            if not isinstance(model, str):
                raise TypeError(f"prices: model names must be strings, got {model!r}")
            if not isinstance(entry, Mapping):
                raise TypeError(
                    f"price of {model!r}: expected a mapping of fields, got {type(entry).__name__}"
                )
            self._models[model] = _build_tiers(model, entry)
        by_suffix: dict[str, list[str]] = {}
        for name in self._models:
            head, sep, rest = name.partition("/")
            if sep and rest and "/" not in rest:
                by_suffix.setdefault(rest, []).append(name)
        self._unique_prefixed = {k: v[0] for k, v in by_suffix.items() if len(v) == 1}
        self._resolved: dict[str, str | None] = {}
        self._dated: set[str] = set()  # names resolved through a release-date fallback
        self.reset_report()

    @classmethod
    def from_litellm(
        cls,
        source: str | os.PathLike[str] | IO[str] | Mapping[str, Any],
        *,
        missing_cache_rate: Literal["input", "unpriced"] = "input",
    ) -> PriceTable:
        """Read LiteLLM's ``model_prices_and_context_window.json`` (a path, a file or a dict).

        Entries that are not objects are skipped, as is ``sample_spec``; entries without token
        prices (image, audio, per-second models) are kept and report as unpriced when used.

        >>> import io
        >>> t = PriceTable.from_litellm(io.StringIO('{"sample_spec": {}, "gpt-4o": '
        ...     '{"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05}}'))
        >>> len(t), t.cost_nanos("gpt-4o", 10, 20)
        (1, 225000)
        """
        if isinstance(source, Mapping):
            data = source
        elif hasattr(source, "read"):
            data = json.load(source)  # type: ignore[arg-type]
        else:
            with Path(source).open(encoding="utf-8") as fh:
                data = json.load(fh)
        if not isinstance(data, Mapping):
            raise ValueError("LiteLLM price map: expected a JSON object keyed by model name")
        return cls(
            {k: v for k, v in data.items() if isinstance(v, Mapping)},
            missing_cache_rate=missing_cache_rate,
        )

    # ------------------------------------------------------------------ lookup

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.resolve(model) is not None

    def __repr__(self) -> str:
        return f"PriceTable({len(self._models)} models)"

    @property
    def models(self) -> list[str]:
        """The model names of the table, in insertion order."""
        return list(self._models)

    def resolve(self, model: str) -> str | None:
        """The table key used for ``model``, or None when it is unknown (the module
        docstring gives the rules).

        >>> t = PriceTable({"gpt-4o-mini": {"input_cost_per_token": 1.5e-07},
        ...                 "deepseek/deepseek-chat": {"input_cost_per_token": 2.8e-07}})
        >>> t.resolve("openai/gpt-4o-mini"), t.resolve("deepseek-chat"), t.resolve("gpt-4o")
        ('gpt-4o-mini', 'deepseek/deepseek-chat', None)
        >>> t.resolve("gpt-4o-mini-2024-07-18"), t.resolve("openai/gpt-4o-mini-2024-07-18")
        ('gpt-4o-mini', 'gpt-4o-mini')
        """
        try:
            return self._resolved[model]
        except KeyError:
            pass
        found = self._lookup(model)
        if found is None:
            base = _undated(model)
            if base is not None:
                found = self._lookup(base)
                if found is not None:
                    self._dated.add(model)
        self._resolved[model] = found
        return found

    def _lookup(self, model: str) -> str | None:
        """The exact, provider-stripped or uniquely provider-prefixed key of ``model``."""
        if model in self._models:
            return model
        if "/" in model:
            rest = model.split("/", 1)[1]
            return rest if rest in self._models else None
        return self._unique_prefixed.get(model)

    def rates(self, model: str, prompt_tokens: int = 0) -> dict[str, Decimal | None]:
        """Dollars per token for each token kind of the tier that ``prompt_tokens`` selects.

        >>> t = PriceTable({"m": {"input_cost_per_token": 1e-06,
        ...                       "input_cost_per_token_above_128k_tokens": 2e-06}})
        >>> t.rates("m", 200_000)["input"]
        Decimal('0.000002')
        """
        key = self.resolve(model)
        if key is None:
            raise KeyError(f"unknown model {model!r}")
        tiers = self._models[key]
        r = tiers.rates[tiers.select(prompt_tokens)]
        return {kind: None if r[kind] is None else _rate_to_decimal(r[kind]) for kind in _KINDS}

    # ------------------------------------------------------------------ report

    @property
    def unpriced(self) -> dict[str, int]:
        """Model name -> number of requests that could not be priced since the last reset."""
        return dict(self._unpriced)

    @property
    def unpriced_reasons(self) -> dict[str, str]:
        """Model name -> the first reason it could not be priced."""
        return dict(self._reasons)

    @property
    def fallbacks(self) -> dict[str, int]:
        """Model name -> requests whose cache tokens were billed at the input rate (no cache rate)."""
        return dict(self._fallbacks)

    @property
    def aliases(self) -> dict[str, int]:
        """Model name -> requests priced at the price of the name without its release date
        (the table has no key for the dated snapshot; :meth:`resolve` gives the key used).

        >>> t = PriceTable({"gpt-4o-mini": {"input_cost_per_token": 1.5e-07,
        ...                                 "output_cost_per_token": 6e-07}})
        >>> t.cost_nanos("gpt-4o-mini-2024-07-18", 10, 5), t.aliases
        (4500, {'gpt-4o-mini-2024-07-18': 1})
        """
        return dict(self._aliases)

    def reset_report(self) -> None:
        """Forget the counts of :attr:`unpriced`, :attr:`fallbacks` and :attr:`aliases`."""
        self._unpriced: dict[str, int] = {}
        self._reasons: dict[str, str] = {}
        self._fallbacks: dict[str, int] = {}
        self._aliases: dict[str, int] = {}

    def _note_alias(self, model: str, n: int) -> None:
        if n and model in self._dated:
            self._aliases[model] = self._aliases.get(model, 0) + n

    def _note_unpriced(self, model: str, n: int, reason: str) -> None:
        self._unpriced[model] = self._unpriced.get(model, 0) + n
        self._reasons.setdefault(model, reason)

    # ------------------------------------------------------------------ pricing

    def _effective(
        self, rates: dict[str, Rate | None], need_cache_read: bool, need_cache_creation: bool
    ) -> tuple[dict[str, Rate | None], bool, str | None]:
        """Rates with cache fallbacks applied; (rates, used_fallback, reason if unpriced)."""
        eff = dict(rates)
        fell_back = False
        for kind, needed in (
            ("cache_read", need_cache_read),
            ("cache_creation", need_cache_creation),
        ):
            if needed and eff[kind] is None:
                if self.missing_cache_rate == "unpriced" or eff["input"] is None:
                    return eff, False, f"no {_BASE_KEYS[kind]}"
                eff[kind] = eff["input"]
                fell_back = True
        if eff["reasoning"] is None:
            eff["reasoning"] = eff["output"]
        return eff, fell_back, None

    def cost_nanos(
        self,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int = 0,
        cache_creation_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> int | None:
        """Exact cost of one request in nano-dollars, or None (counted) when it cannot be priced.

        >>> t = PriceTable({"m": {"input_cost_per_token": 3e-07, "output_cost_per_token": 1.5e-06}})
        >>> t.cost_nanos("m", 7, 3)          # 7 * 300 + 3 * 1500
        6600
        >>> t.cost_nanos("m", 5, 0, cached_tokens=2), t.fallbacks   # no cached rate: input rate
        (1500, {'m': 1})
        """
        counts = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "cached_tokens": cached_tokens,
            "cache_creation_tokens": cache_creation_tokens,
            "reasoning_tokens": reasoning_tokens,
        }
        for name, v in counts.items():
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"{name}: expected a non-negative integer, got {v!r}")
        if cached_tokens + cache_creation_tokens > prompt_tokens:
            raise ValueError(
                f"cached_tokens + cache_creation_tokens ({cached_tokens} + {cache_creation_tokens}) "
                f"exceed prompt_tokens ({prompt_tokens})"
            )
        if reasoning_tokens > completion_tokens:
            raise ValueError(
                f"reasoning_tokens ({reasoning_tokens}) exceed completion_tokens ({completion_tokens})"
            )
        key = self.resolve(model)
        if key is None:
            self._note_unpriced(model, 1, "unknown model")
            return None
        tiers = self._models[key]
        rates, fell_back, reason = self._effective(
            tiers.rates[tiers.select(int(prompt_tokens))],
            cached_tokens > 0,
            cache_creation_tokens > 0,
        )
        tokens = {
            "input": int(prompt_tokens - cached_tokens - cache_creation_tokens),
            "cache_read": int(cached_tokens),
            "cache_creation": int(cache_creation_tokens),
            "output": int(completion_tokens - reasoning_tokens),
            "reasoning": int(reasoning_tokens),
        }
        if reason is None:
            for kind in ("input", "output"):
                if tokens[kind] > 0 and rates[kind] is None:
                    reason = f"no {_BASE_KEYS[kind]}"
            if tokens["reasoning"] > 0 and rates["reasoning"] is None:
                reason = "no output_cost_per_token"
        if reason is not None:
            self._note_unpriced(model, 1, reason)
            return None
        if fell_back:
            self._fallbacks[model] = self._fallbacks.get(model, 0) + 1
        self._note_alias(model, 1)
        used = [(n, rates[kind]) for kind, n in tokens.items() if n > 0]
        if not used:
            return 0
        k = max(r[1] for _, r in used)  # type: ignore[index]
        total = sum(n * r[0] * 10 ** (k - r[1]) for n, r in used)  # type: ignore[index]
        out = _round_half_even(total, k)
        if out > _INT64_MAX:
            raise CoerceError("cost", f"{model!r}: {out} nano-dollars do not fit in int64")
        return out

    def price_many(
        self,
        models: Iterable[str] | np.ndarray,
        prompt_tokens: Any,
        completion_tokens: Any,
        cached_tokens: Any = None,
        cache_creation_tokens: Any = None,
        reasoning_tokens: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised :meth:`cost_nanos`: ``(nanos int64 array, unpriced bool mask)``.

        Rows are grouped by model and tier; each group is priced with int64 arithmetic on
        integer rates (nano-dollars scaled by ``10**k``), after checking that no product can
        overflow; a group that could overflow is priced with Python integers instead. Unpriced
        rows get 0 in ``nanos`` and True in the mask, and are counted in :attr:`unpriced`.
        ``models`` may be a sequence of names or a pandas ``Categorical``.

        >>> t = PriceTable({"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}})
        >>> nanos, bad = t.price_many(["m", "m"], [1, 2], [3, 4], cached_tokens=[0, 1])
        >>> nanos.tolist(), bad.tolist(), t.fallbacks
        ([7000, 10000], [False, False], {'m': 1})
        """
        if hasattr(models, "categories") and hasattr(models, "codes"):
            names = [str(c) for c in models.categories]  # type: ignore[union-attr]
            codes = np.asarray(models.codes, dtype=np.int64)  # type: ignore[union-attr]
            if (codes < 0).any():
                raise ValueError(
                    f"models: missing model at row {int(np.flatnonzero(codes < 0)[0])}"
                )
        else:
            arr = np.asarray(
                models if isinstance(models, np.ndarray) else list(models), dtype=object
            )
            if arr.ndim != 1:
                raise ValueError("models: expected a 1-d sequence of names")
            import pandas as pd  # only here: importing prices stays light

            codes, uniques = pd.factorize(arr, use_na_sentinel=True)
            codes = np.asarray(codes, dtype=np.int64)
            if (codes < 0).any():
                raise ValueError(
                    f"models: missing model at row {int(np.flatnonzero(codes < 0)[0])}"
                )
            for j, u in enumerate(uniques):
                if not isinstance(u, str):
                    row = int(np.flatnonzero(codes == j)[0])
                    raise TypeError(f"models: expected strings, got {u!r} at row {row}")
            names = list(uniques)
        n = len(codes)

        def counts(values: Any, name: str) -> np.ndarray:
            if values is None:
                return np.zeros(n, dtype=np.int64)
            a = np.asarray(values)
            if a.shape != (n,):
                raise ValueError(f"{name}: expected {n} values, got shape {a.shape}")
            if a.dtype.kind == "f":
                bad = ~np.isfinite(a) | (a != np.floor(a))
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    raise ValueError(
                        f"{name}: value {a[i].item()!r} at row {i} is not a whole number"
                    )
            elif a.dtype.kind not in "iub" and n:
                raise TypeError(f"{name}: expected integers, got dtype {a.dtype}")
            if n and (a.min() < 0 or a.max() > _INT64_MAX // 4):
                i = int(np.flatnonzero((a < 0) | (a > _INT64_MAX // 4))[0])
                raise ValueError(f"{name}: value {a[i].item()!r} at row {i} is out of range")
            return a.astype(np.int64)

        prompt = counts(prompt_tokens, "prompt_tokens")
        completion = counts(completion_tokens, "completion_tokens")
        cached = counts(cached_tokens, "cached_tokens")
        creation = counts(cache_creation_tokens, "cache_creation_tokens")
        reasoning = counts(reasoning_tokens, "reasoning_tokens")
        bad = cached + creation > prompt
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"row {i}: cached_tokens + cache_creation_tokens exceed prompt_tokens")
        bad = reasoning > completion
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"row {i}: reasoning_tokens exceed completion_tokens")
        tokens = {
            "input": prompt - cached - creation,
            "cache_read": cached,
            "cache_creation": creation,
            "output": completion - reasoning,
            "reasoning": reasoning,
        }

        nanos = np.zeros(n, dtype=np.int64)
        unpriced = np.zeros(n, dtype=bool)
        if n == 0:
            return nanos, unpriced
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(names) + 1), side="left")
        for m, name in enumerate(names):
            rows = order[bounds[m] : bounds[m + 1]]
            if rows.size == 0:
                continue
            key = self.resolve(name)
            if key is None:
                unpriced[rows] = True
                self._note_unpriced(name, int(rows.size), "unknown model")
                continue
            tiers = self._models[key]
            tier_of = np.searchsorted(tiers.thresholds, prompt[rows], side="left") - 1
            for t in np.unique(tier_of):
                sub = rows[tier_of == t]
                self._price_group(name, tiers.rates[int(t)], sub, tokens, nanos, unpriced)
            if name in self._dated:
                self._note_alias(name, int(rows.size - unpriced[rows].sum()))
        return nanos, unpriced

    def _price_group(
        self,
        name: str,
        base: dict[str, Rate | None],
        rows: np.ndarray,
        tokens: dict[str, np.ndarray],
        nanos: np.ndarray,
        unpriced: np.ndarray,
    ) -> None:
        tok = {kind: a[rows] for kind, a in tokens.items()}
        need_read = tok["cache_read"] > 0
        need_create = tok["cache_creation"] > 0
        eff, _, _ = self._effective(base, False, False)
        bad = np.zeros(rows.size, dtype=bool)
        reasons = []
        for kind, need in (
            ("input", tok["input"] > 0),
            ("output", tok["output"] > 0),
            ("reasoning", tok["reasoning"] > 0),
        ):
            if eff[kind] is None and need.any():
                bad |= need
                reasons.append(f"no {_BASE_KEYS['output' if kind == 'reasoning' else kind]}")
        fallback = np.zeros(rows.size, dtype=bool)
        for kind, need in (("cache_read", need_read), ("cache_creation", need_create)):
            if eff[kind] is None and need.any():
                if self.missing_cache_rate == "unpriced" or eff["input"] is None:
                    bad |= need
                    reasons.append(f"no {_BASE_KEYS[kind]}")
                else:
                    eff[kind] = eff["input"]
                    fallback |= need
        if bad.any():
            unpriced[rows[bad]] = True
            self._note_unpriced(name, int(bad.sum()), reasons[0])
        n_fb = int((fallback & ~bad).sum())
        if n_fb:
            self._fallbacks[name] = self._fallbacks.get(name, 0) + n_fb
        good = ~bad
        if not good.any():
            return
        used = [
            (kind, eff[kind]) for kind in _KINDS if eff[kind] is not None and tok[kind][good].any()
        ]
        if not used:
            return
        k = max(r[1] for _, r in used)  # type: ignore[index]
        scaled = [(kind, r[0] * 10 ** (k - r[1])) for kind, r in used]  # type: ignore[index]
        bound = sum(int(tok[kind][good].max()) * s for kind, s in scaled)
        target = rows[good]
        if bound <= _INT64_MAX and 10**k <= 2**61:
            total = np.zeros(int(good.sum()), dtype=np.int64)
            for kind, s in scaled:
                total += tok[kind][good] * np.int64(s)
            if k:
                d = np.int64(10**k)
                q, r = np.divmod(total, d)
                q += (2 * r > d) | ((2 * r == d) & (q % 2 == 1))
                total = q
            nanos[target] = total
        else:  # rare: huge token counts or long price decimals; exact Python integers
            total_obj = np.zeros(int(good.sum()), dtype=object)
            for kind, s in scaled:
                total_obj = total_obj + tok[kind][good].astype(object) * s
            out = [_round_half_even(int(v), k) for v in total_obj]
            if out and max(out) > _INT64_MAX:
                raise CoerceError(
                    "cost", f"{name!r}: a request's cost exceeds the int64 nano-dollar range"
                )
            nanos[target] = np.asarray(out, dtype=np.int64)
