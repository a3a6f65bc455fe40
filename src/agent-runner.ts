import { EventEmitter } from 'node:events';
import { dirname } from 'node:path';
import type * as TypedEmitterModule from 'typed-emitter';
import type { Clock } from './ports/clock.js';
import { LOG_LEVELS, type Logger, type LogLevel } from './ports/logger.js';
import type { OutboxStore } from './ports/outbox-store.js';
import type { TerminalAttachSpec } from './ports/provider.js';
import type { OutboxStats } from './core/outbox.js';
import type { AgentStatus } from './core/status.js';
import type { RunnerCore, RunnerEvents } from './core/runner.js';
import type { ControlServer } from './control/control-server.js';
import type { MonitorLink } from './control/monitor-auth.js';
import { MonitorFeed } from './control/monitor-feed.js';
import { ClosedError, InvalidArgumentError, RunnerError } from './errors/index.js';
import { describeError } from './shared/describe-error.js';
import { validateSendInput } from './runner-options.js';
import { ensurePrivateDir, writePrivateJson, sweepStaleScratch } from './adapters/runner-files.js';
import { removeRunnerConnection, writeRunnerConnection } from './adapters/runner-registry.js';
import { rm } from 'node:fs/promises';

/**
 * typed-emitter's `TypedEmitter` (a typed view of Node's `EventEmitter`), re-exported under a name
 * because the package's default export cannot be named directly from ESM.
 * @public
 */
export type TypedEmitter<E extends TypedEmitterModule.EventMap> = TypedEmitterModule.default<E>;

/**
 * A running agent on the relay.
 * @public
 */
export interface Runner extends TypedEmitter<RunnerEvents> {
  /**
   * Bring everything up; resolves when registered, connected (or connecting) and the provider runs.
   * A rejected start leaves nothing running and may be called again (e.g. once the relay is back).
   */
  start(): Promise<void>;
  /**
   * Tear down; idempotent; nothing accepted is lost. Closes only what the runner created itself.
   * @remarks The one step that waits on the relay is the last drain of the outbox. `timeoutMs` or
   * an aborted `signal` cuts it short: what the relay has not accepted stays stored and goes out at
   * the next start. The provider's own stop is bounded by its grace period (then SIGKILL to its
   * process group) either way.
   */
  stop(options?: StopOptions): Promise<void>;
  /** The agent's name on the relay (the `name` option). */
  readonly name: string;
  /**
   * Current status (a copy).
   * @remarks The `status` event fires when the status changes — state, subagents, context, session,
   * version, warning or detail — not on every bit of activity: `lastActivityAt` alone moving does
   * not emit (the core's status tracker decides). Read this property for the latest activity time.
   */
  readonly status: AgentStatus;
  /** Relay agent id, once registered. */
  readonly agentId: string | undefined;
  /** Control port URL (`http://127.0.0.1:<port>`), once started. */
  readonly controlUrl: string | undefined;
  /** Whether the relay bus is connected. */
  readonly connected: boolean;
  /**
   * The monitor page's address (`<controlUrl>/monitor`), once started. It carries no secret:
   * a browser gets in through {@link Runner.monitorLink}.
   */
  readonly monitorUrl: string | undefined;
  /**
   * A fresh one-time login link to the monitor page: opening it once sets a session cookie and
   * lands on the page; it stops working after that or after a minute. Throws before `start()`.
   */
  monitorLink(): MonitorLink;
  /** Outbox health (trouble as it happens: the `outbox` event). */
  outboxStats(): Promise<OutboxStats>;
  /** Interrupt the agent's current turn (as the relay's `interrupt` command does). Rejects before `start()`. */
  interrupt(): Promise<void>;
  /** Restart the provider, resuming its session (as the relay's `restart` command does). Rejects before `start()`. */
  restart(): Promise<void>;
  /**
   * How a human attaches to the agent's terminal now (what `GET /terminal` answers): for the
   * interactive Claude provider a read-only `tmux … attach-session -r …` command (unless its
   * `attachReadOnly` is false) that stays valid across restarts; `{ kind: 'none' }` before start,
   * while the provider is down, or for a provider without a terminal.
   */
  terminal(): TerminalAttachSpec;
  /** Change the runner's log level at once (as `POST /log-level` does); an unknown level is an `InvalidArgumentError`. */
  setLogLevel(level: LogLevel): void;
  /** `await using runner = createRunner(…)`: stops the runner when the scope ends. */
  [Symbol.asyncDispose](): Promise<void>;
  /**
   * Send a relay message as the agent (through the outbox).
   * @remarks Rejects with an `InvalidArgumentError` (naming the field) when `to` is empty or longer
   * than 200 characters, `body` is not a string or longer than 256 KiB, or `replyTo` is empty.
   */
  send(input: { to: string; body: string; replyTo?: string }): Promise<{ seq: number }>;
}

/**
 * Options of {@link Runner.stop}.
 * @public
 */
export interface StopOptions {
  /** Stop waiting for the relay to take what the outbox holds after this long. @defaultValue no bound (each request's own timeout) */
  timeoutMs?: number;
  /** Aborting it stops waiting for the relay at once (e.g. a second Ctrl-C). */
  signal?: AbortSignal;
}

/**
 * The parts {@link AgentRunner} runs, composed by `createRunner`.
 * @internal
 */
export interface AgentRunnerParts {
  core: RunnerCore;
  clock: Clock;
  logger: Logger;
  /** Agent name and provider name, for the info file. */
  name: string;
  providerName: string;
  version: string;
  /** The runner's data directory (its scratch dir lives inside). */
  dataDir: string;
  scratchDir: string;
  /** Where the runner info file goes, if anywhere. */
  infoFile: string | undefined;
  /** The control port's token, written to the owner-only connection file so local commands find the runner by name. */
  controlToken: string;
  /** Open the control port (its handlers answer from the core); `monitorBacklog` is what a new monitor client gets first. */
  openControl: (monitorBacklog: () => object[]) => Promise<ControlServer>;
  /** What the runner created and therefore closes on stop; the host closes what it passed in. */
  owned: { store?: OutboxStore; logger?: Logger };
}

const FORWARDED = ['status', 'delivery', 'sent', 'permissions', 'mirror', 'timeline', 'outbox', 'ready', 'error'] as const;
/** What the monitor page shows as it happens. */
const PUBLISHED = ['status', 'delivery', 'sent', 'permissions', 'mirror', 'timeline'] as const;

/**
 * The runner a host holds: starts and stops the core together with its local surroundings (data
 * and scratch directories, the control port, the info file) and re-emits the core's events.
 * @internal
 */
export class AgentRunner extends (EventEmitter as unknown as new () => TypedEmitter<RunnerEvents>) implements Runner {
  readonly #p: AgentRunnerParts;
  readonly #startedAt: number;
  readonly #feed: MonitorFeed;
  #control: ControlServer | undefined;
  #starting: Promise<void> | undefined;
  #stopped = false;

  constructor(parts: AgentRunnerParts) {
    super();
    this.#p = parts;
    this.#startedAt = parts.clock.now();
    for (const event of FORWARDED) {
      parts.core.on(event, (...args: unknown[]) => {
        // An 'error' event without listeners must not crash the host: it is logged already.
        if (event === 'error' && this.listenerCount('error') === 0) return;
        (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
      });
    }
    this.#feed = new MonitorFeed({
      clock: parts.clock,
      logger: parts.logger,
      publish: (event) => this.#control?.publish(event),
      clients: () => this.#control?.monitorClients ?? 0,
      outboxStats: () => parts.core.outbox?.stats(),
      connected: () => parts.core.connected,
      agent: () => ({ name: parts.name, ...(parts.core.agentId ? { agentId: parts.core.agentId } : {}), provider: parts.providerName, version: parts.version }),
    });
    for (const type of PUBLISHED) parts.core.on(type, (payload: unknown) => this.#feed.record(type, payload));
    // The relay forgot the agent and it registered again under a new id: the info file follows.
    parts.core.on('timeline', (entry) => {
      if (entry.event !== 'relay.reregistered') return;
      this.#writeInfo().catch((error: unknown) => parts.logger.error('runner', `could not rewrite the info file: ${String(error)}`));
    });
  }

  /** The agent's name on the relay. */
  get name(): string {
    return this.#p.name;
  }

  /** Current status (a copy). */
  get status(): AgentStatus {
    return this.#p.core.status.get();
  }

  /** Relay agent id, once registered. */
  get agentId(): string | undefined {
    return this.#p.core.agentId;
  }

  /** Control port URL, once started. */
  get controlUrl(): string | undefined {
    return this.#control?.url;
  }

  /** The monitor page's address, once started (no secret in it). */
  get monitorUrl(): string | undefined {
    return this.#control ? `${this.#control.url}/monitor` : undefined;
  }

  /** A fresh one-time login link to the monitor page. */
  monitorLink(): MonitorLink {
    if (!this.#control || this.#stopped) throw new ClosedError('runner (not started)');
    return this.#control.monitorLink();
  }

  /** The control server, once started: providers add their routes to it. @internal */
  get controlServer(): ControlServer | undefined {
    return this.#control;
  }

  /** Control port number, once started (what the provider's hooks get). */
  get controlPort(): number | undefined {
    return this.#control?.port;
  }

  /** Whether the relay bus is connected. */
  get connected(): boolean {
    return this.#p.core.connected;
  }

  /** Bring everything up; concurrent calls share one start; after a failed start, call it again (or `stop()`). */
  start(): Promise<void> {
    if (this.#stopped) return Promise.reject(new ClosedError('runner'));
    // A failed start may be tried again (the relay or the provider may be back by then).
    this.#starting ??= this.#start().catch((error: unknown) => {
      this.#starting = undefined;
      throw error;
    });
    return this.#starting;
  }

  /** Tear down; idempotent. Closes only what the runner created (see docs/embedding.md, "Who owns what"). */
  async stop(options: StopOptions = {}): Promise<void> {
    const { timeoutMs, signal } = options;
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
      throw new InvalidArgumentError(`stop timeoutMs must be a finite number of ms >= 0, got ${String(timeoutMs)}`, { data: { option: 'timeoutMs' } });
    }
    if (this.#stopped) return;
    this.#stopped = true;
    const { clock } = this.#p;
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    let onAbort: (() => void) | undefined;
    const cutoff =
      timeoutMs === undefined && !signal
        ? undefined
        : new Promise<void>((resolve) => {
            if (timeoutMs !== undefined) timer = clock.setTimeout(resolve, timeoutMs);
            onAbort = () => resolve();
            if (signal?.aborted) resolve();
            else signal?.addEventListener('abort', onAbort, { once: true });
          });
    try {
      await this.#starting?.catch(() => {});
      await this.#p.core.stop(cutoff);
    } finally {
      clock.clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
    this.#feed.stop();
    await removeRunnerConnection(this.#p.dataDir).catch(() => {});
    await this.#control?.close().catch(() => {});
    // The provider is gone, so its scratch space goes too (a killed runner's is swept at the next start).
    await rm(this.#p.scratchDir, { recursive: true, force: true }).catch(() => {});
    await this.#closeOwned();
  }

  /** Interrupt the current turn. */
  async interrupt(): Promise<void> {
    this.#requireStarted();
    await this.#p.core.interrupt();
  }

  /** Restart the provider, resuming its session. */
  async restart(): Promise<void> {
    this.#requireStarted();
    await this.#p.core.restartProvider();
  }

  /** How a human attaches to the agent's terminal now. */
  terminal(): TerminalAttachSpec {
    return this.#p.core.attachSpec();
  }

  /** Change the log level now. */
  setLogLevel(level: LogLevel): void {
    if (!(LOG_LEVELS as readonly unknown[]).includes(level)) {
      throw new InvalidArgumentError(`log level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`, { data: { option: 'level' } });
    }
    this.#p.core.setLogLevel(level);
  }

  /** Stops the runner at the end of an `await using` scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #requireStarted(): void {
    if (this.#stopped || !this.#p.core.agentId) throw new ClosedError('runner (not started)');
  }


  /** Outbox health. */
  async outboxStats(): Promise<OutboxStats> {
    const outbox = this.#p.core.outbox;
    if (!outbox) throw new ClosedError('runner (not started)');
    return outbox.stats();
  }

  /** Send a relay message as the agent (through the outbox). */
  send(input: { to: string; body: string; replyTo?: string }): Promise<{ seq: number }> {
    try {
      validateSendInput(input);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#p.core.send(input);
  }

  async #start(): Promise<void> {
    const { core, logger, dataDir, scratchDir, infoFile } = this.#p;
    try {
      await ensurePrivateDir(dataDir);
      const swept = await sweepStaleScratch(dataDir);
      if (swept.length > 0) logger.info('runner', `removed stale scratch dirs: ${swept.join(', ')}`);
      await ensurePrivateDir(scratchDir);
    } catch (error) {
      const errno = (error as NodeJS.ErrnoException).code;
      throw new RunnerError('DATA_DIR', `data directory ${dataDir} is not usable: ${errno ?? describeError(error)}`, { data: { dataDir, ...(errno ? { errno } : {}) }, cause: error });
    }
    const control = await this.#p.openControl(() => this.#feed.backlog());
    this.#control = control;
    this.#feed.start();
    try {
      await core.start();
      if (infoFile) await ensurePrivateDir(dirname(infoFile));
      await this.#writeInfo();
    } catch (error) {
      // Nothing of a failed start keeps running (provider, bus, timers, control port), and a later
      // start() tries again from scratch: the relay or the provider may be back by then. What the
      // runner created itself (its store, its logger) stays open for that retry; stop() closes it.
      await core.abortStart().catch(() => {});
      this.#feed.stop();
      await removeRunnerConnection(dataDir).catch(() => {});
      await control.close().catch(() => {});
      this.#control = undefined;
      throw error;
    }
    logger.info('runner', `ready: agent ${core.agentId}, control ${control.url}`);
  }

  /**
   * The runner info file (when configured) and `runner.json` (how `status --name` and friends find
   * this runner; removed on stop, a dead pid marks it stale): who runs where. Rewritten when the
   * agent id changes.
   */
  async #writeInfo(): Promise<void> {
    const { infoFile, core, dataDir } = this.#p;
    if (!this.#control) return;
    await writeRunnerConnection(dataDir, {
      name: this.#p.name,
      agentId: core.agentId ?? '',
      controlUrl: this.#control.url,
      token: this.#p.controlToken,
      pid: process.pid,
      provider: this.#p.providerName,
      version: this.#p.version,
      startedAt: new Date(this.#startedAt).toISOString(),
    });
    if (!infoFile) return;
    await writePrivateJson(infoFile, {
      name: this.#p.name,
      agentId: core.agentId,
      pid: process.pid,
      port: this.#control.port,
      provider: this.#p.providerName,
      startedAt: new Date(this.#startedAt).toISOString(),
      version: this.#p.version,
    });
  }

  /** The ownership rule: close what the runner created, never what the host passed in. */
  async #closeOwned(): Promise<void> {
    const { owned, logger } = this.#p;
    await owned.store?.close?.().catch((error: unknown) => logger.error('outbox', `closing the store failed: ${String(error)}`));
    await owned.logger?.close?.();
  }
}
