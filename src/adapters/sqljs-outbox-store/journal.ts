/**
 * The journal of the sql.js outbox store: `<path>.journal`, JSON lines. The first line is a header
 * naming the snapshot generation the journal follows; each further line is one durable operation
 * (append / update / remove). This module owns the line format, reading a journal back, and the
 * group-committed writer.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import type { OutboxRowPatch } from '../../ports/outbox-store.js';
import { StoreError } from '../../errors/index.js';
import { validatePatch } from '../memory-outbox-store.js';
import { FILE_MODE, errorText, fdatasyncAsync, fsyncDir, fsyncDirAsync, writeAllSync } from './files.js';
import type { DurableWrite } from './durable-write.js';

const JOURNAL_MAGIC = 'agent-relay-outbox-journal';
/**
 * Journal format written: 2 = each record line is `<crc32 as 8 hex digits> <json>`. Format 1
 * (plain JSON lines, no checksums) is still read, and the store migrates it with a checkpoint at
 * open (a fresh format-2 journal), so old files open without loss.
 */
export const JOURNAL_FORMAT = 2;

/** Serialised append: [seq, kind, payloadJson, idempotencyKey, dedupeKey | null, occurredAt]. */
export type JournalRow = [number, string, string, string, string | null, number];
/** One journal line after the header. */
export type JournalOp = { a: JournalRow[] } | { u: number; p: OutboxRowPatch } | { r: number[] };

/** The header line for snapshot generation `gen`. */
export function headerLine(gen: number): string {
  return `${JSON.stringify({ journal: JOURNAL_MAGIC, v: JOURNAL_FORMAT, gen })}\n`;
}

let crcTable: Int32Array | undefined;
/** CRC-32 (IEEE), table-driven: the fallback where `zlib.crc32` (Node >= 20.15) is missing. */
function tableCrc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  let crc = -1;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}
/** A callback-style fs call (libuv threadpool) as a promise. */
function fdCall<T>(call: (cb: (error: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => call((error, value) => (error ? reject(error) : resolve(value as T))));
}

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
/** CRC-32 of `bytes`, unsigned. */
export const crc32: (bytes: Uint8Array) => number = nativeCrc32 ? (bytes) => nativeCrc32(bytes) >>> 0 : tableCrc32;

const HEX = Buffer.from('0123456789abcdef', 'latin1');

/**
 * Record lines (checksum, space, JSON, newline) for the JSON texts `jsons`, in one buffer: each
 * text is written straight into it and checksummed in place, so a group commit of thousands of
 * records allocates once (per-record buffers were most of a burst's garbage-collection cost).
 */
export function encodeRecords(jsons: readonly string[]): Buffer {
  let size = 0;
  for (const json of jsons) size += Buffer.byteLength(json, 'utf8') + 10;
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  for (const json of jsons) {
    const start = off + 9;
    const end = start + out.write(json, start, 'utf8');
    let crc = crc32(out.subarray(start, end));
    for (let i = 7; i >= 0; i--, crc >>>= 4) out[off + i] = HEX[crc & 0xf]!;
    out[off + 8] = 0x20;
    out[end] = 0x0a;
    off = end + 1;
  }
  return out;
}

/** One record line (checksum, space, JSON, newline) as bytes. */
export function encodeRecord(op: JournalOp): Buffer {
  return encodeRecords([JSON.stringify(op)]);
}

/** The JSON text of a record line of either format (the checksum, if any, not verified). */
function recordJson(text: string): string {
  return /^[0-9a-f]{8} /.test(text) ? text.slice(9) : text;
}

function parseJournalOp(text: string): JournalOp {
  const value = JSON.parse(text) as unknown;
  if (typeof value !== 'object' || value === null) throw new Error('not an object');
  const op = value as Record<string, unknown>;
  if (Array.isArray(op.a)) {
    for (const row of op.a) {
      if (
        !Array.isArray(row) ||
        row.length !== 6 ||
        !Number.isSafeInteger(row[0]) ||
        typeof row[1] !== 'string' ||
        typeof row[2] !== 'string' ||
        typeof row[3] !== 'string' ||
        (row[4] !== null && typeof row[4] !== 'string') ||
        typeof row[5] !== 'number'
      ) {
        throw new Error('malformed append');
      }
    }
    return { a: op.a as JournalRow[] };
  }
  if (typeof op.u === 'number' && typeof op.p === 'object' && op.p !== null) {
    validatePatch(op.u, op.p as OutboxRowPatch);
    return { u: op.u, p: op.p as OutboxRowPatch };
  }
  if (Array.isArray(op.r) && op.r.every((s) => Number.isSafeInteger(s))) return { r: op.r as number[] };
  throw new Error('unknown operation');
}

/** A record line that failed its checksum or does not parse: skipped alone at open. */
export interface BadRecord {
  /** 1-based line number (the header is line 1). */
  line: number;
  /** Byte range of the line, newline included. */
  offset: number;
  end: number;
  reason: string;
}

/** Result of reading a journal at open. */
export interface JournalScan {
  /** Generation in the header, or undefined when there is no usable header. */
  gen: number | undefined;
  /** Format in the header (1: no checksums; 2: checksummed records). */
  version: number | undefined;
  /** Why the header is unusable, when it is. */
  headerProblem?: string;
  /** Records (after the header) that passed their checksum and parsed, in order. */
  ops: Array<{ op: JournalOp; line: number; end: number }>;
  /** Complete record lines that failed (checksum or parse): each one lost alone. */
  bad: BadRecord[];
  /** Byte length of the header line (0 when none). */
  headerEnd: number;
  /** Bytes after the last newline: a write cut short, never acknowledged. */
  tornBytes: number;
}

/** Check one record line; returns its op or throws with the reason. */
function readRecord(bytes: Buffer, start: number, end: number, version: number): JournalOp {
  if (version === 1) return parseJournalOp(bytes.toString('utf8', start, end));
  if (end - start < 10 || bytes[start + 8] !== 0x20) throw new Error('no checksum');
  const want = Number.parseInt(bytes.toString('latin1', start, start + 8), 16);
  const json = bytes.subarray(start + 9, end);
  if (!/^[0-9a-f]{8}$/.test(bytes.toString('latin1', start, start + 8)) || crc32(json) !== want) throw new Error('checksum mismatch');
  return parseJournalOp(json.toString('utf8'));
}

/**
 * Parse a journal's bytes. Every complete record line stands alone: one that fails its checksum
 * (or does not parse) is reported in `bad` and the scan goes on, so damage loses only the records
 * inside it. Bytes after the last newline are a torn write (never acknowledged).
 */
export function scanJournal(bytes: Buffer): JournalScan {
  const scan: JournalScan = { gen: undefined, version: undefined, ops: [], bad: [], headerEnd: 0, tornBytes: 0 };
  let start = 0;
  let line = 0;
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, start)) {
    line++;
    if (line === 1) {
      try {
        const header = JSON.parse(bytes.toString('utf8', start, i)) as { journal?: unknown; v?: unknown; gen?: unknown };
        if (header.journal !== JOURNAL_MAGIC || (header.v !== 1 && header.v !== JOURNAL_FORMAT) || !Number.isSafeInteger(header.gen)) {
          throw new Error('not an outbox journal header');
        }
        scan.gen = header.gen as number;
        scan.version = header.v;
        scan.headerEnd = i + 1;
      } catch (error) {
        scan.headerProblem = errorText(error);
        scan.tornBytes = 0;
        return scan;
      }
    } else {
      try {
        scan.ops.push({ op: readRecord(bytes, start, i, scan.version!), line, end: i + 1 });
      } catch (error) {
        scan.bad.push({ line, offset: start, end: i + 1, reason: errorText(error) });
      }
    }
    start = i + 1;
  }
  scan.tornBytes = bytes.length - start;
  return scan;
}

/** What a damaged record held, as far as its bytes still tell (for the FATAL line). */
export function describeRecord(bytes: Buffer): string {
  try {
    const op = JSON.parse(recordJson(bytes.toString('utf8').trimEnd())) as { a?: unknown; u?: unknown; r?: unknown };
    if (Array.isArray(op.a)) {
      const seqs = op.a.map((row) => (Array.isArray(row) ? String(row[0]) : '?'));
      return `an append of ${op.a.length} row(s) (seq ${seqs.join(', ')})`;
    }
    if (op.u !== undefined) return `an update of seq ${String(op.u)}`;
    if (Array.isArray(op.r)) return `a remove of ${op.r.length} row(s)`;
  } catch {
    // unreadable: say so below
  }
  return `an unreadable record of ${bytes.length} bytes`;
}

/** Count the appended rows in journal lines that cannot be replayed, for the FATAL line. */
export function describeLostJournal(bytes: Buffer, fromOffset: number): string {
  let ops = 0;
  let rows = 0;
  let unreadable = 0;
  for (const text of bytes.toString('utf8', fromOffset).split('\n')) {
    if (text === '') continue;
    ops++;
    try {
      const op = JSON.parse(recordJson(text)) as { a?: unknown };
      if (Array.isArray(op.a)) rows += op.a.length;
    } catch {
      unreadable++;
    }
  }
  return `${ops} journal operation(s) (${rows} appended row(s) readable, ${unreadable} unreadable line(s))`;
}

/** The highest appended seq any readable line mentions, so a quarantined journal's seqs are never reused. */
export function journalSeqs(bytes: Buffer): number {
  let max = 0;
  for (const text of bytes.toString('utf8').split('\n')) {
    try {
      const op = JSON.parse(recordJson(text)) as { a?: unknown };
      if (Array.isArray(op.a)) for (const row of op.a) if (Array.isArray(row) && Number.isSafeInteger(row[0])) max = Math.max(max, row[0] as number);
    } catch {
      // unreadable line: nothing to learn from it
    }
  }
  return max;
}

export type { DurableWrite } from './durable-write.js';

/**
 * `fs.writeSync` (a page-cache copy, so the bytes are in the file before anything else happens)
 * then `fdatasync` on the libuv threadpool, always, so the event loop keeps running during every
 * disk sync. The store's default before the adaptive policy (`durable-write.ts`); kept for
 * `bench/outbox.ts`, which compares the two.
 * @internal
 */
export const hybridDurableWrite: DurableWrite = (fd, bytes) => {
  writeAllSync(fd, bytes);
  return fdatasyncAsync(fd);
};

/** What the writer needs from the store around each group commit. */
export interface JournalWriterHooks {
  /** The store's failure, if it has stopped acknowledging. */
  failure(): StoreError | undefined;
  /** A journal write failed: memory is now ahead of disk and the store must stop. */
  writeFailed(failure: StoreError): void;
  /** After each group commit (no write in flight): a checkpoint may run. False when the store failed. */
  committed(): boolean;
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * The append-only journal file with group commit: every line queued while a write+sync is in
 * flight (or in the same tick) shares the next one.
 */
export class JournalWriter {
  /** Bytes in the journal file, header included. */
  bytes = 0;
  /** The generation in the current file's header. */
  gen = 0;
  #fd = -1;
  /** JSON texts of the queued records, encoded together at the group commit. */
  #buf: string[] = [];
  #waiters: Waiter[] = [];
  #flush: Promise<void> | undefined;
  /** A rotation's file switch in progress: nothing is written until it is done. */
  #switching: Promise<void> | undefined;

  constructor(
    readonly path: string,
    private readonly hooks: JournalWriterHooks,
    private readonly durableWrite: DurableWrite,
  ) {}

  /** Open (creating 0600) for appending; a newly created journal's directory entry is synced. */
  open(dir: string): void {
    const existed = fs.existsSync(this.path);
    this.#fd = fs.openSync(this.path, 'a', FILE_MODE);
    fs.fchmodSync(this.#fd, FILE_MODE);
    if (!existed) fsyncDir(dir);
  }

  /** Cut a torn tail off, durably. */
  truncate(length: number): void {
    fs.ftruncateSync(this.#fd, length);
    fs.fdatasyncSync(this.#fd);
    this.bytes = length;
  }

  /** Empty the journal and start it over for snapshot generation `gen` (at open only). */
  reset(gen: number): void {
    fs.ftruncateSync(this.#fd, 0);
    const header = Buffer.from(headerLine(gen));
    writeAllSync(this.#fd, header);
    fs.fdatasyncSync(this.#fd);
    this.bytes = header.length;
    this.gen = gen;
  }

  /**
   * Start generation `gen` in a new file, keeping the current one as `<journal>.prev`: it is what
   * a fall back to the previous snapshot generation replays. Only while no write is in flight.
   * From this call on, queued records belong to the new generation; the file switch itself
   * (close, rename, create, header, directory sync) runs on the threadpool, and the next group
   * commit waits for it, so nothing is acknowledged in a file whose directory entry is not durable.
   */
  rotate(gen: number, dir: string): void {
    const header = Buffer.from(headerLine(gen));
    this.bytes = header.length;
    this.gen = gen;
    const previous = this.#switching ?? Promise.resolve();
    const switched = previous.then(async () => {
      const old = this.#fd;
      this.#fd = -1;
      if (old >= 0) await fdCall<void>((cb) => fs.close(old, cb));
      await fs.promises.rename(this.path, `${this.path}.prev`);
      const fd = await fdCall<number>((cb) => fs.open(this.path, 'w', FILE_MODE, cb));
      this.#fd = fd;
      await fdCall<void>((cb) => fs.fchmod(fd, FILE_MODE, cb));
      await fdCall<number>((cb) => fs.write(fd, header, 0, header.length, null, cb));
      await fsyncDirAsync(dir);
    });
    switched.catch(() => undefined); // observed by the next flush (and by idle())
    this.#switching = switched;
  }

  /** True while a group commit is in flight or queued. */
  get busy(): boolean {
    return this.#flush !== undefined;
  }

  /** Wait until no group commit or file switch is in flight or queued. */
  async idle(): Promise<void> {
    while (this.#flush || this.#switching) {
      if (this.#flush) await this.#flush.catch(() => undefined);
      const switching = this.#switching;
      if (switching) {
        await switching.catch(() => undefined);
        if (this.#switching === switching) this.#switching = undefined;
      }
    }
  }

  /** Queue one operation line; resolves once it is on disk. */
  append(op: JournalOp): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#buf.push(JSON.stringify(op));
      this.#waiters.push({ resolve, reject });
      // Everything queued before the flush starts (same tick, or during an in-flight sync) shares it.
      this.#flush ??= Promise.resolve().then(() => this.#flushLoop());
    });
  }

  /** Reject every queued operation. */
  failAll(error: StoreError): void {
    const waiters = this.#waiters;
    this.#buf = [];
    this.#waiters = [];
    for (const w of waiters) w.reject(error);
  }

  /** Release the file descriptor. */
  close(): void {
    if (this.#fd < 0) return;
    try {
      fs.closeSync(this.#fd);
    } catch {
      // already closed
    }
    this.#fd = -1;
  }

  async #flushLoop(): Promise<void> {
    // Set once records queued behind a write in flight: commits are piling up, so none is lone.
    let pipelined = false;
    try {
      while (this.#buf.length > 0) {
        const failed = this.hooks.failure();
        if (failed) {
          this.failAll(failed);
          return;
        }
        const waiters = this.#waiters;
        const bytes = encodeRecords(this.#buf);
        this.#buf = [];
        this.#waiters = [];
        try {
          if (this.#switching) {
            const switching = this.#switching;
            await switching;
            if (this.#switching === switching) this.#switching = undefined;
          }
          // Lone: one caller's operation, nothing queued behind it, and no pile-up in this loop.
          const lone = waiters.length === 1 && !pipelined && this.#buf.length === 0;
          await this.durableWrite(this.#fd, bytes, lone);
        } catch (error) {
          // The file may now end in a partial line and memory is ahead of disk: stop acknowledging.
          const failure = new StoreError(`outbox journal write failed (${errorText(error)}); reopen the store to recover`, {
            cause: error,
            data: { path: this.path },
          });
          this.hooks.writeFailed(failure);
          for (const w of waiters) w.reject(failure);
          this.failAll(failure);
          return;
        }
        this.bytes += bytes.length;
        for (const w of waiters) w.resolve();
        // Between iterations no journal write is in flight, so a checkpoint may rotate the journal.
        if (!this.hooks.committed()) return;
        pipelined = true;
      }
    } finally {
      this.#flush = undefined;
    }
  }
}
