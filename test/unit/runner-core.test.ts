import { describe, it, expect } from 'vitest';
import { RunnerCore, type MirrorEvent } from '../../src/core/runner.js';
import type { Outbox } from '../../src/core/outbox.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import type { ProcessExit, ProcessSpawner } from '../../src/ports/process-spawner.js';
import type { ProviderAdapter, ProviderEvent, ProviderSession, ProviderTurn } from '../../src/ports/provider.js';
import type { RelayHttp, RelayMessage } from '../../src/ports/relay-http.js';
import { fakeBus } from '../helpers/fake-bus.js';

/** The coordinator on fakes only: no network, no process, time from the fake clock. */
function setup() {
  const clock = createFakeClock();
  const logger = createMemoryLogger({ level: 'debug' });
  const calls: string[] = [];
  const { bus, sent } = fakeBus();
  const http = {
    register: async () => ({
      token: 'tok-1', tokenExpiresAt: clock.now() + 3600_000,
      agent: { id: 'agent-1', name: 'worker-1', createdAt: 0, lastSeenAt: 0 },
      profile: { features: { relayContext: true, insights: true, sessionMirror: true } },
    }),
    obligations: async () => [],
    pollUnread: async () => [],
    markRead: async (_agentId: string, ids: readonly string[]) => (calls.push(`read ${ids.join(',')}`), ids.length),
  } as unknown as RelayHttp;
  const queued: Array<{ kind: string; payload: Record<string, unknown> }> = [];
  const outbox = {
    start: () => {},
    enqueue: async (event: { kind: string; payload: Record<string, unknown> }) => (queued.push(event), { seq: queued.length, idempotencyKey: `k${queued.length}` }),
    drain: async () => {},
    close: async () => void calls.push('outbox close'),
  } as unknown as Outbox;
  const turns: ProviderTurn[] = [];
  const sessions: Array<{ emit(event: ProviderEvent): void; exit(exit: ProcessExit): void }> = [];
  const provider: ProviderAdapter = {
    name: 'fake',
    capabilities: { structuredInput: true, resume: true, interactive: false, hookDriven: false, midTurnMessages: 'queue' },
    checkVersion: async () => '1.0.0',
    async start(launch) {
      calls.push(`start${launch.resumeSessionId ? ` resume ${launch.resumeSessionId}` : ''}`);
      const listeners = new Set<(event: ProviderEvent) => void>();
      let exit!: (exit: ProcessExit) => void;
      const exited = new Promise<ProcessExit>((r) => (exit = r));
      const session: ProviderSession = {
        pid: 42,
        exited,
        deliver: async (turn) => void turns.push(turn),
        interrupt: async () => {},
        decidePermission: () => {},
        onEvent: (listener) => (listeners.add(listener), () => listeners.delete(listener)),
        attachSpec: () => ({ kind: 'none' }),
        stop: async () => (exit({ code: 0, signal: null }), exited),
      };
      sessions.push({ emit: (event) => listeners.forEach((l) => l(event)), exit });
      return session;
    },
  };
  const core = new RunnerCore({
    name: 'worker-1', cwd: '/work', clock, logger, http,
    makeBus: () => bus,
    makeOutbox: () => outbox,
    provider,
    providerDeps: { spawner: {} as ProcessSpawner, logger, clock },
    providerEnv: () => ({}),
    runnerVersion: '0.0.0',
    exitPolicy: { baseDelayMs: 500 },
    stalledAfterMs: 120_000, heartbeatMs: 30_000, permissionTimeoutMs: 60_000, obligationRefreshMs: 10_000,
    maxAttachmentBytes: 1000,
    saveAttachment: async () => '/cache/file',
  });
  const mirrors: MirrorEvent[] = [];
  core.on('mirror', (m) => mirrors.push(m));
  const message = (id: string): RelayMessage => ({
    id, seq: 1, kind: 'message', from: 'alice', to: 'worker-1', body: `question ${id}`, expectsReply: true, occurredAt: 0, createdAt: 0, attachments: [],
  });
  return { clock, core, bus, sent, calls, queued, turns, sessions, mirrors, message, session: () => sessions.at(-1)! };
}

describe('runner core (the coordinator, on fakes)', () => {
  it('routes a relay message through delivery, the provider and the mirror, and answers once', async () => {
    const t = setup();
    await t.core.start();
    expect({ agentId: t.core.agentId, token: t.core.token }).toEqual({ agentId: 'agent-1', token: 'tok-1' });
    t.bus.push('message.new', { type: 'message.new', message: t.message('m1') });
    await t.clock.advanceAsync(0);
    expect(t.turns).toHaveLength(1);
    t.session().emit({ type: 'session', sessionId: 'sess-1', source: 'startup' });
    t.session().emit({ type: 'turn.started', deliveryId: t.turns[0]!.deliveryId });
    expect(t.core.status.get()).toMatchObject({ state: 'busy', sessionId: 'sess-1' });
    t.session().emit({ type: 'assistant', text: 'four' });
    t.session().emit({ type: 'turn.completed' });
    await t.clock.advanceAsync(0);
    expect(t.mirrors).toEqual([
      { entry: 'prompt', body: 'question m1', replyTo: 'm1' },
      { entry: 'reply', body: 'four', replyTo: 'm1' },
    ]);
    expect(t.calls).toContain('read m1');
    expect(t.core.status.get().state).toBe('idle');
  });

  it('a reply the agent sent itself is not mirrored again', async () => {
    const t = setup();
    await t.core.start();
    t.bus.push('message.new', { type: 'message.new', message: t.message('m1') });
    await t.clock.advanceAsync(0);
    t.session().emit({ type: 'turn.started', deliveryId: t.turns[0]!.deliveryId });
    await t.core.send({ to: 'alice', body: 'four', replyTo: 'm1' });
    t.session().emit({ type: 'turn.completed', finalText: 'four' });
    expect(t.mirrors.map((m) => m.entry)).toEqual(['prompt']);
    expect(t.queued.filter((q) => q.kind === 'message')).toHaveLength(1);
  });

  it('a provider that dies mid-turn gets the turn again after the restart, in the resumed session', async () => {
    const t = setup();
    await t.core.start();
    t.bus.push('message.new', { type: 'message.new', message: t.message('m1') });
    await t.clock.advanceAsync(0);
    t.session().emit({ type: 'session', sessionId: 'sess-1', source: 'startup' });
    t.session().exit({ code: 1, signal: null });
    await t.clock.advanceAsync(500);
    expect(t.calls.filter((c) => c.startsWith('start'))).toEqual(['start', 'start resume sess-1']);
    expect(t.turns.map((turn) => turn.sender?.messageId)).toEqual(['m1', 'm1']);
  });

  it('answers bus commands and stops in order, leaving nothing running', async () => {
    const t = setup();
    await t.core.start();
    t.bus.push('command', { type: 'command', id: 'c1', name: 'stop', args: {} });
    await t.clock.advanceAsync(0);
    expect(t.sent).toContainEqual({ type: 'command.result', id: 'c1', ok: true, result: { stopping: true } });
    expect(t.core.status.get()).toMatchObject({ state: 'offline', detail: 'runner stopped' });
    expect(t.calls.at(-1)).toBe('outbox close');
    expect(t.clock.pendingTimers()).toBe(0);
    await expect(t.core.send({ to: 'alice', body: 'late' })).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(t.core.start()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
