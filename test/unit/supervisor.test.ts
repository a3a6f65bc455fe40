import { describe, it, expect } from 'vitest';
import { ProviderSupervisor } from '../../src/core/supervisor.js';
import { StatusTracker } from '../../src/core/status.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { ProviderError } from '../../src/errors/index.js';
import type { ProcessExit, ProcessSpawner } from '../../src/ports/process-spawner.js';
import type { ProviderAdapter, ProviderDeps, ProviderEvent, ProviderLaunch, ProviderSession } from '../../src/ports/provider.js';

interface FakeSession extends ProviderSession {
  exit(exit: ProcessExit): void;
  emit(event: ProviderEvent): void;
}

function fakeSession(pid: number): FakeSession {
  let resolveExit!: (exit: ProcessExit) => void;
  const exited = new Promise<ProcessExit>((r) => (resolveExit = r));
  const listeners = new Set<(event: ProviderEvent) => void>();
  return {
    pid,
    exited,
    deliver: async () => {},
    interrupt: async () => {},
    decidePermission: () => {},
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    attachSpec: () => ({ kind: 'none' }),
    async stop() {
      resolveExit({ code: null, signal: 'SIGTERM' });
      return exited;
    },
    exit: (exit) => resolveExit(exit),
    emit: (event) => listeners.forEach((l) => l(event)),
  };
}

function setup(options: { resume?: boolean; failVersion?: boolean } = {}) {
  const clock = createFakeClock();
  const logger = createMemoryLogger();
  const providerDeps: ProviderDeps = { spawner: {} as ProcessSpawner, logger, clock };
  const launches: ProviderLaunch[] = [];
  const depsSeen: ProviderDeps[] = [];
  const sessions: FakeSession[] = [];
  const provider: ProviderAdapter = {
    name: 'fake',
    capabilities: { structuredInput: true, resume: options.resume ?? true, interactive: false, hookDriven: false, midTurnMessages: 'queue' },
    async checkVersion(deps) {
      depsSeen.push(deps);
      if (options.failVersion) throw new ProviderError('fake is not installed');
      return '1.2.3';
    },
    async start(launch, deps) {
      depsSeen.push(deps);
      launches.push(launch);
      const session = fakeSession(100 + sessions.length);
      sessions.push(session);
      return session;
    },
  };
  const status = new StatusTracker(clock, 60_000, () => {});
  const log: string[] = [];
  const errors: Error[] = [];
  const events: ProviderEvent[] = [];
  const supervisor = new ProviderSupervisor({
    provider,
    providerDeps,
    clock,
    logger,
    status,
    exitPolicy: { maxRapidExits: 2, windowMs: 60_000, baseDelayMs: 500 },
    cwd: '/work',
    env: () => ({ AGENT_RELAY_RUNNER_PORT: '1234' }),
    timeline: (event, data) => log.push(`${event} ${JSON.stringify(data)}`),
    onEvent: (event) => events.push(event),
    onUp: () => log.push('up'),
    onDown: () => log.push('down'),
    onGaveUp: (reason) => log.push(`gave up: ${reason}`),
    onError: (error) => errors.push(error),
  });
  return { clock, supervisor, status, providerDeps, depsSeen, launches, sessions, log, errors, events };
}

describe('provider supervision', () => {
  it('checks the version, starts with the launch environment and the given ports, and reports up', async () => {
    const t = setup();
    await t.supervisor.start(undefined);
    expect(t.status.get()).toMatchObject({ state: 'idle', providerVersion: '1.2.3' });
    expect(t.launches).toEqual([{ cwd: '/work', env: { AGENT_RELAY_RUNNER_PORT: '1234' } }]);
    expect(t.depsSeen).toEqual([t.providerDeps, t.providerDeps]);
    expect(t.log).toEqual(['provider.started {"pid":100,"resumed":false}', 'up']);
    t.sessions[0]!.emit({ type: 'warning', message: 'hi' });
    expect(t.events).toEqual([{ type: 'warning', message: 'hi' }]);
  });

  it('restarts an unexpected exit after the policy delay, resuming the named session', async () => {
    const t = setup();
    await t.supervisor.start(undefined);
    t.supervisor.sessionNamed('sess-1');
    t.sessions[0]!.exit({ code: 1, signal: null });
    await t.clock.advanceAsync(0);
    expect(t.supervisor.session).toBeUndefined();
    expect(t.log.slice(2)).toEqual(['down', expect.stringContaining('provider.restart_decision {"action":"restart","delayMs":500')]);
    await t.clock.advanceAsync(499);
    expect(t.sessions).toHaveLength(1);
    await t.clock.advanceAsync(1);
    expect(t.sessions).toHaveLength(2);
    expect(t.launches[1]?.resumeSessionId).toBe('sess-1');
    expect(t.supervisor.session).toBe(t.sessions[1]);
    // Events of the dead session no longer reach the runner.
    t.sessions[0]!.emit({ type: 'warning', message: 'ghost' });
    expect(t.events).toEqual([]);
  });

  it('does not pass a session id to a provider that cannot resume', async () => {
    const t = setup({ resume: false });
    await t.supervisor.start('sess-1');
    expect(t.launches[0]).not.toHaveProperty('resumeSessionId');
  });

  it('gives up past the rapid-exit limit, and parks on a configuration exit code', async () => {
    const t = setup();
    await t.supervisor.start(undefined);
    for (let i = 0; i < 2; i++) {
      t.sessions.at(-1)!.exit({ code: 1, signal: null });
      await t.clock.advanceAsync(10_000);
    }
    t.sessions.at(-1)!.exit({ code: null, signal: 'SIGKILL' });
    await t.clock.advanceAsync(10_000);
    expect(t.sessions).toHaveLength(3);
    expect(t.status.get()).toMatchObject({ state: 'error', detail: expect.stringContaining('giving up') });

    const parked = setup();
    await parked.supervisor.start(undefined);
    parked.sessions[0]!.exit({ code: 78, signal: null });
    await parked.clock.advanceAsync(60_000);
    expect(parked.sessions).toHaveLength(1);
    expect(parked.status.get()).toMatchObject({ state: 'offline', detail: expect.stringContaining('manual recovery') });
  });

  it('a requested restart is an expected exit: no policy restart, the history is forgotten, the session resumed', async () => {
    const t = setup();
    await t.supervisor.start(undefined);
    t.supervisor.sessionNamed('sess-1');
    await t.supervisor.restart();
    await t.clock.advanceAsync(60_000);
    expect(t.sessions).toHaveLength(2);
    expect(t.launches[1]?.resumeSessionId).toBe('sess-1');
    expect(t.log.some((l) => l.includes('"action":"none"'))).toBe(true);
  });

  it('stop() ends the session quietly and cancels a pending restart', async () => {
    const t = setup();
    await t.supervisor.start(undefined);
    t.sessions[0]!.exit({ code: 1, signal: null });
    await t.clock.advanceAsync(0);
    await t.supervisor.stop();
    await t.clock.advanceAsync(60_000);
    expect(t.sessions).toHaveLength(1);
    await t.supervisor.start(undefined);
    expect(t.sessions).toHaveLength(1);
  });

  it('a failed start reports an error status, tells the runner and rejects', async () => {
    const t = setup({ failVersion: true });
    await expect(t.supervisor.start(undefined)).rejects.toBeInstanceOf(ProviderError);
    expect(t.status.get()).toMatchObject({ state: 'error', detail: 'fake is not installed' });
    expect(t.errors.map((e) => e.message)).toEqual(['fake is not installed']);
  });
});
