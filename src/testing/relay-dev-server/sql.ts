/**
 * The reference relay's sql.js database: its schema, cached prepared statements and nested
 * transactions (savepoints).
 */
import type { Database, SqlValue, Statement } from 'sql.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS agents (id TEXT PRIMARY KEY, name TEXT NOT NULL, provider TEXT, metadata TEXT,
  created_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL, deleted_at INTEGER);
CREATE INDEX IF NOT EXISTS agents_name ON agents(name);
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, agent_id TEXT NOT NULL, expires_at INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
  from_name TEXT NOT NULL, from_agent_id TEXT, to_name TEXT NOT NULL, to_agent_id TEXT, body TEXT NOT NULL,
  reply_to TEXT, task_id TEXT, expects_reply INTEGER NOT NULL, entry TEXT, occurred_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL, read_at INTEGER, attachments TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS messages_unread ON messages(to_agent_id, read_at);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, agent_id TEXT NOT NULL,
  kind TEXT NOT NULL, idempotency_key TEXT NOT NULL, occurred_at INTEGER NOT NULL, created_at INTEGER NOT NULL,
  payload TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS events_idempotency ON events(agent_id, idempotency_key);
CREATE TABLE IF NOT EXISTS obligations (message_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, from_name TEXT NOT NULL,
  excerpt TEXT NOT NULL, task_id TEXT, created_at INTEGER NOT NULL, cleared_at INTEGER, cleared_by TEXT);
CREATE TABLE IF NOT EXISTS tasks (task_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, status TEXT NOT NULL,
  message_id TEXT, note TEXT, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS permissions (id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, request_id TEXT NOT NULL,
  tool TEXT NOT NULL, summary TEXT NOT NULL, input TEXT, created_at INTEGER NOT NULL, behavior TEXT, message TEXT,
  decided_by TEXT, decided_at INTEGER, UNIQUE (agent_id, request_id));
CREATE TABLE IF NOT EXISTS attachments (id TEXT PRIMARY KEY, name TEXT NOT NULL, media_type TEXT NOT NULL,
  size INTEGER NOT NULL, data BLOB NOT NULL);
`;

/** A row as sql.js returns it. */
export type Row = Record<string, SqlValue>;

/** One sql.js database with the relay schema and small query helpers. */
export class SqlDb {
  constructor(readonly db: Database) {
    // The database lives in memory (persisted by exporting it), so sqlite's rollback journal is
    // pure overhead: keep it in memory and skip syncs.
    db.exec('PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF; PRAGMA temp_store = MEMORY; PRAGMA locking_mode = EXCLUSIVE;');
    db.exec(SCHEMA);
  }

  // ---- sql helpers -------------------------------------------------------------------------
  /** Prepared statements by SQL text: re-preparing on every call dominated the batch route's cost. */
  readonly #statements = new Map<string, Statement>();
  #prepare(sql: string): Statement {
    let stmt = this.#statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }
  /** Every row of a query. */
  all(sql: string, params: SqlValue[] = []): Row[] {
    const stmt = this.#prepare(sql);
    try {
      stmt.bind(params);
      const rows: Row[] = [];
      while (stmt.step()) rows.push(stmt.getAsObject() as Row);
      return rows;
    } finally {
      stmt.reset();
    }
  }
  /** The first row of a query, if any. */
  get(sql: string, params: SqlValue[] = []): Row | undefined {
    return this.all(sql, params)[0];
  }
  /** Run a statement. */
  run(sql: string, params: SqlValue[] = []): void {
    this.#prepare(sql).run(params);
  }
  /** Release prepared statements (before closing the database). */
  close(): void {
    for (const stmt of this.#statements.values()) stmt.free();
    this.#statements.clear();
  }
  #depth = 0;
  /**
   * Run `fn` atomically; a throw rolls back every change it made. Nested calls become savepoints,
   * so a batch is one commit (each commit rewrites pages of sql.js's in-memory file) while each
   * item still rolls back alone.
   */
  tx<T>(fn: () => T): T {
    const name = `sp${this.#depth}`;
    this.run(this.#depth === 0 ? 'BEGIN' : `SAVEPOINT ${name}`);
    this.#depth += 1;
    try {
      const result = fn();
      this.#depth -= 1;
      this.run(this.#depth === 0 ? 'COMMIT' : `RELEASE ${name}`);
      return result;
    } catch (error) {
      this.#depth -= 1;
      if (this.#depth === 0) this.run('ROLLBACK');
      else {
        this.run(`ROLLBACK TO ${name}`);
        this.run(`RELEASE ${name}`);
      }
      throw error;
    }
  }
}
