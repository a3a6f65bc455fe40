/**
 * `POST /send` refuses at the door what the relay would refuse later (its message limits,
 * docs/protocol.md "Limits"), and a full outbox is an error status the agent sees, never "queued".
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createControlServer, type ControlServer } from '../../src/control/control-server.js';
import { runnerControlRoutes, type RunnerControl, type SendRequest } from '../../src/control/runner-routes.js';
import { FIELD_LIMITS } from '../../src/protocol/relay-fields.js';
import { RunnerError } from '../../src/errors/index.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { rawRequest } from '../fixtures/hooks/harness.js';

const TOKEN = 'send-limits-token-5e6f7a8b';
let server: ControlServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(send: (request: SendRequest) => Promise<{ seq: number }>) {
  const sent: SendRequest[] = [];
  const control = {
    send: async (request: SendRequest) => {
      sent.push(request);
      return send(request);
    },
  } as unknown as RunnerControl;
  server = await createControlServer({ clock: createSystemClock(), routes: runnerControlRoutes(control), token: TOKEN, logger: createMemoryLogger() });
  const post = async (body: unknown) => {
    const res = await rawRequest(server!.port, {
      method: 'POST',
      path: '/send',
      body: JSON.stringify(body),
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    });
    return { status: res.status, body: JSON.parse(res.body || 'null') as { error?: string; code?: string; seq?: number } };
  };
  return { sent, post };
}

describe('POST /send limits', () => {
  it('refuses a body, recipient or replyTo over the relay limits with a 400, and takes one at the limit', async () => {
    const t = await start(async () => ({ seq: 1 }));
    const max = FIELD_LIMITS.messageBody;
    const big = await t.post({ to: 'bob', body: 'x'.repeat(300 * 1024), replyTo: 'msg_1' });
    expect(big.status).toBe(400);
    expect(big.body.error).toBe(`field "body" must be at most ${max} characters`);
    expect((await t.post({ to: 'b'.repeat(FIELD_LIMITS.id + 1), body: 'hi' })).status).toBe(400);
    expect((await t.post({ to: 'bob', body: 'hi', replyTo: 'm'.repeat(FIELD_LIMITS.id + 1) })).status).toBe(400);
    expect(t.sent).toEqual([]);
    const atLimit = await t.post({ to: 'bob', body: 'é'.repeat(max) });
    expect(atLimit).toEqual({ status: 200, body: { seq: 1 } });
  });

  it('answers 507 with the reason and code when the outbox is full', async () => {
    const t = await start(async () => {
      throw new RunnerError('OUTBOX_FULL', 'outbox is full: its byte budget of 1000 bytes is spent');
    });
    const res = await t.post({ to: 'bob', body: 'hi' });
    expect(res).toEqual({ status: 507, body: { error: 'outbox is full: its byte budget of 1000 bytes is spent', code: 'OUTBOX_FULL' } });
  });
});
