import { RunnerCore, type MirrorEvent } from '../../src/core/runner.js';
import type { Outbox } from '../../src/core/outbox.js';
import type { DeliveryEvent } from '../../src/core/delivery.js';
import { createFakeClock, type FakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import type { ProcessExit, ProcessSpawner } from '../../src/ports/process-spawner.js';
import type { ProviderAdapter, ProviderEvent, ProviderSession, ProviderTurn } from '../../src/ports/provider.js';
import type { RelayHttp, RelayMessage } from '../../src/ports/relay-http.js';
import type { DeliveryJournal, DeliveryNoteState } from '../../src/ports/delivery-journal.js';
import { fakeBus } from './fake-bus.js';

/** A journal kept in memory: survives a "process restart" when the test hands it to the next core. */
export function memoryJournal(initial: Record<string, DeliveryNoteState> = {}): DeliveryJournal & { notes: Record<string, DeliveryNoteState> } {
  const journal = {
    notes: { ...initial },
    load: async () => ({ ...journal.notes }),
    save: async (notes: Readonly<Record<string, DeliveryNoteState>>) => void (journal.notes = { ...notes }),
  };
  return journal;
}

/** A relay message from alice that expects a reply. */
export function relayMessage(id: string, extra: Partial<RelayMessage> = {}): RelayMessage {
  return { id, seq: 1, kind: 'message', from: 'alice', to: 'worker-1', body: `question ${id}`, expectsReply: true, occurredAt: 0, createdAt: 0, attachments: [], ...extra };
}

/** The coordinator on fakes only: no network, no process, time from the fake clock. */
export function coreOnFakes(options: { http?: Partial<RelayHttp>; journal?: DeliveryJournal; clock?: FakeClock; maxRapidExits?: number } = {}) {
  const clock = options.clock ?? createFakeClock();
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
    ...options.http,
  } as unknown as RelayHttp;
  const queued: Array<{ kind: string; payload: Record<string, unknown> }> = [];
  const outbox = {
    // The core listens for delivered / rejected / shed; this fake never emits them.
    on() {
      return outbox;
    },
    off() {
      return outbox;
    },
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
  const busAgents: string[] = [];
  const core = new RunnerCore({
    name: 'worker-1', cwd: '/work', clock, logger, http,
    makeBus: (agentId) => (busAgents.push(agentId), bus),
    makeOutbox: () => outbox,
    provider,
    providerDeps: { spawner: {} as ProcessSpawner, logger, clock },
    providerEnv: () => ({}),
    runnerVersion: '0.0.0',
    exitPolicy: { baseDelayMs: 500, ...(options.maxRapidExits !== undefined ? { maxRapidExits: options.maxRapidExits } : {}) },
    stalledAfterMs: 120_000, heartbeatMs: 30_000, permissionTimeoutMs: 60_000, obligationRefreshMs: 10_000,
    maxAttachmentBytes: 1000,
    saveAttachment: async () => '/cache/file',
    ...(options.journal ? { journal: options.journal } : {}),
  });
  const mirrors: MirrorEvent[] = [];
  const deliveries: DeliveryEvent[] = [];
  core.on('mirror', (m) => mirrors.push(m));
  core.on('delivery', (d) => deliveries.push(d));
  const session = () => sessions.at(-1)!;
  return {
    clock, logger, core, bus, busAgents, sent, calls, queued, turns, sessions, mirrors, deliveries, session,
    message: (id: string, extra: Partial<RelayMessage> = {}) => relayMessage(id, extra),
    /** Push a message on the bus and let delivery run. */
    async push(message: RelayMessage) {
      bus.push('message.new', { type: 'message.new', message });
      await clock.advanceAsync(0);
    },
    /** The provider confirms the last turn written for `messageId`. */
    consume(messageId: string) {
      const turn = [...turns].reverse().find((t) => t.sender?.messageId === messageId);
      session().emit({ type: 'turn.started', deliveryId: turn!.deliveryId });
    },
    reads: () => calls.filter((c) => c.startsWith('read ')),
    replies: () => queued.filter((q) => q.kind === 'message'),
    taskStatuses: () => queued.filter((q) => q.kind === 'task_status').map((q) => q.payload['status']),
  };
}
