/**
 * State of a stored outbox row. Delivered rows are removed, so they have no state.
 * @public
 */
export type OutboxRowState = 'pending' | 'poisoned';

/**
 * A row as the dispatcher hands it to a store: everything except the sequence number.
 * @public
 */
export interface NewOutboxRow {
  /** Event kind, e.g. `message`, `session`, `task_status`, `insight`. */
  kind: string;
  /** The event body, already serialised to JSON. */
  payloadJson: string;
  /** Stable across retries; the relay dedupes on it. */
  idempotencyKey: string;
  /** When set, appending this row deletes pending (not poisoned) rows with the same key. */
  dedupeKey?: string;
  /** Epoch ms, stamped once at enqueue and never changed. */
  occurredAt: number;
}

/**
 * A stored outbox row.
 * @public
 */
export interface OutboxRow extends NewOutboxRow {
  /** Strictly increasing sequence number assigned by the store; FIFO order. */
  seq: number;
  /** Delivery attempts so far; survives restarts. */
  attempts: number;
  /** Epoch ms before which the row must not be retried (0 = now). */
  nextAttemptAt: number;
  /** `pending` until delivered (then removed) or given up on (`poisoned`). */
  state: OutboxRowState;
  /** Last delivery error, for inspection. */
  lastError?: string;
}

/**
 * The mutable delivery bookkeeping of a row.
 * @public
 */
export interface OutboxRowPatch {
  /** New attempt count. */
  attempts?: number;
  /** New earliest retry time (epoch ms). */
  nextAttemptAt?: number;
  /** New state. */
  state?: OutboxRowState;
  /** Last error text. */
  lastError?: string;
}

/**
 * Counts a store can answer cheaply.
 * @public
 */
export interface OutboxStoreCounts {
  /** Rows waiting for delivery. */
  pending: number;
  /** Rows given up on and kept for inspection. */
  poisoned: number;
  /** `occurredAt` of the oldest pending row, if any. */
  oldestPendingAt: number | undefined;
}

/**
 * Durable, ordered storage of outbox rows. A dumb store: retry, backoff, poison and bound
 * policy live in the core dispatcher, not here.
 * @remarks
 * - `append` is durable when its promise resolves: the rows survive `kill -9` of the process.
 * - Sequence numbers are strictly increasing and never reused, even after a restart.
 * - Every method may be called before the previous call's promise settles; the store serialises.
 * - Conformance: `runOutboxStoreConformance` in `agent-relay-runner/testing`.
 * @public
 */
export interface OutboxStore {
  /** Append rows in order (one durable commit for the whole call); returns them with their `seq`. */
  append(rows: readonly NewOutboxRow[]): Promise<OutboxRow[]>;
  /** Rows in `seq` order, filtered by state, at most `limit` of them. */
  list(options: { state: OutboxRowState; limit: number }): Promise<OutboxRow[]>;
  /** Update bookkeeping of one row; a missing `seq` is ignored. */
  update(seq: number, patch: OutboxRowPatch): Promise<void>;
  /** Remove rows (delivered, acknowledged or dropped); missing `seq`s are ignored. */
  remove(seqs: readonly number[]): Promise<void>;
  /** Pending and poisoned counts and the age of the oldest pending row. */
  counts(): Promise<OutboxStoreCounts>;
  /** Flush and release files. Further calls reject with `ClosedError`. */
  close?(): Promise<void>;
}
