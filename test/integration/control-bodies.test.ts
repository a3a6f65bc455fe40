/**
 * The control port's body schemas, over real HTTP: for every body type (the runner's own and each
 * Claude hook payload), a missing field, a wrong type and an extra huge field are a 400 with a
 * one-line reason, the handler never runs, and the server keeps serving. Small unknown fields
 * stay tolerated (Claude adds fields between versions).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createControlServer, type ControlServer } from '../../src/control/control-server.js';
import { MAX_UNKNOWN_FIELD_BYTES } from '../../src/control/body-schema.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { createRecordingHandlers, fixture, rawRequest, type RecordingHandlers } from '../fixtures/hooks/harness.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';

const TOKEN = 'bodies-token-0a1b2c3d4e5f';
const auth = { authorization: `Bearer ${TOKEN}` };

let server: ControlServer | undefined;
let handlers: RecordingHandlers;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const post = (path: string, body: string) =>
  rawRequest(server!.port, { method: 'POST', path, body, headers: { ...auth, 'content-type': 'application/json' } });

interface BodyCase {
  path: string;
  /** A body the route accepts. */
  valid: Record<string, unknown>;
  /** A required field to leave out, with the reason expected; null when every field is optional. */
  missing: [field: string, reason: string] | null;
  /** A field to give the wrong type, and the reason expected. */
  wrongType: [field: string, value: unknown, reason: string];
}

const payload = (name: string) => JSON.parse(fixture(name)) as Record<string, unknown>;

const CASES: BodyCase[] = [
  { path: '/send', valid: { to: 'alice', body: 'hi' }, missing: ['body', 'field "body" is required'], wrongType: ['to', 5, 'field "to" must be a string'] },
  { path: '/reply', valid: { messageId: 'm1', body: 'hi' }, missing: ['messageId', 'field "messageId" is required'], wrongType: ['body', 5, 'field "body" must be a string'] },
  { path: '/attachments', valid: { messageId: 'm1' }, missing: ['messageId', 'field "messageId" is required'], wrongType: ['messageId', [], 'field "messageId" must be a string'] },
  { path: '/log-level', valid: { level: 'info' }, missing: ['level', 'field "level" is required'], wrongType: ['level', true, 'field "level" must be a string'] },
  {
    path: '/hooks/fatal',
    valid: { hook: 'stop', line: 3, exitCode: 1, command: 'false' },
    missing: ['command', 'field "command" is required'],
    wrongType: ['exitCode', 1.5, 'field "exitCode" must be an integer'],
  },
  { path: '/hooks/stop', valid: payload('stop'), missing: null, wrongType: ['stop_hook_active', 'yes', 'field "stop_hook_active" must be a boolean'] },
  { path: '/hooks/session-turn', valid: payload('stop'), missing: null, wrongType: ['last_assistant_message', {}, 'field "last_assistant_message" must be a string'] },
  {
    path: '/hooks/user-prompt',
    valid: payload('user-prompt-submit'),
    missing: ['prompt', 'field "prompt" is required'],
    wrongType: ['prompt', ['x'], 'field "prompt" must be a string'],
  },
  { path: '/hooks/session-start', valid: payload('session-start-startup'), missing: null, wrongType: ['source', 1, 'field "source" must be a string'] },
  { path: '/hooks/subagent-start', valid: payload('subagent-start'), missing: null, wrongType: ['agent_id', 7, 'field "agent_id" must be a string'] },
  { path: '/hooks/subagent-stop', valid: payload('subagent-stop'), missing: null, wrongType: ['agent_type', false, 'field "agent_type" must be a string'] },
  { path: '/hooks/pre-compact', valid: payload('pre-compact'), missing: null, wrongType: ['trigger', 2, 'field "trigger" must be a string'] },
  { path: '/hooks/post-compact', valid: payload('post-compact'), missing: null, wrongType: ['compact_summary', [1], 'field "compact_summary" must be a string'] },
  { path: '/hooks/stop-failure', valid: payload('stop-failure'), missing: null, wrongType: ['session_id', 12, 'field "session_id" must be a string'] },
  { path: '/hooks/session-end', valid: payload('session-end'), missing: null, wrongType: ['reason', {}, 'field "reason" must be a string'] },
  {
    path: '/hooks/permission-request',
    valid: payload('permission-request'),
    missing: ['tool_name', 'field "tool_name" is required'],
    wrongType: ['tool_input', 'rm -rf /', 'field "tool_input" must be a JSON object'],
  },
];

/** An identifier-like field of each body, whose length is bounded (hook payloads: `session_id`). */
const BOUNDED: Record<string, string | null> = { '/send': 'to', '/reply': 'messageId', '/attachments': 'messageId', '/hooks/fatal': 'hook', '/log-level': null };

/** A 400 whose reason is one non-empty line (and, when given, exactly `reason`). */
async function expectRejected(path: string, body: unknown, reason?: string | RegExp): Promise<void> {
  const res = await post(path, JSON.stringify(body));
  expect(res.status, `${path} ${JSON.stringify(body).slice(0, 120)}`).toBe(400);
  const error = (JSON.parse(res.body) as { error: string }).error;
  expect(error).not.toMatch(/[\r\n]/);
  expect(error.length).toBeGreaterThan(0);
  expect(error.length).toBeLessThan(400);
  if (typeof reason === 'string') expect(error, path).toBe(reason);
  else if (reason) expect(error, path).toMatch(reason);
}

describe('control-port bodies: every schema refuses bad input with a 400, never a crash', () => {
  it('covers every POST route the runner and the Claude hooks serve', async () => {
    handlers = createRecordingHandlers();
    const posts = handlers.routes.filter((r) => r.method === 'POST').map((r) => r.path);
    expect(new Set(posts)).toEqual(new Set(CASES.map((c) => c.path)));
    expect(handlers.routes.filter((r) => r.method === 'POST').every((r) => r.body !== undefined)).toBe(true);
  });

  it.each(CASES)('$path: missing field, wrong type, huge unknown field, huge known field, not an object', async (c) => {
    handlers = createRecordingHandlers();
    server = await createControlServer({ clock: createSystemClock(), routes: handlers.routes, token: TOKEN, logger: createMemoryLogger() });
    if (c.missing) {
      const { [c.missing[0]]: _left, ...rest } = c.valid;
      await expectRejected(c.path, rest, c.missing[1]);
    }
    await expectRejected(c.path, { ...c.valid, [c.wrongType[0]]: c.wrongType[1] }, c.wrongType[2]);
    await expectRejected(c.path, { ...c.valid, junk: 'x'.repeat(MAX_UNKNOWN_FIELD_BYTES + 1) }, `unknown field "junk" is larger than ${MAX_UNKNOWN_FIELD_BYTES} bytes`);
    await expectRejected(c.path, { ...c.valid, junk: { nested: ['y'.repeat(200_000)] } }, /unknown field "junk"/);
    // A huge value in a bounded (identifier-like) field.
    const bounded = c.path in BOUNDED ? BOUNDED[c.path] : 'session_id';
    if (bounded) await expectRejected(c.path, { ...c.valid, [bounded]: 'z'.repeat(100_000) }, new RegExp(`field "${bounded}" must be at most`));
    for (const body of [[c.valid], 'text', 42, null]) await expectRejected(c.path, body, 'body must be a JSON object');
    expect(handlers.calls).toEqual([]);

    // Small unknown fields are tolerated, and the valid body is served.
    const ok = await post(c.path, JSON.stringify({ ...c.valid, added_in_a_later_version: { small: true } }));
    expect(ok.status, c.path).toBeLessThan(300);
    expect(handlers.calls.length).toBeGreaterThan(0);
  });

  it('unknown fields never reach the handler', async () => {
    handlers = createRecordingHandlers();
    server = await createControlServer({ clock: createSystemClock(), routes: handlers.routes, token: TOKEN, logger: createMemoryLogger() });
    expect((await post('/send', JSON.stringify({ to: 'a', body: 'b', extra: 1 }))).status).toBe(200);
    expect(handlers.of('send')).toEqual([{ to: 'a', body: 'b' }]);
  });
});
