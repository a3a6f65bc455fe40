/**
 * The journal of the sql.js outbox store: `<path>.journal`, JSON lines. The first line is a header
 * naming the snapshot generation the journal follows; each further line is one durable operation
 * (append / update / remove). This module owns the line format, reading a journal back, and the
 * group-committed writer.
 */
import * as fs from 'node:fs';
import type { OutboxRowPatch } from '../../ports/outbox-store.js';
import { StoreError } from '../../errors/index.js';
import { validatePatch } from '../memory-outbox-store.js';
import { FILE_MODE, FORMAT, errorText, fdatasyncAsync, fsyncDir, writeAllSync } from './files.js';

const JOURNAL_MAGIC = 'agent-relay-outbox-journal';

/** Serialised append: [seq, kind, payloadJson, idempotencyKey, dedupeKey | null, occurredAt]. */
export type JournalRow = [number, string, string, string, string | null, number];
/** One journal line after the header. */
export type JournalOp = { a: JournalRow[] } | { u: number; p: OutboxRowPatch } | { r: number[] };

/** The header line for snapshot generation `gen`. */
export function headerLine(gen: number): string {
  return `${JSON.stringify({ journal: JOURNAL_MAGIC, v: FORMAT, gen })}\n`;
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

/** Result of reading a journal at open. */
export interface JournalScan {
  /** Generation in the header, or undefined when there is no usable header. */
  gen: number | undefined;
  /** Operations (after the header) that parsed, in order, with their byte end offsets. */
  ops: Array<{ op: JournalOp; end: number }>;
  /** Byte length of the header line (0 when none). */
  headerEnd: number;
  /** First complete line that failed to parse (not the last line): corruption. */
  corruptAt?: { line: number; offset: number; reason: string };
  /** Bytes at the tail that were torn or unparseable (never acknowledged). */
  tornBytes: number;
}

/** Parse a journal's bytes, telling a torn tail (a write cut short) from corruption. */
export function scanJournal(bytes: Buffer): JournalScan {
  const scan: JournalScan = { gen: undefined, ops: [], headerEnd: 0, tornBytes: 0 };
  const lines: Array<{ start: number; end: number }> = [];
  let start = 0;
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, start)) {
    lines.push({ start, end: i + 1 });
    start = i + 1;
  }
  // Bytes after the last newline were a write that never finished: never acknowledged.
  scan.tornBytes = bytes.length - start;
  for (const [index, line] of lines.entries()) {
    const text = bytes.toString('utf8', line.start, line.end - 1);
    const isLast = index === lines.length - 1;
    try {
      if (index === 0) {
        const header = JSON.parse(text) as { journal?: unknown; v?: unknown; gen?: unknown };
        if (header.journal !== JOURNAL_MAGIC || header.v !== FORMAT || !Number.isSafeInteger(header.gen)) {
          throw new Error('not an outbox journal header');
        }
        scan.gen = header.gen as number;
        scan.headerEnd = line.end;
      } else {
        scan.ops.push({ op: parseJournalOp(text), end: line.end });
      }
    } catch (error) {
      if (isLast) {
        // A bad last line can only be a write that was cut short: it was never acknowledged.
        scan.tornBytes = bytes.length - line.start;
      } else {
        scan.corruptAt = { line: index + 1, offset: line.start, reason: errorText(error) };
      }
      break;
    }
  }
  return scan;
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
      const op = JSON.parse(text) as { a?: unknown };
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
      const op = JSON.parse(text) as { a?: unknown };
      if (Array.isArray(op.a)) for (const row of op.a) if (Array.isArray(row) && Number.isSafeInteger(row[0])) max = Math.max(max, row[0] as number);
    } catch {
      // unreadable line: nothing to learn from it
    }
  }
  return max;
}

/**
 * How a group commit reaches the disk: resolves once `bytes` (appended at `fd`) are durable.
 * The product uses {@link hybridDurableWrite}; `bench/outbox.ts` compares others.
 * @internal
 */
export type DurableWrite = (fd: number, bytes: Uint8Array) => Promise<void>;

/**
 * `fs.writeSync` (a page-cache copy, so the bytes are in the file before anything else happens)
 * then `fdatasync` on the libuv threadpool, so the event loop keeps running during the disk sync.
 * Measured against a fully synchronous and a fully asynchronous variant in `bench/outbox.ts`.
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
  #fd = -1;
  #buf: string[] = [];
  #waiters: Waiter[] = [];
  #flush: Promise<void> | undefined;

  constructor(
    readonly path: string,
    private readonly hooks: JournalWriterHooks,
    private readonly durableWrite: DurableWrite = hybridDurableWrite,
  ) {}

  /** Open (creating 0600) for appending; a newly created journal's directory entry is synced. */
  open(dir: string): void {
    const existed = fs.existsSync(this.path);
    this.#fd = fs.openSync(this.path, 'a', FILE_MODE);
    fs.fchmodSync(this.#fd, FILE_MODE);
    if (!existed) fsyncDir(dir);
  }

  /** Cut a torn or unreplayable tail off, durably. */
  truncate(length: number): void {
    fs.ftruncateSync(this.#fd, length);
    fs.fdatasyncSync(this.#fd);
    this.bytes = length;
  }

  /** Empty the journal and start it over for snapshot generation `gen`. */
  reset(gen: number): void {
    fs.ftruncateSync(this.#fd, 0);
    const header = Buffer.from(headerLine(gen));
    writeAllSync(this.#fd, header);
    fs.fdatasyncSync(this.#fd);
    this.bytes = header.length;
  }

  /** True while a group commit is in flight or queued. */
  get busy(): boolean {
    return this.#flush !== undefined;
  }

  /** Wait until no group commit is in flight or queued. */
  async idle(): Promise<void> {
    while (this.#flush) await this.#flush.catch(() => undefined);
  }

  /** Queue one operation line; resolves once it (or a checkpoint covering it) is on disk. */
  append(op: JournalOp): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#buf.push(`${JSON.stringify(op)}\n`);
      this.#waiters.push({ resolve, reject });
      // Everything queued before the flush starts (same tick, or during an in-flight sync) shares it.
      this.#flush ??= Promise.resolve().then(() => this.#flushLoop());
    });
  }

  /**
   * Drop the queued lines: a checkpoint just made their operations durable in the snapshot.
   * Returns their waiters for the caller to settle.
   */
  takeCovered(): Waiter[] {
    const covered = this.#waiters;
    this.#buf = [];
    this.#waiters = [];
    return covered;
  }

  /** Reject every queued operation. */
  failAll(error: StoreError): void {
    for (const w of this.takeCovered()) w.reject(error);
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
    try {
      while (this.#buf.length > 0) {
        const failed = this.hooks.failure();
        if (failed) {
          this.failAll(failed);
          return;
        }
        const waiters = this.#waiters;
        const bytes = Buffer.from(this.#buf.join(''), 'utf8');
        this.#buf = [];
        this.#waiters = [];
        try {
          await this.durableWrite(this.#fd, bytes);
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
        // Between iterations no journal write is in flight, so a checkpoint may reset the journal.
        if (!this.hooks.committed()) return;
      }
    } finally {
      this.#flush = undefined;
    }
  }
}
