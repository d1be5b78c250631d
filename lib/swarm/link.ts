/**
 * An established peer link: one TCP connection, one Noise session, messages
 * both ways. Sending is ordered and bounded: a sender waits while more than
 * `MAX_QUEUED` bytes are on their way, so a slow peer holds up only the
 * work that talks to it. Receiving hands one message at a time to the
 * handler and reads on when it is done: a peer cannot make this node buffer
 * more than one message. A link with nothing to say sends a ping; a link
 * that hears nothing for `IDLE_MS` is closed.
 *
 * @module
 */
import type { CipherState } from "./noise/mod.ts";
import { NoiseError } from "./noise/mod.ts";
import { type FrameReader, writeAll } from "./frame_io.ts";
import { FLAG_AD, FRAME_HEADER, frameSizes, Reassembler } from "./proto/frames.ts";
import { WireError } from "./proto/bytes.ts";
import { encodeMessage, MAX_MESSAGE_BYTES, type Message } from "./proto/messages.ts";
import type { Conn } from "./handshake.ts";
import { freeBuffer } from "../encoding/mod.ts";

const MAX_QUEUED = 4 * 1024 * 1024;
export const PING_MS = 15_000;
export const IDLE_MS = 45_000;

export class LinkClosedError extends Error {
  override name = "LinkClosedError";
}

export class Link {
  bytesIn = 0;
  bytesOut = 0;
  readonly opened = Date.now();
  #tail: Promise<void> = Promise.resolve();
  #queued = 0;
  #waiters: (() => void)[] = [];
  #closed = false;
  #closeReason = "";
  #lastIn = Date.now();
  #lastOut = Date.now();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #done: Promise<void>;
  #resolveDone!: () => void;
  #reassembler = new Reassembler(MAX_MESSAGE_BYTES);

  constructor(
    private conn: Conn,
    private reader: FrameReader,
    private sendCipher: CipherState,
    private receiveCipher: CipherState,
    /** Where the peer is, `host:port` of the connection. */
    readonly address: string,
  ) {
    this.#done = new Promise((r) => this.#resolveDone = r);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get closeReason(): string {
    return this.#closeReason;
  }

  /** Resolves when the link is closed, by either side. */
  get done(): Promise<void> {
    return this.#done;
  }

  /**
   * Sends one message (or one message given in parts, sent as if joined);
   * resolves once it is written, rejects when the link closed.
   */
  send(m: Message | Uint8Array | readonly Uint8Array[]): Promise<void> {
    return this.sendMany([m]);
  }

  /**
   * Several messages sealed into one buffer and written at once (one
   * syscall, not one each: a transfer's requests and answers go in runs).
   */
  async sendMany(ms: readonly (Message | Uint8Array | readonly Uint8Array[])[]): Promise<void> {
    const all = ms.map((m) =>
      m instanceof Uint8Array ? [m] : Array.isArray(m) ? m : [encodeMessage(m as Message)]
    );
    while (this.#queued > MAX_QUEUED && !this.#closed) {
      await new Promise<void>((r) => this.#waiters.push(r));
    }
    if (this.#closed) throw new LinkClosedError(`link closed: ${this.#closeReason}`);
    await this.#write(this.#seal(all));
  }

  /** Queues sealed frames for the socket, in order; resolves once written. */
  async #write(out: Uint8Array): Promise<void> {
    if (this.#closed) throw new LinkClosedError(`link closed: ${this.#closeReason}`);
    const size = out.length;
    this.#queued += size;
    const write = this.#tail.then(async () => {
      if (this.#closed) throw new LinkClosedError(`link closed: ${this.#closeReason}`);
      await writeAll(this.conn, out);
      freeBuffer(out); // sealed here, written: freed now, not at the next GC
      this.bytesOut += size;
      this.#lastOut = Date.now();
    });
    this.#tail = write.catch(() => {}).finally(() => {
      this.#queued -= size;
      const w = this.#waiters;
      this.#waiters = [];
      for (const r of w) r();
    });
    try {
      await write;
    } catch (e) {
      this.close(`write failed: ${(e as Error).message}`);
      throw e instanceof LinkClosedError ? e : new LinkClosedError(`link write failed`);
    }
  }

  /**
   * The frames of messages (each given in parts), encrypted into one buffer
   * (no copy of the plaintext first).
   */
  #seal(messages: readonly (readonly Uint8Array[])[]): Uint8Array {
    const plans: { parts: readonly Uint8Array[]; sizes: number[] }[] = [];
    let bytes = 0;
    for (const parts of messages) {
      let total = 0;
      for (const p of parts) total += p.length;
      if (total > MAX_MESSAGE_BYTES) throw new RangeError(`message of ${total} bytes`);
      const sizes = frameSizes(total);
      plans.push({ parts, sizes });
      bytes += total + sizes.length * (FRAME_HEADER + 16);
    }
    const out = new Uint8Array(bytes);
    let o = 0;
    for (const { parts, sizes } of plans) {
      let part = 0, inPart = 0;
      for (const [k, n] of sizes.entries()) {
        const more = k < sizes.length - 1 ? 1 : 0;
        // This frame's plaintext as views of the parts it spans.
        const views: Uint8Array[] = [];
        let need = n;
        while (need > 0) {
          const p = parts[part];
          const take = Math.min(need, p.length - inPart);
          views.push(p.subarray(inPart, inPart + take));
          need -= take;
          inPart += take;
          if (inPart === p.length) {
            part++;
            inPart = 0;
          }
        }
        out[o] = (n + 16) >> 8;
        out[o + 1] = (n + 16) & 0xff;
        out[o + 2] = more;
        o += FRAME_HEADER +
          this.sendCipher.encryptInto(views, FLAG_AD[more], out, o + FRAME_HEADER);
      }
    }
    return out;
  }

  /** Reads the next whole message (for the hello exchange); undefined when the peer closed. */
  async receive(): Promise<Uint8Array | undefined> {
    for (;;) {
      const f = await this.reader.next();
      if (!f) return undefined;
      this.bytesIn += f.body.length + FRAME_HEADER;
      this.#lastIn = Date.now();
      if (f.flag > 1) throw new WireError("frame has a bad flag");
      let plain: Uint8Array;
      try {
        plain = this.receiveCipher.decrypt(f.body, FLAG_AD[f.flag]);
      } catch (e) {
        if (e instanceof NoiseError) throw new WireError(`a frame does not decrypt`);
        throw e;
      }
      const msg = this.#reassembler.push(plain, f.flag);
      if (msg) return msg;
    }
  }

  /**
   * Hands every message to `onMessage`, one at a time, until the link
   * closes; a failing handler or a malformed frame closes it.
   */
  async run(onMessage: (msg: Uint8Array) => void | Promise<void>): Promise<void> {
    this.#timer = setInterval(() => this.#tick(), 1_000);
    try {
      for (;;) {
        const msg = await this.receive();
        if (!msg) {
          this.close("the peer closed the link");
          break;
        }
        await onMessage(msg);
      }
    } catch (e) {
      this.close((e as Error).message);
    }
  }

  #tick(): void {
    const now = Date.now();
    // A link busy writing is alive as long as the peer reads (TCP would stall otherwise).
    if (now - Math.max(this.#lastIn, this.#lastOut) > IDLE_MS) {
      this.close(`nothing heard or sent for ${IDLE_MS / 1000} s`);
      return;
    }
    if (now - this.#lastOut > PING_MS && this.#queued === 0) {
      this.send({ t: "ping", nonce: (Math.random() * 2 ** 32) >>> 0 }).catch(() => {});
    }
  }

  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    clearInterval(this.#timer);
    try {
      this.conn.close();
    } catch { /* already closed */ }
    const w = this.#waiters;
    this.#waiters = [];
    for (const r of w) r();
    this.#resolveDone();
  }
}
