import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from './ports/clock.js';
import type { Logger } from './ports/logger.js';
import type { OutboxStore } from './ports/outbox-store.js';
import type { ProcessSpawner } from './ports/process-spawner.js';
import type { ProviderAdapter } from './ports/provider.js';
import type { RelayHttp } from './ports/relay-http.js';
import type { RelayBus } from './ports/relay-bus.js';
import type { OutboxPolicy } from './core/outbox.js';
import type { ExitPolicyOptions } from './core/exit-policy.js';
import { createOutbox } from './core/outbox.js';
import { PACKAGE_VERSION } from './version.js';
import { RunnerCore } from './core/runner.js';
import { parseWorkspaceJson } from './core/turns.js';
import { createSystemClock } from './adapters/system-clock.js';
import { createFileLogger, safeFileName } from './adapters/tslog-logger.js';
import { createChildProcessSpawner } from './adapters/child-process-spawner.js';
import { createSqlJsOutboxStore } from './adapters/sqljs-outbox-store/index.js';
import { createFetchRelayHttp } from './adapters/fetch-relay-http.js';
import { createWsRelayBus } from './adapters/ws-relay-bus.js';
import { createFileDeliveryJournal } from './adapters/file-delivery-journal.js';
import { createRelayOutboxSend } from './adapters/relay-outbox-send.js';
import { saveAttachmentFile } from './adapters/runner-files.js';
import { sendScriptCommand, writeSendScript } from './providers/kit/relay-tools.js';
import { describeError } from './shared/describe-error.js';
import { createControlServer } from './control/control-server.js';
import { providerHostFor, runnerControlFor } from './control/runner-control.js';
import { runnerControlRoutes } from './control/runner-routes.js';
import { AgentRunner, type Runner } from './agent-runner.js';
import { validateRunnerOptions } from './runner-options.js';
import { buildProviderEnv, createSecretRegistry, type SecretRegistry } from './provider-env.js';
import type { LocalPermissionAnswer, LocalPermissionRequest } from './core/permissions.js';

export type { Runner, TypedEmitter } from './agent-runner.js';

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
  /**
   * Environment read for `AGENT_RELAY_*` settings, and the base of the provider's environment.
   * @defaultValue process.env
   * @remarks The provider never gets it whole: every `AGENT_RELAY_*` variable is dropped (except
   * the agent-side hook settings `AGENT_RELAY_HOOK_TRANSPORT`, `AGENT_RELAY_HOOK_TEST_FAIL` and
   * `AGENT_RELAY_PERMISSION_HOOK_TIMEOUT_S`), and so is any variable whose value is or contains one
   * of the runner's secrets (the workspace key, a relay token, anything registered with
   * `logger.addSecret`). The runner then sets `AGENT_RELAY_RUNNER_PORT`, `AGENT_RELAY_RUNNER_TOKEN`
   * (a random token that opens this runner's control port and nothing else), `AGENT_RELAY_AGENT_NAME`
   * and `AGENT_RELAY_SCRATCH_DIR`. See docs/embedding.md, "Secrets and the agent's environment".
   */
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
  /** How long a permission request waits for the relay (and for `onPermissionRequest`). @defaultValue 60000 */
  permissionTimeoutMs?: number;
  /**
   * Decide permission requests locally first (like the Agent SDK's `canUseTool`): return
   * `{ behavior: 'allow' | 'deny', message? }`, or `'relay'` to let the relay decide as usual.
   * Bounded by `permissionTimeoutMs`; a callback that throws defers to the relay.
   * @defaultValue none: every request goes to the relay
   */
  onPermissionRequest?: (request: LocalPermissionRequest) => LocalPermissionAnswer | Promise<LocalPermissionAnswer>;
  /** Background refresh of the obligation snapshot. @defaultValue 10000 */
  obligationRefreshMs?: number;
  /** Largest attachment downloaded. @defaultValue 25 MiB */
  maxAttachmentBytes?: number;
  /** Port: time. @defaultValue the system clock */
  clock?: Clock;
  /**
   * Port: logging. @defaultValue a file logger for this agent
   * @remarks A logger you pass in stays yours: the runner never closes it (see docs/embedding.md,
   * "Who owns what"). The default file logger is the runner's and is closed by `stop()`.
   */
  logger?: Logger;
  /**
   * Port: outbox storage. @defaultValue sql.js at `<dataDir>/outbox.sqlite`
   * @remarks A store you pass in stays yours: the runner never closes it, so it can outlive the
   * runner or be shared with a later one (see docs/embedding.md, "Who owns what"). The default
   * store is the runner's and is closed by `stop()`.
   */
  store?: OutboxStore;
  /** Port: the relay's HTTP API. @defaultValue `createFetchRelayHttp` on `relayUrl` */
  http?: RelayHttp;
  /** Port: the relay bus, built once the agent id and token are known. @defaultValue `createWsRelayBus` */
  bus?: (agentId: string, token: string) => RelayBus;
  /** Port: child processes. @defaultValue `createChildProcessSpawner({ clock })` */
  spawner?: ProcessSpawner;
  /** A `fetch` for the default HTTP adapter (e.g. Electron's `net.fetch`). @defaultValue cross-fetch */
  fetch?: typeof globalThis.fetch;
}

/**
 * The package version. Inlined at build time (`src/version.ts`, written by
 * `scripts/write-version.mjs`): nothing is read from disk at import, so a bundled host gets it too.
 */
export const RUNNER_VERSION: string = PACKAGE_VERSION;

/**
 * Create a runner: the composition root. Resolves every default (see {@link RunnerOptions}) in
 * one place, then composes the core, the control port and the runner around them.
 * @public
 */
export function createRunner(options: RunnerOptions): Runner {
  validateRunnerOptions(options);
  // The token is the core's (its registration subsystem); the adapters read it through a getter.
  const r = resolveDefaults(options, () => core.token);
  const { clock, logger, http, store } = r;
  const core: RunnerCore = new RunnerCore({
    name: options.name,
    cwd: r.cwd,
    clock,
    logger,
    http,
    makeBus: r.makeBus,
    makeOutbox: (agentId) =>
      createOutbox({ store, send: createRelayOutboxSend(http), clock, logger, agentId, onAuthFailure: () => core.recoverAuth(), ...options.outbox }),
    provider: options.provider,
    providerDeps: {
      spawner: r.spawner,
      logger,
      clock,
      host: providerHostFor({ stopDecision: (active) => core.stopDecision(active), requestPermission: (request) => core.requestPermission(request) }, () => runner.controlServer),
    },
    // Read at each provider start: the control port is the runner's and known once it started.
    // Built without any of the runner's secrets (see buildProviderEnv): the agent gets its control
    // port and a token good for that port only, never the workspace key or a relay token.
    providerEnv: () => {
      ensureSendScript(r.scratchDir, logger);
      return buildProviderEnv(r.env, r.secrets.secrets, {
        port: String(runner.controlPort ?? ''),
        controlToken: r.controlToken,
        name: options.name,
        scratchDir: r.scratchDir,
      });
    },
    // The turn text names the PATH-free send script (written at each provider start, above).
    sendCommand: sendScriptCommand(r.scratchDir),
    ...(options.initialPrompt ? { initialPrompt: options.initialPrompt } : {}),
    ...(r.workspace ? { workspace: r.workspace } : {}),
    runnerVersion: RUNNER_VERSION,
    ...(options.exitPolicy ? { exitPolicy: options.exitPolicy } : {}),
    ...r.timings,
    maxAttachmentBytes: r.maxAttachmentBytes,
    ...(options.onPermissionRequest ? { onPermissionRequest: options.onPermissionRequest } : {}),
    saveAttachment: (messageId, name, bytes) => saveAttachmentFile(join(r.dataDir, 'attachments'), messageId, name, bytes),
    // Which messages the agent was working on, for the next run if this process dies (issue 10).
    journal: createFileDeliveryJournal({ path: join(r.dataDir, 'deliveries.json') }),
  });
  const runner = new AgentRunner({
    core,
    clock,
    logger,
    name: options.name,
    providerName: options.provider.name,
    version: RUNNER_VERSION,
    dataDir: r.dataDir,
    scratchDir: r.scratchDir,
    infoFile: r.infoFile,
    controlToken: r.controlToken,
    openControl: (monitorBacklog) => {
      const control = runnerControlFor(core, logger);
      return createControlServer({
        routes: runnerControlRoutes(control),
        monitorStatus: control.providerStatus,
        monitorBacklog,
        token: r.controlToken,
        logger,
        clock,
        ...(options.control?.port !== undefined ? { port: options.control.port } : {}),
      });
    },
    owned: r.owned,
  });
  return runner;
}

/** Every default of {@link RunnerOptions}, resolved once. */
interface ResolvedOptions {
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  clock: Clock;
  dataDir: string;
  scratchDir: string;
  logger: Logger;
  http: RelayHttp;
  makeBus: (agentId: string, token: string) => RelayBus;
  store: OutboxStore;
  spawner: ProcessSpawner;
  controlToken: string;
  infoFile: string | undefined;
  workspace: ReturnType<typeof parseWorkspaceJson>['workspace'];
  maxAttachmentBytes: number;
  timings: { stalledAfterMs: number; heartbeatMs: number; permissionTimeoutMs: number; obligationRefreshMs: number };
  /** The runner's secrets, none of which reaches the provider's environment. */
  secrets: SecretRegistry;
  /** What the runner created, and so closes on stop; never what the host passed in. */
  owned: { store?: OutboxStore; logger?: Logger };
}

/** The one place defaults are chosen: every port and setting the host left out gets its default here. */
function resolveDefaults(options: RunnerOptions, token: () => string | undefined): ResolvedOptions {
  const env = options.env ?? process.env;
  const clock = options.clock ?? createSystemClock();
  const dataDir = options.dataDir ?? join(homedir(), '.agent-relay', 'runners', safeFileName(options.name));
  const baseLogger =
    options.logger ?? createFileLogger({ agentId: options.name, env, clock, ...(options.logDir ? { logDir: options.logDir } : {}) });
  // Every secret any subsystem hides from the log is also kept out of the agent's environment.
  const secrets = createSecretRegistry();
  const logger = secrets.wrap(baseLogger);
  const controlToken = options.control?.token ?? randomBytes(24).toString('hex');
  logger.addSecret?.(controlToken);
  if (options.apiKey) logger.addSecret?.(options.apiKey);
  const http =
    options.http ??
    createFetchRelayHttp({
      baseUrl: options.relayUrl as string,
      token,
      clock,
      ...(options.apiKey ? { apiKey: () => options.apiKey } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  const makeBus =
    options.bus ??
    ((agentId: string, initial: string) =>
      createWsRelayBus({ url: toWsUrl(options.relayUrl as string), agentId, token: () => token() ?? initial, clock, logger }));
  const store = options.store ?? createSqlJsOutboxStore({ path: join(dataDir, 'outbox.sqlite'), logger, clock });
  const workspace = parseWorkspaceJson(env.AGENT_RELAY_WORKSPACE_JSON);
  if (workspace.error) logger.warn('runner', workspace.error);
  return {
    env,
    cwd: options.cwd ?? process.cwd(),
    clock,
    dataDir,
    scratchDir: join(dataDir, `scratch-${process.pid}`),
    logger,
    http,
    makeBus,
    store,
    spawner: options.spawner ?? createChildProcessSpawner({ clock }),
    controlToken,
    infoFile: options.infoFile ?? env.AGENT_RELAY_RUNNER_INFO_FILE,
    workspace: workspace.workspace,
    maxAttachmentBytes: options.maxAttachmentBytes ?? 25 * 1024 * 1024,
    timings: {
      stalledAfterMs: options.stalledAfterMs ?? 120_000,
      heartbeatMs: options.heartbeatMs ?? 30_000,
      permissionTimeoutMs: options.permissionTimeoutMs ?? 60_000,
      obligationRefreshMs: options.obligationRefreshMs ?? 10_000,
    },
    secrets,
    owned: { ...(options.store ? {} : { store }), ...(options.logger ? {} : { logger: baseLogger }) },
  };
}

function toWsUrl(relayUrl: string): string {
  return `${relayUrl.replace(/^http/, 'ws').replace(/\/+$/, '')}/v1/bus`;
}

/**
 * Write the agent's PATH-free send script into the scratch dir before the provider starts. A
 * failure is logged, not thrown: the relay tools still work, and an agent without its fallback is
 * better than no agent.
 */
function ensureSendScript(scratchDir: string, logger: Logger): void {
  try {
    writeSendScript(scratchDir);
  } catch (error) {
    logger.warn('runner', `could not write the agent's send script in ${scratchDir}: ${describeError(error)}`);
  }
}
