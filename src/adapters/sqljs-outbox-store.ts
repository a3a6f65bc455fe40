/**
 * The default {@link OutboxStore}: rows in a sql.js (SQLite compiled to WASM) database, made
 * durable by an append-only journal with periodic checkpoints.
 *
 * Files, for a store at `<path>`:
 * - `<path>`: the snapshot, a SQLite database image (`db.export()`), replaced atomically
 *   (write `<path>.tmp`, fsync, rename, fsync the directory);
 * - `<path>.journal`: JSON lines. The first is a header naming the snapshot generation it
 *   follows; each further line is one durable operation (append / update / remove).
 *
 * Why this shape: sql.js keeps the database in memory, so persisting it by exporting the whole
 * image per event would cost O(backlog) per event. Instead each operation appends one line to
 * the journal (group commit: everything that arrives while a write+fdatasync is in flight shares
 * the next one), and the snapshot is rewritten only when the journal has grown past
 * max(`journalLimitBytes`, snapshot size) — so the checkpoint's O(backlog) cost is paid at most
 * once per O(backlog) journaled bytes, which keeps the amortised cost per event flat.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import initSqlJs from 'sql.js';
import type { Database, SqlJsStatic, SqlValue, Statement } from 'sql.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type {
  NewOutboxRow,
  OutboxRow,
  OutboxRowPatch,
  OutboxRowState,
  OutboxStore,
  OutboxStoreCounts,
} from '../ports/outbox-store.js';
import { ClosedError, InvalidArgumentError, StoreError, isRunnerError } from '../errors/index.js';
import { createSystemClock } from './system-clock.js';
import { validateListOptions, validateNewRows, validatePatch } from './memory-outbox-store.js';

/**
 * How the journal is written. `sync`: `fs.writeSync` + `fs.fdatasyncSync` in a microtask-batched
 * flush (blocks the event loop for one disk sync per group commit). `hybrid`: `fs.writeSync` (a
 * page-cache copy) then `fs.fdatasync` on the libuv threadpool, so the loop keeps running during
 * the sync. `async`: `fs.promises` FileHandle `write` + `datasync`.
 * @public
 */
export type OutboxJournalIo = 'sync' | 'hybrid' | 'async';

/**
 * Options of {@link createSqlJsOutboxStore}.
 * @public
 */
export interface SqlJsOutboxStoreOptions {
  /** Snapshot file; the journal lives beside it at `<path>.journal`. Parent directory is created 0700. */
  path: string;
  /**
   * Receives the FATAL line when a corrupt file is quarantined, and warnings.
   * @defaultValue a logger that writes error and fatal lines to stderr (a quarantine is never silent)
   */
  logger?: Logger;
  /** Time source for quarantine file names. @defaultValue the system clock */
  clock?: Clock;
  /**
   * Checkpoint once the journal exceeds max(this, snapshot size) bytes. Lower it only in tests
   * that want to exercise checkpoints often.
   * @defaultValue 1048576 (1 MiB)
   */
  journalLimitBytes?: number;
  /**
   * How journal writes and syncs are issued; see {@link OutboxJournalIo}. Measured in
   * `bench/outbox.ts`; change only to compare.
   * @defaultValue `'hybrid'`
   */
  io?: OutboxJournalIo;
}

// One initialisation of the WASM module per process: it is immutable code, not per-runner state.
let sqlJsReady: Promise<SqlJsStatic> | undefined;
function loadSqlJs(): Promise<SqlJsStatic> {
  sqlJsReady ??= initSqlJs().catch((error: unknown) => {
    sqlJsReady = undefined;
    throw error;
  });
  return sqlJsReady;
}

const FORMAT = 1;
const JOURNAL_MAGIC = 'agent-relay-outbox-journal';
const DEFAULT_JOURNAL_LIMIT = 1024 * 1024;
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** Past this multiple of the checkpoint threshold the journal is checkpointed inline, not deferred (bounds the journal). */
const HARD_CAP_FACTOR = 16;
/**
 * A due checkpoint whose timer has not fired after this many group commits runs inline: callers
 * that await appends back to back on a `sync` journal never yield to the timer phase, and a fake
 * clock never fires it at all.
 */
const MAX_DEFERRED_FLUSHES = 64;

// The database lives in sql.js's in-memory file system and durability comes from our journal,
// so SQLite's own rollback journal and syncs are pure overhead. A page cache larger than the
// default 2 MiB keeps a big write-behind batch from spilling pages mid-transaction (measured:
// ~3x faster inserts for a 20,000-row batch); it only grows as far as the database does.
const PRAGMAS = 'PRAGMA journal_mode=MEMORY; PRAGMA synchronous=OFF; PRAGMA cache_size=-16384;';
const SCHEMA = `
${PRAGMAS}
CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox_rows (
  seq INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  dedupe_key TEXT,
  occurred_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  state TEXT NOT NULL,
  last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_rows_state ON outbox_rows(state, seq);
`;

/** Serialised append: [seq, kind, payloadJson, idempotencyKey, dedupeKey | null, occurredAt]. */
type JournalRow = [number, string, string, string, string | null, number];
type JournalOp = { a: JournalRow[] } | { u: number; p: OutboxRowPatch } | { r: number[] };

type DbOp =
  | { k: 'ins'; row: JournalRow }
  | { k: 'del'; seq: number }
  | { k: 'upd'; seq: number; patch: OutboxRowPatch };

interface IndexEntry {
  state: OutboxRowState;
  dedupeKey: string | undefined;
  occurredAt: number;
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

// SQLite TEXT can't hold a lone UTF-16 surrogate (sql.js converts to UTF-8 and back), so strings
// that contain one — or that start with the escape marker — are stored as marker + JSON string.
const NEEDS_ESCAPE = /^\u0001|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const encText = (s: string): string => (NEEDS_ESCAPE.test(s) ? `\u0001${JSON.stringify(s)}` : s);
const decText = (s: string): string => (s.charCodeAt(0) === 1 ? (JSON.parse(s.slice(1)) as string) : s);

const errorText = (error: unknown): string => {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
};

/** The fallback logger: drops routine lines, but error and fatal reach stderr so nothing is lost silently. */
function stderrLogger(): Logger {
  let level: ReturnType<Logger['getLevel']> = 'info';
  const write = (lvl: string, component: string, message: string) => {
    process.stderr.write(`${lvl.toUpperCase()} [${component}] ${message.replace(/\r?\n/g, ' ⏎ ')}\n`);
  };
  return {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: (c, m) => write('error', c, m),
    fatal: (c, m) => write('fatal', c, m),
    getLevel: () => level,
    setLevel: (next) => {
      level = next;
    },
  };
}

function writeAllSync(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
}

function fdatasyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function readIfExists(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** A snapshot whose SQLite header promises more pages than the file holds was cut short. */
function snapshotHeaderProblem(bytes: Uint8Array): string | undefined {
  if (bytes.length < 100) return `only ${bytes.length} bytes, shorter than a SQLite header`;
  const magic = Buffer.from(bytes.subarray(0, 16)).toString('latin1');
  if (magic !== 'SQLite format 3\u0000') return 'not a SQLite database (bad header)';
  const raw = (bytes[16]! << 8) | bytes[17]!;
  const pageSize = raw === 1 ? 65536 : raw;
  const pages = ((bytes[28]! << 24) | (bytes[29]! << 16) | (bytes[30]! << 8) | bytes[31]!) >>> 0;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return `bad page size ${pageSize}`;
  if (pages > 0 && bytes.length < pages * pageSize) return `truncated: header says ${pages * pageSize} bytes, file has ${bytes.length}`;
  if (bytes.length % pageSize !== 0) return `truncated: ${bytes.length} bytes is not a whole number of ${pageSize}-byte pages`;
  return undefined;
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

/** Result of reading the journal at open. */
interface JournalScan {
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

function scanJournal(bytes: Buffer): JournalScan {
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

/** Count the appended rows in journal lines we could not replay, for the FATAL line. */
function describeLostJournal(bytes: Buffer, fromOffset: number): string {
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

class SqlJsOutboxStore implements OutboxStore {
  readonly #path: string;
  readonly #journalPath: string;
  readonly #dir: string;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #journalLimit: number;
  readonly #io: OutboxJournalIo;

  #opening: Promise<void> | undefined;
  #closed = false;
  #failure: StoreError | undefined;

  #db: Database | undefined;
  #stmts = new Map<string, Statement>();
  #fd = -1;
  #fh: fs.promises.FileHandle | undefined;
  #gen = 0;
  #journalBytes = 0;
  #snapshotBytes = 0;

  // The authoritative index, kept in JS so that append/update/remove/counts never wait for SQL;
  // row bodies go to sql.js through #dbQueue, applied in one transaction before a read or checkpoint.
  #index = new Map<number, IndexEntry>();
  #pendingByKey = new Map<string, Set<number>>();
  #pending = 0;
  #poisoned = 0;
  #oldest: number | undefined;
  #oldestValid = true;
  #maxSeq = 0;
  #dbQueue: DbOp[] = [];

  #buf: string[] = [];
  #bufWaiters: Waiter[] = [];
  #flush: Promise<void> | undefined;
  #checkpointTimer: TimerHandle | undefined;
  #checkpointWanted = false;
  #flushesWhileDue = 0;

  constructor(options: SqlJsOutboxStoreOptions) {
    if (typeof options?.path !== 'string' || options.path === '') {
      throw new InvalidArgumentError('createSqlJsOutboxStore: path must be a non-empty string');
    }
    const limit = options.journalLimitBytes ?? DEFAULT_JOURNAL_LIMIT;
    if (!Number.isFinite(limit) || limit < 1) throw new InvalidArgumentError('createSqlJsOutboxStore: journalLimitBytes must be a positive number');
    const io = options.io ?? 'hybrid';
    if (io !== 'sync' && io !== 'hybrid' && io !== 'async') throw new InvalidArgumentError(`createSqlJsOutboxStore: io must be sync, hybrid or async, got ${String(io)}`);
    this.#path = nodePath.resolve(options.path);
    this.#journalPath = `${this.#path}.journal`;
    this.#dir = nodePath.dirname(this.#path);
    this.#log = options.logger ?? stderrLogger();
    this.#clock = options.clock ?? createSystemClock();
    this.#journalLimit = limit;
    this.#io = io;
  }

  // ---- public port ------------------------------------------------------------------------------

  async append(rows: readonly NewOutboxRow[]): Promise<OutboxRow[]> {
    this.#checkUsable();
    validateNewRows(rows);
    await this.#ready();
    this.#checkFailure();
    if (rows.length === 0) return [];
    const journalRows: JournalRow[] = [];
    const out: OutboxRow[] = [];
    for (const input of rows) {
      const seq = ++this.#maxSeq;
      const jr: JournalRow = [seq, input.kind, input.payloadJson, input.idempotencyKey, input.dedupeKey ?? null, input.occurredAt];
      journalRows.push(jr);
      out.push(this.#applyAppend(jr));
    }
    await this.#journal({ a: journalRows });
    return out;
  }

  async list(options: { state: OutboxRowState; limit: number; afterSeq?: number }): Promise<OutboxRow[]> {
    this.#checkUsable();
    validateListOptions(options);
    await this.#ready();
    this.#checkFailure();
    if (options.limit === 0) return [];
    this.#applyDb();
    const stmt = this.#stmt(
      `SELECT seq, kind, payload, idempotency_key, dedupe_key, occurred_at, attempts, next_attempt_at, state, last_error
       FROM outbox_rows WHERE state = ? AND seq > ? ORDER BY seq LIMIT ?`,
    );
    const out: OutboxRow[] = [];
    try {
      stmt.bind([options.state, options.afterSeq ?? 0, options.limit]);
      while (stmt.step()) out.push(rowFromSql(stmt.get()));
    } finally {
      stmt.reset();
    }
    return out;
  }

  async update(seq: number, patch: OutboxRowPatch): Promise<void> {
    this.#checkUsable();
    validatePatch(seq, patch);
    await this.#ready();
    this.#checkFailure();
    const clean: OutboxRowPatch = {};
    if (patch.attempts !== undefined) clean.attempts = patch.attempts;
    if (patch.nextAttemptAt !== undefined) clean.nextAttemptAt = patch.nextAttemptAt;
    if (patch.state !== undefined) clean.state = patch.state;
    if (patch.lastError !== undefined) clean.lastError = patch.lastError;
    if (!this.#applyUpdate(seq, clean)) return;
    await this.#journal({ u: seq, p: clean });
  }

  async remove(seqs: readonly number[]): Promise<void> {
    this.#checkUsable();
    if (!Array.isArray(seqs)) throw new InvalidArgumentError('outbox remove: seqs must be an array');
    await this.#ready();
    this.#checkFailure();
    const removed = this.#applyRemove(seqs);
    if (removed.length === 0) return;
    await this.#journal({ r: removed });
  }

  async counts(): Promise<OutboxStoreCounts> {
    this.#checkUsable();
    await this.#ready();
    this.#checkFailure();
    if (!this.#oldestValid) {
      let oldest: number | undefined;
      for (const entry of this.#index.values()) {
        if (entry.state === 'pending' && (oldest === undefined || entry.occurredAt < oldest)) oldest = entry.occurredAt;
      }
      this.#oldest = oldest;
      this.#oldestValid = true;
    }
    return { pending: this.#pending, poisoned: this.#poisoned, oldestPendingAt: this.#pending > 0 ? this.#oldest : undefined };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#opening) {
      try {
        await this.#opening;
      } catch {
        return; // never opened: nothing to flush or release
      }
    } else {
      return;
    }
    while (this.#flush) await this.#flush.catch(() => undefined);
    this.#clock.clearTimeout(this.#checkpointTimer);
    this.#checkpointTimer = undefined;
    try {
      if (!this.#failure && this.#journalBytes > this.#headerBytes()) this.#checkpoint();
    } catch (error) {
      // The journal still holds everything; the next open replays it.
      this.#log.error('outbox', `outbox checkpoint on close failed (${errorText(error)}); the journal keeps the data`);
    } finally {
      this.#release();
    }
  }

  // ---- open -------------------------------------------------------------------------------------

  #checkUsable(): void {
    if (this.#closed) throw new ClosedError('outbox store');
  }

  #checkFailure(): void {
    if (this.#failure) throw this.#failure;
  }

  #ready(): Promise<void> {
    this.#opening ??= this.#open().catch((error: unknown) => {
      // Let the next call try again (e.g. after the host fixed the directory's permissions).
      this.#opening = undefined;
      this.#release();
      throw isRunnerError(error)
        ? error
        : new StoreError(`cannot open outbox store at ${this.#path}: ${errorText(error)}`, { cause: error, data: { path: this.#path } });
    });
    return this.#opening;
  }

  async #open(): Promise<void> {
    const SQL = await loadSqlJs();
    this.#resetIndex(); // a failed earlier attempt may have left partial state
    if (!fs.existsSync(this.#dir)) fs.mkdirSync(this.#dir, { recursive: true, mode: DIR_MODE });
    // A leftover temp snapshot is a checkpoint that never got renamed: the old snapshot is still valid.
    fs.rmSync(`${this.#path}.tmp`, { force: true });

    const snapshot = readIfExists(this.#path);
    const journal = readIfExists(this.#journalPath);
    const lost: string[] = [];
    let quarantined = false;
    let fresh = false;

    let db: Database | undefined;
    if (snapshot) {
      const problem = snapshotHeaderProblem(snapshot);
      let reason = problem;
      if (!problem) {
        try {
          db = new SQL.Database(snapshot);
          this.#loadSnapshot(db);
        } catch (error) {
          db?.close();
          db = undefined;
          this.#resetIndex();
          reason = errorText(error);
        }
      }
      if (!db) {
        const where = this.#quarantine(this.#path);
        lost.push(`snapshot ${this.#path} is unreadable (${reason}); moved to ${where} (${snapshot.length} bytes, row count unknown)`);
        if (journal && journal.length > 0) {
          const seqs = journalSeqs(journal);
          this.#maxSeq = Math.max(this.#maxSeq, seqs);
          const jWhere = this.#quarantine(this.#journalPath);
          lost.push(`its journal moved to ${jWhere} (${journal.length} bytes, ${describeLostJournal(journal, 0)})`);
        }
        quarantined = true;
      }
    } else if (journal && journal.length > 0) {
      const scan = scanJournal(journal);
      if (scan.ops.length > 0 || scan.corruptAt) {
        // A journal only ever follows a snapshot; without one its operations have no base.
        this.#maxSeq = Math.max(this.#maxSeq, journalSeqs(journal));
        const where = this.#quarantine(this.#journalPath);
        lost.push(`journal ${this.#journalPath} has no snapshot to apply to; moved to ${where} (${journal.length} bytes, ${describeLostJournal(journal, scan.headerEnd)})`);
        quarantined = true;
      }
    }
    if (!db) {
      db = new SQL.Database();
      db.exec(SCHEMA);
      fresh = true;
    }
    this.#db = db;

    let truncateTo: number | undefined; // keep the journal, cut to this length
    if (!fresh && journal && journal.length > 0) {
      const scan = scanJournal(journal);
      if (scan.gen === undefined && scan.corruptAt === undefined) {
        truncateTo = undefined; // empty or torn header: nothing was ever acknowledged in it
      } else if (scan.gen !== undefined && scan.gen < this.#gen) {
        truncateTo = undefined; // stale: a checkpoint already folded it into the snapshot
      } else if (scan.gen === undefined || scan.gen > this.#gen) {
        const where = this.#quarantine(this.#journalPath);
        const why = scan.gen === undefined ? `bad header (${scan.corruptAt?.reason ?? 'unreadable'})` : `generation ${scan.gen} is newer than the snapshot's ${this.#gen}`;
        lost.push(`journal ${this.#journalPath} does not match the snapshot: ${why}; moved to ${where} (${journal.length} bytes, ${describeLostJournal(journal, scan.headerEnd)})`);
        quarantined = true;
      } else {
        let validEnd = scan.headerEnd;
        let badAt: { line: number; offset: number; reason: string } | undefined = scan.corruptAt;
        for (const [i, { op, end }] of scan.ops.entries()) {
          try {
            this.#replay(op);
          } catch (error) {
            badAt = { line: i + 2, offset: validEnd, reason: errorText(error) };
            break;
          }
          validEnd = end;
        }
        if (badAt) {
          const where = this.#quarantine(this.#journalPath);
          lost.push(
            `journal ${this.#journalPath} is corrupt at line ${badAt.line} (${badAt.reason}); kept the snapshot and the ${badAt.line - 2} operation(s) before it; moved the journal to ${where} (${journal.length} bytes); lost ${describeLostJournal(journal, badAt.offset)}`,
          );
          quarantined = true;
        } else {
          truncateTo = validEnd;
          if (scan.tornBytes > 0) {
            this.#log.warn('outbox', `ignored ${scan.tornBytes} torn byte(s) at the end of ${this.#journalPath} (a write that never completed, never acknowledged)`);
          }
        }
      }
    }

    if (fresh || quarantined) {
      // Give the (new or repaired) state a snapshot and a clean journal straight away.
      this.#openJournal();
      this.#checkpoint();
    } else {
      this.#openJournal();
      if (truncateTo !== undefined) {
        if (truncateTo !== journal?.length) {
          fs.ftruncateSync(this.#fd, truncateTo);
          fs.fdatasyncSync(this.#fd);
        }
        this.#journalBytes = truncateTo;
      } else {
        this.#resetJournal();
      }
    }
    if (this.#io === 'async') this.#fh = await fs.promises.open(this.#journalPath, 'a', FILE_MODE);
    if (lost.length > 0) this.#log.fatal('outbox', `outbox store quarantined corrupt data and started ${this.#index.size > 0 ? `with ${this.#index.size} recovered row(s)` : 'empty'}: ${lost.join('; ')}`);
  }

  #loadSnapshot(db: Database): void {
    const check = db.exec('PRAGMA quick_check');
    const verdict = check[0]?.values[0]?.[0];
    if (verdict !== 'ok') throw new Error(`integrity check failed: ${String(verdict)}`);
    db.exec(PRAGMAS);
    const meta = new Map<string, number>();
    for (const [key, value] of db.exec('SELECT key, value FROM outbox_meta')[0]?.values ?? []) meta.set(String(key), Number(value));
    if (meta.get('format') !== FORMAT || !Number.isSafeInteger(meta.get('gen'))) throw new Error('not an outbox snapshot (missing format/generation)');
    this.#gen = meta.get('gen')!;
    this.#maxSeq = meta.get('max_seq') ?? 0;
    const rows = db.exec('SELECT seq, state, dedupe_key, occurred_at FROM outbox_rows ORDER BY seq')[0]?.values ?? [];
    for (const [seq, state, dedupeKey, occurredAt] of rows) {
      if (state !== 'pending' && state !== 'poisoned') throw new Error(`row ${String(seq)} has an unknown state`);
      this.#indexAdd(Number(seq), { state, dedupeKey: dedupeKey === null ? undefined : decText(String(dedupeKey)), occurredAt: Number(occurredAt) });
      this.#maxSeq = Math.max(this.#maxSeq, Number(seq));
    }
  }

  #resetIndex(): void {
    this.#index.clear();
    this.#pendingByKey.clear();
    this.#pending = 0;
    this.#poisoned = 0;
    this.#oldest = undefined;
    this.#oldestValid = true;
    this.#maxSeq = 0;
    this.#gen = 0;
    this.#dbQueue = [];
  }

  #quarantine(file: string): string {
    const stamp = new Date(this.#clock.now()).toISOString().replace(/:/g, '-');
    let target = `${file}.corrupt-${stamp}`;
    for (let n = 2; fs.existsSync(target); n++) target = `${file}.corrupt-${stamp}-${n}`;
    fs.renameSync(file, target);
    return target;
  }

  #openJournal(): void {
    const existed = fs.existsSync(this.#journalPath);
    this.#fd = fs.openSync(this.#journalPath, 'a', FILE_MODE);
    fs.fchmodSync(this.#fd, FILE_MODE);
    if (!existed) fsyncDir(this.#dir);
  }

  #headerBytes(): number {
    return Buffer.byteLength(this.#headerLine());
  }

  #headerLine(): string {
    return `${JSON.stringify({ journal: JOURNAL_MAGIC, v: FORMAT, gen: this.#gen })}\n`;
  }

  /** Empty the journal and start it over for the current snapshot generation. */
  #resetJournal(): void {
    fs.ftruncateSync(this.#fd, 0);
    const header = Buffer.from(this.#headerLine());
    writeAllSync(this.#fd, header);
    fs.fdatasyncSync(this.#fd);
    this.#journalBytes = header.length;
  }

  #release(): void {
    const fh = this.#fh;
    this.#fh = undefined;
    if (fh) void fh.close().catch(() => undefined);
    if (this.#fd >= 0) {
      try {
        fs.closeSync(this.#fd);
      } catch {
        // already closed
      }
      this.#fd = -1;
    }
    for (const stmt of this.#stmts.values()) stmt.free();
    this.#stmts.clear();
    this.#db?.close();
    this.#db = undefined;
  }

  // ---- state changes (shared by live calls and replay) ---------------------------------------

  #indexAdd(seq: number, entry: IndexEntry): void {
    this.#index.set(seq, entry);
    if (entry.state === 'pending') {
      this.#pending++;
      if (this.#oldestValid && (this.#oldest === undefined || entry.occurredAt < this.#oldest)) this.#oldest = entry.occurredAt;
      if (entry.dedupeKey !== undefined) {
        let set = this.#pendingByKey.get(entry.dedupeKey);
        if (!set) this.#pendingByKey.set(entry.dedupeKey, (set = new Set()));
        set.add(seq);
      }
    } else {
      this.#poisoned++;
    }
  }

  /** Take a pending row out of the pending bookkeeping (removed or poisoned). */
  #leavePending(seq: number, entry: IndexEntry): void {
    this.#pending--;
    if (entry.occurredAt === this.#oldest) this.#oldestValid = false;
    if (entry.dedupeKey !== undefined) {
      const set = this.#pendingByKey.get(entry.dedupeKey);
      set?.delete(seq);
      if (set?.size === 0) this.#pendingByKey.delete(entry.dedupeKey);
    }
  }

  #indexDelete(seq: number): boolean {
    const entry = this.#index.get(seq);
    if (!entry) return false;
    this.#index.delete(seq);
    if (entry.state === 'pending') this.#leavePending(seq, entry);
    else this.#poisoned--;
    this.#dbQueue.push({ k: 'del', seq });
    return true;
  }

  #applyAppend(jr: JournalRow): OutboxRow {
    const [seq, kind, payloadJson, idempotencyKey, dedupeKey, occurredAt] = jr;
    if (dedupeKey !== null) {
      const victims = this.#pendingByKey.get(dedupeKey);
      if (victims) for (const victim of [...victims]) this.#indexDelete(victim);
    }
    this.#indexAdd(seq, { state: 'pending', dedupeKey: dedupeKey ?? undefined, occurredAt });
    this.#dbQueue.push({ k: 'ins', row: jr });
    // A fresh object owned by the caller: nothing in the store references it.
    const row: OutboxRow = { seq, kind, payloadJson, idempotencyKey, occurredAt, attempts: 0, nextAttemptAt: 0, state: 'pending' };
    if (dedupeKey !== null) row.dedupeKey = dedupeKey;
    return row;
  }

  #applyUpdate(seq: number, patch: OutboxRowPatch): boolean {
    const entry = this.#index.get(seq);
    if (!entry) return false;
    if (patch.state !== undefined && patch.state !== entry.state) {
      if (entry.state === 'pending') {
        this.#leavePending(seq, entry);
        entry.state = 'poisoned';
        this.#poisoned++;
      } else {
        this.#poisoned--;
        entry.state = 'pending';
        this.#index.delete(seq);
        this.#indexAdd(seq, entry);
        // Re-inserting moved it to the end of the Map; order there doesn't matter (SQL sorts by seq).
      }
    }
    this.#dbQueue.push({ k: 'upd', seq, patch });
    return true;
  }

  #applyRemove(seqs: readonly number[]): number[] {
    const removed: number[] = [];
    for (const seq of seqs) if (this.#indexDelete(seq)) removed.push(seq);
    return removed;
  }

  #replay(op: JournalOp): void {
    if ('a' in op) {
      for (const jr of op.a) {
        if (jr[0] <= this.#maxSeq) throw new Error(`append of seq ${jr[0]} does not follow seq ${this.#maxSeq}`);
        this.#maxSeq = jr[0];
        this.#applyAppend(jr);
      }
    } else if ('u' in op) {
      this.#applyUpdate(op.u, op.p);
    } else {
      this.#applyRemove(op.r);
    }
  }

  // ---- sql.js -----------------------------------------------------------------------------------

  #stmt(sql: string): Statement {
    let stmt = this.#stmts.get(sql);
    if (!stmt) {
      stmt = this.#db!.prepare(sql);
      this.#stmts.set(sql, stmt);
    }
    return stmt;
  }

  /** Write queued row changes into sql.js, in one transaction. */
  #applyDb(): void {
    if (this.#dbQueue.length === 0) return;
    const ops = this.#dbQueue;
    this.#dbQueue = [];
    const db = this.#db!;
    const ins = this.#stmt(
      `INSERT INTO outbox_rows (seq, kind, payload, idempotency_key, dedupe_key, occurred_at, attempts, next_attempt_at, state, last_error)
       VALUES (?, ?, ?, ?, ?, ?, 0, 0, 'pending', NULL)`,
    );
    const del = this.#stmt('DELETE FROM outbox_rows WHERE seq = ?');
    const upd = this.#stmt(
      `UPDATE outbox_rows SET attempts = coalesce(?, attempts), next_attempt_at = coalesce(?, next_attempt_at),
       state = coalesce(?, state), last_error = coalesce(?, last_error) WHERE seq = ?`,
    );
    try {
      db.exec('BEGIN');
      for (const op of ops) {
        if (op.k === 'ins') {
          const [seq, kind, payloadJson, idempotencyKey, dedupeKey, occurredAt] = op.row;
          ins.run([seq, encText(kind), encText(payloadJson), encText(idempotencyKey), dedupeKey === null ? null : encText(dedupeKey), occurredAt]);
        } else if (op.k === 'del') {
          del.run([op.seq]);
        } else {
          const p = op.patch;
          upd.run([p.attempts ?? null, p.nextAttemptAt ?? null, p.state ?? null, p.lastError === undefined ? null : encText(p.lastError), op.seq]);
        }
      }
      db.exec('COMMIT');
    } catch (error) {
      this.#failure = new StoreError(`outbox store state is inconsistent (sql.js apply failed: ${errorText(error)}); reopen the store`, { cause: error });
      throw this.#failure;
    }
  }

  // ---- journal and checkpoints --------------------------------------------------------------

  /** Queue one operation line; resolves once it (or a checkpoint covering it) is on disk. */
  #journal(op: JournalOp): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#buf.push(`${JSON.stringify(op)}\n`);
      this.#bufWaiters.push({ resolve, reject });
      // Everything queued before the flush starts (same tick, or during an in-flight sync) shares it.
      this.#flush ??= Promise.resolve().then(() => this.#flushLoop());
    });
  }

  async #flushLoop(): Promise<void> {
    try {
      while (this.#buf.length > 0) {
        if (this.#failure) {
          this.#failAll(this.#failure);
          return;
        }
        const waiters = this.#bufWaiters;
        const bytes = Buffer.from(this.#buf.join(''), 'utf8');
        this.#buf = [];
        this.#bufWaiters = [];
        try {
          if (this.#io === 'sync') {
            writeAllSync(this.#fd, bytes);
            fs.fdatasyncSync(this.#fd);
          } else if (this.#io === 'hybrid') {
            writeAllSync(this.#fd, bytes);
            await fdatasyncAsync(this.#fd);
          } else {
            const fh = this.#fh!;
            let off = 0;
            while (off < bytes.length) off += (await fh.write(bytes, off, bytes.length - off)).bytesWritten;
            await fh.datasync();
          }
        } catch (error) {
          // The file may now end in a partial line and memory is ahead of disk: stop acknowledging.
          this.#failure = new StoreError(`outbox journal write failed (${errorText(error)}); reopen the store to recover`, {
            cause: error,
            data: { path: this.#journalPath },
          });
          for (const w of waiters) w.reject(this.#failure);
          this.#failAll(this.#failure);
          return;
        }
        this.#journalBytes += bytes.length;
        for (const w of waiters) w.resolve();
        const threshold = Math.max(this.#journalLimit, this.#snapshotBytes);
        if (this.#checkpointTimer) this.#flushesWhileDue++;
        if (this.#checkpointWanted || this.#flushesWhileDue > MAX_DEFERRED_FLUSHES || this.#journalBytes > HARD_CAP_FACTOR * threshold) {
          // Between iterations no journal write is in flight, so the journal can be reset safely.
          if (!this.#runCheckpoint()) return;
        } else if (this.#journalBytes > threshold) {
          this.#scheduleCheckpoint();
        }
      }
    } finally {
      this.#flush = undefined;
    }
  }

  /**
   * Checkpoint on the next macrotask rather than right away, so the callers whose appends just
   * became durable get their answer first: a checkpoint is O(backlog) maintenance, not part of
   * anyone's commit. (A journal far past the limit is checkpointed inline anyway, which bounds it
   * even on a clock whose timers never fire.)
   */
  #scheduleCheckpoint(): void {
    if (this.#checkpointTimer) return;
    this.#checkpointTimer = this.#clock
      .setTimeout(() => {
        this.#checkpointTimer = undefined;
        if (this.#closed || this.#failure || !this.#db) return;
        // A write in flight would land in the reset journal: let the flush loop do it in between.
        if (this.#flush) this.#checkpointWanted = true;
        else this.#runCheckpoint();
      }, 0)
      .unref();
  }

  /** Checkpoint, keeping the store usable if only the snapshot write failed. False when the store failed. */
  #runCheckpoint(): boolean {
    this.#checkpointWanted = false;
    this.#flushesWhileDue = 0;
    this.#clock.clearTimeout(this.#checkpointTimer);
    this.#checkpointTimer = undefined;
    try {
      this.#checkpoint();
      return true;
    } catch (error) {
      if (this.#failure) {
        this.#failAll(this.#failure);
        return false;
      }
      // Data is safe in the journal; try again after another limit's worth of growth.
      this.#snapshotBytes = this.#journalBytes + this.#journalLimit;
      this.#log.error('outbox', `outbox checkpoint failed (${errorText(error)}); continuing on the journal`);
      return true;
    }
  }

  #failAll(error: StoreError): void {
    const waiters = this.#bufWaiters;
    this.#buf = [];
    this.#bufWaiters = [];
    for (const w of waiters) w.reject(error);
  }

  /**
   * Fold everything into a new snapshot and start the journal over. Synchronous, so no operation
   * can slip in between the export and the journal reset.
   */
  #checkpoint(): void {
    this.#applyDb();
    const db = this.#db!;
    const nextGen = this.#gen + 1;
    db.run("INSERT OR REPLACE INTO outbox_meta (key, value) VALUES ('format', ?), ('gen', ?), ('max_seq', ?)", [FORMAT, nextGen, this.#maxSeq]);
    const bytes = db.export();
    // Statements may not survive export() in every sql.js version; prepare them again lazily.
    for (const stmt of this.#stmts.values()) {
      try {
        stmt.free();
      } catch {
        // already freed by export()
      }
    }
    this.#stmts.clear();
    const tmp = `${this.#path}.tmp`;
    const fd = fs.openSync(tmp, 'w', FILE_MODE);
    try {
      fs.fchmodSync(fd, FILE_MODE);
      writeAllSync(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.#path);
    fsyncDir(this.#dir);
    // From here the new snapshot is the truth: lines still buffered are already inside it.
    this.#gen = nextGen;
    this.#snapshotBytes = bytes.length;
    const covered = this.#bufWaiters;
    this.#buf = [];
    this.#bufWaiters = [];
    try {
      this.#resetJournal();
    } catch (error) {
      // The old journal is now stale (older generation); appending to it would lose data on reopen.
      this.#failure = new StoreError(`outbox journal reset failed after a checkpoint (${errorText(error)}); reopen the store`, { cause: error });
      for (const w of covered) w.resolve(); // their data is in the durable snapshot
      throw this.#failure;
    }
    for (const w of covered) w.resolve();
  }
}

function journalSeqs(bytes: Buffer): number {
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

function rowFromSql(values: SqlValue[]): OutboxRow {
  const [seq, kind, payload, idempotencyKey, dedupeKey, occurredAt, attempts, nextAttemptAt, state, lastError] = values;
  const row: OutboxRow = {
    seq: Number(seq),
    kind: decText(String(kind)),
    payloadJson: decText(String(payload)),
    idempotencyKey: decText(String(idempotencyKey)),
    occurredAt: Number(occurredAt),
    attempts: Number(attempts),
    nextAttemptAt: Number(nextAttemptAt),
    state: state as OutboxRowState,
  };
  if (dedupeKey !== null && dedupeKey !== undefined) row.dedupeKey = decText(String(dedupeKey));
  if (lastError !== null && lastError !== undefined) row.lastError = decText(String(lastError));
  return row;
}

/**
 * Create the default, durable {@link OutboxStore}: sql.js rows persisted as a snapshot file at
 * `options.path` plus an append-only journal (`<path>.journal`).
 * @remarks
 * - Synchronous factory; the files are opened on the first call (sql.js initialises
 *   asynchronously). An unusable location makes that call reject with `StoreError`; the next
 *   call tries again.
 * - `append`/`update`/`remove` resolve only after their journal line is fdatasync'ed (group
 *   commit: concurrent calls share one sync). Cost per event is flat in the backlog; the snapshot
 *   is rewritten when the journal outgrows max(`journalLimitBytes`, snapshot size), and on close.
 * - A corrupt snapshot or journal is renamed to `<file>.corrupt-<ISO time>` and the store starts
 *   over (empty, or with the snapshot plus the valid journal prefix when only the journal is
 *   damaged), logging one FATAL line with what was lost. A torn last journal line (a write that
 *   never completed, so never acknowledged) is dropped with a warning.
 * - Files are 0600; a missing parent directory is created 0700.
 * - One store per path: two stores (or processes) on the same files will corrupt them.
 * @public
 */
export function createSqlJsOutboxStore(options: SqlJsOutboxStoreOptions): OutboxStore {
  return new SqlJsOutboxStore(options);
}
