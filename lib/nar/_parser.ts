/**
 * The NAR grammar as a push parser. The grammar is a sync generator that
 * asks for bytes (`yield n`: exactly n bytes; `yield -n`: 1..n bytes) and the
 * driver answers from the chunks it was fed, so any split of the input gives
 * the same events. Directories use an explicit stack (no recursion), string
 * lengths are checked against small limits before anything is allocated, and
 * file contents pass through as views of the input chunks.
 * Mirrors Nix's libutil/archive.cc `parseDump`, but accepts only the
 * canonical form `nix-store --dump` writes.
 */
import type { NarEvent } from "./nar_event.ts";
import { NarError } from "./nar_error.ts";
import { compareBytes, nameProblem, showBytes } from "./_names.ts";
import { padding } from "./_wire.ts";

/** Limits for the parser; defaults follow Linux (NAME_MAX, PATH_MAX - 1). */
export interface NarParseOptions {
  maxNameLength?: number;
  maxTargetLength?: number;
}

type Grammar = Generator<number, void, Uint8Array>;
type Read<T> = Generator<number, T, Uint8Array>;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const tok = (s: string) => utf8.encode(s);
const T = {
  magic: tok("nix-archive-1"),
  open: tok("("),
  close: tok(")"),
  type: tok("type"),
  regular: tok("regular"),
  symlink: tok("symlink"),
  directory: tok("directory"),
  executable: tok("executable"),
  contents: tok("contents"),
  target: tok("target"),
  entry: tok("entry"),
  name: tok("name"),
  node: tok("node"),
};
/** No token is longer than this; a longer string cannot be one. */
const MAX_TOKEN = 16;
/** The most a single contents read asks for (the driver gives what it has). */
const MAX_PIECE = 0x40000000;

function same(a: Uint8Array, b: Uint8Array): boolean {
  return compareBytes(a, b) === 0;
}

/** Push parser state: feed chunks with `push`, finish with `end`. */
export class NarParser {
  #grammar: Grammar;
  #want = 0;
  #done = false;
  #failed: NarError | undefined;
  #chunks: Uint8Array[] = [];
  #head = 0;
  #avail = 0;
  #received = 0;
  #state = { offset: 0, reading: "the NAR magic" };

  constructor(emit: (event: NarEvent) => void, options: NarParseOptions = {}) {
    this.#grammar = grammar(emit, this.#state, {
      name: options.maxNameLength ?? 255,
      target: options.maxTargetLength ?? 4095,
    });
    this.#step(new Uint8Array(0));
  }

  /** Bytes fed so far. */
  get received(): number {
    return this.#received;
  }

  /** Feeds one chunk; throws `NarError` as soon as the input is known to be invalid. */
  push(chunk: Uint8Array): void {
    if (this.#failed) throw this.#failed;
    if (!(chunk instanceof Uint8Array)) {
      throw this.#fail(NarError.at(this.#received, "input chunk is not a Uint8Array"));
    }
    if (chunk.length === 0) return;
    if (this.#done) throw this.#fail(NarError.at(this.#received, "trailing data after the NAR"));
    this.#received += chunk.length;
    this.#chunks.push(chunk);
    this.#avail += chunk.length;
    this.#pump();
  }

  /** Declares the end of input; throws `NarError` if the NAR is incomplete. */
  end(): void {
    if (this.#failed) throw this.#failed;
    if (!this.#done) {
      throw this.#fail(
        NarError.at(this.#received, `truncated: input ended while reading ${this.#state.reading}`),
      );
    }
  }

  #pump(): void {
    while (!this.#done) {
      const want = this.#want;
      let bytes: Uint8Array;
      if (want > 0) {
        if (this.#avail < want) return;
        bytes = this.#take(want);
      } else {
        if (this.#avail === 0) return;
        bytes = this.#take(Math.min(-want, this.#chunks[0].length - this.#head));
      }
      this.#state.offset += bytes.length;
      this.#step(bytes);
    }
    if (this.#avail > 0) {
      throw this.#fail(NarError.at(this.#state.offset, "trailing data after the NAR"));
    }
  }

  #step(bytes: Uint8Array): void {
    let r: IteratorResult<number, void>;
    try {
      r = this.#grammar.next(bytes);
    } catch (e) {
      // Only the grammar's NarError is expected; anything else (emit failing) passes as is.
      this.#done = true;
      if (e instanceof NarError) this.#failed = e;
      throw e;
    }
    if (r.done) this.#done = true;
    else this.#want = r.value;
  }

  /** Takes n available bytes: a view when they lie in one chunk, else a copy. */
  #take(n: number): Uint8Array {
    this.#avail -= n;
    const first = this.#chunks[0];
    if (first.length - this.#head >= n) {
      const view = first.subarray(this.#head, this.#head + n);
      this.#head += n;
      if (this.#head === first.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
      return view;
    }
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.#chunks[0];
      const k = Math.min(n - at, c.length - this.#head);
      out.set(c.subarray(this.#head, this.#head + k), at);
      at += k;
      this.#head += k;
      if (this.#head === c.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
    }
    return out;
  }

  #fail(e: NarError): NarError {
    this.#failed = e;
    this.#done = true;
    return e;
  }
}

interface Limits {
  name: number;
  target: number;
}

interface Frame {
  path: string;
  prev: Uint8Array | undefined;
}

function* grammar(
  emit: (event: NarEvent) => void,
  st: { offset: number; reading: string },
  limits: Limits,
): Grammar {
  const fail = (at: number, what: string) => NarError.at(at, what);

  /** A u64 length; values beyond 2^53 are reported exactly, then rejected. */
  function* u64(what: string): Read<number> {
    st.reading = what;
    const at = st.offset;
    const b = yield 8;
    const lo = (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
    const hi = (b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24)) >>> 0;
    if (hi > 0x1fffff) {
      const big = (BigInt(hi) << 32n) | BigInt(lo);
      throw fail(at, `${what} is ${big}, too large`);
    }
    return hi * 0x100000000 + lo;
  }

  function* zeros(len: number, what: string): Read<void> {
    const p = padding(len);
    if (p === 0) return;
    st.reading = `the padding of ${what}`;
    const at = st.offset;
    const b = yield p;
    for (let i = 0; i < p; i++) {
      if (b[i] !== 0) throw fail(at + i, `nonzero padding byte after ${what}`);
    }
  }

  /** A string of at most `max` bytes; longer lengths fail before any allocation. */
  function* string(max: number, what: string): Read<Uint8Array> {
    const at = st.offset;
    const len = yield* u64(`the length of ${what}`);
    if (len > max) throw fail(at, `${what} has length ${len}, more than the maximum ${max}`);
    if (len === 0) return new Uint8Array(0);
    st.reading = what;
    const bytes = yield len;
    yield* zeros(len, what);
    return bytes;
  }

  /** One of the expected tokens; returns its index. */
  function* token(...expected: Uint8Array[]): Read<number> {
    const at = st.offset;
    const want = expected.map((t) => showBytes(t)).join(" or ");
    const len = yield* u64(`the length of token ${want}`);
    if (len > MAX_TOKEN) throw fail(at, `expected ${want}, found a string of length ${len}`);
    st.reading = `token ${want}`;
    const bytes = len === 0 ? new Uint8Array(0) : yield len;
    yield* zeros(len, `token ${want}`);
    const i = expected.findIndex((t) => same(t, bytes));
    if (i < 0) throw fail(at, `expected ${want}, found ${showBytes(bytes)}`);
    return i;
  }

  function text(bytes: Uint8Array, at: number, what: string): string {
    try {
      return strictUtf8.decode(bytes);
    } catch {
      throw fail(at, `${what} ${showBytes(bytes)} is not valid UTF-8`);
    }
  }

  {
    const len = yield* u64("the NAR magic");
    let magic: Uint8Array | undefined;
    if (len === T.magic.length) {
      st.reading = "the NAR magic";
      magic = yield len;
    }
    if (magic === undefined || !same(magic, T.magic)) {
      throw fail(0, 'bad magic: not a NAR (expected "nix-archive-1")');
    }
    yield* zeros(len, "the NAR magic");
  }

  const stack: Frame[] = [];
  let path = "";
  for (;;) {
    yield* token(T.open);
    yield* token(T.type);
    const kind = yield* token(T.regular, T.symlink, T.directory);
    if (kind === 0) {
      const first = yield* token(T.executable, T.contents);
      const executable = first === 0;
      if (executable) {
        const at = st.offset;
        const marker = yield* u64("the executable marker");
        if (marker !== 0) {
          throw fail(at, `executable marker must be the empty string, found length ${marker}`);
        }
        yield* token(T.contents);
      }
      // u64() already refuses sizes beyond 2^53 - 1.
      const size = yield* u64("the file size");
      emit({ type: "regular", path, executable, size });
      let left = size;
      st.reading = "file contents";
      while (left > 0) {
        const data = yield -Math.min(left, MAX_PIECE);
        left -= data.length;
        emit({ type: "contents", path, data });
      }
      yield* zeros(size, "file contents");
      yield* token(T.close);
      emit({ type: "regular-end", path });
    } else if (kind === 1) {
      yield* token(T.target);
      const at = st.offset;
      const target = yield* string(limits.target, "the symlink target");
      if (target.length === 0) throw fail(at, "empty symlink target");
      if (target.includes(0)) throw fail(at, `symlink target ${showBytes(target)} contains NUL`);
      const value = text(target, at, "symlink target");
      yield* token(T.close);
      emit({ type: "symlink", path, target: value });
    } else {
      emit({ type: "directory", path });
      stack.push({ path, prev: undefined });
    }

    // Close finished nodes and find the next entry, if any.
    let closeEntry = kind !== 2;
    let next = false;
    while (!next) {
      const top = stack.at(-1);
      if (top === undefined) return;
      if (closeEntry) yield* token(T.close);
      const t = yield* token(T.entry, T.close);
      if (t === 1) {
        emit({ type: "directory-end", path: top.path });
        stack.pop();
        closeEntry = true;
        continue;
      }
      yield* token(T.open);
      yield* token(T.name);
      const at = st.offset;
      const name = yield* string(limits.name, "an entry name");
      const problem = nameProblem(name);
      if (problem !== undefined) throw fail(at, problem);
      if (top.prev !== undefined) {
        const c = compareBytes(top.prev, name);
        if (c === 0) throw fail(at, `duplicate entry ${showBytes(name)}`);
        if (c > 0) {
          throw fail(at, `entries not sorted (${showBytes(name)} after ${showBytes(top.prev)})`);
        }
      }
      const nameText = text(name, at, "entry name");
      top.prev = name.slice();
      yield* token(T.node);
      path = top.path === "" ? nameText : `${top.path}/${nameText}`;
      next = true;
    }
  }
}
