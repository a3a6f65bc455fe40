/**
 * The contract between the outbox dispatcher and whatever carries events to the relay.
 * The default carrier is the relay's ordered batch route (see `createRelayOutboxSend`).
 */

/**
 * One event as handed to {@link OutboxSend}.
 * @public
 */
export interface OutboxDelivery {
  /** Outbox sequence number (FIFO order). */
  seq: number;
  /** Event kind (`message`, `session`, `task_status`, `insight`, …). */
  kind: string;
  /** The event body (parsed JSON). */
  payload: unknown;
  /** Stable across retries; the relay dedupes on it. */
  idempotencyKey: string;
  /** Epoch ms, stamped once at enqueue. */
  occurredAt: number;
  /** Attempts before this one. */
  attempts: number;
}

/**
 * The relay's answer for one event of a batch.
 * @remarks
 * - 2xx: delivered (a duplicate the relay already had counts as delivered).
 * - 401/403: auth failure: the outbox runs token recovery, then retries.
 * - 408, 429, 5xx: retry later (`retryAfterMs` honoured on 429/503).
 * - 409 and any other 4xx: permanent rejection: acknowledged, logged, not retried.
 * @public
 */
export interface OutboxSendResult {
  /** HTTP-style status for this event. */
  status: number;
  /** Server-requested delay before retrying, in ms. */
  retryAfterMs?: number;
  /** The server's one-line reason, for logs. */
  message?: string;
}

/**
 * Deliver an ordered batch. `results[i]` answers `batch[i]`.
 * @remarks A result array shorter than the batch means the remaining events were not attempted
 * (the relay stops at the first retryable failure to keep order). A thrown `RelayHttpError`
 * applies its status to the whole batch; any other thrown error means "retry the whole batch".
 * @public
 */
export type OutboxSend = (batch: readonly OutboxDelivery[]) => Promise<readonly OutboxSendResult[]>;
