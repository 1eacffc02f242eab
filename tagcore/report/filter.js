/*
 * tagcore filter language in the browser: the same strings, the same refusals and the same
 * selected requests as Python's `tagcore.filters.parse_filter` and `RequestLog.filter`.
 *
 * No dependencies; defines the global `TagcoreFilter`:
 *
 *   TagcoreFilter.parse(text)                 -> ast (throws TagcoreFilter.SyntaxError)
 *   TagcoreFilter.mask(textOrAst, trie, reqs) -> Uint8Array(reqs.n), 1 = the request matches
 *   TagcoreFilter.format(ast)                 -> canonical string, as Python's str(filter)
 *
 * `trie` is {paths: [...], parents: [...]} (every node, parents[i] = -1 for a root) and `reqs`
 * is {n, tag_offsets, tag_ids} (CSR of node ids), as exported by the report.
 *
 * AST nodes: {type: "tag", path, exact}, {type: "glob", pattern, exact}, {type: "and", items},
 * {type: "or", items}, {type: "not", item}, {type: "all"}, {type: "none"}.
 *
 * Mirrored from tagcore/filters.py (lexer, parser, formatting, resolve), tagcore/trie.py
 * (TagTrie.match and the glob rules) and tagcore/tags.py (normalize_tag with the default
 * policy). Where JavaScript and Python differ, Python wins: text is handled as code points
 * (so positions are Python's indices), "white space" is Python's str.isspace() set (not JS
 * \s or trim(), which differ on U+001C-U+001F, U+0085 and U+FEFF), keywords are matched
 * ASCII-case-insensitively (no other character lower-cases into one), and NFC comes from
 * String.prototype.normalize.
 */
(function (root) {
  "use strict";

  var SEP = "/";
  var MAX_NESTING = 200;
  var MAX_TAG_BYTES = 256;
  var MAX_DEPTH = 16;
  var KEYWORDS = { and: "&", or: "|", not: "~", all: "all", none: "none" };
  var SPECIAL = "&|~()\"'";

  // Python's str.isspace(): general category Zs or bidi class WS, B or S (Unicode 14)
  var SPACES = [0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
    0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
    0x2028, 0x2029, 0x202f, 0x205f, 0x3000];
  var SPACE_SET = new Set(SPACES.map(function (c) { return String.fromCharCode(c); }));

  function isSpace(ch) { return SPACE_SET.has(ch); }
  function isWildcard(ch) { return ch === "*" || ch === "?"; }

  function chars(text) { return Array.from(text); } // code points; a lone surrogate is one

  function strip(text) {
    var cs = chars(text);
    var lo = 0;
    var hi = cs.length;
    while (lo < hi && isSpace(cs[lo])) lo++;
    while (hi > lo && isSpace(cs[hi - 1])) hi--;
    return cs.slice(lo, hi).join("");
  }

  function keyword(word) {
    if (!/^[A-Za-z]{2,4}$/.test(word)) return null;
    var w = word.toLowerCase();
    return Object.prototype.hasOwnProperty.call(KEYWORDS, w) ? KEYWORDS[w] : null;
  }

  function hex(c, width) {
    var s = c.toString(16).toUpperCase();
    while (s.length < width) s = "0" + s;
    return s;
  }

  // --- Python's repr() of a str, for error messages ------------------------------------------

  var NOT_PRINTABLE = /^[\p{C}\p{Z}]$/u;

  function pyRepr(text) {
    var quote = text.indexOf("'") >= 0 && text.indexOf('"') < 0 ? '"' : "'";
    var out = quote;
    chars(text).forEach(function (ch) {
      var c = ch.codePointAt(0);
      if (ch === quote || ch === "\\") out += "\\" + ch;
      else if (ch === "\t") out += "\\t";
      else if (ch === "\n") out += "\\n";
      else if (ch === "\r") out += "\\r";
      else if (c < 0x20 || c === 0x7f) out += "\\x" + hex(c, 2).toLowerCase();
      else if (c < 0x7f) out += ch;
      else if (ch === " " || !NOT_PRINTABLE.test(ch)) out += ch;
      else if (c <= 0xff) out += "\\x" + hex(c, 2).toLowerCase();
      else if (c <= 0xffff) out += "\\u" + hex(c, 4).toLowerCase();
      else out += "\\U" + hex(c, 8).toLowerCase();
    });
    return out + quote;
  }

  // --- the syntax error ---------------------------------------------------------------------

  /** A filter string that does not parse: `.reason`, `.text`, `.pos` (code point index, the
   * length of the text for its end; Python's FilterSyntaxError.position) and `.message`
   * (Python's message: reason, position, the text and a caret). */
  class FilterSyntaxError extends Error {
    constructor(reason, text, pos) {
      var shown = chars(text).map(function (c) {
        return "\t\n\r\x0b\x0c".indexOf(c) >= 0 ? " " : c;
      }).join("");
      super(reason + " at position " + pos + "\n  " + shown + "\n  " + " ".repeat(pos) + "^");
      this.name = "FilterSyntaxError";
      this.reason = reason;
      this.text = text;
      this.pos = pos;
      this.position = pos;
    }
  }

  // --- tag normalization (tagcore.tags.normalize_tag, default policy) --------------------------

  var INVISIBLE_NAMES = {
    0xad: "SOFT HYPHEN", 0x200b: "ZERO WIDTH SPACE", 0x200c: "ZERO WIDTH NON-JOINER",
    0x200d: "ZERO WIDTH JOINER", 0x2060: "WORD JOINER", 0xfeff: "ZERO WIDTH NO-BREAK SPACE",
    0x202a: "LEFT-TO-RIGHT EMBEDDING", 0x202b: "RIGHT-TO-LEFT EMBEDDING",
    0x202c: "POP DIRECTIONAL FORMATTING", 0x202d: "LEFT-TO-RIGHT OVERRIDE",
    0x202e: "RIGHT-TO-LEFT OVERRIDE", 0x2066: "LEFT-TO-RIGHT ISOLATE",
    0x2067: "RIGHT-TO-LEFT ISOLATE", 0x2068: "FIRST STRONG ISOLATE",
    0x2069: "POP DIRECTIONAL ISOLATE", 0xe0001: "LANGUAGE TAG", 0xe007f: "CANCEL TAG",
  };
  // names of U+0020..U+007E other than letters and digits (for the TAG characters' names)
  var ASCII_NAMES = {
    " ": "SPACE", "!": "EXCLAMATION MARK", '"': "QUOTATION MARK", "#": "NUMBER SIGN",
    "$": "DOLLAR SIGN", "%": "PERCENT SIGN", "&": "AMPERSAND", "'": "APOSTROPHE",
    "(": "LEFT PARENTHESIS", ")": "RIGHT PARENTHESIS", "*": "ASTERISK", "+": "PLUS SIGN",
    ",": "COMMA", "-": "HYPHEN-MINUS", ".": "FULL STOP", "/": "SOLIDUS", ":": "COLON",
    ";": "SEMICOLON", "<": "LESS-THAN SIGN", "=": "EQUALS SIGN", ">": "GREATER-THAN SIGN",
    "?": "QUESTION MARK", "@": "COMMERCIAL AT", "[": "LEFT SQUARE BRACKET",
    "\\": "REVERSE SOLIDUS", "]": "RIGHT SQUARE BRACKET", "^": "CIRCUMFLEX ACCENT",
    "_": "LOW LINE", "`": "GRAVE ACCENT", "{": "LEFT CURLY BRACKET", "|": "VERTICAL LINE",
    "}": "RIGHT CURLY BRACKET", "~": "TILDE",
  };
  var DIGITS = ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"];

  function invisibleName(c) {
    if (INVISIBLE_NAMES[c]) return INVISIBLE_NAMES[c];
    if (c >= 0xe0020 && c <= 0xe007e) {
      var a = String.fromCharCode(c - 0xe0000);
      if (a >= "0" && a <= "9") return "TAG DIGIT " + DIGITS[a.charCodeAt(0) - 48];
      if (a >= "A" && a <= "Z") return "TAG LATIN CAPITAL LETTER " + a;
      if (a >= "a" && a <= "z") return "TAG LATIN SMALL LETTER " + a.toUpperCase();
      return "TAG " + ASCII_NAMES[a];
    }
    return "TAG CHARACTER";
  }

  function isControl(c) {
    return c <= 0x1f || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029 ||
      (c >= 0xd800 && c <= 0xdfff);
  }

  function isInvisible(c) {
    return c === 0xad || (c >= 0x200b && c <= 0x200d) || c === 0x2060 || c === 0xfeff ||
      (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) ||
      (c >= 0xe0000 && c <= 0xe007f);
  }

  function utf8Length(text) {
    var n = 0;
    chars(text).forEach(function (ch) {
      var c = ch.codePointAt(0);
      n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    });
    return n;
  }

  /** NFC, white space stripped around every segment, empty segments dropped. */
  function normalizePath(text) {
    return text.normalize("NFC").split(SEP).map(strip).filter(function (s) {
      return s.length > 0;
    }).join(SEP);
  }

  /** normalize_tag(raw) with the default policy: the path, or throws {reason}. */
  function normalizeTag(raw) {
    var text = normalizePath(raw);
    if (!text) throw { reason: "is empty after normalization" };
    var cs = chars(raw);
    for (var i = 0; i < cs.length; i++) {
      var c = cs[i].codePointAt(0);
      if (c >= 0xd800 && c <= 0xdfff) {
        throw { reason: "contains an unpaired surrogate U+" + hex(c, 4) };
      }
      if (isInvisible(c)) {
        throw {
          reason: "contains invisible or direction-changing character U+" + hex(c, 4) +
            " (" + invisibleName(c) + "), which makes look-alike tags",
        };
      }
      if (isControl(c)) throw { reason: "contains control character U+" + hex(c, 4) };
    }
    var bytes = utf8Length(text);
    if (bytes > MAX_TAG_BYTES) {
      throw { reason: "is " + bytes + " UTF-8 bytes, more than the limit of " + MAX_TAG_BYTES };
    }
    var depth = text.split(SEP).length;
    if (depth > MAX_DEPTH) {
      throw { reason: "has " + depth + " segments, more than the limit of " + MAX_DEPTH };
    }
    return text;
  }

  // --- lexer (filters._lex) -------------------------------------------------------------------

  function lex(text) {
    var t = chars(text);
    var n = t.length;
    var toks = [];
    var i = 0;
    while (i < n) {
      var c = t[i];
      if (isSpace(c)) {
        i += 1;
      } else if ("&|~()=".indexOf(c) >= 0) {
        toks.push({ kind: c, pos: i, end: i + 1, value: "", isGlob: false });
        i += 1;
      } else if (c === '"' || c === "'") {
        var j = i + 1;
        var buf = [];
        var isGlob = false;
        var escapedWildcard = false;
        while (j < n && t[j] !== c) {
          var ch = t[j];
          if (ch === "\\" && j + 1 < n) {
            ch = t[j + 1];
            escapedWildcard = escapedWildcard || isWildcard(ch);
            j += 2;
          } else {
            isGlob = isGlob || isWildcard(ch);
            j += 1;
          }
          buf.push(ch);
        }
        if (j >= n) throw new FilterSyntaxError("unterminated quote " + c, text, i);
        if (isGlob && escapedWildcard) {
          throw new FilterSyntaxError(
            "a glob cannot also hold an escaped (literal) wildcard", text, i);
        }
        toks.push({ kind: "tag", pos: i, end: j + 1, value: buf.join(""), isGlob: isGlob });
        i = j + 1;
      } else {
        var k = i;
        while (k < n && !isSpace(t[k]) && SPECIAL.indexOf(t[k]) < 0) k += 1;
        var word = t.slice(i, k).join("");
        var kw = keyword(word);
        if (kw !== null) {
          toks.push({ kind: kw, pos: i, end: k, value: "", isGlob: false });
        } else {
          toks.push({ kind: "tag", pos: i, end: k, value: word,
            isGlob: word.indexOf("*") >= 0 || word.indexOf("?") >= 0 });
        }
        i = k;
      }
    }
    toks.push({ kind: "end", pos: n, end: n, value: "", isGlob: false });
    return { toks: toks, chars: t };
  }

  // --- parser (filters._Parser) ---------------------------------------------------------------

  function parse(text) {
    if (typeof text !== "string") throw new TypeError("TagcoreFilter.parse() takes a string");
    var lexed = lex(text);
    var toks = lexed.toks;
    var t = lexed.chars;
    var i = 0;
    var depth = 0;

    function src(tok) { return t.slice(tok.pos, tok.end).join(""); }
    function error(reason, tok) { return new FilterSyntaxError(reason, text, tok.pos); }
    function unexpected(tok, expected) {
      var what;
      if (tok.kind === "end") what = "unexpected end of input";
      else if (tok.kind === "tag") what = "unexpected tag " + pyRepr(src(tok));
      else what = "unexpected " + pyRepr(src(tok));
      return error(what + (expected ? " (" + expected + ")" : ""), tok);
    }
    function peek() { return toks[i]; }
    function take() { return toks[i++]; }

    function expr() {
      var items = [term()];
      while (peek().kind === "|") {
        take();
        items.push(term());
      }
      return items.length === 1 ? items[0] : { type: "or", items: items };
    }

    function term() {
      var items = [factor()];
      while (peek().kind === "&") {
        take();
        items.push(factor());
      }
      return items.length === 1 ? items[0] : { type: "and", items: items };
    }

    function factor() {
      var tok = peek();
      if (tok.kind === "~" || tok.kind === "(") {
        depth += 1;
        if (depth > MAX_NESTING) {
          throw error("filter nested deeper than " + MAX_NESTING + " levels", tok);
        }
        take();
        var f;
        if (tok.kind === "~") {
          f = { type: "not", item: factor() };
        } else {
          f = expr();
          var close = peek();
          if (close.kind !== ")") {
            throw unexpected(close, "expected ')' to close '(' at position " + tok.pos);
          }
          take();
        }
        depth -= 1;
        return f;
      }
      return atom();
    }

    function atom() {
      var tok = take();
      if (tok.kind === "all") return { type: "all" };
      if (tok.kind === "none") return { type: "none" };
      var exact = tok.kind === "=";
      if (exact) {
        tok = take();
        if (tok.kind !== "tag") throw unexpected(tok, "expected a tag or glob after '='");
      } else if (tok.kind !== "tag") {
        throw unexpected(tok, "");
      }
      try {
        if (tok.isGlob) {
          // filters._normalize_glob: never empty (a wildcard is not white space), no checks
          return { type: "glob", pattern: normalizePath(tok.value), exact: exact };
        }
        return { type: "tag", path: normalizeTag(tok.value), exact: exact };
      } catch (exc) {
        if (exc && typeof exc.reason === "string" && !(exc instanceof Error)) {
          throw error("invalid tag " + pyRepr(src(tok)) + ": " + exc.reason, tok);
        }
        throw exc;
      }
    }

    if (peek().kind === "end") return { type: "all" };
    var f = expr();
    var tok = peek();
    if (tok.kind !== "end") {
      throw unexpected(tok, tok.kind !== ")" ? "expected '&', '|' or the end" : "");
    }
    return f;
  }

  // --- canonical string (filters._format) ---------------------------------------------------

  function bareOk(text, wildcardsOk) {
    if (text[0] === "=" || keyword(text) !== null) return false;
    return chars(text).every(function (c) {
      return !(SPECIAL.indexOf(c) >= 0 || isSpace(c) || (!wildcardsOk && isWildcard(c)));
    });
  }

  function quote(text, escapeWildcards) {
    return '"' + chars(text).map(function (c) {
      return (c === '"' || c === "\\" || (escapeWildcards && isWildcard(c)) ? "\\" : "") + c;
    }).join("") + '"';
  }

  function fmt(f, parentPrec) {
    switch (f.type) {
      case "tag":
        return (f.exact ? "=" : "") + (bareOk(f.path, false) ? f.path : quote(f.path, true));
      case "glob":
        return (f.exact ? "=" : "") +
          (bareOk(f.pattern, true) ? f.pattern : quote(f.pattern, false));
      case "all": return "all";
      case "none": return "none";
      case "not": return "~" + fmt(f.item, 3);
      case "and":
      case "or": {
        var prec = f.type === "and" ? 2 : 1;
        var s = f.items.map(function (it) { return fmt(it, prec); })
          .join(f.type === "and" ? " & " : " | ");
        return parentPrec >= prec ? "(" + s + ")" : s;
      }
      default: throw new TypeError("not a filter node: " + JSON.stringify(f));
    }
  }

  function format(f) { return fmt(typeof f === "string" ? parse(f) : f, 0); }

  // --- the trie: ids, segments, an order with parents first ----------------------------------

  var prepared = new WeakMap();

  function prepare(trie) {
    var got = prepared.get(trie);
    if (got) return got;
    var paths = trie.paths;
    var parents = trie.parents;
    var n = paths.length;
    var ids = new Map();
    var segs = new Array(n);
    var inOrder = true;
    for (var i = 0; i < n; i++) {
      if (!ids.has(paths[i])) ids.set(paths[i], i);
      segs[i] = paths[i].slice(paths[i].lastIndexOf(SEP) + 1);
      if (parents[i] >= i) inOrder = false;
    }
    var order;
    if (inOrder) { // the tagcore trie's own guarantee: parents[i] < i
      order = null;
    } else {
      var depth = new Int32Array(n).fill(-1);
      var depthOf = function (v) {
        var chain = [];
        while (v >= 0 && depth[v] < 0) { chain.push(v); v = parents[v]; }
        var d = v >= 0 ? depth[v] : 0;
        for (var k = chain.length - 1; k >= 0; k--) depth[chain[k]] = ++d;
      };
      order = [];
      for (var j = 0; j < n; j++) { depthOf(j); order.push(j); }
      order.sort(function (a, b) { return depth[a] - depth[b] || a - b; });
    }
    got = { n: n, ids: ids, segs: segs, parents: parents, order: order };
    prepared.set(trie, got);
    return got;
  }

  function forEachParentFirst(t, fn) {
    if (t.order === null) {
      for (var i = 0; i < t.n; i++) fn(i);
    } else {
      for (var k = 0; k < t.n; k++) fn(t.order[k]);
    }
  }

  // --- globs over segments (trie._Pattern, TagTrie.match) --------------------------------------

  var LIT = 0;
  var ANY = 1;
  var GLOB = 2;
  var MULTI = 3;

  /** fnmatch-like on code points: `*` any run, `?` one character, all else literal. */
  function segmentMatch(pat, text) {
    var s = chars(text);
    var p = 0;
    var k = 0;
    var star = -1;
    var mark = 0;
    while (k < s.length) {
      if (p < pat.length && (pat[p] === "?" || (pat[p] !== "*" && pat[p] === s[k]))) {
        p++;
        k++;
      } else if (p < pat.length && pat[p] === "*") {
        star = p++;
        mark = k;
      } else if (star >= 0) {
        p = star + 1;
        k = ++mark;
      } else {
        return false;
      }
    }
    while (p < pat.length && pat[p] === "*") p++;
    return p === pat.length;
  }

  function compileGlob(pattern) {
    var segs = pattern.split(SEP);
    var n = segs.length;
    var kind = [];
    var arg = [];
    segs.forEach(function (seg) {
      if (seg === "**") {
        kind.push(MULTI); arg.push(null);
      } else if (seg.indexOf("*") < 0 && seg.indexOf("?") < 0) {
        kind.push(LIT); arg.push(seg);
      } else if (/^\*+$/.test(seg)) {
        kind.push(ANY); arg.push(null);
      } else {
        kind.push(GLOB); arg.push(chars(seg));
      }
    });
    function closure(states) {
      var out = new Set();
      states.forEach(function (i) {
        out.add(i);
        while (i < n && kind[i] === MULTI) { i += 1; out.add(i); }
      });
      return out;
    }
    var adv = [];
    for (var i = 0; i < n; i++) adv.push(closure(kind[i] === MULTI ? [i] : [i + 1]));

    // interned state sets: index 0 is the empty set
    var sets = [[]];
    var keys = new Map([["", 0]]);
    var moves = [new Map()];
    var finals = [false];
    function intern(set) {
      var arr = Array.from(set).sort(function (a, b) { return a - b; });
      var key = arr.join(",");
      var got = keys.get(key);
      if (got === undefined) {
        got = sets.length;
        sets.push(arr);
        keys.set(key, got);
        moves.push(new Map());
        finals.push(set.has(n));
      }
      return got;
    }
    var start = intern(closure([0]));

    function step(state, seg) {
      if (state === 0) return 0;
      var memo = moves[state];
      var got = memo.get(seg);
      if (got !== undefined) return got;
      var next = new Set();
      sets[state].forEach(function (i) {
        if (i === n) return;
        var k = kind[i];
        var hit = k === ANY || k === MULTI || (k === LIT && arg[i] === seg) ||
          (k === GLOB && segmentMatch(arg[i], seg));
        if (hit) adv[i].forEach(function (s) { next.add(s); });
      });
      got = intern(next);
      memo.set(seg, got);
      return got;
    }
    return { start: start, step: step, finals: finals };
  }

  /** Uint8Array over nodes: 1 where the node's path matches the glob `pattern`. */
  function matchGlob(pattern, t) {
    var g = compileGlob(pattern);
    var state = new Int32Array(t.n);
    var out = new Uint8Array(t.n);
    forEachParentFirst(t, function (v) {
      var p = t.parents[v];
      var s = g.step(p < 0 ? g.start : state[p], t.segs[v]);
      state[v] = s;
      if (g.finals[s]) out[v] = 1;
    });
    return out;
  }

  // --- resolve and evaluate (filters.resolve, Filter.mask) ------------------------------------

  function covered(leaf, t) {
    var cov;
    var any = false;
    if (leaf.type === "tag") {
      cov = new Uint8Array(t.n);
      var id = t.ids.get(leaf.path);
      if (id !== undefined) { cov[id] = 1; any = true; }
    } else {
      cov = matchGlob(leaf.pattern, t);
      any = cov.indexOf(1) >= 0;
    }
    if (!leaf.exact && any) {
      forEachParentFirst(t, function (v) {
        var p = t.parents[v];
        if (p >= 0 && cov[p]) cov[v] = 1;
      });
    }
    return any ? cov : null;
  }

  /**
   * Uint8Array(requests.n): 1 where the request is selected by the filter (a string or an ast
   * from parse()), exactly as Python's `log.filter(text)` selects rows.
   */
  function mask(filter, trie, requests) {
    var f = typeof filter === "string" ? parse(filter) : filter;
    var t = prepare(trie);
    var off = requests.tag_offsets;
    var tagIds = requests.tag_ids;
    var n = typeof requests.n === "number" ? requests.n : off.length - 1;
    var leafRows = new Map();

    function leafMask(leaf) {
      var key = leaf.type + (leaf.exact ? "=" : ":") + (leaf.type === "tag" ? leaf.path
        : leaf.pattern);
      var got = leafRows.get(key);
      if (got) return got;
      got = new Uint8Array(n);
      var cov = covered(leaf, t);
      if (cov !== null) {
        for (var r = 0; r < n; r++) {
          for (var k = off[r], e = off[r + 1]; k < e; k++) {
            if (cov[tagIds[k]]) { got[r] = 1; break; }
          }
        }
      }
      leafRows.set(key, got);
      return got;
    }

    function evaluate(node) {
      var out;
      var i;
      switch (node.type) {
        case "tag":
        case "glob":
          return leafMask(node);
        case "all":
          return new Uint8Array(n).fill(1);
        case "none":
          return new Uint8Array(n);
        case "not": {
          var inner = evaluate(node.item);
          out = new Uint8Array(n);
          for (i = 0; i < n; i++) out[i] = inner[i] ? 0 : 1;
          return out;
        }
        case "and":
        case "or": {
          var isAnd = node.type === "and";
          out = new Uint8Array(n).fill(isAnd ? 1 : 0);
          node.items.forEach(function (it) {
            var col = evaluate(it);
            var r;
            if (isAnd) for (r = 0; r < n; r++) out[r] &= col[r];
            else for (r = 0; r < n; r++) out[r] |= col[r];
          });
          return out;
        }
        default:
          throw new TypeError("not a filter node: " + JSON.stringify(node));
      }
    }

    var result = evaluate(f);
    // a leaf's array may be returned as it is: hand out a copy the caller may keep and change
    return f.type === "tag" || f.type === "glob" ? new Uint8Array(result) : result;
  }

  root.TagcoreFilter = {
    parse: parse,
    mask: mask,
    format: format,
    SyntaxError: FilterSyntaxError,
  };
})(typeof globalThis !== "undefined" ? globalThis : this);
