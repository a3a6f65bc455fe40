/**
 * The snapshot of the sql.js outbox store: the rows in a sql.js (SQLite compiled to WASM)
 * database held in memory, and its image at `<path>`, replaced atomically at each checkpoint.
 * This module owns the schema, text encoding, reading an image back, and writing it out.
 */
import initSqlJs from 'sql.js';
import type { Database, SqlJsStatic, SqlValue, Statement } from 'sql.js';
import type { OutboxRow, OutboxRowPatch, OutboxRowState } from '../../ports/outbox-store.js';
import { FORMAT } from './files.js';
import { ExportReplica, type ReplicaStatement } from './export-worker.js';
import type { JournalRow } from './journal.js';

/**
 * Where sql.js gets its WebAssembly binary when its default (`sql-wasm.wasm` next to sql.js's own
 * file) is not there, as in a bundle: the bytes, or a function from the file name to its path or URL.
 */
export interface SqlJsWasm {
  wasmBinary?: Uint8Array | ArrayBuffer | undefined;
  locateFile?: ((file: string) => string) | undefined;
}

// One initialisation of the WASM module per process: it is immutable code, not per-runner state.
let sqlJsReady: Promise<SqlJsStatic> | undefined;
/** The sql.js module, initialised once per process (a failed initialisation is retried at the next call). */
export function loadSqlJs(wasm: SqlJsWasm = {}): Promise<SqlJsStatic> {
  const config = {
    ...(wasm.wasmBinary ? { wasmBinary: wasm.wasmBinary as ArrayBuffer } : {}),
    ...(wasm.locateFile ? { locateFile: wasm.locateFile } : {}),
  };
  sqlJsReady ??= initSqlJs(config).catch((error: unknown) => {
    sqlJsReady = undefined;
    throw error;
  });
  return sqlJsReady;
}

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

const INSERT_SQL = `INSERT INTO outbox_rows (seq, kind, payload, idempotency_key, dedupe_key, occurred_at, attempts, next_attempt_at, state, last_error)
       VALUES (?, ?, ?, ?, ?, ?, 0, 0, 'pending', NULL)`;
const DELETE_SQL = 'DELETE FROM outbox_rows WHERE seq = ?';
const UPDATE_SQL = `UPDATE outbox_rows SET attempts = coalesce(?, attempts), next_attempt_at = coalesce(?, next_attempt_at),
       state = coalesce(?, state), last_error = coalesce(?, last_error) WHERE seq = ?`;
const META_SQL = "INSERT OR REPLACE INTO outbox_meta (key, value) VALUES ('format', ?), ('gen', ?), ('max_seq', ?)";
/** Statement ids of a replicated batch, in this order. */
const STATEMENTS = [INSERT_SQL, DELETE_SQL, UPDATE_SQL] as const;

/** A row change waiting to be written into sql.js. */
export type DbOp =
  | { k: 'ins' | 'skip'; row: JournalRow }
  | { k: 'del'; seq: number }
  | { k: 'upd'; seq: number; patch: OutboxRowPatch };

/** What an image says about each row, enough to rebuild the in-memory index. */
export interface SnapshotRowInfo {
  seq: number;
  state: OutboxRowState;
  dedupeKey: string | undefined;
  occurredAt: number;
}

// SQLite TEXT can't hold a lone UTF-16 surrogate (sql.js converts to UTF-8 and back), and sql.js
// decodes with a TextDecoder that drops a leading U+FEFF (a BOM), so strings that contain a lone
// surrogate, start with U+FEFF, or start with the escape marker are stored as marker + JSON string.
const NEEDS_ESCAPE = /^[\u0001\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const encText = (s: string): string => (NEEDS_ESCAPE.test(s) ? `\u0001${JSON.stringify(s)}` : s);
const decText = (s: string): string => (s.charCodeAt(0) === 1 ? (JSON.parse(s.slice(1)) as string) : s);

/** A snapshot whose SQLite header promises more pages than the file holds was cut short. */
export function snapshotHeaderProblem(bytes: Uint8Array): string | undefined {
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

/** The rows in sql.js, and their image on disk. */
export class SnapshotDb {
  #stmts = new Map<string, Statement>();
  #replica: ExportReplica | undefined;
  #replicaTried = false;

  private constructor(private readonly db: Database) {}

  /** A fresh, empty database with the schema. */
  static empty(SQL: SqlJsStatic): SnapshotDb {
    const db = new SQL.Database();
    db.exec(SCHEMA);
    return new SnapshotDb(db);
  }

  /**
   * Open an image and read what the index needs. Throws (closing the database) when the image is
   * damaged or is not an outbox snapshot.
   */
  static load(SQL: SqlJsStatic, bytes: Uint8Array): { snapshot: SnapshotDb; gen: number; maxSeq: number; rows: SnapshotRowInfo[] } {
    const db = new SQL.Database(bytes);
    try {
      const check = db.exec('PRAGMA quick_check');
      const verdict = check[0]?.values[0]?.[0];
      if (verdict !== 'ok') throw new Error(`integrity check failed: ${String(verdict)}`);
      db.exec(PRAGMAS);
      const meta = new Map<string, number>();
      for (const [key, value] of db.exec('SELECT key, value FROM outbox_meta')[0]?.values ?? []) meta.set(String(key), Number(value));
      if (meta.get('format') !== FORMAT || !Number.isSafeInteger(meta.get('gen'))) throw new Error('not an outbox snapshot (missing format/generation)');
      const rows: SnapshotRowInfo[] = [];
      for (const [seq, state, dedupeKey, occurredAt] of db.exec('SELECT seq, state, dedupe_key, occurred_at FROM outbox_rows ORDER BY seq')[0]?.values ?? []) {
        if (state !== 'pending' && state !== 'poisoned') throw new Error(`row ${String(seq)} has an unknown state`);
        rows.push({ seq: Number(seq), state, dedupeKey: dedupeKey === null ? undefined : decText(String(dedupeKey)), occurredAt: Number(occurredAt) });
      }
      return { snapshot: new SnapshotDb(db), gen: meta.get('gen')!, maxSeq: meta.get('max_seq') ?? 0, rows };
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** Write row changes into sql.js, in one transaction (and the same into the export replica). */
  apply(ops: readonly DbOp[]): void {
    if (ops.length === 0) return;
    const stmts = STATEMENTS.map((sql) => this.#stmt(sql));
    const batch: ReplicaStatement[] = [];
    const run = (id: number, params: SqlValue[]) => {
      stmts[id]!.run(params);
      batch.push([id, params]);
    };
    this.db.exec('BEGIN');
    for (const op of ops) {
      if (op.k === 'ins') {
        const [seq, kind, payloadJson, idempotencyKey, dedupeKey, occurredAt] = op.row;
        run(0, [seq, encText(kind), encText(payloadJson), encText(idempotencyKey), dedupeKey === null ? null : encText(dedupeKey), occurredAt]);
      } else if (op.k === 'skip') {
        // an insert cancelled by a remove before it was applied
      } else if (op.k === 'del') {
        run(1, [op.seq]);
      } else if (op.k === 'upd') {
        const p = op.patch;
        run(2, [p.attempts ?? null, p.nextAttemptAt ?? null, p.state ?? null, p.lastError === undefined ? null : encText(p.lastError), op.seq]);
      }
    }
    this.db.exec('COMMIT');
    this.#replica?.apply(batch);
  }

  /**
   * The image for generation `gen`: from the replica (off the event loop) when there is a healthy
   * one, else exported here. `offThread` asks for a replica from now on: the export made here then
   * also seeds it (one main-thread export, then none). A small database is exported here, since
   * its export costs less than a worker thread is worth (a V8 isolate and a sql.js instance,
   * ~10 MB each). Reflects every change applied before this call; a fallback export made later
   * also holds later changes, which journal replay skips or repeats harmlessly.
   */
  checkpointImage(gen: number, maxSeq: number, offThread: boolean): Promise<Uint8Array> {
    const replica = this.#replica;
    if (!replica || replica.failed) {
      return Promise.resolve().then(() => {
        const image = this.exportImage(gen, maxSeq);
        if (offThread && !this.#replicaTried) {
          this.#replicaTried = true;
          try {
            this.#replica = new ExportReplica(image.slice(), { pragmas: PRAGMAS, statements: STATEMENTS, metaSql: META_SQL });
          } catch {
            this.#replica = undefined; // no worker here: keep exporting on the main thread
          }
        }
        return image;
      });
    }
    return replica.export(FORMAT, gen, maxSeq).catch(() => this.exportImage(gen, maxSeq));
  }

  /** Rows in `seq` order with the given state, at most `limit`. */
  list(state: OutboxRowState, limit: number): OutboxRow[] {
    const stmt = this.#stmt(
      `SELECT seq, kind, payload, idempotency_key, dedupe_key, occurred_at, attempts, next_attempt_at, state, last_error
       FROM outbox_rows WHERE state = ? ORDER BY seq LIMIT ?`,
    );
    const out: OutboxRow[] = [];
    try {
      stmt.bind([state, limit]);
      while (stmt.step()) out.push(rowFromSql(stmt.get()));
    } finally {
      stmt.reset();
    }
    return out;
  }

  /**
   * Stamp generation `gen` and `maxSeq` into the database and return its image. Synchronous and
   * O(database size) (about 3 ms for 5,000 rows); writing the image out is the caller's, off the
   * event loop (`installSnapshot` in files.ts).
   */
  exportImage(gen: number, maxSeq: number): Uint8Array {
    this.db.run(META_SQL, [FORMAT, gen, maxSeq]);
    const bytes = this.db.export();
    // Statements may not survive export() in every sql.js version; prepare them again lazily.
    this.#freeStatements();
    return bytes;
  }

  /** Free statements and the database, and stop the replica. */
  close(): void {
    void this.#replica?.close();
    this.#replica = undefined;
    this.#freeStatements();
    this.db.close();
  }

  #freeStatements(): void {
    for (const stmt of this.#stmts.values()) {
      try {
        stmt.free();
      } catch {
        // already freed by export()
      }
    }
    this.#stmts.clear();
  }

  #stmt(sql: string): Statement {
    let stmt = this.#stmts.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.#stmts.set(sql, stmt);
    }
    return stmt;
  }
}
