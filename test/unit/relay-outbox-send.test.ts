// The relay carrier classifies what the relay answered; the outbox core only reads the verdicts.
import { describe, expect, it } from 'vitest';
import { classifyRelayStatus, createRelayOutboxSend } from '../../src/adapters/relay-outbox-send.js';
import { ProtocolError, RelayHttpError, RelayUnavailableError } from '../../src/errors/index.js';
import type { RelayBatchItem, RelayBatchResult } from '../../src/ports/relay-http.js';
import type { OutboxDelivery } from '../../src/ports/outbox-send.js';

const row = (seq: number): OutboxDelivery => ({
  seq,
  kind: 'message',
  payload: { to: 'a', body: `b${seq}` },
  idempotencyKey: `k${seq}`,
  occurredAt: 1000 + seq,
  attempts: 0,
});

describe('createRelayOutboxSend', () => {
  it('sends rows as ordered batch items and classifies per-item results, leaving not-attempted rows out', async () => {
    let sent: readonly RelayBatchItem[] = [];
    const send = createRelayOutboxSend({
      sendBatch: async (items) => {
        sent = items;
        return {
          results: [
            { index: 0, status: 201 },
            { index: 1, status: 409, error: { code: 'conflict', message: 'nope' } },
            { index: 2, status: 503, retryAfterSeconds: 1.5, error: { code: 'busy', message: 'later' } },
          ],
          notAttempted: 1,
        } satisfies RelayBatchResult;
      },
    });
    const answer = await send([row(1), row(2), row(3), row(4)]);
    expect(sent).toEqual([1, 2, 3, 4].map((n) => ({ kind: 'message', idempotencyKey: `k${n}`, occurredAt: 1000 + n, payload: { to: 'a', body: `b${n}` } })));
    expect(answer).toEqual({
      perRow: [
        { type: 'delivered', status: 201 },
        { type: 'rejected', status: 409, reason: 'nope' },
        { type: 'retry', status: 503, retryAfterMs: 1500, reason: 'later' },
      ],
    });
  });

  it('refuses out-of-order results instead of guessing, and turns whole-request errors into one verdict', async () => {
    const shuffled = createRelayOutboxSend({ sendBatch: async () => ({ results: [{ index: 1, status: 201 }], notAttempted: 0 }) });
    expect(await shuffled([row(1), row(2)])).toEqual({ whole: { type: 'retry', reason: expect.stringMatching(/out of order/) } });
    const failing = (error: unknown) =>
      createRelayOutboxSend({
        sendBatch: async () => {
          throw error;
        },
      });
    expect(await failing(new RelayHttpError(401, 'expired'))([row(1)])).toEqual({ whole: { type: 'auth', status: 401, reason: 'expired' } });
    expect(await failing(new RelayHttpError(429, 'slow', { retryAfterMs: 4000, serverMessage: 'slow down' }))([row(1)])).toEqual({
      whole: { type: 'retry', status: 429, retryAfterMs: 4000, reason: 'slow down' },
    });
    expect(await failing(new RelayUnavailableError('refused'))([row(1)])).toEqual({ whole: { type: 'retry', reason: 'refused' } });
    expect(await failing(new ProtocolError('bad frame'))([row(1)])).toEqual({ whole: { type: 'retry', reason: 'bad frame' } });
    expect(await failing(new Error('boom'))([row(1)])).toEqual({ whole: { type: 'retry', reason: expect.stringMatching(/^send failed: .*boom/) } });
    expect(await failing(new Error('never called'))([])).toEqual({ perRow: [] });
  });
});

describe('classifyRelayStatus', () => {
  it.each([
    [200, undefined, { type: 'delivered', status: 200 }],
    [201, undefined, { type: 'delivered', status: 201 }],
    [401, undefined, { type: 'auth', status: 401, reason: 'status 401' }],
    [403, undefined, { type: 'auth', status: 403, reason: 'status 403' }],
    [408, 5000, { type: 'retry', status: 408, reason: 'status 408' }],
    [429, 5000, { type: 'retry', status: 429, retryAfterMs: 5000, reason: 'status 429' }],
    [500, 5000, { type: 'retry', status: 500, reason: 'status 500' }],
    [503, 5000, { type: 'retry', status: 503, retryAfterMs: 5000, reason: 'status 503' }],
    [409, undefined, { type: 'rejected', status: 409, reason: 'status 409' }],
    [422, undefined, { type: 'rejected', status: 422, reason: 'status 422' }],
  ])('status %i (Retry-After %s) → %o', (status, retryAfterMs, verdict) => {
    expect(classifyRelayStatus(status, retryAfterMs)).toEqual(verdict);
  });
});
