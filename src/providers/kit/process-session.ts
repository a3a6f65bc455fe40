import type { ProcessExit, SpawnedProcess, SpawnRequest } from '../../ports/process-spawner.js';
import type { ProviderDeps, ProviderEvent } from '../../ports/provider.js';
import { isRunnerError, ProviderError } from '../../errors/index.js';
import { describeError } from '../../shared/describe-error.js';
import { EventFanout } from './events.js';
import { parseJsonLine, type Json } from './json.js';
import { COMPONENT, settlesWithin, shorten } from './text.js';


/**
 * Start a provider process in a process group of its own (so `stop()` ends its descendants too);
 * a failure becomes a `ProviderError` saying `what` could not be started.
 */
export async function spawnProviderProcess(deps: ProviderDeps, request: SpawnRequest, what: string): Promise<SpawnedProcess> {
  try {
    return await deps.spawner.spawn({ ...request, processGroup: true });
  } catch (error) {
    throw new ProviderError(`cannot start ${what}: ${describeError(error)}`, {
      data: { command: request.command, cwd: request.cwd, ...(isRunnerError(error) ? { causeCode: error.code } : {}) },
      cause: error,
    });
  }
}

/** How a {@link JsonLinesProcess} reads its child. */
export interface JsonLinesSettings {
  /** Names the process in log lines and warnings, e.g. `'claude'`. */
  who: string;
  /** Events kept while nobody subscribed yet. */
  bufferEvents: number;
  /** How long `stop()` waits after closing stdin before SIGTERM. */
  stopGraceMs: number;
  /** How long after SIGTERM before SIGKILL. */
  killGraceMs: number;
  /** The warning about an untested CLI version, reported first (`topic: 'version'`), if any. */
  startupWarning?: string;
}

/**
 * What a provider plugs into {@link JsonLinesProcess}.
 * @remarks `onMessage` receives every stdout line that is a JSON object; returning a string says the
 * object is not a valid message (it is then reported like an unparseable line).
 */
export interface JsonLinesHandlers {
  onMessage(message: Json, line: string): string | void;
  /** A stderr line; the default logs it at INFO. */
  onStderr?(line: string): void;
  /** The process exited (before `exited` settles): fail what waits on it. */
  onExit?(exit: ProcessExit): void;
}

/**
 * The skeleton of a session with a process that speaks JSON lines on stdio: writes one line per
 * message, reads stdout line by line, never drops output silently (a line that is not a JSON object
 * is logged at WARN with its shortened text, counted, and reported as a `warning` event), fans
 * events out ({@link EventFanout}), records the exit, and stops with escalation: close stdin, wait,
 * SIGTERM, wait, SIGKILL, always to the whole process group.
 */
export class JsonLinesProcess {
  readonly pid: number | undefined;
  /** Settles once the process exited and `onExit` ran (never rejects). */
  readonly exited: Promise<ProcessExit>;
  /** The session's listeners; anything (a control route too) may dispatch into it. */
  readonly events: EventFanout;
  #exit: ProcessExit | undefined;
  #stopping: Promise<ProcessExit> | undefined;
  #unparseable = 0;
  #handlers: JsonLinesHandlers | undefined;

  constructor(
    readonly child: SpawnedProcess,
    readonly deps: ProviderDeps,
    readonly settings: JsonLinesSettings,
  ) {
    this.pid = child.pid;
    this.events = new EventFanout(deps.logger, settings.who, child.pid, settings.bufferEvents);
    if (settings.startupWarning !== undefined) this.events.dispatch({ type: 'warning', message: settings.startupWarning, topic: 'version' });
    this.exited = child.exited.then((exit) => {
      this.#exit = exit;
      this.#handlers?.onExit?.(exit);
      const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
      deps.logger.info(COMPONENT, `${settings.who} (pid ${this.pid}) exited with ${how}`);
      return exit;
    });
  }

  /** Start reading: call once, right after construction, with the provider's handlers. */
  listen(handlers: JsonLinesHandlers): void {
    this.#handlers = handlers;
    this.child.stdout.onLine((line) => this.#onLine(line));
    this.child.stderr.onLine((line) => {
      if (line.trim() === '') return;
      if (handlers.onStderr) handlers.onStderr(line);
      else this.deps.logger.info(COMPONENT, `${this.settings.who} (pid ${this.pid}) stderr: ${shorten(line)}`);
    });
  }

  /** The exit, once the process has exited. */
  get exit(): ProcessExit | undefined {
    return this.#exit;
  }

  /** Whether `stop()` was called. */
  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  /** Whether new work may be written (not exited, not stopping). */
  get running(): boolean {
    return !this.#exit && !this.#stopping;
  }

  /** How many stdout lines could not be read (each was logged and reported). */
  get unparseableLines(): number {
    return this.#unparseable;
  }

  /** Deliver an event to the session's listeners. */
  dispatch(event: ProviderEvent): void {
    this.events.dispatch(event);
  }

  /** Log at WARN and report a `warning` event. */
  warn(message: string): void {
    this.deps.logger.warn(COMPONENT, message);
    this.dispatch({ type: 'warning', message });
  }

  /** Write one message as one line. Rejects with `ProviderError` (saying `what` failed) once stopping or exited. */
  async writeLine(message: Json, what: string): Promise<void> {
    if (!this.running) {
      throw new ProviderError(`cannot ${what}: ${this.settings.who} is ${this.#stopping ? 'stopping' : 'not running'}`, { data: { pid: this.pid } });
    }
    await this.writeRaw(message, what);
  }

  /** Write one line without the running check (answers a protocol still owes while stopping). */
  async writeRaw(message: Json, what: string): Promise<void> {
    try {
      await this.child.write(`${JSON.stringify(message)}\n`);
    } catch (error) {
      throw new ProviderError(`cannot ${what}: ${describeError(error)}`, { data: { pid: this.pid }, cause: error });
    }
  }

  /**
   * Stop: `beforeStop` (e.g. deny open approvals), close stdin (every supported CLI exits then),
   * wait `stopGraceMs`, SIGTERM the group, SIGKILL after `killGraceMs`; then sweep whatever the
   * process left running in its group (also when it had already exited on its own). Idempotent.
   */
  stop(beforeStop?: () => void): Promise<ProcessExit> {
    this.#stopping ??= (async () => {
      const { child, deps, settings } = this;
      if (this.#exit) {
        // Died on its own: what it started may still run in its group.
        await child.kill({ signal: 'SIGTERM', graceMs: settings.killGraceMs }).catch(() => undefined);
        return this.#exit;
      }
      beforeStop?.();
      child.endInput();
      if (!(await settlesWithin(this.exited, settings.stopGraceMs, deps.clock))) {
        deps.logger.warn(COMPONENT, `${settings.who} (pid ${child.pid}) did not exit after stdin closed; sending SIGTERM`);
      }
      // After a clean exit this only reaches descendants still in the group (none, usually).
      await child.kill({ signal: 'SIGTERM', graceMs: settings.killGraceMs });
      return this.exited;
    })();
    return this.#stopping;
  }

  #onLine(line: string): void {
    if (line.trim() === '') return;
    const parsed = parseJsonLine(line);
    if ('error' in parsed) {
      this.#reportUnparseable(parsed.error, line);
      return;
    }
    let problem: string | void;
    try {
      problem = this.#handlers?.onMessage(parsed.value, line);
    } catch (error) {
      problem = `could not handle it: ${describeError(error)}`;
    }
    if (typeof problem === 'string') this.#reportUnparseable(problem, line);
  }

  /** The "never drop output silently" rule, in one place. */
  #reportUnparseable(reason: string, line: string): void {
    this.#unparseable += 1;
    this.warn(`${this.settings.who} (pid ${this.pid}) wrote an unparseable stdout line (${reason}): ${shorten(line)}`);
  }
}
