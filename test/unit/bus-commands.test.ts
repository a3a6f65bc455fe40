import { describe, it, expect } from 'vitest';
import { listenToBus, runCommand, type BusTarget } from '../../src/core/bus-commands.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import type { CommandResultFrame } from '../../src/ports/relay-bus.js';
import { fakeBus, fakeTarget } from '../helpers/fake-bus.js';

async function run(name: string, args: Record<string, unknown> = {}, overrides: Partial<BusTarget['runner']> = {}) {
  const { target, calls, decisions } = fakeTarget(overrides);
  const results: CommandResultFrame[] = [];
  await runCommand({ type: 'command', id: 'c1', name, args }, target, (r) => results.push(r));
  return { results, calls, decisions };
}

describe('bus commands', () => {
  it('stop and exit answer first, then stop the runner', async () => {
    for (const name of ['stop', 'exit']) {
      const { results, calls } = await run(name);
      expect(results).toEqual([{ type: 'command.result', id: 'c1', ok: true, result: { stopping: true } }]);
      expect(calls).toEqual(['stop']);
    }
  });

  it('interrupt reports whether a session is still up; restart reports the resumed session', async () => {
    expect((await run('interrupt')).results[0]).toMatchObject({ ok: true, result: { interrupted: false } });
    expect((await run('restart')).results[0]).toMatchObject({ ok: true, result: { restarted: true, sessionId: 'sess-1' } });
  });

  it('set_log_level checks the level', async () => {
    const good = await run('set_log_level', { level: 'debug' });
    expect(good.results[0]).toMatchObject({ ok: true, result: { level: 'debug' } });
    expect(good.calls).toEqual(['level debug']);
    const bad = await run('set_log_level', { level: 'loud' });
    expect(bad.results[0]).toEqual({ type: 'command.result', id: 'c1', ok: false, error: 'level must be one of debug, info, warn, error, fatal' });
    expect(bad.calls).toEqual([]);
  });

  it('permission_decision applies a well-formed decision and says whether a request was waiting', async () => {
    const applied = await run('permission_decision', { requestId: 'waiting', behavior: 'deny', message: 'no' });
    expect(applied.results[0]).toMatchObject({ ok: true, result: { applied: true } });
    expect(applied.decisions).toEqual([['waiting', { behavior: 'deny', message: 'no' }]]);
    expect((await run('permission_decision', { requestId: 'late', behavior: 'allow' })).results[0]).toMatchObject({ ok: true, result: { applied: false } });
    const bad = await run('permission_decision', { requestId: 'x', behavior: 'maybe' });
    expect(bad.results[0]).toMatchObject({ ok: false, error: 'permission_decision needs requestId and behavior allow|deny' });
  });

  it('answers unknown and failing commands with ok: false, never a throw', async () => {
    expect((await run('dance')).results).toEqual([{ type: 'command.result', id: 'c1', ok: false, error: 'unknown command dance' }]);
    const failing = await run('restart', {}, { restartProvider: () => Promise.reject(new Error('provider missing')) });
    expect(failing.results).toEqual([{ type: 'command.result', id: 'c1', ok: false, error: 'provider missing' }]);
  });

  it('routes every bus frame: messages, commands (with a timeline entry), decisions, auth errors, reconnects', async () => {
    const { bus, sent } = fakeBus();
    const { target, calls, decisions } = fakeTarget();
    const logger = createMemoryLogger();
    const off = listenToBus(bus, target, logger);
    bus.push('message.new', { type: 'message.new', message: { id: 'm1' } as never });
    bus.push('command', { type: 'command', id: 'c9', name: 'set_log_level', args: { level: 'warn' } });
    bus.push('permission.decision', { type: 'permission.decision', permissionId: 'p', requestId: 'waiting', behavior: 'allow' });
    bus.push('error', { type: 'error', code: 'token_expired', message: 'expired' });
    bus.push('error', { type: 'error', code: 'rate_limited', message: 'slow down' });
    bus.push('state', { connected: true, reason: 'welcome' });
    bus.push('state', { connected: false, reason: 'closed 1006' });
    await Promise.resolve();
    expect(calls).toEqual([
      'accept m1',
      'timeline command {"id":"c9","name":"set_log_level"}',
      'level warn',
      'recoverAuth',
      'timeline bus.state {"connected":true,"reason":"welcome"}',
      'catchUp',
      'timeline bus.state {"connected":false,"reason":"closed 1006"}',
    ]);
    expect(decisions).toEqual([['waiting', expect.objectContaining({ behavior: 'allow' })]]);
    expect(sent).toEqual([{ type: 'command.result', id: 'c9', ok: true, result: { level: 'warn' } }]);
    expect(logger.lines().some((l) => l.includes('relay error rate_limited: slow down'))).toBe(true);
    off();
    expect(bus.listeners()).toBe(0);
  });
});
