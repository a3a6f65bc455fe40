import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { connect } from 'node:net';
import { createRelayDevServer, type RelayDevServer } from '../../src/testing/relay-dev-server/index.js';
import { createWsRelayBus } from '../../src/adapters/ws-relay-bus.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import type { MessageNewFrame } from '../../src/ports/relay-bus.js';
import { waitFor } from './relay-helpers.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';

let server: RelayDevServer;
let agentId = '';
let token = '';
const P = { 'X-Relay-Protocol': '1' };

async function call(method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}) {
  const res = await fetch(`${server.url}${path}`, { method, headers: init.headers, body: init.body });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json: json as { error?: { code: string; message: string } } | undefined };
}

const auth = () => ({ ...P, Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' });

/** Everything observable about stored state, to prove a refused request changed nothing. */
function snapshot() {
  return JSON.stringify({
    agents: server.listAgents(),
    messages: server.listMessages(),
    events: server.listEvents(),
    tasks: server.tasks(),
    permissions: server.permissions(),
    obligations: server.obligations(agentId),
  });
}

beforeAll(async () => {
  server = await createRelayDevServer({ maxBodyBytes: 4096 });
  const res = await fetch(`${server.url}/v1/agents`, {
    method: 'POST',
    headers: { ...P, Authorization: `Bearer ${server.apiKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'alpha' }),
  });
  const reg = (await res.json()) as { agent: { id: string }; token: string };
  agentId = reg.agent.id;
  token = reg.token;
  server.sendToAgent(agentId, { from: 'alice', body: 'hello', expectsReply: true });
});

afterAll(async () => {
  await server.close();
});

const cases: Array<{ name: string; status: number; code: string; run: () => ReturnType<typeof call> }> = [
  { name: 'malformed JSON', status: 400, code: 'invalid_json', run: () => call('POST', '/v1/messages', { headers: auth(), body: '{"to": "x", ' }) },
  { name: 'empty body', status: 400, code: 'invalid_json', run: () => call('POST', '/v1/messages', { headers: auth(), body: '' }) },
  { name: 'body is an array', status: 400, code: 'invalid_body', run: () => call('POST', '/v1/messages', { headers: auth(), body: '[1,2]' }) },
  {
    name: 'wrong field type',
    status: 400,
    code: 'invalid_body',
    run: () => call('POST', '/v1/messages', { headers: auth(), body: JSON.stringify({ to: 'bob', body: 42, occurredAt: 1, idempotencyKey: 'k1' }) }),
  },
  {
    name: 'missing idempotency key',
    status: 400,
    code: 'invalid_body',
    run: () => call('POST', '/v1/messages', { headers: auth(), body: JSON.stringify({ to: 'bob', body: 'x', occurredAt: 1 }) }),
  },
  {
    name: 'negative occurredAt',
    status: 400,
    code: 'invalid_body',
    run: () => call('POST', '/v1/messages', { headers: auth(), body: JSON.stringify({ to: 'bob', body: 'x', occurredAt: -5, idempotencyKey: 'k2' }) }),
  },
  { name: 'batch items not an array', status: 400, code: 'invalid_body', run: () => call('POST', '/v1/events/batch', { headers: auth(), body: '{"items": {}}' }) },
  {
    name: 'mark read with numbers',
    status: 400,
    code: 'invalid_body',
    run: () => call('POST', `/v1/agents/${agentId}/messages/read`, { headers: auth(), body: '{"ids": [1]}' }),
  },
  {
    name: 'bad task status',
    status: 400,
    code: 'invalid_body',
    run: () => call('POST', '/v1/tasks/T1/status', { headers: auth(), body: JSON.stringify({ status: 'done-ish', occurredAt: 1, idempotencyKey: 'k3' }) }),
  },
  {
    name: 'bad agent name',
    status: 400,
    code: 'invalid_body',
    run: () =>
      call('POST', '/v1/agents', {
        headers: { ...P, Authorization: `Bearer ${server.apiKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'no spaces/slashes' }),
      }),
  },
  { name: 'heartbeat body is an array', status: 400, code: 'invalid_body', run: () => call('POST', `/v1/agents/${agentId}/heartbeat`, { headers: auth(), body: '[]' }) },
  { name: 'token renewal body is a string', status: 400, code: 'invalid_body', run: () => call('POST', `/v1/agents/${agentId}/token`, { headers: auth(), body: '"renew"' }) },
  {
    name: 'permission request without a tool',
    status: 400,
    code: 'invalid_body',
    run: () => call('POST', `/v1/agents/${agentId}/permissions`, { headers: auth(), body: JSON.stringify({ requestId: 'r1', summary: 'ls' }) }),
  },
  {
    name: 'insight data is an array',
    status: 400,
    code: 'invalid_body',
    run: () => call('POST', '/v1/insights', { headers: auth(), body: JSON.stringify({ type: 't', data: [1], occurredAt: 1, idempotencyKey: 'k5' }) }),
  },
  {
    name: 'register metadata is a string',
    status: 400,
    code: 'invalid_body',
    run: () =>
      call('POST', '/v1/agents', {
        headers: { ...P, Authorization: `Bearer ${server.apiKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'beta', metadata: 'x' }),
      }),
  },
  { name: 'mark read without ids', status: 400, code: 'invalid_body', run: () => call('POST', `/v1/agents/${agentId}/messages/read`, { headers: auth(), body: '{}' }) },
  {
    name: 'task status with a huge note',
    status: 400,
    code: 'invalid_body',
    run: () => call('POST', '/v1/tasks/T1/status', { headers: auth(), body: JSON.stringify({ status: 'completed', note: 'n'.repeat(2001), occurredAt: 1, idempotencyKey: 'k6' }) }),
  },
  { name: 'bad unread limit', status: 400, code: 'invalid_query', run: () => call('GET', `/v1/agents/${agentId}/messages/unread?limit=abc`, { headers: auth() }) },
  {
    name: 'oversized body',
    status: 413,
    code: 'body_too_large',
    run: () => call('POST', '/v1/messages', { headers: auth(), body: JSON.stringify({ to: 'bob', body: 'x'.repeat(10_000), occurredAt: 1, idempotencyKey: 'k4' }) }),
  },
  { name: 'unknown route', status: 404, code: 'not_found', run: () => call('GET', '/v1/nope', { headers: auth() }) },
  { name: 'unknown route outside /v1', status: 404, code: 'not_found', run: () => call('GET', '/admin', {}) },
  { name: 'wrong method', status: 405, code: 'method_not_allowed', run: () => call('GET', '/v1/messages', { headers: auth() }) },
  { name: 'missing token', status: 401, code: 'unauthorized', run: () => call('GET', `/v1/agents/${agentId}/obligations`, { headers: P }) },
  {
    name: 'forged token',
    status: 401,
    code: 'unauthorized',
    run: () => call('GET', `/v1/agents/${agentId}/obligations`, { headers: { ...P, Authorization: 'Bearer rt_0123456789abcdef' } }),
  },
  {
    name: 'basic auth instead of bearer',
    status: 401,
    code: 'unauthorized',
    run: () => call('GET', `/v1/agents/${agentId}/obligations`, { headers: { ...P, Authorization: 'Basic YTpi' } }),
  },
  {
    name: 'agent token used to register',
    status: 401,
    code: 'unauthorized',
    run: () => call('POST', '/v1/agents', { headers: auth(), body: JSON.stringify({ name: 'beta' }) }),
  },
  {
    name: 'missing protocol header',
    status: 400,
    code: 'protocol_mismatch',
    run: () => call('GET', `/v1/agents/${agentId}/obligations`, { headers: { Authorization: `Bearer ${token}` } }),
  },
];

// Issue 10, item 7: these were 500s (URIError, RangeError: Maximum call stack size exceeded).
const BROKEN = '%E0%A4%A';
const deepMetadata = (depth: number) =>
  `{"to":"bob","body":"x","occurredAt":1,"idempotencyKey":"deep-${depth}","metadata":${'['.repeat(depth)}${']'.repeat(depth)}}`;
cases.push(
  { name: 'broken percent-encoding in an agent id', status: 400, code: 'invalid_path', run: () => call('GET', `/v1/agents/${BROKEN}/obligations`, { headers: auth() }) },
  {
    name: 'broken percent-encoding in a task id',
    status: 400,
    code: 'invalid_path',
    run: () => call('POST', `/v1/tasks/${BROKEN}/status`, { headers: auth(), body: JSON.stringify({ status: 'completed', occurredAt: 1, idempotencyKey: 'k7' }) }),
  },
  { name: 'broken percent-encoding in an attachment id', status: 400, code: 'invalid_path', run: () => call('GET', `/v1/attachments/${BROKEN}`, { headers: auth() }) },
  { name: 'JSON nested 2000 deep (within the byte cap)', status: 400, code: 'invalid_json', run: () => call('POST', '/v1/messages', { headers: auth(), body: deepMetadata(2000) }) },
);

describe('the dev server refuses bad input with a 4xx and a one-line reason, and keeps serving', () => {
  for (const c of cases) {
    it(`${c.name} → ${c.status} ${c.code}`, async () => {
      const before = snapshot();
      const res = await c.run();
      expect(res.status).toBe(c.status);
      expect(res.json?.error?.code).toBe(c.code);
      const message = res.json?.error?.message ?? '';
      expect(message.length).toBeGreaterThan(0);
      expect(message).not.toMatch(/\n|\bat .+\(.*:\d+:\d+\)/);
      expect(snapshot()).toBe(before);
      const health = await call('GET', '/v1/health');
      expect(health.status).toBe(200);
    });
  }

  it('names the offending field in the reason', async () => {
    const res = await call('POST', '/v1/messages', { headers: auth(), body: JSON.stringify({ to: 'bob', body: 42, occurredAt: 1, idempotencyKey: 'k9' }) });
    expect(res.json?.error?.message).toBe('body.body must be a string');
  });

  it('answers garbage on the socket with 400 and keeps serving', async () => {
    const before = snapshot();
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1', () => socket.write('THIS IS NOT HTTP\r\n\r\n'));
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect(snapshot()).toBe(before);
    expect((await call('GET', '/v1/health')).status).toBe(200);
  });

  it('answers a malformed bus frame with an error frame and keeps the connection', async () => {
    const ws = new WebSocket(server.wsUrl);
    const frames: Array<{ type: string; code?: string }> = [];
    ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString()) as { type: string }));
    await new Promise((resolve) => ws.on('open', resolve));
    ws.send('{not json');
    ws.send(JSON.stringify({ type: 'hello', protocol: 1, agentId, token }));
    const deadline = Date.now() + 5000;
    while (frames.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(frames.map((f) => f.code ?? f.type)).toEqual(['bad_frame', 'welcome']);
    ws.send(JSON.stringify({ type: 'status', status: 'not an object' }));
    ws.send(JSON.stringify({ type: 'command.result', id: 'cmd_none', ok: true }));
    while (frames.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(frames.slice(2).map((f) => f.code)).toEqual(['bad_frame', 'unknown_command']);
    expect(server.statuses(agentId)).toEqual([]);
    expect(ws.readyState).toBe(ws.OPEN);
    ws.close();
  });

  it('refuses a body with a huge extra field by its shape\'s byte cap (413), below the server-wide limit', async () => {
    const big = await createRelayDevServer();
    try {
      const reg = await fetch(`${big.url}/v1/agents`, {
        method: 'POST',
        headers: { ...P, Authorization: `Bearer ${big.apiKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'gamma' }),
      });
      const { agent, token: t } = (await reg.json()) as { agent: { id: string }; token: string };
      const res = await fetch(`${big.url}/v1/agents/${agent.id}/heartbeat`, {
        method: 'POST',
        headers: { ...P, Authorization: `Bearer ${t}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ huge: 'x'.repeat(8000) }),
      });
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: { code: string; message: string } }).error).toEqual({ code: 'body_too_large', message: 'body exceeds 4096 bytes' });
      const small = await fetch(`${big.url}/v1/agents/${agent.id}/heartbeat`, {
        method: 'POST',
        headers: { ...P, Authorization: `Bearer ${t}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ fromTheFuture: true }),
      });
      expect(small.status).toBe(200);
    } finally {
      await big.close();
    }
  });

  it('a malformed frame from the relay is dropped and counted by the ws adapter, and the next good frame is delivered', async () => {
    const logger = createMemoryLogger({ level: 'debug' });
    const bus = createWsRelayBus({ clock: createSystemClock(), url: server.wsUrl, agentId, token: () => token, logger });
    const pushed: MessageNewFrame[] = [];
    bus.on('message.new', (f) => pushed.push(f));
    try {
      bus.connect();
      await waitFor('bus connected', () => bus.connected);
      // A message without attachments, seq, kind… used to reach the core and throw there.
      expect(server.faults.rawFrame(agentId, JSON.stringify({ type: 'message.new', message: { id: 'msg_bad', from: 'mallory', body: 'x' } }))).toBe(1);
      server.faults.rawFrame(agentId, '{"type":"command","id":"c1","name":"stop","args":[1]}');
      server.faults.rawFrame(agentId, '{not json');
      server.faults.rawFrame(agentId, '{"type":"from.the.future"}');
      const good = server.sendToAgent(agentId, { from: 'alice', body: 'still here' });
      await waitFor('good frame delivered', () => pushed.length === 1);
      expect(pushed[0]!.message).toEqual(good);
      expect(bus.stats()).toMatchObject({ framesDropped: 3, framesIgnored: 1 });
      const warnings = logger.entries.filter((e) => e.level === 'warn').map((e) => e.message);
      expect(warnings).toEqual([
        'bus dropped a malformed "message.new" frame: frame.message.seq is required',
        'bus dropped a malformed "command" frame: frame.args must be a JSON object',
        'bus dropped a malformed frame: frame is not JSON',
      ]);
      expect(bus.connected).toBe(true);
    } finally {
      await bus.close();
    }
  });
});

describe('the dev server at its default limits (issue 10, item 7)', () => {
  it('answers 400, not 500, to a message whose metadata nests 100k arrays, and keeps serving', async () => {
    const relay = await createRelayDevServer();
    try {
      const reg = await fetch(`${relay.url}/v1/agents`, {
        method: 'POST',
        headers: { ...P, Authorization: `Bearer ${relay.apiKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'deep' }),
      });
      const { token: t } = (await reg.json()) as { token: string };
      const headers = { ...P, Authorization: `Bearer ${t}`, 'Content-Type': 'application/json' };
      const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers, body: deepMetadata(100_000) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
      const ok = await fetch(`${relay.url}/v1/messages`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ to: 'deep', body: 'fine', occurredAt: 1, idempotencyKey: 'fine-1', metadata: { a: [[1]] } }),
      });
      expect(ok.status).toBeLessThan(300);
    } finally {
      await relay.close();
    }
  });
});
