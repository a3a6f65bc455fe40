import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { ProcessExit, SpawnedProcess } from '../ports/process-spawner.js';
import type { ProviderEvent } from '../ports/provider.js';
import { describeError } from '../shared/describe-error.js';

// Internal helpers shared by the child-process provider adapters (demo, claude-code, codex).
// Nothing here is part of the public API; protocol-specific code stays in each adapter.

/** Log component of every provider adapter. */
export const COMPONENT = 'provider';
const SHOWN_LINE_CHARS = 500;

/** Cut a line shown in a log or warning to `max` characters. */
export function shorten(text: string, max = SHOWN_LINE_CHARS): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The message of an error, or its string form. */

/** Resolves `true` if `promise` settles within `ms`, else `false`; the timer never outlives the race. */
export async function settlesWithin(promise: Promise<unknown>, ms: number, clock: Clock): Promise<boolean> {
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = clock.setTimeout(() => resolve(false), ms).unref();
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clock.clearTimeout(timer);
  }
}

/**
 * Fans provider events out to listeners, buffering them until the first subscriber: `start()`
 * resolves before the runner can subscribe, and the startup `session` event must not be missed.
 */
export class EventFanout {
  readonly #listeners = new Set<(event: ProviderEvent) => void>();
  #backlog: ProviderEvent[] | undefined = [];
  #replayScheduled = false;

  /** `who` names the process in log lines (e.g. `'codex'`); `bufferEvents` bounds the backlog. */
  constructor(
    private readonly logger: Logger,
    private readonly who: string,
    private readonly pid: number | undefined,
    private readonly bufferEvents: number,
  ) {}

  /** Deliver one event to every listener, or keep it while nobody subscribed yet. */
  dispatch(event: ProviderEvent): void {
    if (this.#backlog) {
      this.#backlog.push(event);
      if (this.#backlog.length > this.bufferEvents) {
        this.#backlog.shift();
        this.logger.warn(COMPONENT, `${this.who} (pid ${this.pid}): nobody subscribed to events; dropped the oldest buffered event`);
      }
      return;
    }
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error(COMPONENT, `${this.who} event listener threw on ${event.type}: ${describeError(error)}`);
      }
    }
  }

  /** Add a listener (the `onEvent` of a session); returns its unsubscribe function. */
  subscribe(listener: (event: ProviderEvent) => void): () => void {
    this.#listeners.add(listener);
    if (this.#backlog && !this.#replayScheduled) {
      // Replay after onEvent returns (a microtask, before any further I/O); events that arrive
      // meanwhile join the backlog, so order is kept.
      this.#replayScheduled = true;
      queueMicrotask(() => {
        this.#replayScheduled = false;
        // Unsubscribed already: keep the backlog for the next subscriber.
        if (this.#listeners.size === 0) return;
        const pending = this.#backlog ?? [];
        this.#backlog = undefined;
        for (const event of pending) this.dispatch(event);
      });
    }
    return () => {
      this.#listeners.delete(listener);
    };
  }
}

/** Grace periods of the stop sequence. */
export interface StopGrace {
  /** How long to wait after closing stdin before SIGTERM. */
  stopGraceMs: number;
  /** How long to wait after SIGTERM before SIGKILL. */
  killGraceMs: number;
}

/**
 * Stop a provider process: close stdin (every supported CLI exits cleanly then), wait
 * `stopGraceMs`, then SIGTERM and, after `killGraceMs`, SIGKILL (the spawner's kill escalates).
 */
export async function stopChild(
  child: SpawnedProcess,
  exited: Promise<ProcessExit>,
  grace: StopGrace,
  deps: { clock: Clock; logger: Logger },
  who: string,
): Promise<ProcessExit> {
  child.endInput();
  if (await settlesWithin(exited, grace.stopGraceMs, deps.clock)) return exited;
  deps.logger.warn(COMPONENT, `${who} (pid ${child.pid}) did not exit after stdin closed; sending SIGTERM`);
  await child.kill({ signal: 'SIGTERM', graceMs: grace.killGraceMs });
  return exited;
}

/** Outcome of {@link probeVersion}. */
export type VersionProbe =
  | { kind: 'ok'; version: string }
  | { kind: 'timeout' }
  | { kind: 'failed'; exit: ProcessExit; detail: string };

/**
 * Wait for a spawned `--version` process and find the first `x.y.z` in its stdout. A process that
 * does not answer within `timeoutMs` is killed (SIGKILL) and reported as `timeout`.
 */
export async function probeVersion(child: SpawnedProcess, timeoutMs: number, clock: Clock): Promise<VersionProbe> {
  const out: string[] = [];
  const err: string[] = [];
  child.stdout.onLine((line) => out.push(line));
  child.stderr.onLine((line) => err.push(line));
  if (!(await settlesWithin(child.exited, timeoutMs, clock))) {
    await child.kill({ signal: 'SIGKILL' });
    return { kind: 'timeout' };
  }
  const exit = await child.exited;
  const match = /(\d+\.\d+\.\d+\S*)/.exec(out.join('\n'));
  if (exit.code !== 0 || !match?.[1]) {
    return { kind: 'failed', exit, detail: shorten(err.join(' ').trim() || out.join(' ').trim() || 'no output') };
  }
  return { kind: 'ok', version: match[1] };
}
