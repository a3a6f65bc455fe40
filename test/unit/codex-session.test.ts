/**
 * The Codex session's turn tracking against a scripted fake `codex app-server` (no process, fake
 * clock): the orderings the real server produces under load, replayed deterministically.
 */
import { describe, expect, it } from 'vitest';
import type { ProcessExit, SpawnedProcess } from '../../src/ports/process-spawner.js';
import type { ProviderEvent, ProviderTurn } from '../../src/ports/provider.js';
import { JsonLinesProcess } from '../../src/providers/kit/process-session.js';
import { CodexSession } from '../../src/providers/codex/session.js';
import { createFakeClock, type FakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger, type MemoryLogger } from '../../src/testing/memory-logger.js';

interface Request {
  id: number;
  method: string;
  params: Record<string, unknown>;
}

/**
 * A fake app-server process: every JSON-RPC request written to its stdin goes to `onRequest`,
 * which answers (or not) by writing lines with `emit`.
 */
class FakeAppServer implements SpawnedProcess {
  readonly pid = 4242;
  readonly requests: Request[] = [];
  readonly #stdout = new Set<(line: string) => void>();
  #exit!: (exit: ProcessExit) => void;
  readonly exited = new Promise<ProcessExit>((resolve) => (this.#exit = resolve));
  readonly stdout = { onLine: (l: (line: string) => void) => (this.#stdout.add(l), () => this.#stdout.delete(l)) };
  readonly stderr = { onLine: () => () => {} };
  onRequest: (request: Request) => void = () => {};

  async write(text: string): Promise<void> {
    for (const line of text.split('\n').filter(Boolean)) {
      const message = JSON.parse(line) as { id?: number; method?: string; params?: Record<string, unknown> };
      if (message.method === undefined || message.id === undefined) continue; // notifications, answers
      const request = { id: message.id, method: message.method, params: message.params ?? {} };
      this.requests.push(request);
      this.onRequest(request);
    }
  }

  emit(message: Record<string, unknown>): void {
    for (const listener of [...this.#stdout]) listener(JSON.stringify(message));
  }

  respond(id: number, result: unknown): void {
    this.emit({ id, result });
  }

  notify(method: string, params: Record<string, unknown>): void {
    this.emit({ method, params });
  }

  endInput(): void {
    this.#exit({ code: 0, signal: null });
  }

  async kill(): Promise<ProcessExit> {
    this.#exit({ code: null, signal: 'SIGTERM' });
    return this.exited;
  }
}

const THREAD = 'thread-1';

/** A whole turn as the server announces it: started, the agent's message, completed. */
function announceTurn(server: FakeAppServer, turnId: string, text: string): void {
  server.notify('turn/started', { threadId: THREAD, turn: { id: turnId, items: [], status: 'inProgress', error: null } });
  server.notify('item/completed', { threadId: THREAD, turnId, item: { type: 'agentMessage', id: `${turnId}-msg`, text } });
  server.notify('turn/completed', { threadId: THREAD, turn: { id: turnId, items: [], status: 'completed', error: null } });
}

async function openSession(): Promise<{ server: FakeAppServer; session: CodexSession; events: ProviderEvent[]; clock: FakeClock; logger: MemoryLogger }> {
  const server = new FakeAppServer();
  const clock = createFakeClock();
  const logger = createMemoryLogger({ level: 'debug' });
  server.onRequest = (r) => {
    if (r.method === 'initialize') server.respond(r.id, { userAgent: 'fake' });
    if (r.method === 'thread/start') server.respond(r.id, { thread: { id: THREAD } });
  };
  const proc = new JsonLinesProcess(server, { spawner: { spawn: () => Promise.resolve(server) }, logger, clock }, { who: 'codex', bufferEvents: 100, stopGraceMs: 100, killGraceMs: 100 });
  const session = new CodexSession(proc, { requestTimeoutMs: 30_000, approvalPolicy: 'never', sandbox: 'read-only' }, '/tmp');
  await session.open(undefined, '1');
  const events: ProviderEvent[] = [];
  session.onEvent((e) => events.push(e));
  await Promise.resolve();
  return { server, session, events, clock, logger };
}

const turn = (deliveryId: string, text: string): ProviderTurn => ({ deliveryId, text, sender: { from: 'alice', messageId: deliveryId, expectsReply: true } });

describe('CodexSession turn tracking (scripted app-server)', () => {
  it('a turn that completes before its turn/start is answered does not block the next message', async () => {
    const { server, session, events, clock } = await openSession();
    // Under load Codex runs the whole (fast) turn before the task that answers turn/start gets
    // to write its response: started, completed, then the answer naming the finished turn.
    server.onRequest = (r) => {
      if (r.method !== 'turn/start') return;
      const turnId = `turn-${server.requests.filter((q) => q.method === 'turn/start').length}`;
      announceTurn(server, turnId, `answer to ${turnId}`);
      server.respond(r.id, { turn: { id: turnId, items: [], status: 'inProgress', error: null } });
    };
    await session.deliver(turn('d1', 'first'));
    await clock.advanceAsync(1);
    expect(events.filter((e) => e.type.startsWith('turn.'))).toEqual([
      { type: 'turn.started', turnId: 'turn-1', deliveryId: 'd1' },
      { type: 'turn.completed', turnId: 'turn-1', finalText: 'answer to turn-1' },
    ]);

    // The thread is idle: the next message must start a turn of its own, not wait forever
    // behind a turn that already ended.
    await session.deliver(turn('d2', 'second'));
    await clock.advanceAsync(1);
    expect(server.requests.filter((r) => r.method === 'turn/start')).toHaveLength(2);
    expect(events.filter((e) => e.type === 'turn.started')).toEqual([
      { type: 'turn.started', turnId: 'turn-1', deliveryId: 'd1' },
      { type: 'turn.started', turnId: 'turn-2', deliveryId: 'd2' },
    ]);
  });

  it('a message queued while the early-finishing turn was starting is started once its answer arrives', async () => {
    const { server, session, events, clock } = await openSession();
    let answerFirst: (() => void) | undefined;
    server.onRequest = (r) => {
      if (r.method !== 'turn/start') return;
      const n = server.requests.filter((q) => q.method === 'turn/start').length;
      const turnId = `turn-${n}`;
      if (n === 1) {
        // The turn runs and ends while its turn/start answer is still on its way.
        announceTurn(server, turnId, 'one');
        answerFirst = () => server.respond(r.id, { turn: { id: turnId, items: [], status: 'inProgress', error: null } });
        return;
      }
      server.respond(r.id, { turn: { id: turnId, items: [], status: 'inProgress', error: null } });
      announceTurn(server, turnId, 'two');
    };
    const first = session.deliver(turn('d1', 'first'));
    // d2 arrives while d1's turn/start is unanswered: the adapter holds it.
    await session.deliver(turn('d2', 'second'));
    expect(server.requests.filter((r) => r.method === 'turn/start')).toHaveLength(1);
    answerFirst?.();
    await first;
    await clock.advanceAsync(1);
    await clock.advanceAsync(1);
    expect(server.requests.filter((r) => r.method === 'turn/start')).toHaveLength(2);
    expect(events.filter((e) => e.type === 'turn.completed').map((e) => (e as { finalText?: string }).finalText)).toEqual(['one', 'two']);
    expect(events.filter((e) => e.type === 'turn.started').map((e) => (e as { deliveryId?: string }).deliveryId)).toEqual(['d1', 'd2']);
  });

  it('the usual order (answer, started, completed) still tracks one turn at a time', async () => {
    const { server, session, events, clock } = await openSession();
    const pending: Array<() => void> = [];
    server.onRequest = (r) => {
      if (r.method !== 'turn/start') return;
      const turnId = `turn-${server.requests.filter((q) => q.method === 'turn/start').length}`;
      server.respond(r.id, { turn: { id: turnId, items: [], status: 'inProgress', error: null } });
      pending.push(() => announceTurn(server, turnId, `answer to ${turnId}`));
    };
    await session.deliver(turn('d1', 'first'));
    await clock.advanceAsync(1);
    // Mid-turn: the second message waits in the adapter (queued, not steered).
    await session.deliver(turn('d2', 'second'));
    expect(server.requests.filter((r) => r.method === 'turn/start')).toHaveLength(1);
    pending.shift()?.();
    await clock.advanceAsync(1);
    expect(server.requests.filter((r) => r.method === 'turn/start')).toHaveLength(2);
    pending.shift()?.();
    await clock.advanceAsync(1);
    expect(events.filter((e) => e.type === 'turn.started').map((e) => (e as { deliveryId?: string }).deliveryId)).toEqual(['d1', 'd2']);
    expect(events.filter((e) => e.type === 'turn.completed')).toHaveLength(2);
  });

  it('an answer naming a turn that had already ended does not block the next message, and says so', async () => {
    const { server, session, events, clock } = await openSession();
    server.onRequest = (r) => {
      if (r.method !== 'turn/start') return;
      const n = server.requests.filter((q) => q.method === 'turn/start').length;
      if (n === 2) {
        // Steered into the finished first turn: its id again, and no notifications.
        server.respond(r.id, { turn: { id: 'turn-1', items: [], status: 'inProgress', error: null } });
        return;
      }
      server.respond(r.id, { turn: { id: `turn-${n}`, items: [], status: 'inProgress', error: null } });
      announceTurn(server, `turn-${n}`, `answer ${n}`);
    };
    await session.deliver(turn('d1', 'first'));
    await clock.advanceAsync(1);
    await session.deliver(turn('d2', 'second'));
    await clock.advanceAsync(1);
    expect(events.some((e) => e.type === 'warning' && /with turn turn-1, which had already completed/.test(e.message))).toBe(true);
    await session.deliver(turn('d3', 'third'));
    await clock.advanceAsync(1);
    expect(server.requests.filter((r) => r.method === 'turn/start')).toHaveLength(3);
    expect(events.filter((e) => e.type === 'turn.started').map((e) => (e as { deliveryId?: string }).deliveryId)).toEqual(['d1', 'd3']);
  });
});

