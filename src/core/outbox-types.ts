import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { OutboxRow, OutboxStore } from '../ports/outbox-store.js';
import type { OutboxSend } from '../ports/outbox-send.js';
import type { TypedEvents } from './emitter.js';

// The outbox's public shapes (options, inputs, stats, events), apart from the dispatcher that
// implements them in outbox.ts.

/**
 * Delivery policy of an {@link Outbox}. Every field has a default suited to a relay on the
 * same continent; change them for tests or for unusually slow relays.
 * @public
 */
export interface OutboxPolicy {
  /** First retry delay step. @defaultValue 1000 */
  baseDelayMs?: number;
  /** Largest retry delay step (Retry-After may ask for longer). @defaultValue 60000 */
  maxDelayMs?: number;
  /**
   * Failures that belong to the head row itself (its stored payload cannot be read back) before it
   * is poisoned and the queue moves on. Transport, overload and credential failures (unreachable,
   * timeout, 5xx, 429, 401/403, local `EMFILE`) never count: they back off, capped, for as long as
   * an outage lasts. @defaultValue 12
   */
  maxAttempts?: number;
  /**
   * Byte budget of the stored rows (UTF-8 text plus a small per-row allowance). When it is spent,
   * poisoned rows, then session-mirror entries and insights are shed oldest first
   * ({@link SHEDDABLE_OUTBOX_KINDS}); every other kind (the agent's own messages and replies,
   * task status, hook failures) is never shed: it is refused with `OUTBOX_FULL` instead.
   * @defaultValue 268435456 (256 MiB)
   */
  maxBytes?: number;
  /** Most rows per batch request. @defaultValue 100 */
  batchMaxRows?: number;
  /** Most payload bytes per batch request (at least one row is always sent). @defaultValue 262144 */
  batchMaxBytes?: number;
  /** Backstop poll that retries delivery even if nobody asked. @defaultValue 5000 */
  pollIntervalMs?: number;
}

/**
 * What {@link createOutbox} needs.
 * @public
 */
export interface OutboxOptions extends OutboxPolicy {
  /** Where rows live (sql.js file by default in the runner; memory in tests). */
  store: OutboxStore;
  /** Carries ordered batches to the relay. */
  send: OutboxSend;
  /** Source of time and timers. */
  clock: Clock;
  /** Where the outbox writes its lines (component `outbox`). */
  logger: Logger;
  /** Agent id, part of the default idempotency key. */
  agentId: string;
  /** Called on an `auth` verdict (the relay refused the credentials: 401/403) to renew them before the retry; shared by the caller across subsystems. */
  onAuthFailure?: () => Promise<void>;
  /** Jitter source in [0, 1). @defaultValue Math.random */
  random?: () => number;
  /**
   * This outbox's part of the default idempotency keys (`<agentId>:<instanceId>:<n>`), 8–64
   * characters of `[A-Za-z0-9_-]`; two outboxes must never share one. Keys are stored with their
   * rows, so a restart with a new id keeps the old rows' keys. @defaultValue a random UUID
   */
  instanceId?: string;
}

/**
 * An event handed to {@link Outbox.enqueue}.
 * @public
 */
export interface OutboxEventInput {
  /** Event kind: `message`, `session`, `task_status`, `insight`, … */
  kind: string;
  /** The body; must be plain JSON (no functions, cycles, bigint, undefined or non-finite numbers). */
  payload: unknown;
  /** Override the idempotency key (default: unique to this event, assigned at enqueue and stored with it). */
  idempotencyKey?: string;
  /** When the event happened (epoch ms). @defaultValue clock.now() at enqueue */
  occurredAt?: number;
  /** Coalesce mode: replace pending, un-poisoned rows with the same `dedupeKey`. */
  coalesce?: boolean;
  /** The key coalesce mode replaces on; required when `coalesce` is true. */
  dedupeKey?: string;
}

/**
 * A snapshot of outbox health.
 * @public
 */
export interface OutboxStats {
  /** Rows waiting for delivery. */
  pending: number;
  /** Rows given up on (kept for inspection). */
  poisoned: number;
  /** Age of the oldest pending row, in ms (0 when empty). */
  oldestPendingAgeMs: number;
  /** Rows delivered since this outbox was created. */
  delivered: number;
  /** Rows permanently rejected by the relay since creation. */
  rejected: number;
  /** Rows shed by the byte budget since creation (session-mirror entries, insights, poisoned rows). */
  shed: number;
  /** Retries scheduled since creation. */
  retries: number;
  /** Epoch ms of the next scheduled retry, if the head is backing off. */
  nextRetryAt: number | undefined;
}

/** Emitted when the relay accepted an event. @public */
export interface OutboxDeliveredEvent {
  /** Sequence number of the row. */
  seq: number;
  /** Event kind. */
  kind: string;
  /** Idempotency key sent with it. */
  idempotencyKey: string;
  /** Status the relay answered with. */
  status: number;
}
/** Emitted when delivery of the head failed and a retry is scheduled. @public */
export interface OutboxRetryEvent {
  /** Sequence number of the head. */
  seq: number;
  /** Attempts so far. */
  attempts: number;
  /** Delay until the retry. */
  delayMs: number;
  /** Status, if the relay answered. */
  status: number | undefined;
  /** Short reason. */
  reason: string;
}
/** Emitted when a row was given up on (poisoned) after `maxAttempts` failures of its own. @public */
export interface OutboxPoisonedEvent {
  /** Sequence number. */
  seq: number;
  /** Event kind. */
  kind: string;
  /** Attempts made. */
  attempts: number;
  /** Last failure. */
  reason: string;
}
/** Emitted when the carrier reported a permanent rejection (from the relay: 409 or another 4xx). @public */
export interface OutboxRejectedEvent {
  /** Sequence number. */
  seq: number;
  /** Event kind. */
  kind: string;
  /** Status the relay answered with. */
  status: number;
  /** The relay's reason. */
  reason: string;
}
/**
 * Emitted when the byte budget shed rows (poisoned rows, then session-mirror entries and insights,
 * oldest first). What was shed is also summarised in one `insight` of type `outbox_shed`, stored in
 * the outbox with the shedding (replaced by the running total at each later shedding), so the relay
 * gets it once it is back, across restarts too.
 * @public
 */
export interface OutboxShedEvent {
  /** Rows shed. */
  rows: number;
  /** Budget bytes freed. */
  bytes: number;
  /** Rows shed, by kind. */
  kinds: Record<string, number>;
}

/**
 * Events of an {@link Outbox}.
 * @public
 */
export type OutboxEvents = {
  delivered: (event: OutboxDeliveredEvent) => void;
  retry: (event: OutboxRetryEvent) => void;
  poisoned: (event: OutboxPoisonedEvent) => void;
  rejected: (event: OutboxRejectedEvent) => void;
  shed: (event: OutboxShedEvent) => void;
};

/**
 * The durable, ordered outbox: accepts events, delivers them to the relay in order, exactly once
 * with the relay's idempotency dedupe.
 * @public
 */
export interface Outbox extends TypedEvents<OutboxEvents> {
  /**
   * Store an event durably; resolves with the stored row once it would survive `kill -9`.
   * @remarks Rejects with `INVALID_ARGUMENT` for an event that is not plain JSON or alone exceeds
   * the byte budget, `OUTBOX_FULL` when the budget is spent and nothing may be shed, `CLOSED`
   * after `close()`; nothing already stored is touched by a refusal.
   */
  enqueue(event: OutboxEventInput): Promise<OutboxRow>;
  /** Begin delivering: backoff left from a previous run is cleared, poll timer started. */
  start(): void;
  /** Pump now until the queue is empty or the head is backing off. Concurrent calls share one pump. */
  drain(): Promise<void>;
  /** Counts and counters. */
  stats(): Promise<OutboxStats>;
  /** Stop timers and wait for an in-flight batch. Rows stay stored. The store is not closed. */
  close(): Promise<void>;
}
