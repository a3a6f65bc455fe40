/**
 * The control port over real HTTP and WebSocket on 127.0.0.1:0: endpoints, and every security
 * rule (token, Host, Origin, body cap, bad input, unknown paths, handler failures) — each refusal
 * followed by a good request that still works.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { request as httpRequest } from 'node:http';
import { createControlServer, isLoopbackHost, isLoopbackOrigin, type ControlServer } from '../../src/control/control-server.js';
import { InvalidArgumentError } from '../../src/errors/index.js';
import { createMemoryLogger, type MemoryLogger } from '../../src/testing/memory-logger.js';
import { createRecordingHandlers, fixture, rawRequest, type RecordingHandlers, type RecordingOptions } from '../fixtures/hooks/harness.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';

const TOKEN = 'control-token-5f1e2d3c4b5a69788796a5b4';
const auth = { authorization: `Bearer ${TOKEN}` };

let server: ControlServer | undefined;
let handlers: RecordingHandlers;
let logger: MemoryLogger;

async function start(options: RecordingOptions = {}, maxBodyBytes?: number): Promise<ControlServer> {
  handlers = createRecordingHandlers(options);
  logger = createMemoryLogger({ level: 'debug' });
  server = await createControlServer({ clock: createSystemClock(), routes: handlers.routes, monitorStatus: handlers.providerStatus, token: TOKEN, logger, ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }) });
  return server;
}
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** The good request made after each refusal: the server must still serve. */
async function stillServes(port: number): Promise<void> {
  const res = await rawRequest(port, { path: '/status', headers: auth });
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body)).toMatchObject({ state: 'idle' });
}

const post = (port: number, path: string, body: string | Buffer, headers: Record<string, string> = auth) =>
  rawRequest(port, { method: 'POST', path, body, headers: { 'content-type': 'application/json', ...headers } });

describe('control port endpoints', () => {
  it('binds 127.0.0.1 on an ephemeral port and answers the GET endpoints', async () => {
    const { port, url } = await start();
    expect(url).toBe(`http://127.0.0.1:${port}`);
    expect(port).toBeGreaterThan(0);
    expect(JSON.parse((await rawRequest(port, { path: '/terminal', headers: auth })).body)).toEqual({ kind: 'tmux', command: ['tmux', 'attach', '-t', 'agent'] });
    expect(JSON.parse((await rawRequest(port, { path: '/obligations', headers: auth })).body)).toEqual({ items: [], stale: false });
    expect(JSON.parse((await rawRequest(port, { path: '/log-level', headers: auth })).body)).toEqual({ level: 'info' });
    await stillServes(port);
  });

  it('refuses to bind anything but loopback, and an empty token', async () => {
    await expect(createControlServer({ clock: createSystemClock(), routes: createRecordingHandlers().routes, token: TOKEN, logger: createMemoryLogger(), host: '0.0.0.0' as '127.0.0.1' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(createControlServer({ clock: createSystemClock(), routes: createRecordingHandlers().routes, token: '', logger: createMemoryLogger() })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('stop decision: block JSON while a reply is owed, 204 (turn recorded) otherwise, never a block when stop_hook_active', async () => {
    let owed = [{ messageId: 'm-9', from: 'carol' }];
    const { port } = await start({ fetchObligations: async () => owed });
    await handlers.cache.refresh();
    const block = await post(port, '/hooks/stop', fixture('stop'));
    expect(block.status).toBe(200);
    expect(JSON.parse(block.body)).toMatchObject({ decision: 'block', reason: expect.stringContaining('m-9') });
    const active = await post(port, '/hooks/stop', fixture('stop-active'));
    expect(active).toMatchObject({ status: 204, body: '' });
    owed = [];
    await handlers.cache.refresh();
    expect((await post(port, '/hooks/stop', fixture('stop'))).status).toBe(204);
    expect(handlers.of('sessionTurn')).toHaveLength(2);
  });

  it('send queues through the handler and answers the seq', async () => {
    const { port } = await start();
    const res = await post(port, '/send', JSON.stringify({ to: 'alice', body: 'done ✅', replyTo: 'm-1' }));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ seq: 1 });
    expect(handlers.of('send')).toEqual([{ to: 'alice', body: 'done ✅', replyTo: 'm-1' }]);
  });

  it('log level: GET/POST, and 400 listing the valid levels on a bad value', async () => {
    const { port } = await start();
    const ok = await post(port, '/log-level', JSON.stringify({ level: 'debug' }));
    expect(JSON.parse(ok.body)).toEqual({ level: 'debug' });
    const bad = await post(port, '/log-level', JSON.stringify({ level: 'verbose' }));
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toBe('invalid level "verbose"; valid levels: debug, info, warn, error, fatal');
    expect(JSON.parse((await rawRequest(port, { path: '/log-level', headers: auth })).body)).toEqual({ level: 'debug' });
  });

  it('a permission request may wait longer than any server default; close() aborts a pending one', async () => {
    let release: (() => void) | undefined;
    const { port } = await start({
      permission: () => new Promise((resolve) => (release = () => resolve({ behavior: 'deny', message: 'no', interrupt: true }))),
    });
    const pending = post(port, '/hooks/permission-request', fixture('permission-request'));
    await expect.poll(() => release !== undefined).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    release?.();
    const res = await pending;
    expect(JSON.parse(res.body)).toEqual({ hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'deny', message: 'no', interrupt: true } } });

    release = undefined;
    const second = post(port, '/hooks/permission-request', fixture('permission-request')).catch((error: unknown) => error);
    await expect.poll(() => release !== undefined).toBe(true);
    await server?.close();
    await second;
    await expect.poll(() => handlers.permissionSignals[1]?.aborted).toBe(true);
  });
});

describe('control port security: each refusal, then a good request still works', () => {
  it('no token → 401', async () => {
    const { port } = await start();
    for (const path of ['/status', '/obligations', '/hooks/stop', '/nope']) {
      const res = await rawRequest(port, { path, method: path === '/hooks/stop' ? 'POST' : 'GET', body: path === '/hooks/stop' ? '{}' : undefined });
      expect(res.status, path).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
    expect(handlers.calls).toEqual([]);
    await stillServes(port);
  });

  it('wrong token (same length, shorter, other scheme) → 401', async () => {
    const { port } = await start();
    for (const value of [`Bearer ${'x'.repeat(TOKEN.length)}`, 'Bearer short', `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, TOKEN]) {
      expect((await rawRequest(port, { path: '/status', headers: { authorization: value } })).status, value).toBe(401);
    }
    await stillServes(port);
  });

  it('foreign Host header → 403 (DNS rebinding), loopback names with ports accepted', async () => {
    const { port } = await start();
    for (const host of ['evil.example', 'evil.example:80', '127.0.0.1.evil.example', '10.0.0.1', 'localhost.evil.example:80']) {
      const res = await rawRequest(port, { path: '/status', headers: { ...auth, host } });
      expect(res.status, host).toBe(403);
    }
    for (const host of [`127.0.0.1:${port}`, 'localhost', `LOCALHOST:${port}`, `[::1]:${port}`]) {
      expect((await rawRequest(port, { path: '/status', headers: { ...auth, host } })).status, host).toBe(200);
    }
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('::1:80')).toBe(false);
    expect(isLoopbackHost(undefined)).toBe(false);
    await stillServes(port);
  });

  it('oversized body → 413 (declared or streamed)', async () => {
    const { port } = await start({}, 1024);
    const big = JSON.stringify({ to: 'a', body: 'x'.repeat(5000) });
    const res = await post(port, '/send', big);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error).toContain('1024');
    // Chunked upload (no content-length): the cap applies while streaming. The upload is never
    // ended, so only a server that counts the bytes as they come can answer, and it must be a 413.
    const chunked = await streamWithoutEnd(port, '/send', auth, Buffer.from(big));
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).error).toContain('1024');
    expect(handlers.of('send')).toEqual([]);
    await stillServes(port);
  });

  it('malformed JSON → 400 with a one-line reason', async () => {
    const { port } = await start();
    for (const body of ['{"to":', 'not json', '', '[1,2]', '"str"', 'null']) {
      const res = await post(port, '/send', body);
      expect(res.status, body).toBe(400);
      const reason = (JSON.parse(res.body) as { error: string }).error;
      expect(reason).not.toContain('\n');
      expect(reason.length).toBeGreaterThan(0);
    }
    await stillServes(port);
  });

  it('wrong field types → 400 naming the field', async () => {
    const { port } = await start();
    const cases: Array<[string, unknown, string]> = [
      ['/send', { to: 5, body: 'x' }, 'field "to" must be a string'],
      ['/send', { to: 'a' }, 'field "body" is required'],
      ['/send', { to: 'a', body: 'b', replyTo: 7 }, 'field "replyTo" must be a string'],
      ['/hooks/stop', { hook_event_name: 'Stop', stop_hook_active: 'yes' }, 'field "stop_hook_active" must be a boolean'],
      ['/hooks/user-prompt', { hook_event_name: 'UserPromptSubmit', prompt: ['x'] }, 'field "prompt" must be a string'],
      ['/hooks/user-prompt', { hook_event_name: 'Stop', prompt: 'x' }, 'hook_event_name "Stop" does not belong to this endpoint'],
      ['/hooks/permission-request', { tool_name: 'Bash', tool_input: 'rm' }, 'field "tool_input" must be a JSON object'],
      ['/hooks/fatal', { hook: 'stop', line: 'x', exitCode: 1, command: 'false' }, 'field "line" must be an integer'],
      ['/hooks/session-start', { session_id: 12 }, 'field "session_id" must be a string'],
      ['/log-level', { level: 3 }, 'field "level" must be a string'],
    ];
    for (const [path, body, reason] of cases) {
      const res = await post(port, path, JSON.stringify(body));
      expect(res.status, path).toBe(400);
      expect(JSON.parse(res.body), path).toEqual({ error: reason });
    }
    expect(handlers.calls).toEqual([]);
    await stillServes(port);
  });

  it('unknown path → 404, wrong method → 405, plain GET /monitor → 426', async () => {
    const { port } = await start();
    expect((await rawRequest(port, { path: '/admin', headers: auth })).status).toBe(404);
    expect((await rawRequest(port, { path: '/status/', headers: auth })).status).toBe(404);
    const wrong = await rawRequest(port, { method: 'DELETE', path: '/status', headers: auth });
    expect(wrong.status).toBe(405);
    expect(wrong.headers['allow']).toBe('GET');
    expect((await rawRequest(port, { path: '/monitor', headers: auth })).status).toBe(426);
    await stillServes(port);
  });

  it('handler exception → 500 with a generic message, no stack trace; the server keeps serving', async () => {
    const { port } = await start({ throwIn: 'send' });
    const res = await post(port, '/send', JSON.stringify({ to: 'a', body: 'b' }));
    expect(res.status).toBe(500);
    expect(res.body).toBe('{"error":"internal error"}');
    expect(logger.entries.some((e) => e.level === 'error' && e.message.includes('boom in send'))).toBe(true);
    await stillServes(port);
  });

  it('garbage on the socket (malformed HTTP) → 400, and the server keeps serving', async () => {
    const { port } = await start();
    const net = await import('node:net');
    const reply = await new Promise<string>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', () => resolve(data));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    await stillServes(port);
  });

  it('the token never reaches the log', async () => {
    const { port } = await start();
    await rawRequest(port, { path: `/status?token=${TOKEN}`, headers: auth });
    await rawRequest(port, { path: '/status', headers: { authorization: `Bearer ${TOKEN}x` } });
    expect(logger.lines().join('\n')).not.toContain(TOKEN);
  });
});

describe('/monitor WebSocket', () => {
  const connect = (port: number, options: { token?: string; origin?: string; header?: boolean; path?: string; host?: string } = {}) =>
    new Promise<{ ws?: WebSocket; status?: number; messages: unknown[] }>((resolve) => {
      const query = options.token !== undefined && !options.header ? `?token=${encodeURIComponent(options.token)}` : '';
      const headers: Record<string, string> = {};
      if (options.header && options.token) headers['authorization'] = `Bearer ${options.token}`;
      if (options.host) headers['host'] = options.host;
      const ws = new WebSocket(`ws://127.0.0.1:${port}${options.path ?? '/monitor'}${query}`, { headers, ...(options.origin ? { origin: options.origin } : {}) });
      const messages: unknown[] = [];
      ws.on('message', (data) => messages.push(JSON.parse(String(data))));
      ws.on('open', () => resolve({ ws, messages }));
      ws.on('unexpected-response', (_req, res) => {
        resolve({ status: res.statusCode, messages });
        ws.terminate();
      });
      ws.on('error', () => resolve({ messages }));
    });

  it('streams published events to an authenticated client (query token or header); hello first', async () => {
    const { port } = await start();
    const a = await connect(port, { token: TOKEN });
    const b = await connect(port, { token: TOKEN, header: true, origin: `http://localhost:${port}` });
    expect(a.ws && b.ws).toBeTruthy();
    await expect.poll(() => server?.monitorClients).toBe(2);
    server?.publish({ type: 'status', state: 'busy', text: 'quote " ✅' });
    await expect.poll(() => a.messages.length).toBe(2);
    await expect.poll(() => b.messages.length).toBe(2);
    expect(a.messages[0]).toMatchObject({ type: 'hello', status: { state: 'idle' } });
    expect(a.messages[1]).toEqual({ type: 'status', state: 'busy', text: 'quote " ✅' });
    a.ws?.close();
    b.ws?.close();
  });

  it('refuses a foreign Origin (403), no or wrong token (401), a foreign Host (403), another path (404) — and keeps serving', async () => {
    const { port } = await start();
    expect((await connect(port, { token: TOKEN, origin: 'https://evil.example' })).status).toBe(403);
    expect((await connect(port, { token: TOKEN, origin: 'null' })).status).toBe(403);
    expect((await connect(port, {})).status).toBe(401);
    expect((await connect(port, { token: 'wrong' })).status).toBe(401);
    expect((await connect(port, { token: TOKEN, host: 'evil.example' })).status).toBe(403);
    expect((await connect(port, { token: TOKEN, path: '/other' })).status).toBe(404);
    expect(server?.monitorClients).toBe(0);
    expect(isLoopbackOrigin('http://[::1]:3000')).toBe(true);
    expect(isLoopbackOrigin('file://')).toBe(false);
    const ok = await connect(port, { token: TOKEN });
    expect(ok.ws).toBeDefined();
    ok.ws?.close();
    await stillServes(port);
  });
});

describe('control port: a request with no Host header', () => {
  it('is refused with 403 (raw socket), and the server keeps serving', async () => {
    const { port } = await start();
    const net = await import('node:net');
    const reply = await new Promise<string>((resolve) => {
      // HTTP/1.0 lets a client omit Host entirely.
      const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET /status HTTP/1.0\r\nauthorization: Bearer ${TOKEN}\r\n\r\n`));
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', () => resolve(data));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 403/);
    await stillServes(port);
  });
});

/** POST a chunked upload whose first chunk is `chunk` and never end it; resolve with the answer. */
function streamWithoutEnd(port: number, path: string, headers: Record<string, string>, chunk: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path, headers: { ...headers, 'transfer-encoding': 'chunked' }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => {
          answered = true;
          resolve({ status: res.statusCode ?? 0, body });
          req.destroy();
        });
      },
    );
    // After the answer the server closes the connection: that error is expected, not a failure.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    req.write(chunk);
  });
}
