import type { ConformanceTestApi } from './clock.js';
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { createSystemClock } from '../../adapters/system-clock.js';
import { isRunnerError } from '../../errors/index.js';
import type { ProcessExit } from '../../ports/process-spawner.js';
import type { ProviderAdapter, ProviderDeps, ProviderEvent, ProviderLaunch, ProviderSession } from '../../ports/provider.js';

/**
 * What a conformance run needs for one test: a fresh adapter, its ports, a launch, and two turn
 * texts the provider is scripted to answer.
 * @public
 */
export interface ProviderConformanceSetup {
  /** The adapter under test. */
  adapter: ProviderAdapter;
  /** Ports for `checkVersion` and `start` (use a real spawner: the suite kills processes for real). */
  deps: ProviderDeps;
  /** How to launch a session (cwd, env, …). */
  launch: ProviderLaunch;
  /** A turn the provider answers promptly with a final reply. */
  quickTurnText: string;
  /** A turn that keeps the provider busy for several seconds, so it can be interrupted. */
  slowTurnText: string;
  /** Release what the factory created (temp dirs, fake model servers). Called after every test. */
  cleanup?(): Promise<void>;
}

export type { ConformanceTestApi } from './clock.js';

/**
 * Options of {@link runProviderConformance}.
 * @public
 */
export interface ProviderConformanceOptions {
  /**
   * How long the suite waits for any one expected event or exit.
   * @defaultValue 15000
   */
  timeoutMs?: number;
}

const EVENT_TYPES: ReadonlySet<string> = new Set([
  'session',
  'turn.started',
  'reasoning',
  'tool',
  'assistant',
  'turn.completed',
  'usage',
  'subagent',
  'permission',
  'version',
  'warning',
]);

/** Records a session's events and waits for the ones a test expects. */
class EventRecorder {
  readonly events: ProviderEvent[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly unsubscribe: () => void;

  constructor(session: ProviderSession) {
    this.unsubscribe = session.onEvent((event) => {
      this.events.push(event);
      for (const wake of [...this.waiters]) wake();
    });
  }

  /** Resolve with the index of the first event at or after `from` matching `predicate`. */
  waitFor(predicate: (event: ProviderEvent) => boolean, what: string, timeoutMs: number, from = 0): Promise<number> {
    const clock = createSystemClock();
    return new Promise<number>((resolve, reject) => {
      const check = () => {
        const index = this.events.findIndex((event, i) => i >= from && predicate(event));
        if (index < 0) return;
        finish();
        resolve(index);
      };
      const timer = clock.setTimeout(() => {
        finish();
        const seen = this.events.map((e) => e.type).join(', ') || 'none';
        reject(new assert.AssertionError({ message: `timed out after ${timeoutMs} ms waiting for ${what}; events seen: ${seen}` }));
      }, timeoutMs);
      const finish = () => {
        clock.clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  close(): void {
    this.unsubscribe();
  }
}

async function within<T>(promise: Promise<T>, what: string, timeoutMs: number): Promise<T> {
  const clock = createSystemClock();
  let timer: ReturnType<typeof clock.setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(
      () => reject(new assert.AssertionError({ message: `timed out after ${timeoutMs} ms waiting for ${what}` })),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clock.clearTimeout(timer);
  }
}

function assertExitShape(exit: ProcessExit): void {
  assert.ok(exit.code === null || Number.isInteger(exit.code), 'exit.code is an integer or null');
  assert.ok(exit.signal === null || typeof exit.signal === 'string', 'exit.signal is a string or null');
}

/**
 * The contract every {@link ProviderAdapter} must honour, as a framework-agnostic test suite.
 * @remarks Call it at the top level of a test file with your framework's `describe` and `it`
 * (`runProviderConformance('demo', factory, { describe, it })`). Each test calls `factory` for a
 * fresh setup, starts its own session and stops it afterwards. Assertions use `node:assert/strict`.
 * Raise your framework's per-test timeout above `timeoutMs` for slow providers. Every turn's
 * `turn.started` and `turn.completed` must carry the same, per-turn `turnId` (an adapter whose CLI
 * has no turn ids makes its own): the suite has no exemption.
 * @public
 */
export function runProviderConformance(
  name: string,
  factory: () => Promise<ProviderConformanceSetup>,
  api: ConformanceTestApi,
  options: ProviderConformanceOptions = {},
): void {
  const { describe, it } = api;
  const timeoutMs = options.timeoutMs ?? 15_000;

  /** Run `body` with a fresh setup (and a started session, unless `startSession` is false), cleaning up after. */
  const withSession = async (
    body: (ctx: { setup: ProviderConformanceSetup; session: ProviderSession; recorder: EventRecorder }) => Promise<void>,
  ): Promise<void> => {
    const setup = await factory();
    let session: ProviderSession | undefined;
    let recorder: EventRecorder | undefined;
    try {
      session = await within(setup.adapter.start(setup.launch, setup.deps), 'start()', timeoutMs);
      recorder = new EventRecorder(session);
      await body({ setup, session, recorder });
    } finally {
      recorder?.close();
      if (session) await within(session.stop(), 'stop() in cleanup', timeoutMs * 2).catch(() => undefined);
      await setup.cleanup?.();
    }
  };

  /** Deliver a turn and wait for its non-interrupted completion; returns the events' index range. */
  const completeTurn = async (
    session: ProviderSession,
    recorder: EventRecorder,
    text: string,
  ): Promise<{ deliveryId: string; started: number; completed: number }> => {
    const deliveryId = `conformance-${randomUUID()}`;
    const from = recorder.events.length;
    await within(session.deliver({ deliveryId, text }), 'deliver()', timeoutMs);
    const started = await recorder.waitFor(
      (e) => e.type === 'turn.started' && e.deliveryId === deliveryId,
      `turn.started with deliveryId ${deliveryId}`,
      timeoutMs,
      from,
    );
    const completed = await recorder.waitFor(
      (e) => e.type === 'turn.completed' && e.interrupted !== true,
      'turn.completed',
      timeoutMs,
      started,
    );
    return { deliveryId, started, completed };
  };

  describe(`ProviderAdapter conformance: ${name}`, () => {
    it('declares a name and well-formed capabilities', async () => {
      const setup = await factory();
      try {
        const { adapter } = setup;
        assert.equal(typeof adapter.name, 'string');
        assert.ok(adapter.name.length > 0, 'name is not empty');
        const caps = adapter.capabilities;
        for (const key of ['structuredInput', 'resume', 'interactive', 'hookDriven'] as const) {
          assert.equal(typeof caps[key], 'boolean', `capabilities.${key} is a boolean`);
        }
        assert.ok(caps.midTurnMessages === 'queue' || caps.midTurnMessages === 'steer', 'midTurnMessages is queue or steer');
      } finally {
        await setup.cleanup?.();
      }
    });

    it('checkVersion resolves a non-empty version string', async () => {
      const setup = await factory();
      try {
        const version = await within(setup.adapter.checkVersion(setup.deps), 'checkVersion()', timeoutMs);
        assert.equal(typeof version, 'string');
        assert.ok(version.trim().length > 0, 'version is not empty');
      } finally {
        await setup.cleanup?.();
      }
    });

    it('start resolves a running session with a pid and an attach spec', async () => {
      await withSession(async ({ setup, session }) => {
        assert.ok(typeof session.pid === 'number' && session.pid > 0, 'pid is a positive number');
        const spec = session.attachSpec();
        assert.ok(['tmux', 'pty', 'none'].includes(spec.kind), `attach kind ${spec.kind} is known`);
        if (!setup.adapter.capabilities.interactive) assert.equal(spec.kind, 'none', 'a non-interactive provider has no terminal');
        let settled = false;
        void session.exited.then(() => {
          settled = true;
        });
        await Promise.resolve();
        assert.equal(settled, false, 'exited is pending while the provider runs');
      });
    });

    it('deliver → turn.started with the same deliveryId, then assistant and turn.completed', async () => {
      await withSession(async ({ setup, session, recorder }) => {
        const { started, completed } = await completeTurn(session, recorder, setup.quickTurnText);
        const startEvent = recorder.events[started];
        const endEvent = recorder.events[completed];
        assert.ok(startEvent?.type === 'turn.started' && endEvent?.type === 'turn.completed');
        const assistantAt = recorder.events.findIndex((e, i) => i > started && i < completed && e.type === 'assistant');
        assert.ok(assistantAt > started, 'an assistant event comes between turn.started and turn.completed');
        // Every adapter names its turns (the CLI's id, or its own): no adapter is exempt.
        assert.ok(typeof startEvent.turnId === 'string' && startEvent.turnId !== '', 'turn.started carries a turnId');
        assert.equal(endEvent.turnId, startEvent.turnId, 'turn.completed names the turn that started');
        for (const event of recorder.events) assert.ok(EVENT_TYPES.has(event.type), `event type ${event.type} is known`);
      });
    });

    it('answers two turns in a row', async () => {
      await withSession(async ({ setup, session, recorder }) => {
        const first = await completeTurn(session, recorder, setup.quickTurnText);
        const second = await completeTurn(session, recorder, setup.quickTurnText);
        assert.notEqual(first.deliveryId, second.deliveryId);
        assert.ok(second.started > first.completed, 'the second turn starts after the first completed');
        const turnIdAt = (i: number) => (recorder.events[i] as { turnId?: string } | undefined)?.turnId;
        assert.notEqual(turnIdAt(second.started), turnIdAt(first.started), 'each turn has its own turnId');
        assert.equal(turnIdAt(second.completed), turnIdAt(second.started), 'the second turn.completed names the second turn');
      });
    });

    it('interrupt ends the running turn with turn.completed { interrupted: true } and the session keeps working', async () => {
      await withSession(async ({ setup, session, recorder }) => {
        const deliveryId = `conformance-${randomUUID()}`;
        await session.deliver({ deliveryId, text: setup.slowTurnText });
        const started = await recorder.waitFor(
          (e) => e.type === 'turn.started' && e.deliveryId === deliveryId,
          'turn.started of the slow turn',
          timeoutMs,
        );
        await within(session.interrupt(), 'interrupt()', timeoutMs);
        const completed = await recorder.waitFor((e) => e.type === 'turn.completed', 'turn.completed after interrupt', timeoutMs, started);
        const end = recorder.events[completed];
        assert.ok(end?.type === 'turn.completed' && end.interrupted === true, 'the interrupted turn says interrupted: true');
        const startedEvent = recorder.events[started];
        assert.equal(end.turnId, startedEvent?.type === 'turn.started' ? startedEvent.turnId : undefined, 'the interrupted turn.completed names the slow turn');
        await completeTurn(session, recorder, setup.quickTurnText);
      });
    });

    it('decidePermission with an unknown request id is ignored', async () => {
      await withSession(async ({ setup, session, recorder }) => {
        assert.doesNotThrow(() => session.decidePermission(`unknown-${randomUUID()}`, { behavior: 'allow' }));
        assert.doesNotThrow(() => session.decidePermission(`unknown-${randomUUID()}`, { behavior: 'deny', message: 'no' }));
        await completeTurn(session, recorder, setup.quickTurnText);
      });
    });

    it('onEvent returns an unsubscribe that stops only that listener', async () => {
      await withSession(async ({ setup, session, recorder }) => {
        const removed: ProviderEvent[] = [];
        const kept: ProviderEvent[] = [];
        const unsubscribe = session.onEvent((e) => removed.push(e));
        const unsubscribeKept = session.onEvent((e) => kept.push(e));
        try {
          unsubscribe();
          unsubscribe(); // a second call is harmless
          await completeTurn(session, recorder, setup.quickTurnText);
          assert.equal(removed.length, 0, 'the unsubscribed listener received nothing');
          assert.ok(kept.some((e) => e.type === 'turn.completed'), 'the other listener still receives events');
        } finally {
          unsubscribeKept();
        }
      });
    });

    it('stop resolves with the exit, exited settles with the same, and stop is idempotent', async () => {
      await withSession(async ({ session }) => {
        const exit = await within(session.stop(), 'stop()', timeoutMs * 2);
        assertExitShape(exit);
        assert.deepEqual(await within(session.exited, 'exited after stop()', timeoutMs), exit);
        assert.deepEqual(await within(session.stop(), 'a second stop()', timeoutMs), exit);
      });
    });

    it('deliver after stop rejects with a RunnerError; interrupt and decidePermission do not throw', async () => {
      await withSession(async ({ session }) => {
        await within(session.stop(), 'stop()', timeoutMs * 2);
        await assert.rejects(session.deliver({ deliveryId: `late-${randomUUID()}`, text: 'too late' }), (error: unknown) => {
          assert.ok(isRunnerError(error), `deliver after stop rejects with a RunnerError, got ${String(error)}`);
          return true;
        });
        await within(session.interrupt(), 'interrupt() after stop', timeoutMs);
        assert.doesNotThrow(() => session.decidePermission('late', { behavior: 'allow' }));
      });
    });

    it('exited settles when the process is killed from outside', async () => {
      await withSession(async ({ session }) => {
        const pid = session.pid;
        assert.ok(typeof pid === 'number');
        process.kill(pid, 'SIGKILL');
        const exit = await within(session.exited, 'exited after SIGKILL', timeoutMs);
        assertExitShape(exit);
        assert.ok(exit.signal === 'SIGKILL' || (exit.code !== null && exit.code !== 0), 'the exit reports the kill');
        assert.deepEqual(await within(session.stop(), 'stop() after the process died', timeoutMs), exit);
      });
    });
  });
}
