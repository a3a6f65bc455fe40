import type { BusTarget } from '../../src/core/bus-commands.js';
import type { RelayBus, RelayBusEvents, RunnerFrame } from '../../src/ports/relay-bus.js';
import type { PermissionDecision } from '../../src/ports/provider.js';

/** A bus that records what the runner sends and lets the test push frames in. */
export function fakeBus() {
  const listeners = new Map<string, Set<(arg: unknown) => void>>();
  const sent: RunnerFrame[] = [];
  const log: string[] = [];
  const bus: RelayBus & { push<K extends keyof RelayBusEvents>(event: K, arg: Parameters<RelayBusEvents[K]>[0]): void; listeners(): number } = {
    connected: false,
    connect: () => void log.push('connect'),
    send: (frame) => (sent.push(frame), true),
    on(event, listener) {
      const set = listeners.get(event) ?? new Set();
      set.add(listener as (arg: unknown) => void);
      listeners.set(event, set);
      return () => set.delete(listener as (arg: unknown) => void);
    },
    setToken: (token) => void log.push(`token ${token}`),
    reconnect: (reason) => void log.push(`reconnect ${reason}`),
    close: async () => void log.push('close'),
    push: (event, arg) => listeners.get(event)?.forEach((l) => l(arg)),
    listeners: () => [...listeners.values()].reduce((n, s) => n + s.size, 0),
  };
  return { bus, sent, log };
}

/** A bus target that records what each frame asked for. */
export function fakeTarget(overrides: Partial<BusTarget['runner']> = {}) {
  const calls: string[] = [];
  const decisions: Array<[string, PermissionDecision]> = [];
  let session: object | undefined = {};
  const target: BusTarget = {
    runner: {
      stop: async () => void calls.push('stop'),
      interrupt: async () => {
        calls.push('interrupt');
        session = undefined;
      },
      restartProvider: async () => void calls.push('restart'),
      setLogLevel: (level) => void calls.push(`level ${level}`),
      recoverAuth: async () => void calls.push('recoverAuth'),
      ...overrides,
    },
    provider: {
      get session() {
        return session;
      },
      sessionId: 'sess-1',
    },
    permissions: {
      decide: (requestId, decision) => {
        decisions.push([requestId, decision]);
        return requestId === 'waiting';
      },
    },
    inbox: {
      accept: async (message) => void calls.push(`accept ${message.id}`),
      catchUp: async () => void calls.push('catchUp'),
    },
    timeline: (event, data) => void calls.push(`timeline ${event} ${JSON.stringify(data)}`),
  };
  return { target, calls, decisions };
}

