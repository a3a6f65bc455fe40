import type { OutboxSend, OutboxSendResult } from '../core/outbox-send.js';
import type { RelayHttp } from '../ports/relay-http.js';
import { ProtocolError } from '../errors/index.js';

/**
 * Carry outbox batches over the relay's ordered batch route (`POST /v1/events/batch`).
 * @remarks
 * - Each row becomes one batch item `{ kind, idempotencyKey, occurredAt, payload }`, in order.
 * - Per-item results map one to one; items the relay did not attempt (it stops at the first
 *   retryable failure) are left out, so the result array is shorter than the batch.
 * - A whole-request failure is thrown as is: a `RelayHttpError` applies its status to every row,
 *   anything else (unreachable, timeout, protocol mismatch) means "retry the whole batch".
 * @public
 */
export function createRelayOutboxSend(http: Pick<RelayHttp, 'sendBatch'>): OutboxSend {
  return async (batch) => {
    if (batch.length === 0) return [];
    const answer = await http.sendBatch(
      batch.map((row) => ({ kind: row.kind, idempotencyKey: row.idempotencyKey, occurredAt: row.occurredAt, payload: row.payload })),
    );
    if (!answer || !Array.isArray(answer.results)) throw new ProtocolError('relay batch answer has no results array');
    const results: OutboxSendResult[] = [];
    for (const [index, item] of answer.results.entries()) {
      // Results must answer the batch in order; anything else is a broken relay, and guessing
      // which row a result belongs to could acknowledge the wrong event.
      if (item.index !== index || typeof item.status !== 'number') {
        throw new ProtocolError(`relay batch result ${index} is out of order or malformed`);
      }
      if (index >= batch.length) break;
      const result: OutboxSendResult = { status: item.status };
      if (item.retryAfterSeconds !== undefined) result.retryAfterMs = Math.round(item.retryAfterSeconds * 1000);
      if (item.error?.message) result.message = item.error.message;
      results.push(result);
    }
    return results;
  };
}
