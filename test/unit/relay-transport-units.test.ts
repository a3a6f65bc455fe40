import { describe, expect, it } from 'vitest';
import { createFetchRelayHttp, parseRetryAfter, type FetchLike } from '../../src/adapters/fetch-relay-http.js';
import { createWsRelayBus } from '../../src/adapters/ws-relay-bus.js';
import { decodeServerFrame } from '../../src/protocol/relay-codec.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { ProtocolError, RelayHttpError, RelayUnavailableError } from '../../src/errors/index.js';
import type { RelayBusStateEvent } from '../../src/ports/relay-bus.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, and ignores garbage', () => {
    const now = Date.UTC(2026, 0, 1, 0, 0, 0);
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter(' 0.5 ', now)).toBe(500);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

describe('createFetchRelayHttp with a host fetch', () => {
  const respond = (status: number, body: string, headers: Record<string, string> = {}): ReturnType<FetchLike> =>
    Promise.resolve({
      status,
      headers: { get: (n: string) => headers[n.toLowerCase()] ?? null },
      text: async () => body,
      arrayBuffer: async () => new TextEncoder().encode(body).buffer as ArrayBuffer,
    });

  it('sends the protocol header and bearer token, and maps error bodies', async () => {
    const seen: Array<Record<string, string>> = [];
    const http = createFetchRelayHttp({ clock: createSystemClock(),
      baseUrl: 'http://relay.test/',
      token: () => 'tok',
      fetch: (url, init) => {
        seen.push({ url, ...init.headers });
        return respond(503, '{"error":{"code":"busy","message":"try later"}}', { 'retry-after': '2' });
      },
    });
    const err = await http.heartbeat('agt_1').catch((e: unknown) => e);
    expect(seen[0]).toMatchObject({ url: 'http://relay.test/v1/agents/agt_1/heartbeat', Authorization: 'Bearer tok', 'X-Relay-Protocol': '1' });
    expect(err).toBeInstanceOf(RelayHttpError);
    expect(err).toMatchObject({ status: 503, retryAfterMs: 2000, serverMessage: 'try later', data: { status: 503, serverCode: 'busy' } });
  });

  it('checks every answer against the protocol schema: a bad body is a ProtocolError, never a TypeError later', async () => {
    const answers: Record<string, string> = {
      '/v1/agents/agt_1/heartbeat': '{"serverTime":"soon"}',
      '/v1/agents/agt_1/obligations': '{"obligations":[{"messageId":"m1"}]}',
      '/v1/events/batch': 'not json at all',
      '/v1/agents/agt_1/messages/read': '',
      '/v1/agents/agt_1/messages/unread': JSON.stringify({
        messages: [{ id: 'm1', seq: 1, kind: 'message', from: 'a', to: 'b', body: 'x', occurredAt: 1, createdAt: 2, extra: { ignored: true } }],
      }),
    };
    const http = createFetchRelayHttp({ clock: createSystemClock(),
      baseUrl: 'http://relay.test',
      token: () => 'tok',
      fetch: (url) => respond(200, answers[new URL(url).pathname] ?? '{}'),
    });
    const heartbeat = await http.heartbeat('agt_1').catch((e: unknown) => e);
    expect(heartbeat).toBeInstanceOf(ProtocolError);
    expect((heartbeat as Error).message).toBe('relay answered POST /v1/agents/agt_1/heartbeat with a malformed body: body.serverTime must be a number');
    await expect(http.obligations('agt_1')).rejects.toThrow(/body\.obligations\[0\]\.from is required/);
    await expect(http.sendBatch([])).rejects.toMatchObject({ code: 'PROTOCOL', data: { problem: 'not_json' } });
    await expect(http.markRead('agt_1', ['m1'])).rejects.toBeInstanceOf(ProtocolError);
    // Defaults applied and unknown fields dropped: the core sees complete, known objects.
    expect(await http.pollUnread('agt_1')).toEqual([
      { id: 'm1', seq: 1, kind: 'message', from: 'a', to: 'b', body: 'x', expectsReply: false, occurredAt: 1, createdAt: 2, attachments: [] },
    ]);
  });

  it('times out a fetch that never settles, on the injected clock', async () => {
    const clock = createFakeClock();
    let aborted = false;
    const http = createFetchRelayHttp({
      baseUrl: 'http://relay.test',
      token: () => 'tok',
      clock,
      timeoutMs: 5000,
      fetch: (_url, init) =>
        new Promise((_resolve, reject) => {
          init.signal?.addEventListener('abort', () => {
            aborted = true;
            reject(new Error('aborted'));
          });
        }),
    });
    const pending = http.obligations('agt_1').catch((e: unknown) => e);
    clock.advance(4999);
    expect(aborted).toBe(false);
    clock.advance(1);
    const err = await pending;
    expect(err).toBeInstanceOf(RelayUnavailableError);
    expect(err).toMatchObject({ code: 'RELAY_TIMEOUT' });
  });
});

describe('decodeServerFrame', () => {
  const parse = (value: unknown) => {
    const decoded = decodeServerFrame(JSON.stringify(value));
    return decoded.ok ? decoded.frame : undefined;
  };

  it('accepts known shapes and rejects malformed ones', () => {
    expect(parse({ type: 'command', id: 'c1', name: 'stop' })).toEqual({ type: 'command', id: 'c1', name: 'stop', args: {} });
    expect(parse({ type: 'command', id: 'c1' })).toBeUndefined();
    expect(parse({ type: 'permission.decision', permissionId: 'p', requestId: 'r', behavior: 'maybe' })).toBeUndefined();
    // A message missing required fields is refused here (it used to pass and throw later, inside the core).
    expect(parse({ type: 'message.new', message: { id: 'm', body: 'b', from: 'f' } })).toBeUndefined();
    expect(parse({ type: 'martian' })).toBeUndefined();
    expect(parse([1])).toBeUndefined();
  });

  it('applies defaults, so the core always sees complete messages', () => {
    const message = { id: 'm', seq: 1, kind: 'message', from: 'f', to: 't', body: 'b', occurredAt: 1, createdAt: 2 };
    expect(parse({ type: 'message.new', message })).toEqual({ type: 'message.new', message: { ...message, expectsReply: false, attachments: [] } });
  });
});

describe('createWsRelayBus reconnect backoff', () => {
  it('backs off exponentially with a cap while the relay refuses connections, and never gives up', async () => {
    const clock = createFakeClock();
    // A port nobody listens on: every attempt is refused (real sockets, fake timers).
    const bus = createWsRelayBus({ url: 'ws://127.0.0.1:9/v1/bus', agentId: 'agt_1', token: () => 't', clock, random: () => 0, baseDelayMs: 100, maxDelayMs: 1000 });
    const states: RelayBusStateEvent[] = [];
    bus.on('state', (s) => states.push(s));
    bus.connect();
    for (let attempt = 0; attempt < 7; attempt++) {
      const deadline = Date.now() + 5000;
      while (states.length <= attempt && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      const delay = states[attempt]?.retryInMs ?? 0;
      clock.advance(delay);
    }
    // random() = 0 gives half of each step: 100, 200, 400, 800, 1000 (capped) steps.
    expect(states.slice(0, 7).map((s) => s.retryInMs)).toEqual([50, 100, 200, 400, 500, 500, 500]);
    expect(states.every((s) => !s.connected)).toBe(true);
    expect(bus.connected).toBe(false);
    await bus.close();
  });
});
