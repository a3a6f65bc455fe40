/**
 * The contract between the outbox dispatcher and whatever carries events to the relay. The
 * carrier classifies what happened (it knows its transport's statuses and errors); the dispatcher
 * only reads the verdicts. The default carrier is the relay's ordered batch route
 * (see `createRelayOutboxSend`).
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
 * What happened to one event (or to a whole batch request), as the carrier classified it.
 * @remarks
 * - `delivered`: the relay has it (a duplicate the relay already had counts as delivered).
 * - `rejected`: permanent; retrying cannot fix it. Acknowledged, logged, not retried.
 * - `retry`: try again later (transport failure, overload); `retryAfterMs` is the server's
 *   requested delay when it gave one that should be honoured.
 * - `auth`: the credentials were refused; the outbox runs token recovery, then retries.
 *
 * `status` is the relay's status for logs and events, when it answered at all.
 * @public
 */
export type OutboxSendResult =
  | { type: 'delivered'; status: number }
  | { type: 'rejected'; status: number; reason: string }
  | { type: 'retry'; status?: number; retryAfterMs?: number; reason: string }
  | { type: 'auth'; status: number; reason: string };

/**
 * The answer to one batch: per row, or one verdict for the whole request.
 * @remarks With `perRow`, `perRow[i]` answers `batch[i]`; an array shorter than the batch means
 * the remaining events were not attempted (the relay stops at the first retryable failure to keep
 * order). With `whole`, the verdict applies to every row (the request failed as a whole).
 * @public
 */
export type OutboxSendAnswer = { perRow: readonly OutboxSendResult[] } | { whole: OutboxSendResult };

/**
 * Deliver an ordered batch and classify the outcome.
 * @remarks A carrier should answer rather than throw; anything thrown anyway is taken as
 * "retry the whole batch".
 * @public
 */
export type OutboxSend = (batch: readonly OutboxDelivery[]) => Promise<OutboxSendAnswer>;
