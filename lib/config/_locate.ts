/**
 * Finds the line where each key of a TOML document is written. smol-toml
 * gives line numbers only for syntax errors, yet a wrong type or an unknown
 * key must be reported at its line too, so this small scanner walks the
 * text once: it follows `[table]` and `[[array]]` headers, reads (dotted,
 * quoted) keys before `=`, and skips values, including strings and
 * multi-line strings and arrays, whose contents could look like keys.
 * It is run only on text smol-toml has accepted, but terminates on any input.
 *
 * @module
 */

/** Where a key or table header is written. */
export interface KeySite {
  /** Full key path from the document root. */
  path: string[];
  /** 1-based line number. */
  line: number;
  kind: "key" | "table" | "array-table";
}

const BARE = /[A-Za-z0-9_-]/;

/** Lists every key and table header of `text` in document order. */
export function locateKeys(text: string): KeySite[] {
  const out: KeySite[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  let table: string[] = [];

  const skipBlank = () => {
    while (i < n && (text[i] === " " || text[i] === "\t")) i++;
  };
  const skipToEol = () => {
    while (i < n && text[i] !== "\n") i++;
  };
  // A single-line string starting at i (a quote); returns its raw body.
  const readQuoted = (): string => {
    const q = text[i++];
    const start = i;
    while (i < n && text[i] !== q && text[i] !== "\n") i += q === '"' && text[i] === "\\" ? 2 : 1;
    const raw = text.slice(start, Math.min(i, n));
    if (text[i] === q) i++;
    return q === "'" ? raw : unescape(raw);
  };
  const readKey = (): string[] => {
    const parts: string[] = [];
    for (;;) {
      skipBlank();
      const c = text[i];
      if (c === '"' || c === "'") parts.push(readQuoted());
      else {
        const start = i;
        while (i < n && BARE.test(text[i])) i++;
        if (i === start) break;
        parts.push(text.slice(start, i));
      }
      skipBlank();
      if (text[i] !== ".") break;
      i++;
    }
    return parts;
  };
  // Skips a multi-line string whose three-quote opener starts at i.
  const skipLong = () => {
    const q = text[i];
    i += 3;
    while (i < n) {
      if (text[i] === "\n") line++;
      if (q === '"' && text[i] === "\\") {
        i++;
        if (text[i] === "\n") line++;
        i++;
        continue;
      }
      if (text[i] === q && text[i + 1] === q && text[i + 2] === q) {
        i += 3;
        // Up to two more quotes belong to the content (`""""` ends with one).
        for (let k = 0; k < 2 && text[i] === q; k++) i++;
        return;
      }
      i++;
    }
  };
  // Skips a value up to the end of its line, across nested brackets.
  const skipValue = () => {
    let depth = 0;
    while (i < n) {
      const c = text[i];
      if (c === "\n") {
        if (depth <= 0) return;
        line++;
        i++;
      } else if (c === "#") skipToEol();
      else if ((c === '"' || c === "'") && text[i + 1] === c && text[i + 2] === c) skipLong();
      else if (c === '"' || c === "'") readQuoted();
      else {
        if (c === "[" || c === "{") depth++;
        else if (c === "]" || c === "}") depth--;
        i++;
      }
    }
  };

  while (i < n) {
    skipBlank();
    const c = text[i];
    if (c === "\n") {
      line++;
      i++;
    } else if (c === "#") skipToEol();
    else if (c === "[") {
      const array = text[i + 1] === "[";
      i += array ? 2 : 1;
      table = readKey();
      out.push({ path: table, line, kind: array ? "array-table" : "table" });
      skipToEol();
    } else {
      const at = line;
      const key = readKey();
      skipBlank();
      if (key.length > 0 && text[i] === "=") {
        i++;
        out.push({ path: [...table, ...key], line: at, kind: "key" });
        skipValue();
      } else skipToEol(); // not a key line (cannot happen in valid TOML): move on
    }
  }
  return out;
}

/** The first site whose path starts with `path` (a key, or a table holding it). */
export function findSite(sites: KeySite[], path: string[]): KeySite | undefined {
  return sites.find((s) => path.every((p, k) => s.path[k] === p));
}

function unescape(raw: string): string {
  // TOML basic-string escapes are JSON's plus \UXXXXXXXX and \e.
  const fixed = raw
    .replace(/\\U([0-9A-Fa-f]{8})/g, (_, h) => {
      const cp = parseInt(h, 16);
      return cp <= 0x10ffff ? String.fromCodePoint(cp) : "";
    })
    .replace(/\\e/g, "\\u001b");
  try {
    return JSON.parse(`"${fixed}"`);
  } catch {
    return raw;
  }
}
