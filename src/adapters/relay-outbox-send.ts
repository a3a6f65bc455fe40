import type { OutboxSend, OutboxSendResult } from '../ports/outbox-send.js';
import type { RelayHttp } from '../ports/relay-http.js';
import { ProtocolError, RelayHttpError, isRunnerError } from '../errors/index.js';
import { describeError } from '../shared/describe-error.js';

/**
 * Classify one relay status as the outbox rules in SPEC §3 say.
 * @remarks
 * - 2xx: delivered (a duplicate the relay already had counts as delivered).
 * - 401/403: auth failure (token recovery, then retry).
 * - 408, 429, 5xx: retry later; `retryAfterMs` is honoured on 429 and 503 only.
 * - 409 and any other 4xx: permanent rejection.
 * @internal
 */
export function classifyRelayStatus(status: number, retryAfterMs?: number, message?: string): OutboxSendResult {
  const reason = message ?? `status ${status}`;
  if (status >= 200 && status < 300) return { type: 'delivered', status };
  if (status === 401 || status === 403) return { type: 'auth', status, reason };
  if (status === 408 || status === 429 || status >= 500 || status < 100) {
    const result: OutboxSendResult = { type: 'retry', status, reason };
    if ((status === 429 || status === 503) && retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
    return result;
  }
  return { type: 'rejected', status, reason };
}

/**
 * Classify a whole-request failure: an HTTP status applies to every row; anything else means "retry".
 * @internal
 */
export function classifyRelayFailure(error: unknown): OutboxSendResult {
  if (error instanceof RelayHttpError) return classifyRelayStatus(error.status, error.retryAfterMs, error.serverMessage ?? error.message);
  // Unreachable, timeout, a malformed answer: no status, try the whole batch again later.
  return { type: 'retry', reason: isRunnerError(error) ? error.message : `send failed: ${describeError(error)}` };
}

/**
 * Carry outbox batches over the relay's ordered batch route (`POST /v1/events/batch`).
 * @remarks
 * - Each row becomes one batch item `{ kind, idempotencyKey, occurredAt, payload }`, in order.
 * - Per-item results map one to one; items the relay did not attempt (it stops at the first
 *   retryable failure) are left out, so the answer is shorter than the batch.
 * - A whole-request failure becomes one verdict for every row: a `RelayHttpError` by its status,
 *   anything else (unreachable, timeout, protocol mismatch) as "retry the whole batch".
 * @public
 */
export function createRelayOutboxSend(http: Pick<RelayHttp, 'sendBatch'>): OutboxSend {
  return async (batch) => {
    if (batch.length === 0) return { perRow: [] };
    try {
      const answer = await http.sendBatch(
        batch.map((row) => ({ kind: row.kind, idempotencyKey: row.idempotencyKey, occurredAt: row.occurredAt, payload: row.payload })),
      );
      if (!answer || !Array.isArray(answer.results)) throw new ProtocolError('relay batch answer has no results array');
      const perRow: OutboxSendResult[] = [];
      for (const [index, item] of answer.results.entries()) {
        // Results must answer the batch in order; anything else is a broken relay, and guessing
        // which row a result belongs to could acknowledge the wrong event.
        if (item.index !== index || typeof item.status !== 'number') {
          throw new ProtocolError(`relay batch result ${index} is out of order or malformed`);
        }
        if (index >= batch.length) break;
        const retryAfterMs = item.retryAfterSeconds === undefined ? undefined : Math.round(item.retryAfterSeconds * 1000);
        perRow.push(classifyRelayStatus(item.status, retryAfterMs, item.error?.message || undefined));
      }
      return { perRow };
    } catch (error) {
      return { whole: classifyRelayFailure(error) };
    }
  };
}
