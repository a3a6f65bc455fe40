/**
 * The sql.js outbox store: store.ts (the OutboxStore), journal.ts (the append-only journal and its
 * group commit), snapshot.ts (sql.js and the checkpoint image), recovery.ts (reading both back and
 * quarantining damage), lock.ts (one writer per store), row-index.ts (the in-memory index), files.ts (durable file primitives).
 */
export { createSqlJsOutboxStore, type SqlJsOutboxStoreOptions } from './store.js';
