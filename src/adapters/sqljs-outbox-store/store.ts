/**
 * The default {@link OutboxStore}: rows in a sql.js (SQLite compiled to WASM) database, made
 * durable by an append-only journal with periodic checkpoints.
 *
 * Files, for a store at `<path>`: the snapshot `<path>` (a SQLite image, see snapshot.ts), the
 * journal `<path>.journal` (checksummed JSON lines, see journal.ts), the previous generation of
 * both (`<path>.prev`, `<path>.journal.prev`) and the writer's lock `<path>.lock` (lock.ts);
 * recovery.ts reads them back at open.
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
import type { Clock, TimerHandle } from '../../ports/clock.js';
import type { Logger } from '../../ports/logger.js';
import type { NewOutboxRow, OutboxRow, OutboxRowPatch, OutboxRowState, OutboxStore, OutboxStoreCounts } from '../../ports/outbox-store.js';
import { ClosedError, InvalidArgumentError, StoreError, isRunnerError } from '../../errors/index.js';
import { createStderrLogger } from '../tslog-logger.js';
import { validateListOptions, validateNewRows, validatePatch } from '../memory-outbox-store.js';
import { DIR_MODE, errorText, installSnapshot } from './files.js';
import { JournalWriter, headerLine, hybridDurableWrite, type DurableWrite, type JournalOp, type JournalRow } from './journal.js';
import { recover, type StoreFiles } from './recovery.js';
import { RowIndex } from './row-index.js';
import { acquireStoreLock, releaseStoreLock } from './lock.js';
import { loadSqlJs, type SnapshotDb, type SqlJsWasm } from './snapshot.js';
import { requireClock } from '../require-clock.js';

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
  /** Time source for quarantine file names and checkpoint deferral (`createSystemClock()` in production). */
  clock: Clock;
  /**
   * Checkpoint once the journal exceeds max(this, snapshot size) bytes. Lower it only in tests
   * that want to exercise checkpoints often.
   * @defaultValue 1048576 (1 MiB)
   */
  journalLimitBytes?: number;
  /**
   * sql.js's WebAssembly binary as bytes, for hosts where sql.js cannot find `sql-wasm.wasm` itself
   * (a bundle: read `sql.js/dist/sql-wasm.wasm` and pass its bytes). sql.js is initialised once per
   * process, so the first store to open successfully decides.
   * @defaultValue sql.js loads `sql-wasm.wasm` from its own directory
   */
  wasmBinary?: Uint8Array | ArrayBuffer;
  /**
   * Maps a sql.js file name (`sql-wasm.wasm`) to the path it is at; the alternative to `wasmBinary`.
   * @defaultValue sql.js's own directory
   */
  locateFile?: (file: string) => string;
}

const DEFAULT_JOURNAL_LIMIT = 1024 * 1024;
/** Past this multiple of the checkpoint threshold the journal is checkpointed inline, not deferred (bounds the journal). */
const HARD_CAP_FACTOR = 16;
/**
 * A due checkpoint whose timer has not fired after this many group commits runs inline: callers
 * that await appends back to back may not yield to the timer phase, and a fake clock never fires
 * it at all.
 */
const MAX_DEFERRED_FLUSHES = 64;
/**
 * Checkpoints of a database whose last image was at least this big export in a worker-thread
 * replica; smaller ones export on the main thread (well under a millisecond at this size).
 * @internal
 */
export const REPLICA_MIN_BYTES = 512 * 1024;
/**
 * Write-behind into sql.js: once this many row changes are queued after a group commit, they are
 * applied on later macrotasks, `DB_APPLY_SLICE` per macrotask, not before the commit's callers get
 * their answer. A slice (≈ 0.3 ms) fits inside the wait for one fdatasync, so one-at-a-time
 * enqueues barely notice it and the event loop never stalls on it. Past `DB_APPLY_INLINE` (a clock
 * whose timers do not run) they are applied inline, which bounds the queue.
 */
const DB_APPLY_START = 256;
const DB_APPLY_SLICE = 64;
const DB_APPLY_INLINE = 16 * 1024;

/**
 * The sql.js store. `durableWrite` is how group commits reach the disk (default:
 * `hybridDurableWrite`); only the benchmark passes another one (e.g. the adaptive policy of
 * `durable-write.ts`).
 * @internal
 */
export class SqlJsOutboxStore implements OutboxStore {
  readonly #files: StoreFiles;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #journalLimit: number;
  readonly #journal: JournalWriter;
  readonly #wasm: SqlJsWasm;

  readonly #lockPath: string;
  #lockToken: string | undefined;
  #opening: Promise<void> | undefined;
  /** Opened and not released: `append` may go straight to the journal. */
  #isOpen = false;
  #closed = false;
  #failure: StoreError | undefined;

  #db: SnapshotDb | undefined;
  #index = new RowIndex();
  #gen = 0;
  #snapshotBytes = 0;
  #checkpointTimer: TimerHandle | undefined;
  #checkpointWanted = false;
  #flushesWhileDue = 0;
  #checkpointing: Promise<void> | undefined;
  #applyTimer: TimerHandle | undefined;

  constructor(options: SqlJsOutboxStoreOptions, durableWrite?: DurableWrite) {
    if (typeof options?.path !== 'string' || options.path === '') {
      throw new InvalidArgumentError('createSqlJsOutboxStore: path must be a non-empty string');
    }
    const limit = options.journalLimitBytes ?? DEFAULT_JOURNAL_LIMIT;
    if (!Number.isFinite(limit) || limit < 1) throw new InvalidArgumentError('createSqlJsOutboxStore: journalLimitBytes must be a positive number');
    const path = nodePath.resolve(options.path);
    this.#files = { path, journalPath: `${path}.journal`, dir: nodePath.dirname(path) };
    this.#lockPath = `${path}.lock`;
    this.#log = options.logger ?? createStderrLogger({ clock: options.clock });
    // No default clock here: the composition root (createRunner) resolves it, once.
    requireClock(options?.clock, 'createSqlJsOutboxStore');
    this.#clock = options.clock;
    this.#journalLimit = limit;
    if (options.wasmBinary !== undefined && !(options.wasmBinary instanceof Uint8Array || options.wasmBinary instanceof ArrayBuffer)) {
      throw new InvalidArgumentError('createSqlJsOutboxStore: wasmBinary must be a Uint8Array or an ArrayBuffer');
    }
    if (options.locateFile !== undefined && typeof options.locateFile !== 'function') throw new InvalidArgumentError('createSqlJsOutboxStore: locateFile must be a function');
    this.#wasm = { wasmBinary: options.wasmBinary, locateFile: options.locateFile };
    this.#journal = new JournalWriter(
      this.#files.journalPath,
      {
        failure: () => this.#failure,
        writeFailed: (failure) => {
          this.#failure = failure;
        },
        committed: () => this.#afterCommit(),
      },
      // Default: fdatasync always on the threadpool. The adaptive policy (durable-write.ts) is
      // measured in bench/outbox.ts but not the default: it missed the bar on a loaded run and
      // showed a 97.8 ms loop gap (bench/README.md, "Adaptive durable write").
      durableWrite ?? hybridDurableWrite,
    );
  }

  // ---- public port ------------------------------------------------------------------------------

  append(rows: readonly NewOutboxRow[]): Promise<OutboxRow[]> {
    // Open and healthy (the common case): straight to the journal, without an await first, so each
    // append of a burst costs one promise instead of three.
    if (this.#isOpen && !this.#closed && !this.#failure) {
      try {
        validateNewRows(rows);
      } catch (error) {
        return Promise.reject(error);
      }
      return this.#appendNow(rows);
    }
    return this.#appendWhenOpen(rows);
  }

  async #appendWhenOpen(rows: readonly NewOutboxRow[]): Promise<OutboxRow[]> {
    await this.#usable(() => validateNewRows(rows));
    this.#checkFailure();
    return this.#appendNow(rows);
  }

  #appendNow(rows: readonly NewOutboxRow[]): Promise<OutboxRow[]> {
    if (rows.length === 0) return Promise.resolve([]);
    const journalRows: JournalRow[] = [];
    const out: OutboxRow[] = [];
    for (const input of rows) {
      const jr: JournalRow = [++this.#index.maxSeq, input.kind, input.payloadJson, input.idempotencyKey, input.dedupeKey ?? null, input.occurredAt];
      journalRows.push(jr);
      out.push(this.#index.append(jr));
    }
    return this.#write({ a: journalRows }).then(() => out);
  }

  async list(options: { state: OutboxRowState; limit: number }): Promise<OutboxRow[]> {
    await this.#usable(() => validateListOptions(options));
    this.#checkFailure();
    if (options.limit === 0) return [];
    this.#applyDb();
    return this.#db!.list(options.state, options.limit);
  }

  async update(seq: number, patch: OutboxRowPatch): Promise<void> {
    await this.#usable(() => validatePatch(seq, patch));
    this.#checkFailure();
    const clean: OutboxRowPatch = {};
    if (patch.attempts !== undefined) clean.attempts = patch.attempts;
    if (patch.nextAttemptAt !== undefined) clean.nextAttemptAt = patch.nextAttemptAt;
    if (patch.state !== undefined) clean.state = patch.state;
    if (patch.lastError !== undefined) clean.lastError = patch.lastError;
    if (!this.#index.update(seq, clean)) return;
    await this.#write({ u: seq, p: clean });
  }

  async remove(seqs: readonly number[]): Promise<void> {
    await this.#usable(() => {
      if (!Array.isArray(seqs)) throw new InvalidArgumentError('outbox remove: seqs must be an array');
    this.#checkFailure();
    });
    const removed = this.#index.remove(seqs);
    if (removed.length === 0) return;
    await this.#write({ r: removed });
  }

  async counts(): Promise<OutboxStoreCounts> {
    await this.#usable(() => undefined);
    this.#checkFailure();
    return this.#index.counts();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#opening) return;
    try {
      await this.#opening;
    } catch {
      return; // never opened: nothing to flush or release
    }
    await this.#journal.idle();
    this.#clock.clearTimeout(this.#checkpointTimer);
    this.#clock.clearTimeout(this.#applyTimer);
    this.#checkpointTimer = this.#applyTimer = undefined;
    try {
      await this.#checkpointing;
      // A last checkpoint leaves a short journal for the next open to replay.
      if (!this.#failure && (this.#journal.bytes > this.#headerBytes() || this.#journal.gen > this.#gen) && this.#startCheckpoint()) {
        await this.#checkpointing;
      }
      await this.#journal.idle(); // the last rotation's file switch
    } finally {
      this.#release();
    }
  }

  // ---- open -------------------------------------------------------------------------------------

  /**
   * Closed check and argument check (both before opening), then the open. Returns the shared open
   * promise itself (no extra async hop), so a call made before `close()` is queued on the journal
   * before `close()` waits for it. Callers check `#failure` after awaiting.
   */
  #usable(validate: () => void): Promise<void> {
    if (this.#closed) throw new ClosedError('outbox store');
    validate();
    return this.#ready();
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
        : new StoreError(`cannot open outbox store at ${this.#files.path}: ${errorText(error)}`, { cause: error, data: { path: this.#files.path } });
    });
    return this.#opening;
  }

  async #open(): Promise<void> {
    this.#failure = undefined; // a failed earlier attempt may have left one
    if (!fs.existsSync(this.#files.dir)) fs.mkdirSync(this.#files.dir, { recursive: true, mode: DIR_MODE });
    // Before reading anything: a second writer must not even recover (it would quarantine or
    // truncate files the first one is appending to).
    this.#lockToken = acquireStoreLock(this.#lockPath, this.#files.path, this.#log);
    await loadSqlJs(this.#wasm); // with the host's wasm, before recovery needs sql.js
    const recovered = await recover(this.#files, () => this.#clock.now(), this.#log);
    this.#db = recovered.snapshot;
    this.#index = recovered.index;
    this.#gen = recovered.gen;
    this.#snapshotBytes = 0;
    this.#journal.open(this.#files.dir);
    const plan = recovered.journal;
    if (plan.kind === 'checkpoint') {
      // Give the new or repaired state a snapshot and a clean journal straight away.
      this.#applyDb();
      const image = this.#db.exportImage(plan.gen, this.#index.maxSeq);
      await installSnapshot(this.#files.path, image);
      this.#gen = plan.gen;
      this.#snapshotBytes = image.length;
      this.#journal.reset(plan.gen);
    } else if (plan.kind === 'keep') {
      this.#journal.gen = this.#gen;
      if (plan.cut) this.#journal.truncate(plan.length);
      else this.#journal.bytes = plan.length;
    } else {
      this.#journal.reset(this.#gen);
    }
    if (this.#snapshotBytes === 0) this.#snapshotBytes = fs.statSync(this.#files.path, { throwIfNoEntry: false })?.size ?? 0;
    if (recovered.repaired.length > 0) this.#log.error('outbox', `outbox store repaired damaged files, nothing lost: ${recovered.repaired.join('; ')}`);
    if (recovered.lost.length > 0) {
      const kept = this.#index.size > 0 ? `with ${this.#index.size} recovered row(s)` : 'empty';
      this.#log.fatal('outbox', `outbox store quarantined corrupt data and started ${kept}: ${recovered.lost.join('; ')}`);
    }
    this.#isOpen = true;
  }

  #headerBytes(): number {
    return Buffer.byteLength(headerLine(this.#journal.gen));
  }

  #release(): void {
    this.#isOpen = false;
    this.#journal.close();
    this.#db?.close();
    this.#db = undefined;
    if (this.#lockToken !== undefined) releaseStoreLock(this.#lockPath, this.#lockToken);
    this.#lockToken = undefined;
  }

  // ---- sql.js -----------------------------------------------------------------------------------

  /** Write queued row changes (the oldest `max`) into sql.js. A failure here leaves memory and SQL apart: the store stops. */
  #applyDb(max?: number): void {
    const ops = this.#index.takeDbOps(max);
    try {
      this.#db!.apply(ops);
    } catch (error) {
      this.#failure = new StoreError(`outbox store state is inconsistent (sql.js apply failed: ${errorText(error)}); reopen the store`, { cause: error });
      throw this.#failure;
    }
  }

  // ---- journal and checkpoints ------------------------------------------------------------------

  #write(op: JournalOp): Promise<void> {
    return this.#journal.append(op);
  }

  /** After a group commit: checkpoint now when forced, or schedule one when due. False when the store failed. */
  #afterCommit(): boolean {
    // Write-behind into sql.js in slices, so neither a checkpoint nor a list() finds thousands of
    // row changes to apply in one go (that was most of a checkpoint's event-loop stall).
    if (this.#index.queuedDbOps >= DB_APPLY_INLINE) {
      try {
        this.#applyDb();
      } catch {
        this.#journal.failAll(this.#failure!);
        return false;
      }
    } else if (this.#index.queuedDbOps >= DB_APPLY_START) {
      this.#scheduleApply();
    }
    if (this.#checkpointing) return true; // one at a time; the journal it started is still short
    const threshold = Math.max(this.#journalLimit, this.#snapshotBytes);
    if (this.#checkpointTimer) this.#flushesWhileDue++;
    if (this.#checkpointWanted || this.#flushesWhileDue > MAX_DEFERRED_FLUSHES || this.#journal.bytes > HARD_CAP_FACTOR * threshold) {
      return this.#startCheckpoint();
    }
    if (this.#journal.bytes > threshold) this.#scheduleCheckpoint();
    return true;
  }

  /** Apply queued row changes on the next macrotask, a slice at a time (see `DB_APPLY_SLICE`). */
  #scheduleApply(): void {
    if (this.#applyTimer) return;
    this.#applyTimer = this.#clock
      .setTimeout(() => {
        this.#applyTimer = undefined;
        if (this.#closed || this.#failure || !this.#db) return;
        try {
          this.#applyDb(DB_APPLY_SLICE);
        } catch {
          this.#journal.failAll(this.#failure!);
          return;
        }
        if (this.#index.queuedDbOps > 0) this.#scheduleApply();
      }, 0)
      .unref();
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
        if (this.#closed || this.#failure || !this.#db || this.#checkpointing) return;
        // A write in flight would straddle the journal rotation: let the flush loop do it in between.
        if (this.#journal.busy) this.#checkpointWanted = true;
        else this.#startCheckpoint();
      }, 0)
      .unref();
  }

  /**
   * Start a checkpoint: rotate the journal to the next generation and ask for the image, both in
   * this synchronous step (no operation can slip in between; operations still queued for the old
   * journal are in the image and go to the new journal, where replay skips them). The export runs
   * in the replica's worker thread and the image is written out on the threadpool, so the event
   * loop pays for the rotation and a message. Only while no journal write is in flight. False
   * when the store failed.
   */
  #startCheckpoint(): boolean {
    this.#checkpointWanted = false;
    this.#flushesWhileDue = 0;
    this.#clock.clearTimeout(this.#checkpointTimer);
    this.#checkpointTimer = undefined;
    const nextGen = this.#gen + 1;
    try {
      this.#applyDb();
      // After a failed snapshot write the journal is already at nextGen: the old one must stay.
      if (this.#journal.gen < nextGen) this.#journal.rotate(nextGen, this.#files.dir);
    } catch (error) {
      this.#failure ??= new StoreError(`outbox journal rotation failed (${errorText(error)}); reopen the store`, { cause: error });
      this.#journal.failAll(this.#failure);
      return false;
    }
    this.#checkpointing = this.#db!.checkpointImage(nextGen, this.#index.maxSeq, this.#snapshotBytes >= REPLICA_MIN_BYTES)
      .then(async (image) => {
        await installSnapshot(this.#files.path, image);
        this.#gen = nextGen;
        this.#snapshotBytes = image.length;
      })
      .catch((error: unknown) => this.#checkpointFailed(error))
      .finally(() => {
        this.#checkpointing = undefined;
      });
    return true;
  }

  /** The snapshot was not installed: the old one plus both journals still hold everything. */
  #checkpointFailed(error: unknown): void {
    // Try again after another limit's worth of growth.
    this.#snapshotBytes = this.#journal.bytes + this.#journalLimit;
    this.#log.error('outbox', `outbox checkpoint failed (${errorText(error)}); continuing on the journal`);
  }
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
 * - Each journal record carries a CRC-32. A damaged record is skipped alone (its bytes go to
 *   `<path>.journal.corrupt-<ISO time>`, one FATAL line says what it held); its neighbours replay.
 *   Each checkpoint keeps the previous snapshot generation (`<path>.prev`) and the journal since
 *   (`<path>.journal.prev`), so a damaged snapshot falls back to them with nothing lost (an ERROR
 *   line). Only when both generations are damaged does the store start empty (FATAL). A torn last
 *   journal line (a write that never completed, so never acknowledged) is dropped with a warning.
 *   Journals written before checksums (format 1) are read and migrated at open.
 * - A checkpoint runs off the event loop: once the database image reaches 512 KiB, a worker
 *   thread keeps a replica of it and exports the image (smaller images, and any when the worker
 *   cannot run, are exported on the main thread); the image is written and synced, and the
 *   journal switched, on the threadpool.
 * - Files are 0600; a missing parent directory is created 0700.
 * - One writer per path: opening takes `<path>.lock` (O_EXCL, 0600, holding the pid). A second
 *   opener — another process or another store object in this process — gets `StoreError` with
 *   code `STORE_LOCKED` naming the holder's pid; a lock left by a process that is no longer
 *   running is taken over with a warning. `close()` releases it.
 * @public
 */
export function createSqlJsOutboxStore(options: SqlJsOutboxStoreOptions): OutboxStore {
  return new SqlJsOutboxStore(options);
}
