import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { createRelayDevServer, type RelayDevServer } from '../../src/testing/relay-dev-server/index.js';
import { createFetchRelayHttp, type FetchLike, type FetchRelayHttp } from '../../src/adapters/fetch-relay-http.js';
import { createWsRelayBus } from '../../src/adapters/ws-relay-bus.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { ProtocolError, RelayHttpError, RelayUnavailableError } from '../../src/errors/index.js';
import type { RelayBus, RelayBusStateEvent, CommandFrame, PermissionDecisionFrame, MessageNewFrame } from '../../src/ports/relay-bus.js';
import { tempDir, waitFor } from './relay-helpers.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';

interface Agent {
  id: string;
  token: string;
  http: FetchRelayHttp;
}

let server: RelayDevServer;
let tmp: ReturnType<typeof tempDir>;
const buses: RelayBus[] = [];

async function registerAgent(srv: RelayDevServer, name: string, extra: { timeoutMs?: number; fetch?: FetchLike } = {}): Promise<Agent> {
  const holder = { token: '' };
  const http = createFetchRelayHttp({ clock: createSystemClock(),
    baseUrl: srv.url,
    token: () => holder.token,
    apiKey: () => srv.apiKey,
    ...(extra.timeoutMs ? { timeoutMs: extra.timeoutMs } : {}),
    ...(extra.fetch ? { fetch: extra.fetch } : {}),
  });
  const reg = await http.register({ name, provider: 'demo' });
  holder.token = reg.token;
  return {
    id: reg.agent.id,
    get token() {
      return holder.token;
    },
    set token(t: string) {
      holder.token = t;
    },
    http,
  };
}

function busFor(url: string, agent: Agent, extra: Partial<Parameters<typeof createWsRelayBus>[0]> = {}): RelayBus {
  const bus = createWsRelayBus({ clock: createSystemClock(), url, agentId: agent.id, token: () => agent.token, baseDelayMs: 20, maxDelayMs: 200, ...extra });
  buses.push(bus);
  return bus;
}

beforeEach(async () => {
  tmp = tempDir('relay-transport-');
  server = await createRelayDevServer({ path: join(tmp.dir, 'relay.sqlite') });
});

afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.close();
  await server.close();
  tmp.cleanup();
});

const now = () => Date.now();
let keySeq = 0;
const key = (label: string) => `${label}-${++keySeq}`;

describe('relay HTTP routes against the dev server', () => {
  it('registers, re-registers with the same id, heartbeats and deletes (revoking the token)', async () => {
    const a = await registerAgent(server, 'alpha');
    expect(a.id).toMatch(/^agt_/);
    const again = await a.http.register({ name: 'alpha' });
    expect(again.agent.id).toBe(a.id);
    expect(again.profile.features).toEqual({ relayContext: true, insights: true, sessionMirror: true });
    expect(again.tokenExpiresAt).toBeGreaterThan(now());
    const beat = await a.http.heartbeat(a.id);
    expect(typeof beat.serverTime).toBe('number');
    expect(server.listAgents().map((x) => x.name)).toEqual(['alpha']);
    await a.http.deleteAgent(a.id);
    expect(server.listAgents()).toEqual([]);
    await expect(a.http.heartbeat(a.id)).rejects.toMatchObject({ status: 401, code: 'RELAY_AUTH' });
  });

  it('delivers user messages, tracks unread and obligations, and clears an obligation only with a replyTo message', async () => {
    const a = await registerAgent(server, 'alpha');
    const incoming = server.sendToAgent(a.id, { from: 'alice', body: 'please review', expectsReply: true, taskId: 'T1' });
    const unread = await a.http.pollUnread(a.id);
    expect(unread.map((m) => m.id)).toEqual([incoming.id]);
    expect(unread[0]).toMatchObject({ from: 'alice', to: 'alpha', expectsReply: true, taskId: 'T1' });
    expect(await a.http.obligations(a.id)).toEqual([
      expect.objectContaining({ messageId: incoming.id, from: 'alice', excerpt: 'please review', taskId: 'T1' }),
    ]);

    // A session-mirror entry correlated to the message does not count as the reply.
    await a.http.sendMessage({ kind: 'session', entry: 'reply', body: 'mirror', replyTo: incoming.id, occurredAt: now(), idempotencyKey: key('s') });
    expect(await a.http.obligations(a.id)).toHaveLength(1);

    const replyKey = key('reply');
    const reply = await a.http.sendMessage({ to: 'alice', body: 'done', replyTo: incoming.id, occurredAt: now(), idempotencyKey: replyKey });
    expect(reply.duplicate).toBe(false);
    expect(reply.message).toMatchObject({ from: 'alpha', to: 'alice', replyTo: incoming.id, kind: 'message' });
    expect(await a.http.obligations(a.id)).toEqual([]);

    // Same idempotency key again: the first result, nothing new stored.
    const dup = await a.http.sendMessage({ to: 'alice', body: 'done', replyTo: incoming.id, occurredAt: now(), idempotencyKey: replyKey });
    expect(dup).toMatchObject({ duplicate: true, message: { id: reply.message.id } });
    expect(server.listMessages({ from: 'alpha', kind: 'message' })).toHaveLength(1);

    expect(await a.http.markRead(a.id, [incoming.id, 'msg_unknown'])).toBe(1);
    expect(await a.http.pollUnread(a.id)).toEqual([]);
  });

  it('routes agent-to-agent messages: the recipient gets it unread, an obligation, and a bus push', async () => {
    const a = await registerAgent(server, 'alpha');
    const b = await registerAgent(server, 'beta');
    const bus = busFor(server.wsUrl, b);
    const pushed: MessageNewFrame[] = [];
    bus.on('message.new', (f) => pushed.push(f));
    bus.connect();
    await waitFor('beta connected', () => bus.connected);
    const sent = await a.http.sendMessage({ to: 'beta', body: 'ping?', expectsReply: true, occurredAt: now(), idempotencyKey: key('m') });
    await waitFor('push to beta', () => pushed.length === 1);
    expect(pushed[0]!.message.id).toBe(sent.message.id);
    expect((await b.http.pollUnread(b.id)).map((m) => m.id)).toEqual([sent.message.id]);
    expect((await b.http.obligations(b.id)).map((o) => o.messageId)).toEqual([sent.message.id]);
    // Alpha cannot clear beta's obligation; beta can.
    await a.http.sendMessage({ to: 'beta', body: 'nudge', replyTo: sent.message.id, occurredAt: now(), idempotencyKey: key('m') });
    expect(await b.http.obligations(b.id)).toHaveLength(1);
    await b.http.sendMessage({ to: 'alpha', body: 'pong', replyTo: sent.message.id, occurredAt: now(), idempotencyKey: key('m') });
    expect(await b.http.obligations(b.id)).toEqual([]);
  });

  it('applies an ordered batch with per-item results; permanent failures do not stop it, a retryable one does', async () => {
    const a = await registerAgent(server, 'alpha');
    const t = now();
    const items = [
      { kind: 'message', idempotencyKey: 'b1', occurredAt: t, payload: { to: 'alice', body: 'one' } },
      { kind: 'nonsense', idempotencyKey: 'b2', occurredAt: t, payload: {} },
      { kind: 'task_status', idempotencyKey: 'b3', occurredAt: t, payload: { taskId: 'T9', status: 'in_progress' } },
      { kind: 'message', idempotencyKey: 'b4', occurredAt: t, payload: { to: 42, body: 'wrong type' } },
      { kind: 'insight', idempotencyKey: 'b5', occurredAt: t, payload: { type: 'context_ratio', data: { ratio: 0.4 } } },
      { kind: 'hook_fatal', idempotencyKey: 'b6', occurredAt: t, payload: { hook: 'Stop', message: 'exit 2' } },
      { kind: 'session', idempotencyKey: 'b7', occurredAt: t, payload: { body: 'mirror', entry: 'prompt' } },
    ];
    const first = await a.http.sendBatch(items);
    expect(first.notAttempted).toBe(0);
    expect(first.results.map((r) => r.status)).toEqual([201, 422, 201, 400, 201, 201, 201]);
    expect(first.results[3]!.error).toEqual({ code: 'invalid_body', message: 'items[3].payload.to must be a string' });
    expect(server.listEvents({ agentId: a.id }).map((e) => e.idempotencyKey)).toEqual(['b1', 'b3', 'b5', 'b6', 'b7']);
    expect(server.tasks()).toEqual([expect.objectContaining({ taskId: 'T9', status: 'in_progress', agentId: a.id })]);

    // A retryable item failure stops the batch: later items are not attempted, so order holds.
    server.faults.failNextItems(1, 503, { retryAfterSeconds: 2, skip: 1 });
    const more = [
      { kind: 'message', idempotencyKey: 'c1', occurredAt: t, payload: { to: 'alice', body: 'c1' } },
      { kind: 'message', idempotencyKey: 'c2', occurredAt: t, payload: { to: 'alice', body: 'c2' } },
    ];
    const stopped = await a.http.sendBatch([items[0]!, ...more]);
    expect(stopped.results).toEqual([
      expect.objectContaining({ index: 0, status: 200, duplicate: true }),
      expect.objectContaining({ index: 1, status: 503, retryAfterSeconds: 2 }),
    ]);
    expect(stopped.notAttempted).toBe(1);
    const resumed = await a.http.sendBatch(more);
    expect(resumed.results.map((r) => r.status)).toEqual([201, 201]);
    expect(server.listMessages({ from: 'alpha', kind: 'message' }).map((m) => m.body)).toEqual(['one', 'c1', 'c2']);
  });

  it('updates task status and posts insights (409 when insights are disabled for the agent)', async () => {
    const a = await registerAgent(server, 'alpha');
    const task = await a.http.taskStatus({ taskId: 'T 1', status: 'completed', note: 'ok', occurredAt: 5, idempotencyKey: key('t') });
    expect(task).toMatchObject({ taskId: 'T 1', status: 'completed', note: 'ok', updatedAt: 5 });
    const ins = await a.http.insight({ type: 'context_ratio', data: { gather: 3, act: 2 }, occurredAt: now(), idempotencyKey: 'i1' });
    expect(ins.duplicate).toBe(false);
    expect(await a.http.insight({ type: 'context_ratio', data: {}, occurredAt: now(), idempotencyKey: 'i1' })).toEqual({ id: ins.id, duplicate: true });

    const off = await createRelayDevServer({ insightsEnabled: false });
    try {
      const b = await registerAgent(off, 'beta');
      const err = await b.http.insight({ type: 'x', data: {}, occurredAt: now(), idempotencyKey: 'i2' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RelayHttpError);
      expect(err).toMatchObject({ status: 409, serverMessage: 'insights are disabled for this agent' });
      expect(off.listEvents()).toEqual([]);
    } finally {
      await off.close();
    }
  });

  it('creates permission requests, delivers the decision on the bus, and serves it to a poll', async () => {
    const a = await registerAgent(server, 'alpha');
    const bus = busFor(server.wsUrl, a);
    const decisions: PermissionDecisionFrame[] = [];
    bus.on('permission.decision', (f) => decisions.push(f));
    bus.connect();
    await waitFor('bus up', () => bus.connected);
    const p = await a.http.createPermissionRequest(a.id, { requestId: 'r1', tool: 'Bash', summary: 'rm -rf build', input: { command: 'rm -rf build' } });
    expect(p).toMatchObject({ requestId: 'r1', status: 'pending', tool: 'Bash' });
    expect((await a.http.createPermissionRequest(a.id, { requestId: 'r1', tool: 'Bash', summary: 'again' })).id).toBe(p.id);
    server.decidePermission(p.id, { behavior: 'deny', message: 'not today', decidedBy: 'alice' });
    await waitFor('decision frame', () => decisions.length === 1);
    expect(decisions[0]).toEqual({ type: 'permission.decision', permissionId: p.id, requestId: 'r1', behavior: 'deny', message: 'not today' });
    expect(await a.http.getPermissionRequest(a.id, p.id)).toMatchObject({ status: 'decided', decision: { behavior: 'deny', decidedBy: 'alice' } });
    expect(() => server.decidePermission(p.id, { behavior: 'allow' })).toThrow(/already decided/);
  });

  it('serves attachment bytes by relative URL only, with a size cap', async () => {
    const a = await registerAgent(server, 'alpha');
    const m = server.sendToAgent(a.id, { from: 'alice', body: 'see file', attachments: [{ name: '../notes.txt', mediaType: 'text/plain', content: 'héllo' }] });
    const att = m.attachments[0]!;
    expect(att).toMatchObject({ name: '../notes.txt', mediaType: 'text/plain', size: 6 });
    expect(new TextDecoder().decode(await a.http.downloadAttachment(att.url))).toBe('héllo');
    await expect(a.http.downloadAttachment(att.url, { maxBytes: 3 })).rejects.toThrow(/over the 3-byte cap/);
    await expect(a.http.downloadAttachment(`http://evil.example${att.url}`)).rejects.toThrow(/must be a \/v1\/attachments\/ path/);
  });
});

describe('auth, expiry and renewal', () => {
  it('refuses missing and forged tokens and another agent\'s routes', async () => {
    const a = await registerAgent(server, 'alpha');
    const b = await registerAgent(server, 'beta');
    const forged = createFetchRelayHttp({ clock: createSystemClock(), baseUrl: server.url, token: () => 'rt_forged' });
    await expect(forged.pollUnread(a.id)).rejects.toMatchObject({ status: 401, serverMessage: 'unknown bearer token' });
    const none = createFetchRelayHttp({ clock: createSystemClock(), baseUrl: server.url, token: () => undefined });
    await expect(none.pollUnread(a.id)).rejects.toMatchObject({ status: 401 });
    await expect(a.http.pollUnread(b.id)).rejects.toMatchObject({ status: 403, code: 'RELAY_AUTH' });
    const noKey = createFetchRelayHttp({ clock: createSystemClock(), baseUrl: server.url, token: () => a.token });
    await expect(noKey.register({ name: 'gamma' })).rejects.toMatchObject({ status: 401 });
  });

  it('expires tokens by the server clock (401 token_expired) and renews with the token or, once expired, the API key', async () => {
    const clock = createFakeClock();
    const srv = await createRelayDevServer({ clock, tokenTtlMs: 60_000 });
    try {
      const a = await registerAgent(srv, 'alpha');
      const renewed = await a.http.renewToken(a.id);
      expect(renewed.token).not.toBe(a.token);
      expect(renewed.tokenExpiresAt).toBe(clock.now() + 60_000);
      clock.advance(60_000);
      const err = await a.http.heartbeat(a.id).catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 401, data: expect.objectContaining({ serverCode: 'token_expired' }) });
      // The expired token cannot renew itself; the adapter falls back to the workspace key.
      const recovered = await a.http.renewToken(a.id);
      a.token = recovered.token;
      await expect(a.http.heartbeat(a.id)).resolves.toMatchObject({ serverTime: clock.now() });
      // Without a key, an expired token stays refused.
      clock.advance(60_000);
      const keyless = createFetchRelayHttp({ clock: createSystemClock(), baseUrl: srv.url, token: () => a.token });
      await expect(keyless.renewToken(a.id)).rejects.toMatchObject({ status: 401 });
      // Fault: expire now.
      const fresh = await a.http.renewToken(a.id);
      a.token = fresh.token;
      await a.http.heartbeat(a.id);
      srv.faults.expireToken(a.id);
      await expect(a.http.heartbeat(a.id)).rejects.toMatchObject({ status: 401 });
    } finally {
      await srv.close();
    }
  });

  it('turns a protocol mismatch into a ProtocolError, not a plain 400', async () => {
    const a = await registerAgent(server, 'alpha');
    const oldClient: FetchLike = (url, init) =>
      fetch(url, { ...init, headers: { ...init.headers, 'X-Relay-Protocol': '2' } }) as unknown as ReturnType<FetchLike>;
    const http = createFetchRelayHttp({ clock: createSystemClock(), baseUrl: server.url, token: () => a.token, fetch: oldClient });
    const err = await http.pollUnread(a.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as Error).message).toMatch(/client speaks protocol 2; this server speaks 1/);
  });
});

describe('transport failures', () => {
  it('carries status, Retry-After (seconds) and the server message on injected failures', async () => {
    const a = await registerAgent(server, 'alpha');
    server.faults.failNext(1, 429, { retryAfterSeconds: 3 });
    const err = await a.http.heartbeat(a.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RelayHttpError);
    expect(err).toMatchObject({ status: 429, retryAfterMs: 3000, serverMessage: 'injected failure 429', code: 'RELAY_HTTP' });
    await expect(a.http.heartbeat(a.id)).resolves.toBeDefined();
  });

  it('reports refused connections and hung requests as RelayUnavailableError (unavailable vs timeout)', async () => {
    const a = await registerAgent(server, 'alpha');
    // A short timeout only for the call that is meant to time out; healthy calls keep the default.
    const impatient = createFetchRelayHttp({ clock: createSystemClock(), baseUrl: server.url, token: () => a.token, timeoutMs: 300 });
    await server.faults.down();
    const refused = await a.http.heartbeat(a.id).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RelayUnavailableError);
    expect(refused).toMatchObject({ code: 'RELAY_UNAVAILABLE' });
    await server.faults.up();
    await expect(a.http.heartbeat(a.id)).resolves.toBeDefined();
    server.faults.hung();
    const hung = await impatient.heartbeat(a.id).catch((e: unknown) => e);
    expect(hung).toMatchObject({ code: 'RELAY_TIMEOUT' });
    await server.faults.clear();
    await expect(a.http.heartbeat(a.id)).resolves.toBeDefined();
  });
});

describe('the bus', () => {
  it('connects honestly, pushes messages, round-trips commands, and receives status and timeline', async () => {
    const a = await registerAgent(server, 'alpha');
    const bus = busFor(server.wsUrl, a);
    const states: RelayBusStateEvent[] = [];
    bus.on('state', (s) => states.push(s));
    bus.on('command', (c: CommandFrame) => {
      if (c.name === 'set_log_level') bus.send({ type: 'command.result', id: c.id, ok: true, result: { level: c.args['level'] } });
      else bus.send({ type: 'command.result', id: c.id, ok: false, error: `unknown command ${c.name}` });
    });
    expect(bus.connected).toBe(false);
    bus.connect();
    await waitFor('connected', () => bus.connected);
    expect(states.at(-1)).toEqual({ connected: true, reason: 'welcome' });
    expect(server.busConnections(a.id)).toBe(1);

    await expect(server.commands.send(a.id, 'set_log_level', { level: 'debug' })).resolves.toEqual({ ok: true, result: { level: 'debug' } });
    await expect(server.commands.send(a.id, 'dance')).resolves.toEqual({ ok: false, error: 'unknown command dance' });

    expect(bus.send({ type: 'status', status: { state: 'busy', subagents: 1 } })).toBe(true);
    bus.send({ type: 'timeline', event: 'provider.restart_decision', at: now(), data: { reason: 'test' } });
    await waitFor('status and timeline', () => server.statuses(a.id).length === 1 && server.timeline(a.id).length === 1);
    expect(server.statuses(a.id)[0]!.status).toEqual({ state: 'busy', subagents: 1 });
  });

  it('reconnects after a drop, re-sends the last status, and flushes results buffered while down', async () => {
    const a = await registerAgent(server, 'alpha');
    const bus = busFor(server.wsUrl, a);
    bus.connect();
    await waitFor('connected', () => bus.connected);
    bus.send({ type: 'status', status: { state: 'idle' } });
    await waitFor('status', () => server.statuses(a.id).length === 1);
    const before = server.stats().busConnectionsAccepted;
    server.faults.dropBus();
    await waitFor('noticed the drop', () => !bus.connected);
    expect(bus.send({ type: 'timeline', event: 'while.down', at: now() })).toBe(false);
    await waitFor('reconnected', () => bus.connected && server.stats().busConnectionsAccepted === before + 1);
    await waitFor('status re-sent and timeline flushed', () => server.statuses(a.id).length === 2 && server.timeline(a.id).length === 1);
    expect(server.statuses(a.id)[1]!.status).toEqual({ state: 'idle' });
    expect(server.timeline(a.id)[0]!.event).toBe('while.down');
  });

  it('survives a server restart on the same port with file-backed state', async () => {
    const path = join(tmp.dir, 'restart.sqlite');
    let srv = await createRelayDevServer({ path });
    try {
      const a = await registerAgent(srv, 'alpha');
      const m = srv.sendToAgent(a.id, { from: 'alice', body: 'persist me', expectsReply: true });
      const bus = busFor(srv.wsUrl, a);
      const pushed: MessageNewFrame[] = [];
      bus.on('message.new', (f) => pushed.push(f));
      bus.connect();
      await waitFor('connected', () => bus.connected);
      const port = srv.port;
      await srv.close();
      expect(statSync(path).mode & 0o777).toBe(0o600);
      await waitFor('bus noticed the restart', () => !bus.connected);
      srv = await createRelayDevServer({ path, port });
      expect(srv.listAgents().map((x) => x.id)).toEqual([a.id]);
      expect(srv.obligations(a.id).map((o) => o.messageId)).toEqual([m.id]);
      await waitFor('bus reconnected with the persisted token', () => bus.connected && srv.busConnections(a.id) === 1);
      expect((await a.http.pollUnread(a.id)).map((x) => x.id)).toEqual([m.id]);
      srv.sendToAgent(a.id, { from: 'alice', body: 'after restart' });
      await waitFor('push after restart', () => pushed.some((f) => f.message.body === 'after restart'));
    } finally {
      await srv.close();
    }
  });

  it('notices a silent (hung) link through the ping deadline and recovers when it answers again', async () => {
    const a = await registerAgent(server, 'alpha');
    const bus = busFor(server.wsUrl, a, { pingIntervalMs: 50, pingTimeoutMs: 150, connectTimeoutMs: 300 });
    const states: RelayBusStateEvent[] = [];
    bus.on('state', (s) => states.push(s));
    bus.connect();
    await waitFor('connected', () => bus.connected);
    server.faults.hung();
    await waitFor('ping timeout noticed', () => !bus.connected);
    expect(states.find((s) => !s.connected)?.reason).toBe('ping timeout');
    server.faults.hung(false);
    await waitFor('reconnected', () => bus.connected);
  });

  it('reports an expired token on hello, then reconnects once given a fresh token', async () => {
    const a = await registerAgent(server, 'alpha');
    const bus = busFor(server.wsUrl, a);
    const errors: string[] = [];
    bus.on('error', (f) => errors.push(f.code));
    bus.connect();
    await waitFor('connected', () => bus.connected);
    server.faults.expireToken(a.id);
    server.faults.dropBus();
    await waitFor('token_expired reported', () => errors.includes('token_expired'));
    expect(bus.connected).toBe(false);
    const fresh = await a.http.renewToken(a.id); // expired token → the adapter recovers with the API key
    bus.setToken(fresh.token);
    bus.reconnect('token renewed');
    await waitFor('reconnected with the new token', () => bus.connected);
  });

  it('answers a non-hello first frame and an unknown protocol with an error and a close', async () => {
    const a = await registerAgent(server, 'alpha');
    const frames: string[] = [];
    const ws = new WebSocket(server.wsUrl);
    const closed = new Promise<number>((resolve) => ws.on('close', (code: number) => resolve(code)));
    ws.on('message', (d: Buffer) => frames.push(d.toString()));
    await new Promise((resolve) => ws.on('open', resolve));
    ws.send(JSON.stringify({ type: 'hello', protocol: 7, agentId: a.id, token: a.token }));
    expect(await closed).toBe(4426);
    expect(JSON.parse(frames[0]!)).toMatchObject({ type: 'error', code: 'protocol_mismatch', fatal: true });
  });
});
