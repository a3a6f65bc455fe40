import { EventEmitter } from 'node:events';
import { dirname } from 'node:path';
import type * as TypedEmitterModule from 'typed-emitter';
import type { Clock } from './ports/clock.js';
import type { Logger } from './ports/logger.js';
import type { OutboxStore } from './ports/outbox-store.js';
import type { OutboxStats } from './core/outbox.js';
import type { AgentStatus } from './core/status.js';
import type { RunnerCore, RunnerEvents } from './core/runner.js';
import type { ControlServer } from './control/control-server.js';
import { ClosedError } from './errors/index.js';
import { ensurePrivateDir, writePrivateJson, sweepStaleScratch } from './adapters/runner-files.js';

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
  /** Tear down; idempotent; nothing accepted is lost. Closes only what the runner created itself. */
  stop(): Promise<void>;
  /** Current status (a copy). */
  readonly status: AgentStatus;
  /** Relay agent id, once registered. */
  readonly agentId: string | undefined;
  /** Control port URL (`http://127.0.0.1:<port>`), once started. */
  readonly controlUrl: string | undefined;
  /** Whether the relay bus is connected. */
  readonly connected: boolean;
  /** Outbox health. */
  outboxStats(): Promise<OutboxStats>;
  /** Send a relay message as the agent (through the outbox). */
  send(input: { to: string; body: string; replyTo?: string }): Promise<{ seq: number }>;
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
  /** Open the control port (its handlers answer from the core). */
  openControl: () => Promise<ControlServer>;
  /** What the runner created and therefore closes on stop; the host closes what it passed in. */
  owned: { store?: OutboxStore; logger?: Logger };
}

const FORWARDED = ['status', 'delivery', 'mirror', 'timeline', 'ready', 'error'] as const;
const PUBLISHED = ['status', 'delivery', 'mirror', 'timeline'] as const;

/**
 * The runner a host holds: starts and stops the core together with its local surroundings (data
 * and scratch directories, the control port, the info file) and re-emits the core's events.
 * @internal
 */
export class AgentRunner extends (EventEmitter as unknown as new () => TypedEmitter<RunnerEvents>) implements Runner {
  readonly #p: AgentRunnerParts;
  readonly #startedAt: number;
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
    // The relay forgot the agent and it registered again under a new id: the info file follows.
    parts.core.on('timeline', (entry) => {
      if (entry.event !== 'relay.reregistered') return;
      this.#writeInfo().catch((error: unknown) => parts.logger.error('runner', `could not rewrite the info file: ${String(error)}`));
    });
    for (const type of PUBLISHED) {
      parts.core.on(type, (payload: unknown) => this.#control?.publish({ type, [type]: payload }));
    }
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
    this.#starting ??= this.#start();
    return this.#starting;
  }

  /** Tear down; idempotent. Closes only what the runner created (see docs/embedding.md, "Who owns what"). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#starting?.catch(() => {});
    await this.#p.core.stop();
    await this.#control?.close().catch(() => {});
    await this.#closeOwned();
  }

  /** Outbox health. */
  async outboxStats(): Promise<OutboxStats> {
    const outbox = this.#p.core.outbox;
    if (!outbox) throw new ClosedError('runner (not started)');
    return outbox.stats();
  }

  /** Send a relay message as the agent (through the outbox). */
  send(input: { to: string; body: string; replyTo?: string }): Promise<{ seq: number }> {
    return this.#p.core.send(input);
  }

  async #start(): Promise<void> {
    const { core, logger, dataDir, scratchDir, infoFile } = this.#p;
    await ensurePrivateDir(dataDir);
    const swept = await sweepStaleScratch(dataDir);
    if (swept.length > 0) logger.info('runner', `removed stale scratch dirs: ${swept.join(', ')}`);
    await ensurePrivateDir(scratchDir);
    const control = await this.#p.openControl();
    this.#control = control;
    try {
      await core.start();
      if (infoFile) await ensurePrivateDir(dirname(infoFile));
      await this.#writeInfo();
    } catch (error) {
      // Nothing of a failed start keeps running (provider, bus, timers, control port), and a later
      // start() tries again from scratch: the relay or the provider may be back by then. What the
      // runner created itself (its store, its logger) stays open for that retry; stop() closes it.
      await core.abortStart().catch(() => {});
      await control.close().catch(() => {});
      this.#control = undefined;
      this.#starting = undefined;
      throw error;
    }
    logger.info('runner', `ready: agent ${core.agentId}, control ${control.url}`);
  }

  /** The runner info file (when configured): who runs where; rewritten when the agent id changes. */
  async #writeInfo(): Promise<void> {
    const { infoFile, core } = this.#p;
    if (!infoFile || !this.#control) return;
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
