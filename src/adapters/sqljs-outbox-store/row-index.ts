/**
 * The authoritative in-memory index of the sql.js outbox store: states, coalesce keys and counts
 * in plain JS, so append/update/remove/counts never wait for SQL. Every change also queues the
 * matching row change for sql.js (`takeDbOps`), applied in one transaction before a read or a
 * checkpoint. Live calls and journal replay go through the same methods.
 */
import type { OutboxRow, OutboxRowPatch, OutboxRowState, OutboxStoreCounts } from '../../ports/outbox-store.js';
import type { JournalOp, JournalRow } from './journal.js';
import type { DbOp } from './snapshot.js';

interface IndexEntry {
  state: OutboxRowState;
  dedupeKey: string | undefined;
  occurredAt: number;
}

/** Rows by seq with their bookkeeping, plus the sql.js changes not yet applied. */
export class RowIndex {
  /** Highest seq ever assigned (seqs are never reused). */
  maxSeq = 0;
  #entries = new Map<number, IndexEntry>();
  #pendingByKey = new Map<string, Set<number>>();
  #pending = 0;
  #poisoned = 0;
  #oldest: number | undefined;
  #oldestValid = true;
  #dbOps: DbOp[] = [];
  /** Inserts still queued for sql.js, by seq: a row removed before they are applied never reaches SQL. */
  #queuedIns = new Map<number, DbOp>();

  /** Rows stored. */
  get size(): number {
    return this.#entries.size;
  }

  /** Add a row read from a snapshot (already in sql.js). */
  load(seq: number, state: OutboxRowState, dedupeKey: string | undefined, occurredAt: number): void {
    this.#add(seq, { state, dedupeKey, occurredAt });
    this.maxSeq = Math.max(this.maxSeq, seq);
  }

  /** Append a row (replacing pending rows with its coalesce key); returns a fresh copy for the caller. */
  append(jr: JournalRow): OutboxRow {
    const [seq, kind, payloadJson, idempotencyKey, dedupeKey, occurredAt] = jr;
    if (dedupeKey !== null) {
      const victims = this.#pendingByKey.get(dedupeKey);
      if (victims) for (const victim of [...victims]) this.#delete(victim);
    }
    this.#add(seq, { state: 'pending', dedupeKey: dedupeKey ?? undefined, occurredAt });
    const ins: DbOp = { k: 'ins', row: jr };
    this.#dbOps.push(ins);
    this.#queuedIns.set(seq, ins);
    // A fresh object owned by the caller: nothing in the store references it.
    const row: OutboxRow = { seq, kind, payloadJson, idempotencyKey, occurredAt, attempts: 0, nextAttemptAt: 0, state: 'pending' };
    if (dedupeKey !== null) row.dedupeKey = dedupeKey;
    return row;
  }

  /** Apply a patch; false when the row does not exist. */
  update(seq: number, patch: OutboxRowPatch): boolean {
    const entry = this.#entries.get(seq);
    if (!entry) return false;
    if (patch.state !== undefined && patch.state !== entry.state) {
      if (entry.state === 'pending') {
        this.#leavePending(seq, entry);
        entry.state = 'poisoned';
        this.#poisoned++;
      } else {
        this.#poisoned--;
        entry.state = 'pending';
        this.#entries.delete(seq);
        this.#add(seq, entry);
        // Re-inserting moved it to the end of the Map; order there doesn't matter (SQL sorts by seq).
      }
    }
    this.#dbOps.push({ k: 'upd', seq, patch });
    return true;
  }

  /** Remove rows; returns the seqs that existed. */
  remove(seqs: readonly number[]): number[] {
    const removed: number[] = [];
    for (const seq of seqs) if (this.#delete(seq)) removed.push(seq);
    return removed;
  }

  /**
   * Re-apply one journal operation at open. An append of a seq at or below `maxSeq` is already in
   * the base: a checkpoint exports operations still queued for the journal, and they then reach
   * the journal that follows it too. Skipping those appends makes replay idempotent (updates set
   * absolute values and removes of missing rows are ignored, so repeating them changes nothing).
   */
  replay(op: JournalOp): void {
    if ('a' in op) {
      for (const jr of op.a) {
        if (jr[0] <= this.maxSeq) continue;
        this.maxSeq = jr[0];
        this.append(jr);
      }
    } else if ('u' in op) {
      this.update(op.u, op.p);
    } else {
      this.remove(op.r);
    }
  }

  /** Pending and poisoned counts, and the oldest pending `occurredAt`. */
  counts(): OutboxStoreCounts {
    if (!this.#oldestValid) {
      let oldest: number | undefined;
      for (const entry of this.#entries.values()) {
        if (entry.state === 'pending' && (oldest === undefined || entry.occurredAt < oldest)) oldest = entry.occurredAt;
      }
      this.#oldest = oldest;
      this.#oldestValid = true;
    }
    return { pending: this.#pending, poisoned: this.#poisoned, oldestPendingAt: this.#pending > 0 ? this.#oldest : undefined };
  }

  /** Row changes queued for sql.js and not taken yet. */
  get queuedDbOps(): number {
    return this.#dbOps.length;
  }

  /** The oldest `max` (default: all) sql.js changes queued and not taken yet, in order. */
  takeDbOps(max = Infinity): DbOp[] {
    if (this.#dbOps.length <= max) {
      const ops = this.#dbOps;
      this.#dbOps = [];
      this.#queuedIns.clear();
      return ops;
    }
    const ops = this.#dbOps.splice(0, max);
    // Taken inserts are in sql.js from now on: removing their row needs a delete.
    for (const op of ops) if (op.k === 'ins' || op.k === 'skip') this.#queuedIns.delete(op.row[0]);
    return ops;
  }

  #add(seq: number, entry: IndexEntry): void {
    this.#entries.set(seq, entry);
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

  #delete(seq: number): boolean {
    const entry = this.#entries.get(seq);
    if (!entry) return false;
    this.#entries.delete(seq);
    if (entry.state === 'pending') this.#leavePending(seq, entry);
    else this.#poisoned--;
    // Delivered before it was ever written into sql.js (the common case): cancel the insert
    // instead of paying for an insert and a delete. Its queued updates then match no row.
    const ins = this.#queuedIns.get(seq);
    if (ins) {
      ins.k = 'skip';
      this.#queuedIns.delete(seq);
    } else {
      this.#dbOps.push({ k: 'del', seq });
    }
    return true;
  }
}
