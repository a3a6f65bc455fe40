import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { NewOutboxRow, OutboxRow, OutboxStore } from '../ports/outbox-store.js';
import type { OutboxDelivery, OutboxSend, OutboxSendAnswer, OutboxSendResult } from '../ports/outbox-send.js';
import { ClosedError, InvalidArgumentError, RunnerError, isRunnerError } from '../errors/index.js';
import { Emitter } from './emitter.js';
import type { Outbox, OutboxEventInput, OutboxEvents, OutboxOptions, OutboxPolicy, OutboxStats } from './outbox-types.js';
import { assertJsonValue } from './json.js';
import { SHED_SUMMARY_KEY, addToSummary, isShedSummary, pickShed, randomInstanceId, rowBytes, toDelivery } from './outbox-rows.js';
import { ShedSummaryRow } from './outbox-shed.js';
import { backoffDelay } from '../shared/backoff.js';
import { describeError } from '../shared/describe-error.js';

const DEFAULTS = {
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  maxAttempts: 12,
  maxBytes: 256 * 1024 * 1024,
  batchMaxRows: 100,
  batchMaxBytes: 256 * 1024,
  pollIntervalMs: 5000,
} satisfies Required<OutboxPolicy>;

/** Longest `Retry-After` honoured; beyond it a server is assumed confused. */
const MAX_RETRY_AFTER_MS = 3600_000;

/** "Every row": a `list` limit that every store binds as a plain 32-bit integer. */
const ALL_ROWS = 2 ** 31 - 1;

/** Headroom left below the budget after shedding, so the next enqueues take the fast path again. */
const SHED_HEADROOM_MAX = 1024 * 1024;

export { backoffDelay } from '../shared/backoff.js';
export type * from './outbox-types.js';
export { SHEDDABLE_OUTBOX_KINDS } from './outbox-rows.js';

/**
 * Create the outbox dispatcher over a store and a sender.
 * @remarks Policy (retry, backoff, poison, byte budget, coalesce, batching) lives here; the store is dumb.
 * @public
 */
export function createOutbox(options: OutboxOptions): Outbox {
  return new OutboxDispatcher(options);
}

class OutboxDispatcher extends Emitter<OutboxEvents> implements Outbox {
  readonly #store: OutboxStore;
  readonly #send: OutboxSend;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #agentId: string;
  /** Removals of delivered rows whose commit is still under way (awaited by `close()`). */
  readonly #removals = new Set<Promise<void>>();
  readonly #onAuthFailure: (() => Promise<void>) | undefined;
  readonly #random: () => number;
  readonly #policy: Required<OutboxPolicy>;

  #closed = false;
  #started = false;
  /** After start(), the first pass ignores backoff a previous run left on the head. */
  #ignoreStoredBackoff = false;
  #pump: Promise<void> | undefined;
  #rerun = false;
  #retryTimer: TimerHandle | undefined;
  #nextRetryAt: number | undefined;
  #pollTimer: TimerHandle | undefined;
  /**
   * Budget bytes of the stored rows: exact after a recount, otherwise an upper bound (a coalesce
   * removes rows the dispatcher does not see), so the exact sum is only asked for near the budget.
   * Undefined until the first recount.
   */
  #storedBytes: number | undefined;
  /** Budget bytes admitted but not yet stored (appends in flight). */
  #reservedBytes = 0;
  /** Admissions that need the store (recount, shedding) run one at a time. */
  #admission: Promise<unknown> = Promise.resolve();
  /** Sequence numbers of the batch being delivered: never shed under the relay's feet. */
  #inflight = new Set<number>();
  /** What was shed and not yet reported, stored as a pending insight row. */
  readonly #summary = new ShedSummaryRow({
    append: (rows) => this.#store.append(rows),
    inflight: this.#inflight,
    toRow: (payload, dedupeKey) => this.#toRow({ kind: 'insight', payload, coalesce: true, dedupeKey }),
    newKey: () => `${SHED_SUMMARY_KEY}:${this.#keyPrefix}:${this.#keyCounter + 1}`,
  });
  /** Per-outbox random id: with `#keyCounter`, makes every default idempotency key unique. */
  readonly #keyPrefix: string;
  #keyCounter = 0;
  /** Rows still to send one per request, after the relay refused a whole batch. */
  #rowByRow = 0;
  /** Failures that belong to a row itself, by seq (see `#rowFault`). */
  readonly #rowFaults = new Map<number, number>();
  #counters = { delivered: 0, rejected: 0, shed: 0, retries: 0 };

  constructor(options: OutboxOptions) {
    super((event, error) => options.logger.error('outbox', `listener for "${event}" threw: ${describeError(error)}`));
    this.#store = options.store;
    this.#send = options.send;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#agentId = options.agentId;
    this.#onAuthFailure = options.onAuthFailure;
    this.#random = options.random ?? Math.random;
    const policy = { ...DEFAULTS };
    for (const key of Object.keys(DEFAULTS) as Array<keyof OutboxPolicy>) {
      const value = options[key];
      if (value === undefined) continue;
      if (!Number.isFinite(value) || value < (key === 'baseDelayMs' || key === 'pollIntervalMs' ? 0 : 1)) {
        throw new InvalidArgumentError(`outbox option ${key} must be a positive number, got ${String(value)}`);
      }
      policy[key] = value;
    }
    this.#policy = policy;
    if (options.instanceId !== undefined && (typeof options.instanceId !== 'string' || !/^[A-Za-z0-9_-]{8,64}$/.test(options.instanceId))) {
      throw new InvalidArgumentError('outbox option instanceId must be 8-64 characters of [A-Za-z0-9_-]');
    }
    this.#keyPrefix = `${this.#agentId}:${options.instanceId ?? randomInstanceId(this.#random, this.#clock.now())}`;
  }

  async enqueue(event: OutboxEventInput): Promise<OutboxRow> {
    if (this.#closed) throw new ClosedError('outbox');
    const row = this.#toRow(event);
    const size = rowBytes(row);
    const max = this.#policy.maxBytes;
    if (size > max) {
      throw new InvalidArgumentError(`outbox event "${row.kind}" takes ${size} bytes, more than the whole outbox budget of ${max} bytes`, {
        data: { kind: row.kind, bytes: size, maxBytes: max },
      });
    }
    // Fast path: far from the budget, reserve synchronously (no store call, concurrent enqueues
    // stay concurrent). Near it, the slow path recounts, sheds or refuses, one at a time.
    if (this.#storedBytes !== undefined && this.#storedBytes + this.#reservedBytes + size <= max) this.#reservedBytes += size;
    else await this.#admitSlowly(row.kind, size);
    let stored: OutboxRow | undefined;
    try {
      const appending = this.#store.append([row]);
      // Sending does not wait for the commit (tens of ms under load): the store applies calls in
      // order, so the pass sees the row now; the caller's acknowledgement still waits for it.
      if (this.#started && !this.#closed) void this.drain();
      [stored] = await appending;
    } finally {
      this.#reservedBytes -= size;
    }
    if (!stored) throw new InvalidArgumentError('outbox store returned no row for an append');
    if (this.#storedBytes !== undefined) this.#storedBytes += size;
    if (this.#started && !this.#closed) void this.drain();
    return stored;
  }

  start(): void {
    if (this.#closed) throw new ClosedError('outbox');
    if (this.#started) return;
    this.#started = true;
    this.#ignoreStoredBackoff = true;
    this.#pollTimer = this.#clock.setInterval(() => void this.drain(), this.#policy.pollIntervalMs).unref();
    void this.drain();
  }

  drain(): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError('outbox'));
    if (this.#pump) {
      this.#rerun = true;
      return this.#pump;
    }
    this.#pump = this.#runPump().finally(() => {
      this.#pump = undefined;
    });
    return this.#pump;
  }

  async stats(): Promise<OutboxStats> {
    const counts = await this.#store.counts();
    return {
      pending: counts.pending,
      poisoned: counts.poisoned,
      oldestPendingAgeMs: counts.oldestPendingAt === undefined ? 0 : Math.max(0, this.#clock.now() - counts.oldestPendingAt),
      ...this.#counters,
      nextRetryAt: this.#nextRetryAt,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock.clearInterval(this.#pollTimer);
    this.#clearRetryTimer();
    await this.#pump?.catch(() => {});
    await this.#summary.flush().catch(() => {}); // shed while the summary was in flight
    await Promise.all(this.#removals);
  }

  /** A removal committed in the background: a failure is logged (the rows go out again, deduplicated). */
  #track(removal: Promise<void>): void {
    const tracked = removal
      .catch((error: unknown) => this.#log.error('outbox', `removing delivered rows failed (they will be sent again): ${describeError(error)}`))
      .finally(() => this.#removals.delete(tracked));
    this.#removals.add(tracked);
  }

  #toRow(event: OutboxEventInput): NewOutboxRow {
    if (typeof event !== 'object' || event === null) throw new InvalidArgumentError('outbox event must be an object');
    if (typeof event.kind !== 'string' || event.kind.length === 0) {
      throw new InvalidArgumentError('outbox event kind must be a non-empty string');
    }
    if (event.coalesce && (typeof event.dedupeKey !== 'string' || event.dedupeKey.length === 0)) {
      throw new InvalidArgumentError(`coalesce event "${event.kind}" needs a non-empty dedupeKey`);
    }
    if (event.occurredAt !== undefined && !Number.isFinite(event.occurredAt)) {
      throw new InvalidArgumentError('outbox event occurredAt must be a finite epoch-ms number');
    }
    if (event.idempotencyKey !== undefined && (typeof event.idempotencyKey !== 'string' || event.idempotencyKey === '')) {
      throw new InvalidArgumentError('outbox event idempotencyKey must be a non-empty string');
    }
    assertJsonValue(event.payload, 'payload');
    const payloadJson = JSON.stringify(event.payload);
    const occurredAt = event.occurredAt ?? this.#clock.now();
    const row: NewOutboxRow = {
      kind: event.kind,
      payloadJson,
      idempotencyKey: event.idempotencyKey ?? `${this.#keyPrefix}:${++this.#keyCounter}`,
      occurredAt,
    };
    if (event.coalesce && event.dedupeKey) row.dedupeKey = event.dedupeKey;
    return row;
  }

  #admitSlowly(kind: string, size: number): Promise<void> {
    const run = this.#admission.then(() => this.#admit(kind, size));
    this.#admission = run.catch(() => {});
    return run;
  }

  /**
   * Recount, then admit (reserving `size`), shed, or refuse. Shedding takes poisoned rows, then
   * session-mirror entries and insights, oldest first, never a row in flight; the agent's own
   * messages and the other kinds are never shed, so when they fill the budget the event is refused
   * with `OUTBOX_FULL`, which reaches the caller.
   */
  async #admit(kind: string, size: number): Promise<void> {
    const max = this.#policy.maxBytes;
    const fits = () => this.#storedBytes !== undefined && this.#storedBytes + this.#reservedBytes + size <= max;
    if (fits()) {
      this.#reservedBytes += size;
      return;
    }
    const [pending, poisoned] = await Promise.all([
      this.#store.list({ state: 'pending', limit: ALL_ROWS }),
      this.#store.list({ state: 'poisoned', limit: ALL_ROWS }),
    ]);
    // The outbox's own shed summary (one small row) is outside the budget, which is the caller's.
    this.#storedBytes = [...pending, ...poisoned].reduce((sum, row) => sum + (isShedSummary(row) ? 0 : rowBytes(row)), 0);
    this.#summary.readBack(pending);
    if (!fits()) {
      const need = this.#storedBytes + this.#reservedBytes + size - max + Math.min(Math.floor(max / 20), SHED_HEADROOM_MAX);
      const victims = pickShed(poisoned, pending, need, this.#inflight);
      if (victims.length > 0) await this.#shed(victims);
    }
    if (fits()) {
      this.#reservedBytes += size;
      return;
    }
    const stored = this.#storedBytes + this.#reservedBytes;
    this.#log.error('outbox', `byte budget of ${max} bytes spent (${stored} stored, nothing left to shed): refused a ${kind} event`);
    throw new RunnerError(
      'OUTBOX_FULL',
      `outbox is full: its byte budget of ${max} bytes is spent by events the relay has not yet accepted (relay unreachable?); the ${kind} event was not queued, try again later`,
      { data: { kind, bytes: size, storedBytes: stored, maxBytes: max } },
    );
  }

  /** Remove `victims` and record them in the stored shed summary (outbox-shed.ts). */
  async #shed(victims: readonly OutboxRow[]): Promise<void> {
    const { kinds, bytes: freed } = addToSummary(undefined, victims);
    // The summary is issued before the remove (journal order): a kill in between over-reports, never under.
    await Promise.all([this.#summary.add(victims), this.#store.remove(victims.map((r) => r.seq))]);
    if (this.#storedBytes !== undefined) this.#storedBytes -= freed;
    this.#counters.shed += victims.length;
    this.#log.warn('outbox', `byte budget of ${this.#policy.maxBytes} bytes reached: shed ${victims.length} row(s) (${freed} bytes), oldest first: ${JSON.stringify(kinds)}`);
    this.emit('shed', { rows: victims.length, bytes: freed, kinds });
  }

  async #runPump(): Promise<void> {
    do {
      this.#rerun = false;
      try {
        await this.#pumpUntilBlocked();
      } catch (error) {
        // A store failure must not kill delivery for good: log it and let the poll timer retry.
        this.#log.error('outbox', `delivery pass failed: ${describeError(error)}`);
        return;
      }
    } while (this.#rerun && !this.#closed);
  }

  async #pumpUntilBlocked(): Promise<void> {
    let authRetriedThisPass = false;
    while (!this.#closed) {
      const rows = await this.#store.list({ state: 'pending', limit: this.#policy.batchMaxRows });
      const head = rows[0];
      if (!head) {
        this.#clearRetryTimer();
        return;
      }
      const now = this.#clock.now();
      if (this.#ignoreStoredBackoff) {
        this.#ignoreStoredBackoff = false;
      } else if (head.nextAttemptAt > now) {
        this.#scheduleRetry(head.nextAttemptAt);
        return;
      }
      this.#clearRetryTimer();
      const { batch, deliveries, unreadable } = this.#takeBatch(rows);
      if (this.#rowByRow > 0) this.#rowByRow -= 1;
      if (unreadable) {
        if (await this.#rowFault(unreadable.row, unreadable.reason)) continue;
        return;
      }
      for (const row of batch) this.#inflight.add(row.seq);
      let answer: OutboxSendAnswer;
      try {
        answer = await this.#deliver(deliveries);
      } finally {
        this.#inflight.clear();
      }
      if ('whole' in answer && answer.whole.type === 'rejected' && batch.length > 1) {
        // A refusal of the whole request (413: the batch too large, …) says nothing about any one
        // row: ask again row by row, so only a row the relay refuses on its own is dropped.
        this.#rowByRow = batch.length;
        continue;
      }
      const acked: OutboxRow[] = [];
      let blocked: { row: OutboxRow; verdict: Extract<OutboxSendResult, { type: 'auth' | 'retry' }> } | undefined;
      for (const [index, row] of batch.entries()) {
        const verdict = 'whole' in answer ? answer.whole : answer.perRow[index];
        if (!verdict) break; // not attempted: stays pending, untouched
        if (verdict.type === 'delivered') {
          acked.push(row);
          this.#counters.delivered += 1;
          this.emit('delivered', { seq: row.seq, kind: row.kind, idempotencyKey: row.idempotencyKey, status: verdict.status });
          continue;
        }
        if (verdict.type === 'rejected') {
          acked.push(row);
          this.#counters.rejected += 1;
          this.#log.warn('outbox', `relay rejected ${row.kind} #${row.seq} permanently (${verdict.status}): ${verdict.reason}`);
          this.emit('rejected', { seq: row.seq, kind: row.kind, status: verdict.status, reason: verdict.reason });
          continue;
        }
        blocked = { row, verdict };
        break; // later rows must not overtake this one
      }
      if (acked.length > 0) {
        // Nor does the next batch wait for this removal's commit: a crash first only sends
        // acknowledged rows again, which the relay drops by idempotency key.
        this.#track(this.#store.remove(acked.map((r) => r.seq)));
        for (const r of acked) this.#rowFaults.delete(r.seq);
        if (this.#storedBytes !== undefined) this.#storedBytes -= acked.reduce((sum, r) => sum + (isShedSummary(r) ? 0 : rowBytes(r)), 0);
        this.#log.debug('outbox', `acknowledged ${acked.length} row(s) up to #${acked.at(-1)?.seq}`);
        this.#summary.acknowledged(acked.map((r) => r.seq));
      }
      if (this.#summary.waiting) void this.#summary.flush().catch((error: unknown) => this.#log.warn('outbox', `could not store the shed summary: ${describeError(error)}`));
      if (!blocked) continue;

      // A transport, overload or credential failure (the carrier's `retry` and `auth` verdicts) is
      // not the row's fault: it backs off (capped) for as long as it takes and never poisons, so an
      // outage of any length loses nothing. `attempts` still counts, for the backoff and for logs.
      const { row, verdict } = blocked;
      const attempts = row.attempts + 1;
      if (verdict.type === 'auth') {
        const recovered = await this.#recoverAuth();
        // One immediate retry per pass after a successful recovery; a relay that keeps
        // refusing a fresh token then backs off like any other failure.
        if (recovered && !authRetriedThisPass) {
          authRetriedThisPass = true;
          await this.#store.update(row.seq, { attempts, nextAttemptAt: 0, lastError: verdict.reason });
          continue;
        }
      }
      const retryAfter = verdict.type === 'retry' ? verdict.retryAfterMs : undefined;
      const delayMs =
        retryAfter !== undefined && retryAfter >= 0
          ? Math.min(retryAfter, MAX_RETRY_AFTER_MS)
          : backoffDelay(attempts, this.#policy, this.#random());
      const nextAttemptAt = this.#clock.now() + delayMs;
      await this.#store.update(row.seq, { attempts, nextAttemptAt, lastError: verdict.reason });
      this.#counters.retries += 1;
      // The relay's status as a field (absent for a transport failure), greppable as `status=503`.
      this.#log.info('outbox', `${row.kind} #${row.seq} attempt ${attempts} failed (${verdict.reason}); retry in ${delayMs} ms`, {
        status: verdict.status,
      });
      this.emit('retry', { seq: row.seq, attempts, delayMs, status: verdict.status, reason: verdict.reason });
      this.#scheduleRetry(nextAttemptAt);
      return;
    }
  }

  /**
   * A failure that belongs to the head row itself (it cannot be read back): the only kind that
   * counts toward `maxAttempts`. Backs off like any failure; after `maxAttempts` of them the row
   * is poisoned (logged FATAL, kept for inspection) and the queue moves on. Returns whether the
   * pump may go on (the row was poisoned) rather than wait for the retry.
   * @remarks Counted in memory, per process: a restart gives the row a fresh count, which only
   * ever delays a poisoning, never causes one.
   */
  async #rowFault(row: OutboxRow, reason: string): Promise<boolean> {
    const faults = (this.#rowFaults.get(row.seq) ?? 0) + 1;
    const attempts = row.attempts + 1;
    if (faults >= this.#policy.maxAttempts) {
      this.#rowFaults.delete(row.seq);
      await this.#store.update(row.seq, { attempts, state: 'poisoned', lastError: reason });
      this.#log.fatal('outbox', `gave up on ${row.kind} #${row.seq} after ${faults} failure(s) of its own (${reason}); kept as poisoned, queue moves on`);
      this.emit('poisoned', { seq: row.seq, kind: row.kind, attempts, reason });
      return true;
    }
    this.#rowFaults.set(row.seq, faults);
    const delayMs = backoffDelay(faults, this.#policy, this.#random());
    const nextAttemptAt = this.#clock.now() + delayMs;
    await this.#store.update(row.seq, { attempts, nextAttemptAt, lastError: reason });
    this.#counters.retries += 1;
    this.#log.warn('outbox', `${row.kind} #${row.seq} failed on its own (${reason}), ${faults} of ${this.#policy.maxAttempts}; retry in ${delayMs} ms`);
    this.emit('retry', { seq: row.seq, attempts, delayMs, status: undefined, reason });
    this.#scheduleRetry(nextAttemptAt);
    return false;
  }

  /** Hand a batch to the carrier; a carrier that throws or answers nonsense means "retry the batch". */
  async #deliver(deliveries: readonly OutboxDelivery[]): Promise<OutboxSendAnswer> {
    try {
      const answer = await this.#send(deliveries);
      if ((answer && 'whole' in answer && answer.whole) || (answer && 'perRow' in answer && Array.isArray(answer.perRow))) return answer;
      return { whole: { type: 'retry', reason: 'send answered neither perRow nor whole' } };
    } catch (error) {
      return { whole: { type: 'retry', reason: isRunnerError(error) ? error.message : `send failed: ${describeError(error)}` } };
    }
  }

  /**
   * Consecutive head rows within the row and byte limits; always at least the head. A row that
   * cannot be read back ends the batch before it; if it is the head, it is returned as `unreadable`.
   */
  #takeBatch(rows: OutboxRow[]): { batch: OutboxRow[]; deliveries: OutboxDelivery[]; unreadable?: { row: OutboxRow; reason: string } } {
    const batch: OutboxRow[] = [];
    const deliveries: OutboxDelivery[] = [];
    let bytes = 0;
    for (const row of rows) {
      if (this.#rowByRow > 0 && batch.length === 1) break;
      bytes += row.payloadJson.length;
      if (batch.length > 0 && bytes > this.#policy.batchMaxBytes) break;
      let delivery: OutboxDelivery;
      try {
        delivery = toDelivery(row);
      } catch (error) {
        if (batch.length > 0) break;
        return { batch, deliveries, unreadable: { row, reason: `stored payload is not readable JSON: ${describeError(error)}` } };
      }
      batch.push(row);
      deliveries.push(delivery);
    }
    return { batch, deliveries };
  }

  async #recoverAuth(): Promise<boolean> {
    if (!this.#onAuthFailure) return false;
    try {
      await this.#onAuthFailure();
      return true;
    } catch (error) {
      this.#log.warn('outbox', `token recovery failed: ${describeError(error)}`);
      return false;
    }
  }

  #scheduleRetry(at: number): void {
    if (!this.#started || this.#closed) return;
    if (this.#nextRetryAt === at && this.#retryTimer) return;
    this.#clearRetryTimer();
    this.#nextRetryAt = at;
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#nextRetryAt = undefined;
      void this.drain().catch(() => {});
    }, Math.max(0, at - this.#clock.now()));
    this.#retryTimer.unref();
  }

  #clearRetryTimer(): void {
    this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#nextRetryAt = undefined;
  }
}
