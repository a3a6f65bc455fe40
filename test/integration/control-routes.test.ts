/**
 * The control server's generic route table over real HTTP: routes added and removed at runtime,
 * duplicates refused, 404/405 following the live table, bodies validated by a route's own schema,
 * a route without a schema still given a JSON object, and a failing route a generic 500.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as v from 'valibot';
import { createControlServer, type ControlServer } from '../../src/control/control-server.js';
import { bodyObject, defineRoute, requiredString } from '../../src/control/body-schema.js';
import { InvalidArgumentError } from '../../src/errors/index.js';
import { createMemoryLogger, type MemoryLogger } from '../../src/testing/memory-logger.js';
import { rawRequest } from '../fixtures/hooks/harness.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';

const TOKEN = 'routes-token-99aa88bb77cc';
const auth = { authorization: `Bearer ${TOKEN}` };

let server: ControlServer | undefined;
let logger: MemoryLogger;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(): Promise<ControlServer> {
  logger = createMemoryLogger({ level: 'debug' });
  server = await createControlServer({ clock: createSystemClock(), token: TOKEN, logger });
  return server;
}
const get = (path: string) => rawRequest(server!.port, { path, headers: auth });
const post = (path: string, body: string) => rawRequest(server!.port, { method: 'POST', path, body, headers: { ...auth, 'content-type': 'application/json' } });

describe('control server route table', () => {
  it('serves a route added at runtime, and 404s it again once removed', async () => {
    await start();
    expect((await get('/ping')).status).toBe(404);
    const remove = server!.addRoute({ method: 'GET', path: '/ping', handle: () => ({ status: 200, body: { pong: true } }) });
    const res = await get('/ping');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('application/json');
    expect(JSON.parse(res.body)).toEqual({ pong: true });
    remove();
    remove(); // idempotent
    expect((await get('/ping')).status).toBe(404);
  });

  it('refuses a duplicate route, a bad path and the /monitor path; a stale remover leaves a newer route alone', async () => {
    await start();
    const first = server!.addRoute({ method: 'POST', path: '/x', handle: () => ({ status: 204 }) });
    expect(() => server!.addRoute({ method: 'POST', path: '/x', handle: () => ({ status: 204 }) })).toThrow(InvalidArgumentError);
    expect(() => server!.addRoute({ method: 'GET', path: 'x', handle: () => ({ status: 204 }) })).toThrow(InvalidArgumentError);
    expect(() => server!.addRoute({ method: 'GET', path: '/monitor', handle: () => ({ status: 204 }) })).toThrow(InvalidArgumentError);
    first();
    server!.addRoute({ method: 'POST', path: '/x', handle: () => ({ status: 202 }) });
    first();
    expect((await post('/x', '{}')).status).toBe(202);
  });

  it('405 lists the methods the live table serves on a path', async () => {
    await start();
    server!.addRoute({ method: 'GET', path: '/thing', handle: () => ({ status: 200, body: 1 }) });
    let res = await rawRequest(server!.port, { method: 'DELETE', path: '/thing', headers: auth });
    expect(res.status).toBe(405);
    expect(res.headers['allow']).toBe('GET');
    server!.addRoute({ method: 'POST', path: '/thing', handle: () => ({ status: 204 }) });
    res = await rawRequest(server!.port, { method: 'PUT', path: '/thing', headers: auth });
    expect(res.headers['allow']).toBe('GET, POST');
  });

  it('validates a body with the route schema (400, one line, handler not called), and passes the typed value', async () => {
    await start();
    const seen: unknown[] = [];
    server!.addRoute(
      defineRoute({
        method: 'POST',
        path: '/greet',
        body: v.pipe(bodyObject({ name: requiredString(20) }), v.transform(({ name }) => ({ upper: name.toUpperCase() }))),
        handle: (body) => (seen.push(body), { status: 200, body: { hello: body.upper } }),
      }),
    );
    expect(JSON.parse((await post('/greet', '{"name":"ada","extra":1}')).body)).toEqual({ hello: 'ADA' });
    for (const [body, reason] of [
      ['{}', 'field "name" is required'],
      ['{"name":3}', 'field "name" must be a string'],
      [`{"name":"${'n'.repeat(21)}"}`, 'field "name" must be at most 20 characters'],
      ['[]', 'body must be a JSON object'],
      ['{"name":', /^malformed JSON/],
    ] as const) {
      const res = await post('/greet', body);
      expect(res.status, body).toBe(400);
      const error = (JSON.parse(res.body) as { error: string }).error;
      if (typeof reason === 'string') expect(error).toBe(reason);
      else expect(error).toMatch(reason);
    }
    expect(seen).toEqual([{ upper: 'ADA' }]);
  });

  it('a POST route without a schema still gets a JSON object', async () => {
    await start();
    const seen: unknown[] = [];
    server!.addRoute({ method: 'POST', path: '/raw', handle: (body) => (seen.push(body), { status: 204 }) });
    expect((await post('/raw', '[1]')).status).toBe(400);
    expect((await post('/raw', '{"a":1}')).status).toBe(204);
    expect(seen).toEqual([{ a: 1 }]);
  });

  it('a route that throws, or answers something unserialisable, is a generic 500; the server keeps serving', async () => {
    await start();
    server!.addRoute({ method: 'GET', path: '/boom', handle: () => Promise.reject(new Error('secret detail\n at frame')) });
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    server!.addRoute({ method: 'GET', path: '/cyclic', handle: () => ({ status: 200, body: cyclic }) });
    server!.addRoute({ method: 'GET', path: '/ok', handle: () => ({ status: 200, body: 'ok' }) });
    for (const path of ['/boom', '/cyclic']) {
      const res = await get(path);
      expect(res.status, path).toBe(500);
      expect(res.body).toBe('{"error":"internal error"}');
    }
    expect(logger.entries.some((e) => e.level === 'error' && e.message.includes('secret detail'))).toBe(true);
    expect((await get('/ok')).status).toBe(200);
  });

  it('routes passed at creation are served; a duplicate among them fails creation', async () => {
    const routes = [{ method: 'GET' as const, path: '/a', handle: () => ({ status: 200, body: 'a' }) }];
    server = await createControlServer({ clock: createSystemClock(), routes, token: TOKEN, logger: createMemoryLogger() });
    expect(JSON.parse((await get('/a')).body)).toBe('a');
    await expect(createControlServer({ clock: createSystemClock(), routes: [...routes, ...routes], token: TOKEN, logger: createMemoryLogger() })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
