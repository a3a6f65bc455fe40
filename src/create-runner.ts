import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { readFileSync } from 'node:fs';
import type * as TypedEmitterModule from 'typed-emitter';
import type { Clock } from './ports/clock.js';
import type { Logger } from './ports/logger.js';
import type { OutboxStore } from './ports/outbox-store.js';
import type { ProcessSpawner } from './ports/process-spawner.js';
import type { ProviderAdapter } from './ports/provider.js';
import type { RelayHttp, TokenGrant } from './ports/relay-http.js';
import type { RelayBus } from './ports/relay-bus.js';
import type { OutboxPolicy, OutboxStats } from './core/outbox.js';
import type { ExitPolicyOptions } from './core/exit-policy.js';
import type { AgentStatus } from './core/status.js';
import { createOutbox } from './core/outbox.js';
import { RunnerCore, type RunnerEvents } from './core/runner.js';
import { parseWorkspaceJson } from './core/turns.js';
import { ClosedError, InvalidArgumentError } from './errors/index.js';
import { createSystemClock } from './adapters/system-clock.js';
import { createFileLogger, safeFileName } from './adapters/tslog-logger.js';
import { createChildProcessSpawner } from './adapters/child-process-spawner.js';
import { createSqlJsOutboxStore } from './adapters/sqljs-outbox-store/index.js';
import { createFetchRelayHttp } from './adapters/fetch-relay-http.js';
import { createWsRelayBus } from './adapters/ws-relay-bus.js';
import { createRelayOutboxSend } from './adapters/relay-outbox-send.js';
import { ensurePrivateDir, writePrivateJson, sweepStaleScratch, saveAttachmentFile } from './adapters/runner-files.js';
import { createControlServer, type ControlServer } from './control/control-server.js';
import { controlHandlersFor } from './control-bridge.js';

/**
 * typed-emitter's `TypedEmitter` (a typed view of Node's `EventEmitter`), re-exported under a name
 * because the package's default export cannot be named directly from ESM.
 * @public
 */
export type TypedEmitter<E extends TypedEmitterModule.EventMap> = TypedEmitterModule.default<E>;

/**
 * Options of {@link createRunner}. Every port can be passed in; anything left out gets the
 * default adapter, resolved in one place (here).
 * @public
 */
export interface RunnerOptions {
  /** Agent name on the relay (1–64 characters of `[A-Za-z0-9_.-]`). */
  name: string;
  /** The provider to run (`createDemoProvider()`, or your own `ProviderAdapter`). */
  provider: ProviderAdapter;
  /** Relay base URL, e.g. `http://127.0.0.1:4000`. Required unless both `http` and `bus` are given. */
  relayUrl?: string;
  /** Workspace API key used to register (and to re-register after a refused renewal). A secret. */
  apiKey?: string;
  /** Working directory of the agent. @defaultValue process.cwd() */
  cwd?: string;
  /** Where the runner keeps its outbox, scratch and attachment cache. @defaultValue `~/.agent-relay/runners/<name>` */
  dataDir?: string;
  /** Where the per-agent log file goes. @defaultValue `~/.agent-relay/logs` */
  logDir?: string;
  /** Environment read for `AGENT_RELAY_*` settings and passed to the provider. @defaultValue process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** First turn delivered after start, if any. */
  initialPrompt?: string;
  /** Control port bind. @defaultValue `{ host: '127.0.0.1', port: 0 }` and a random token */
  control?: { port?: number; token?: string };
  /** Runner info file. @defaultValue `AGENT_RELAY_RUNNER_INFO_FILE`, else none */
  infoFile?: string;
  /** Outbox delivery policy. */
  outbox?: OutboxPolicy;
  /** Provider exit policy. */
  exitPolicy?: ExitPolicyOptions;
  /** Busy with no activity for this long shows `stalled`. @defaultValue 120000 */
  stalledAfterMs?: number;
  /** HTTP heartbeat period while the bus is down. @defaultValue 30000 */
  heartbeatMs?: number;
  /** How long a permission request waits for the relay. @defaultValue 60000 */
  permissionTimeoutMs?: number;
  /** Background refresh of the obligation snapshot. @defaultValue 10000 */
  obligationRefreshMs?: number;
  /** Largest attachment downloaded. @defaultValue 25 MiB */
  maxAttachmentBytes?: number;
  /** Port: time. @defaultValue the system clock */
  clock?: Clock;
  /** Port: logging. @defaultValue a file logger for this agent */
  logger?: Logger;
  /** Port: outbox storage. @defaultValue sql.js at `<dataDir>/outbox.sqlite` */
  store?: OutboxStore;
  /** Port: the relay's HTTP API. @defaultValue `createFetchRelayHttp` on `relayUrl` */
  http?: RelayHttp;
  /** Port: the relay bus, built once the agent id and token are known. @defaultValue `createWsRelayBus` */
  bus?: (agentId: string, token: string) => RelayBus;
  /** Port: child processes. @defaultValue `createChildProcessSpawner()` */
  spawner?: ProcessSpawner;
  /** A `fetch` for the default HTTP adapter (e.g. Electron's `net.fetch`). @defaultValue cross-fetch */
  fetch?: typeof globalThis.fetch;
}

/**
 * A running agent on the relay.
 * @public
 */
export interface Runner extends TypedEmitter<RunnerEvents> {
  /** Bring everything up; resolves when registered, connected (or connecting) and the provider runs. */
  start(): Promise<void>;
  /** Tear down; idempotent; nothing accepted is lost. */
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

/** The package version, read once from package.json. */
export const RUNNER_VERSION: string = readPackageVersion();

/**
 * Create a runner: the composition root. Fills in default adapters for every port the host did
 * not pass, builds the core, and wires the control port.
 * @public
 */
export function createRunner(options: RunnerOptions): Runner {
  validateOptions(options);
  const env = options.env ?? process.env;
  const clock = options.clock ?? createSystemClock();
  const safeName = safeFileName(options.name);
  const dataDir = options.dataDir ?? join(homedir(), '.agent-relay', 'runners', safeName);
  const logger =
    options.logger ?? createFileLogger({ agentId: options.name, env, clock, ...(options.logDir ? { logDir: options.logDir } : {}) });
  const controlToken = options.control?.token ?? randomBytes(24).toString('hex');
  logger.addSecret?.(controlToken);
  if (options.apiKey) logger.addSecret?.(options.apiKey);

  let token: string | undefined;
  const tokens = {
    set(grant: TokenGrant) {
      token = grant.token;
      logger.addSecret?.(grant.token);
    },
  };
  const http =
    options.http ??
    createFetchRelayHttp({
      baseUrl: options.relayUrl as string,
      token: () => token,
      clock,
      ...(options.apiKey ? { apiKey: () => options.apiKey } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  const makeBus =
    options.bus ??
    ((agentId: string, initial: string) =>
      createWsRelayBus({ url: toWsUrl(options.relayUrl as string), agentId, token: () => token ?? initial, clock, logger }));
  const store = options.store ?? createSqlJsOutboxStore({ path: join(dataDir, 'outbox.sqlite'), logger, clock });
  const spawner = options.spawner ?? createChildProcessSpawner({ clock });
  const workspace = parseWorkspaceJson(env.AGENT_RELAY_WORKSPACE_JSON);
  if (workspace.error) logger.warn('runner', workspace.error);

  let control: ControlServer | undefined;
  const scratchDir = join(dataDir, `scratch-${process.pid}`);
  const infoFile = options.infoFile ?? env.AGENT_RELAY_RUNNER_INFO_FILE;
  const maxAttachmentBytes = options.maxAttachmentBytes ?? 25 * 1024 * 1024;

  const core: RunnerCore = new RunnerCore({
    name: options.name,
    cwd: options.cwd ?? process.cwd(),
    clock,
    logger,
    http,
    makeBus,
    makeOutbox: (agentId) =>
      createOutbox({
        store,
        send: createRelayOutboxSend(http),
        clock,
        logger,
        agentId,
        onAuthFailure: () => core.recoverAuth(),
        ...options.outbox,
      }),
    provider: options.provider,
    spawner,
    tokens,
    providerEnv: () => {
      const childEnv: Record<string, string> = {};
      for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
      childEnv.AGENT_RELAY_RUNNER_PORT = String(control?.port ?? '');
      childEnv.AGENT_RELAY_RUNNER_TOKEN = controlToken;
      childEnv.AGENT_RELAY_AGENT_NAME = options.name;
      childEnv.AGENT_RELAY_SCRATCH_DIR = scratchDir;
      return childEnv;
    },
    ...(options.initialPrompt ? { initialPrompt: options.initialPrompt } : {}),
    ...(workspace.workspace ? { workspace: workspace.workspace } : {}),
    runnerVersion: RUNNER_VERSION,
    ...(options.exitPolicy ? { exitPolicy: options.exitPolicy } : {}),
    stalledAfterMs: options.stalledAfterMs ?? 120_000,
    heartbeatMs: options.heartbeatMs ?? 30_000,
    permissionTimeoutMs: options.permissionTimeoutMs ?? 60_000,
    obligationRefreshMs: options.obligationRefreshMs ?? 10_000,
    saveAttachments: async (message) => {
      const paths: string[] = [];
      for (const attachment of message.attachments) {
        if (attachment.size > maxAttachmentBytes) {
          logger.warn('attachments', `skipped ${attachment.name} (${attachment.size} bytes > ${maxAttachmentBytes})`);
          continue;
        }
        const bytes = await http.downloadAttachment(attachment.url, { maxBytes: maxAttachmentBytes });
        paths.push(await saveAttachmentFile(join(dataDir, 'attachments'), message.id, attachment.name, bytes));
      }
      return paths;
    },
  });

  const emitter = new EventEmitter() as unknown as TypedEmitter<RunnerEvents>;
  for (const event of ['status', 'delivery', 'mirror', 'timeline', 'ready', 'error'] as const) {
    core.on(event, (...args: unknown[]) => {
      // An 'error' event without listeners must not crash the host: it is logged already.
      if (event === 'error' && emitter.listenerCount('error') === 0) return;
      (emitter.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    });
  }
  core.on('status', (status) => control?.publish({ type: 'status', status }));
  core.on('delivery', (delivery) => control?.publish({ type: 'delivery', delivery }));
  core.on('mirror', (mirror) => control?.publish({ type: 'mirror', mirror }));
  core.on('timeline', (timeline) => control?.publish({ type: 'timeline', timeline }));

  let starting: Promise<void> | undefined;
  let stopped = false;
  const startedAt = clock.now();

  const start = async () => {
    await ensurePrivateDir(dataDir);
    const swept = await sweepStaleScratch(dataDir);
    if (swept.length > 0) logger.info('runner', `removed stale scratch dirs: ${swept.join(', ')}`);
    await ensurePrivateDir(scratchDir);
    control = await createControlServer({
      handlers: controlHandlersFor(core, logger),
      token: controlToken,
      logger,
      clock,
      ...(options.control?.port !== undefined ? { port: options.control.port } : {}),
    });
    try {
      await core.start();
    } catch (error) {
      // A half-started runner (registered, bus connecting) must not linger behind a failed start.
      await core.stop().catch(() => {});
      await control.close().catch(() => {});
      await store.close?.().catch(() => {});
      throw error;
    }
    if (infoFile) {
      await ensurePrivateDir(dirname(infoFile));
      await writePrivateJson(infoFile, {
        name: options.name,
        agentId: core.agentId,
        pid: process.pid,
        port: control.port,
        provider: options.provider.name,
        startedAt: new Date(startedAt).toISOString(),
        version: RUNNER_VERSION,
      });
    }
    logger.info('runner', `ready: agent ${core.agentId}, control ${control.url}`);
  };

  const api = {
    start() {
      if (stopped) return Promise.reject(new ClosedError('runner'));
      starting ??= start();
      return starting;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await starting?.catch(() => {});
      await core.stop();
      await control?.close().catch(() => {});
      await store.close?.().catch((error: unknown) => logger.error('outbox', `closing the store failed: ${String(error)}`));
      if (!options.logger) await logger.close?.();
    },
    async outboxStats() {
      const outbox = core.outbox;
      if (!outbox) throw new ClosedError('runner (not started)');
      return outbox.stats();
    },
    send(input: { to: string; body: string; replyTo?: string }) {
      return core.send(input);
    },
  };
  // Getters must stay live: Object.assign would copy their values once.
  Object.defineProperties(emitter, {
    ...Object.getOwnPropertyDescriptors(api),
    status: { get: () => core.status.get(), enumerable: true },
    agentId: { get: () => core.agentId, enumerable: true },
    controlUrl: { get: () => control?.url, enumerable: true },
    connected: { get: () => core.connected, enumerable: true },
  });
  return emitter as unknown as Runner;
}

function validateOptions(options: RunnerOptions): void {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('createRunner needs an options object');
  if (typeof options.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(options.name)) {
    throw new InvalidArgumentError('runner name must be 1–64 characters of A-Z a-z 0-9 _ . -');
  }
  if (!options.provider || typeof options.provider.start !== 'function') {
    throw new InvalidArgumentError('runner needs a provider (e.g. createDemoProvider())');
  }
  if (!options.relayUrl && !(options.http && options.bus)) {
    throw new InvalidArgumentError('runner needs relayUrl (or both http and bus ports)');
  }
  if (options.relayUrl !== undefined && !/^https?:\/\//.test(options.relayUrl)) {
    throw new InvalidArgumentError(`relayUrl must be an http(s) URL, got "${options.relayUrl}"`);
  }
}

function toWsUrl(relayUrl: string): string {
  return `${relayUrl.replace(/^http/, 'ws').replace(/\/+$/, '')}/v1/bus`;
}

function readPackageVersion(): string {
  try {
    const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
    return (JSON.parse(text) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
