/**
 * The monitor's login and page serving over real HTTP and WebSocket (no browser): one-time links
 * (single use, expiry on the fake clock, wrong codes), the session cookie's attributes and what it
 * opens (page, assets, stream from the page's own origin only), the bearer path for programmatic
 * clients, the backlog a new client gets after its hello, and the `/monitor` paths providers
 * cannot take.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createControlServer, type ControlServer } from '../../src/control/control-server.js';
import { InvalidArgumentError } from '../../src/errors/index.js';
import { createFakeClock, type FakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger, type MemoryLogger } from '../../src/testing/memory-logger.js';
import { createRecordingHandlers, rawRequest, waitFor as waitUntil } from '../fixtures/hooks/harness.js';
import { cookieValue } from '../../src/control/monitor-auth.js';
import { startRig } from '../helpers/rig.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';

const TOKEN = 'control-token-0a1b2c3d4e5f60718293a4b5';
const auth = { authorization: `Bearer ${TOKEN}` };

let server: ControlServer | undefined;
let clock: FakeClock;
let logger: MemoryLogger;
let backlog: object[] = [];

async function start(): Promise<ControlServer> {
  clock = createFakeClock();
  logger = createMemoryLogger({ level: 'debug' });
  const handlers = createRecordingHandlers();
  server = await createControlServer({
    routes: handlers.routes,
    monitorStatus: handlers.providerStatus,
    monitorBacklog: () => backlog,
    monitorLinkTtlMs: 30_000,
    token: TOKEN,
    logger,
    clock,
  });
  return server;
}
afterEach(async () => {
  await server?.close();
  server = undefined;
  backlog = [];
});

/** The path and query of a link (rawRequest takes a path). */
const pathOf = (url: string) => {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
};

/** Log in through a fresh link; the `Cookie` header value to send back. */
async function login(s: ControlServer): Promise<string> {
  const res = await rawRequest(s.port, { path: pathOf(s.monitorLink().url) });
  expect(res.status).toBe(303);
  const setCookie = res.headers['set-cookie']?.[0] ?? '';
  return setCookie.split(';')[0]!;
}

function stream(port: number, headers: Record<string, string>, origin?: string) {
  return new Promise<{ ws?: WebSocket; status?: number; messages: Array<Record<string, unknown>> }>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/monitor`, { headers, ...(origin ? { origin } : {}) });
    const messages: Array<Record<string, unknown>> = [];
    ws.on('message', (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
    ws.on('open', () => resolve({ ws, messages }));
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode, messages });
      ws.terminate();
    });
    ws.on('error', () => resolve({ messages }));
  });
}

describe('monitor login', () => {
  it('a link logs in once: 303 to /monitor with an HttpOnly, SameSite=Strict cookie for this port; the code leaks nowhere', async () => {
    const s = await start();
    const link = s.monitorLink();
    expect(link.url).toMatch(new RegExp(`^${s.url}/monitor/login\\?code=[A-Za-z0-9_-]{43}$`));
    expect(link.expiresAt).toBe(clock.now() + 30_000);
    const res = await rawRequest(s.port, { path: pathOf(link.url) });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/monitor');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    const cookie = res.headers['set-cookie']?.[0] ?? '';
    expect(cookie).toMatch(new RegExp(`^agent_relay_monitor_${s.port}=[A-Za-z0-9_-]{43}; Path=/monitor; HttpOnly; SameSite=Strict$`));
    // The session is not the code, not the token.
    const session = cookieValue(cookie.split(';')[0], `agent_relay_monitor_${s.port}`)!;
    expect(link.url).not.toContain(session);
    expect(session).not.toBe(TOKEN);

    const again = await rawRequest(s.port, { path: pathOf(link.url) });
    expect(again.status).toBe(403);
    expect(again.headers['set-cookie']).toBeUndefined();
    expect(again.body).toContain('already used');
    expect(logger.lines().join('\n')).not.toContain(new URL(link.url).searchParams.get('code'));
  });

  it('an expired, wrong or missing code is refused; a fresh link still works', async () => {
    const s = await start();
    const link = s.monitorLink();
    clock.advance(30_000);
    expect((await rawRequest(s.port, { path: pathOf(link.url) })).status).toBe(403);
    expect((await rawRequest(s.port, { path: '/monitor/login?code=guess' })).status).toBe(403);
    expect((await rawRequest(s.port, { path: '/monitor/login' })).status).toBe(403);
    expect((await rawRequest(s.port, { path: '/monitor/login', method: 'POST' })).status).toBe(405);
    const fresh = s.monitorLink();
    clock.advance(29_999);
    expect((await rawRequest(s.port, { path: pathOf(fresh.url) })).status).toBe(303);
  });

  it('POST /monitor/link hands a bearer-token holder a link; nobody else', async () => {
    const s = await start();
    expect((await rawRequest(s.port, { method: 'POST', path: '/monitor/link' })).status).toBe(401);
    expect((await rawRequest(s.port, { method: 'POST', path: '/monitor/link', headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await rawRequest(s.port, { method: 'GET', path: '/monitor/link', headers: auth })).status).toBe(405);
    const res = await rawRequest(s.port, { method: 'POST', path: '/monitor/link', headers: auth });
    expect(res.status).toBe(200);
    const link = JSON.parse(res.body) as { url: string; expiresAt: number };
    expect(link.expiresAt).toBe(clock.now() + 30_000);
    expect((await rawRequest(s.port, { path: pathOf(link.url) })).status).toBe(303);
  });
});

describe('monitor page and stream', () => {
  it('the cookie opens the page and its assets, under a strict CSP; without it: 401, and a foreign Host is 403', async () => {
    const s = await start();
    const cookie = await login(s);
    const page = await rawRequest(s.port, { path: '/monitor', headers: { cookie } });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.body).toContain('<script src="/monitor/app.js" defer></script>');
    for (const [path, type] of [['/monitor/app.js', 'text/javascript; charset=utf-8'], ['/monitor/app.css', 'text/css; charset=utf-8']] as const) {
      const asset = await rawRequest(s.port, { path, headers: { cookie } });
      expect([asset.status, asset.headers['content-type']], path).toEqual([200, type]);
      expect((await rawRequest(s.port, { path })).status, path).toBe(401);
    }
    expect((await rawRequest(s.port, { path: '/monitor/nothing', headers: { cookie } })).status).toBe(404);
    expect((await rawRequest(s.port, { path: '/monitor/nothing' })).status).toBe(401);
    expect((await rawRequest(s.port, { path: '/monitor', headers: { cookie: `agent_relay_monitor_${s.port}=forged` } })).status).toBe(401);
    // A cookie of another port's runner is not this one's.
    expect((await rawRequest(s.port, { path: '/monitor', headers: { cookie: cookie.replace(String(s.port), '1') } })).status).toBe(401);
    expect((await rawRequest(s.port, { path: '/monitor', headers: { cookie, host: 'evil.example' } })).status).toBe(403);
    // The cookie opens the monitor only, never the control routes.
    expect((await rawRequest(s.port, { path: '/status', headers: { cookie } })).status).toBe(401);
    // The token alone: the page's assets, and the stream through an upgrade.
    expect((await rawRequest(s.port, { path: '/monitor/app.js', headers: auth })).status).toBe(200);
    expect((await rawRequest(s.port, { path: '/monitor', headers: auth })).status).toBe(426);
  });

  it('the stream takes the cookie only from the page\'s own origin; hello, then the backlog, then live events', async () => {
    const s = await start();
    const cookie = await login(s);
    backlog = [{ type: 'agent', agent: { name: 'worker-1' } }, { type: 'delivery', delivery: { messageId: 'm1', state: 'queued' } }];
    expect((await stream(s.port, { cookie })).status).toBe(401);
    expect((await stream(s.port, { cookie }, 'http://127.0.0.1:1')).status).toBe(401);
    expect((await stream(s.port, { cookie }, 'https://evil.example')).status).toBe(403);
    expect((await stream(s.port, { cookie: `agent_relay_monitor_${s.port}=forged` }, s.url)).status).toBe(401);
    expect(s.monitorClients).toBe(0);

    const page = await stream(s.port, { cookie }, s.url);
    expect(page.ws).toBeDefined();
    await expect.poll(() => s.monitorClients).toBe(1);
    s.publish({ type: 'sent', sent: { replyTo: 'm1' } });
    await expect.poll(() => page.messages.length).toBe(4);
    expect(page.messages.map((m) => m.type)).toEqual(['hello', 'agent', 'delivery', 'sent']);
    expect(page.messages[0]).toMatchObject({ type: 'hello', status: { state: 'idle' } });
    page.ws?.close();

    // Programmatic clients keep the token; an event that cannot be serialised is skipped, not fatal.
    const broken = {};
    Object.defineProperty(broken, 'field', { get: () => { throw new Error('boom'); }, enumerable: true });
    backlog = [broken];
    const cli = await stream(s.port, auth);
    expect(cli.ws).toBeDefined();
    await expect.poll(() => cli.messages.length).toBe(1);
    expect(cli.messages[0]).toMatchObject({ type: 'hello' });
    cli.ws?.close();
  });

  it('a client whose hello is still being prepared when the server closes is dropped, not left open', async () => {
    let release: (status: unknown) => void = () => {};
    const s = await createControlServer({ clock: createSystemClock(), token: TOKEN, logger: createMemoryLogger(), monitorStatus: () => new Promise((resolve) => (release = resolve)) });
    server = s;
    const client = await stream(s.port, auth);
    expect(client.ws).toBeDefined();
    const closing = s.close();
    release({ state: 'idle' });
    await closing;
    await waitUntil(() => client.ws?.readyState === WebSocket.CLOSED, 'the client to be closed');
    expect(client.messages).toEqual([]);
    expect(s.monitorClients).toBe(0);
  });

  it('providers cannot add routes under /monitor', async () => {
    const s = await start();
    for (const path of ['/monitor', '/monitor/login', '/monitor/anything']) {
      expect(() => s.addRoute({ method: 'GET', path, handle: () => ({ status: 204 }) }), path).toThrow(InvalidArgumentError);
    }
    expect(() => s.addRoute({ method: 'GET', path: '/monitoring', handle: () => ({ status: 204 }) })).not.toThrow();
  });
});

describe('Runner monitor accessors', () => {
  it('monitorUrl carries no secret; monitorLink works only while the runner runs; the runner reports its sends', async () => {
    const rig = await startRig();
    try {
      expect(rig.runner.monitorUrl).toBeUndefined();
      expect(() => rig.runner.monitorLink()).toThrow(/not started/);
      await rig.runner.start();
      expect(rig.runner.monitorUrl).toBe(`${rig.runner.controlUrl}/monitor`);
      const link = rig.runner.monitorLink();
      expect(link.url.startsWith(`${rig.runner.monitorUrl}/login?code=`)).toBe(true);
      const sent: unknown[] = [];
      rig.runner.on('sent', (event) => sent.push(event));
      const { seq } = await rig.runner.send({ to: 'alice', body: 'hello', replyTo: 'msg_1' });
      expect(sent).toEqual([{ seq, to: 'alice', replyTo: 'msg_1', at: expect.any(Number) }]);
      await rig.runner.stop();
      expect(() => rig.runner.monitorLink()).toThrow(/not started/);
    } finally {
      await rig.close();
    }
  });
});
