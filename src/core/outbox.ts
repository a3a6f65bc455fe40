import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { NewOutboxRow, OutboxRow, OutboxStore } from '../ports/outbox-store.js';
import type { OutboxDelivery, OutboxSend, OutboxSendAnswer, OutboxSendResult } from '../ports/outbox-send.js';
import { ClosedError, InvalidArgumentError, isRunnerError } from '../errors/index.js';
import { Emitter } from './emitter.js';
import type { Outbox, OutboxEventInput, OutboxEvents, OutboxOptions, OutboxPolicy, OutboxStats } from './outbox-types.js';
import { assertJsonValue, hashString } from './json.js';
import { backoffDelay } from '../shared/backoff.js';
import { describeError } from '../shared/describe-error.js';

const DEFAULTS = {
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  maxAttempts: 12,
  maxRows: 5000,
  batchMaxRows: 100,
  batchMaxBytes: 256 * 1024,
  pollIntervalMs: 5000,
} satisfies Required<OutboxPolicy>;

/** Longest `Retry-After` honoured; beyond it a server is assumed confused. */
const MAX_RETRY_AFTER_MS = 3600_000;

export { backoffDelay } from '../shared/backoff.js';
export type * from './outbox-types.js';

/**
 * Create the outbox dispatcher over a store and a sender.
 * @remarks Policy (retry, backoff, poison, bound, coalesce, batching) lives here; the store is dumb.
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
  /** Upper bound of stored rows, so the exact count is only asked for near the bound. */
  #approxRows: number | undefined;
  #lastKeyStamp = '';
  #lastKeyRepeat = 0;
  #counters = { delivered: 0, rejected: 0, dropped: 0, retries: 0 };

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
  }

  async enqueue(event: OutboxEventInput): Promise<OutboxRow> {
    if (this.#closed) throw new ClosedError('outbox');
    const row = this.#toRow(event);
    const [stored] = await this.#store.append([row]);
    if (!stored) throw new InvalidArgumentError('outbox store returned no row for an append');
    if (this.#approxRows !== undefined) this.#approxRows += 1;
    await this.#enforceBound();
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
    this.#approxRows = counts.pending + counts.poisoned;
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
      idempotencyKey: event.idempotencyKey ?? this.#defaultKey(event.kind, occurredAt, payloadJson),
      occurredAt,
    };
    if (event.coalesce && event.dedupeKey) row.dedupeKey = event.dedupeKey;
    return row;
  }

  /**
   * agent id, kind, occurredAt and a payload hash, as SPEC §3 asks. Two identical events in the
   * same millisecond would collide and be deduped into one by the relay, so repeats get a suffix.
   */
  #defaultKey(kind: string, occurredAt: number, payloadJson: string): string {
    const base = `${this.#agentId}:${kind}:${occurredAt}:${hashString(payloadJson)}`;
    if (base === this.#lastKeyStamp) {
      this.#lastKeyRepeat += 1;
      return `${base}:${this.#lastKeyRepeat}`;
    }
    this.#lastKeyStamp = base;
    this.#lastKeyRepeat = 0;
    return base;
  }

  async #enforceBound(): Promise<void> {
    const max = this.#policy.maxRows;
    if (this.#approxRows !== undefined && this.#approxRows <= max) return;
    const counts = await this.#store.counts();
    let excess = counts.pending + counts.poisoned - max;
    this.#approxRows = counts.pending + counts.poisoned;
    if (excess <= 0) return;
    let poisoned = 0;
    let pending = 0;
    if (counts.poisoned > 0) {
      const rows = await this.#store.list({ state: 'poisoned', limit: Math.min(excess, counts.poisoned) });
      await this.#store.remove(rows.map((r) => r.seq));
      poisoned = rows.length;
      excess -= rows.length;
    }
    if (excess > 0) {
      const rows = await this.#store.list({ state: 'pending', limit: excess });
      await this.#store.remove(rows.map((r) => r.seq));
      pending = rows.length;
    }
    this.#approxRows -= poisoned + pending;
    this.#counters.dropped += poisoned + pending;
    this.#log.warn(
      'outbox',
      `bound of ${max} rows reached: dropped ${poisoned} poisoned and ${pending} oldest pending row(s)`,
    );
    this.emit('dropped', { poisoned, pending });
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
      const batch = this.#takeBatch(rows);
      const answer = await this.#deliver(batch);
      const acked: number[] = [];
      let blocked: { row: OutboxRow; verdict: Extract<OutboxSendResult, { type: 'auth' | 'retry' }> } | undefined;
      for (const [index, row] of batch.entries()) {
        const verdict = 'whole' in answer ? answer.whole : answer.perRow[index];
        if (!verdict) break; // not attempted: stays pending, untouched
        if (verdict.type === 'delivered') {
          acked.push(row.seq);
          this.#counters.delivered += 1;
          this.emit('delivered', { seq: row.seq, kind: row.kind, idempotencyKey: row.idempotencyKey, status: verdict.status });
          continue;
        }
        if (verdict.type === 'rejected') {
          acked.push(row.seq);
          this.#counters.rejected += 1;
          this.#log.warn('outbox', `relay rejected ${row.kind} #${row.seq} permanently (${verdict.status}): ${verdict.reason}`);
          this.emit('rejected', { seq: row.seq, kind: row.kind, status: verdict.status, reason: verdict.reason });
          continue;
        }
        blocked = { row, verdict };
        break; // later rows must not overtake this one
      }
      if (acked.length > 0) {
        await this.#store.remove(acked);
        if (this.#approxRows !== undefined) this.#approxRows -= acked.length;
        this.#log.debug('outbox', `acknowledged ${acked.length} row(s) up to #${acked.at(-1)}`);
      }
      if (!blocked) continue;

      const { row, verdict } = blocked;
      const attempts = row.attempts + 1;
      if (attempts >= this.#policy.maxAttempts) {
        await this.#store.update(row.seq, { attempts, state: 'poisoned', lastError: verdict.reason });
        this.#log.fatal(
          'outbox',
          `gave up on ${row.kind} #${row.seq} after ${attempts} attempts (${verdict.reason}); kept as poisoned, queue moves on`,
        );
        this.emit('poisoned', { seq: row.seq, kind: row.kind, attempts, reason: verdict.reason });
        continue;
      }
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

  /** Hand a batch to the carrier; a carrier that throws or answers nonsense means "retry the batch". */
  async #deliver(batch: readonly OutboxRow[]): Promise<OutboxSendAnswer> {
    try {
      const answer = await this.#send(batch.map(toDelivery));
      if ((answer && 'whole' in answer && answer.whole) || (answer && 'perRow' in answer && Array.isArray(answer.perRow))) return answer;
      return { whole: { type: 'retry', reason: 'send answered neither perRow nor whole' } };
    } catch (error) {
      return { whole: { type: 'retry', reason: isRunnerError(error) ? error.message : `send failed: ${describeError(error)}` } };
    }
  }

  /** Consecutive head rows within the row and byte limits; always at least the head. */
  #takeBatch(rows: OutboxRow[]): OutboxRow[] {
    const batch: OutboxRow[] = [];
    let bytes = 0;
    for (const row of rows) {
      bytes += row.payloadJson.length;
      if (batch.length > 0 && bytes > this.#policy.batchMaxBytes) break;
      batch.push(row);
    }
    return batch;
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

function toDelivery(row: OutboxRow): OutboxDelivery {
  return {
    seq: row.seq,
    kind: row.kind,
    payload: JSON.parse(row.payloadJson) as unknown,
    idempotencyKey: row.idempotencyKey,
    occurredAt: row.occurredAt,
    attempts: row.attempts,
  };
}
