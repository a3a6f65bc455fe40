/**
 * How the relay tools' control-port client sorts failures into lines a model can act on. The
 * socket-level cases a test cannot cause for real on loopback (a sandbox's EPERM) come from a
 * stubbed `fetch` shaped like undici's errors; the rest are real answers in
 * test/integration/relay-tools-mcp.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { callRunner, RunnerCallError } from '../../src/agent-tools/runner-client.js';

const endpoint = { port: 4321, token: 't', timeoutMs: 1000 };
afterEach(() => vi.unstubAllGlobals());

/** undici's shape: `TypeError('fetch failed')` with the socket error as `cause`. */
const socketError = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(`connect ${code}`), { code }) });
const answer = (status: number, body: unknown) => new Response(body === undefined ? null : JSON.stringify(body), { status });

async function failure(fetchImpl: () => Promise<Response>): Promise<RunnerCallError> {
  vi.stubGlobal('fetch', vi.fn(fetchImpl));
  const error = await callRunner(endpoint, 'POST', '/reply', {}).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(RunnerCallError);
  return error as RunnerCallError;
}

describe('relay tools: control-port failures', () => {
  it('a sandbox refusing loopback is "blocked", not a dead runner', async () => {
    for (const code of ['EPERM', 'EACCES']) {
      const error = await failure(() => Promise.reject(socketError(code)));
      expect(error.kind).toBe('blocked');
      expect(error.message).toBe(`the connection to the runner at 127.0.0.1:4321 was blocked (${code}): a sandbox forbids loopback network access for this process; the runner itself may well be running`);
    }
  });

  it('nothing listening is "unreachable"; a timeout says so', async () => {
    expect((await failure(() => Promise.reject(socketError('ECONNREFUSED')))).kind).toBe('unreachable');
    const timeout = await failure(() => Promise.reject(Object.assign(new Error('timed out'), { name: 'TimeoutError' })));
    expect(timeout.kind).toBe('timeout');
    expect(timeout.message).toMatch(/did not answer within 1000 ms/);
  });

  it('the runner answering no: credentials, unknown message, an older runner, a full outbox, a crash', async () => {
    expect((await failure(async () => answer(401, { error: 'unauthorized' }))).message).toMatch(/refused this tool's credentials \(HTTP 401\)/);
    expect((await failure(async () => answer(404, { error: 'unknown message id "m9": …' }))).message).toBe('unknown message id "m9": …');
    expect((await failure(async () => answer(404, { error: 'not found' }))).message).toMatch(/does not offer POST \/reply \(HTTP 404\): it is older than these relay tools/);
    expect((await failure(async () => answer(507, { error: 'outbox full', code: 'OUTBOX_FULL' }))).message).toMatch(/^not sent: outbox full/);
    expect((await failure(async () => answer(500, { error: 'internal error' }))).message).toMatch(/failed to handle the request \(HTTP 500: internal error\)/);
    expect((await failure(async () => answer(400, { error: 'field "body" must be a string' }))).message).toBe('field "body" must be a string');
  });
});
