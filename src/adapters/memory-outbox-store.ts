import type {
  NewOutboxRow,
  OutboxRow,
  OutboxRowPatch,
  OutboxRowState,
  OutboxStore,
  OutboxStoreCounts,
} from '../ports/outbox-store.js';
import { ClosedError, InvalidArgumentError } from '../errors/index.js';

/**
 * Check rows handed to `append` (shared by the outbox stores). Throws `InvalidArgumentError`.
 * @internal
 */
export function validateNewRows(rows: readonly NewOutboxRow[]): void {
  if (!Array.isArray(rows)) throw new InvalidArgumentError('outbox store append() needs an array of rows');
  for (const [i, row] of rows.entries()) {
    const bad = (field: string, want: string) =>
      new InvalidArgumentError(`outbox row ${i}: ${field} must be ${want}`, { data: { index: i, field } });
    if (typeof row !== 'object' || row === null) throw new InvalidArgumentError(`outbox row ${i} must be an object`);
    if (typeof row.kind !== 'string' || row.kind === '') throw bad('kind', 'a non-empty string');
    if (typeof row.payloadJson !== 'string') throw bad('payloadJson', 'a string');
    if (typeof row.idempotencyKey !== 'string' || row.idempotencyKey === '') throw bad('idempotencyKey', 'a non-empty string');
    if (row.dedupeKey !== undefined && (typeof row.dedupeKey !== 'string' || row.dedupeKey === '')) {
      throw bad('dedupeKey', 'a non-empty string when set');
    }
    if (typeof row.occurredAt !== 'number' || !Number.isFinite(row.occurredAt)) throw bad('occurredAt', 'a finite number');
  }
}

/**
 * Check a patch handed to `update` (shared by the outbox stores). Throws `InvalidArgumentError`.
 * @internal
 */
export function validatePatch(seq: number, patch: OutboxRowPatch): void {
  if (!Number.isSafeInteger(seq)) throw new InvalidArgumentError(`outbox update: seq must be an integer, got ${String(seq)}`);
  if (typeof patch !== 'object' || patch === null) throw new InvalidArgumentError('outbox update: patch must be an object');
  const { attempts, nextAttemptAt, state, lastError } = patch;
  if (attempts !== undefined && (!Number.isSafeInteger(attempts) || attempts < 0)) {
    throw new InvalidArgumentError('outbox update: attempts must be a non-negative integer');
  }
  if (nextAttemptAt !== undefined && (typeof nextAttemptAt !== 'number' || !Number.isFinite(nextAttemptAt))) {
    throw new InvalidArgumentError('outbox update: nextAttemptAt must be a finite number');
  }
  if (state !== undefined && state !== 'pending' && state !== 'poisoned') {
    throw new InvalidArgumentError(`outbox update: state must be 'pending' or 'poisoned', got ${String(state)}`);
  }
  if (lastError !== undefined && typeof lastError !== 'string') throw new InvalidArgumentError('outbox update: lastError must be a string');
}

/**
 * Check a `list` query (shared by the outbox stores). Throws `InvalidArgumentError`.
 * @internal
 */
export function validateListOptions(options: { state: OutboxRowState; limit: number }): void {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('outbox list: options must be an object');
  if (options.state !== 'pending' && options.state !== 'poisoned') {
    throw new InvalidArgumentError(`outbox list: state must be 'pending' or 'poisoned', got ${String(options.state)}`);
  }
  if (!Number.isSafeInteger(options.limit) || options.limit < 0) throw new InvalidArgumentError('outbox list: limit must be a non-negative integer');
}

const copyRow = (row: OutboxRow): OutboxRow => ({ ...row });

/**
 * An {@link OutboxStore} kept in memory: same semantics as the sql.js store (FIFO `seq`s never
 * reused, `dedupeKey` coalescing of pending rows, `ClosedError` after close) but not durable.
 * @remarks For tests and for hosts that accept losing queued events on a crash. Rows are copied
 * in and out, so callers can't mutate stored state.
 * @public
 */
export function createMemoryOutboxStore(): OutboxStore {
  // Map iteration follows insertion order, and seqs are inserted increasing: iteration is FIFO.
  const rows = new Map<number, OutboxRow>();
  let lastSeq = 0;
  let pending = 0;
  let poisoned = 0;
  let closed = false;

  const ensureOpen = () => {
    if (closed) throw new ClosedError('outbox store');
  };
  const drop = (seq: number) => {
    const row = rows.get(seq);
    if (!row) return;
    rows.delete(seq);
    if (row.state === 'pending') pending--;
    else poisoned--;
  };

  return {
    async append(newRows) {
      ensureOpen();
      validateNewRows(newRows);
      const stored: OutboxRow[] = [];
      for (const input of newRows) {
        if (input.dedupeKey !== undefined) {
          for (const row of rows.values()) {
            if (row.state === 'pending' && row.dedupeKey === input.dedupeKey) drop(row.seq);
          }
        }
        const row: OutboxRow = {
          seq: ++lastSeq,
          kind: input.kind,
          payloadJson: input.payloadJson,
          idempotencyKey: input.idempotencyKey,
          occurredAt: input.occurredAt,
          attempts: 0,
          nextAttemptAt: 0,
          state: 'pending',
        };
        if (input.dedupeKey !== undefined) row.dedupeKey = input.dedupeKey;
        rows.set(row.seq, row);
        pending++;
        stored.push(copyRow(row));
      }
      return stored;
    },

    async list(options) {
      ensureOpen();
      validateListOptions(options);
      const out: OutboxRow[] = [];
      if (options.limit === 0) return out;
      for (const row of rows.values()) {
        if (row.state !== options.state) continue;
        out.push(copyRow(row));
        if (out.length >= options.limit) break;
      }
      return out;
    },

    async update(seq, patch) {
      ensureOpen();
      validatePatch(seq, patch);
      const row = rows.get(seq);
      if (!row) return;
      if (patch.attempts !== undefined) row.attempts = patch.attempts;
      if (patch.nextAttemptAt !== undefined) row.nextAttemptAt = patch.nextAttemptAt;
      if (patch.lastError !== undefined) row.lastError = patch.lastError;
      if (patch.state !== undefined && patch.state !== row.state) {
        if (row.state === 'pending') {
          pending--;
          poisoned++;
        } else {
          poisoned--;
          pending++;
        }
        row.state = patch.state;
      }
    },

    async remove(seqs) {
      ensureOpen();
      if (!Array.isArray(seqs)) throw new InvalidArgumentError('outbox remove: seqs must be an array');
      for (const seq of seqs) drop(seq);
    },

    async counts(): Promise<OutboxStoreCounts> {
      ensureOpen();
      let oldestPendingAt: number | undefined;
      if (pending > 0) {
        for (const row of rows.values()) {
          if (row.state === 'pending' && (oldestPendingAt === undefined || row.occurredAt < oldestPendingAt)) {
            oldestPendingAt = row.occurredAt;
          }
        }
      }
      return { pending, poisoned, oldestPendingAt };
    },

    async close() {
      closed = true;
    },
  };
}
