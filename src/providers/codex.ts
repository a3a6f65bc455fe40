import { mkdtemp, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { ProcessExit, SpawnedProcess } from '../ports/process-spawner.js';
import type {
  PermissionDecision,
  ProviderAdapter,
  ProviderCapabilities,
  ProviderDeps,
  ProviderEvent,
  ProviderLaunch,
  ProviderSession,
  ProviderTurn,
  TerminalAttachSpec,
} from '../ports/provider.js';
import { isRunnerError, ProviderError } from '../errors/index.js';
import { COMPONENT, EventFanout, probeVersion, shorten, stopChild } from './process-session.js';
import type { InitializeParams } from './codex-protocol/InitializeParams.js';
import type { ThreadStartParams } from './codex-protocol/v2/ThreadStartParams.js';
import type { ThreadStartResponse } from './codex-protocol/v2/ThreadStartResponse.js';
import type { ThreadResumeParams } from './codex-protocol/v2/ThreadResumeParams.js';
import type { TurnStartParams } from './codex-protocol/v2/TurnStartParams.js';
import type { TurnStartResponse } from './codex-protocol/v2/TurnStartResponse.js';
import type { TurnInterruptParams } from './codex-protocol/v2/TurnInterruptParams.js';
import type { TurnStartedNotification } from './codex-protocol/v2/TurnStartedNotification.js';
import type { TurnCompletedNotification } from './codex-protocol/v2/TurnCompletedNotification.js';
import type { ItemStartedNotification } from './codex-protocol/v2/ItemStartedNotification.js';
import type { ItemCompletedNotification } from './codex-protocol/v2/ItemCompletedNotification.js';
import type { ThreadItem } from './codex-protocol/v2/ThreadItem.js';
import type { ThreadTokenUsageUpdatedNotification } from './codex-protocol/v2/ThreadTokenUsageUpdatedNotification.js';
import type { CommandExecutionRequestApprovalParams } from './codex-protocol/v2/CommandExecutionRequestApprovalParams.js';
import type { CommandExecutionRequestApprovalResponse } from './codex-protocol/v2/CommandExecutionRequestApprovalResponse.js';
import type { FileChangeRequestApprovalParams } from './codex-protocol/v2/FileChangeRequestApprovalParams.js';
import type { FileChangeRequestApprovalResponse } from './codex-protocol/v2/FileChangeRequestApprovalResponse.js';
import type { ErrorNotification } from './codex-protocol/v2/ErrorNotification.js';
import type { ServerRequestResolvedNotification } from './codex-protocol/v2/ServerRequestResolvedNotification.js';
import type { ExecCommandApprovalParams } from './codex-protocol/ExecCommandApprovalParams.js';
import type { ExecCommandApprovalResponse } from './codex-protocol/ExecCommandApprovalResponse.js';
import type { ApplyPatchApprovalParams } from './codex-protocol/ApplyPatchApprovalParams.js';
import type { AskForApproval } from './codex-protocol/v2/AskForApproval.js';
import type { SandboxMode } from './codex-protocol/v2/SandboxMode.js';
import { describeError } from '../shared/describe-error.js';

/**
 * The oldest `codex` CLI this adapter speaks to: its protocol types were generated from 0.169.0.
 * @public
 */
export const MIN_CODEX_VERSION = '0.169.0';

/**
 * A Codex `model_providers` entry the adapter configures on the command line (e.g. a local model
 * server, or the fake OpenAI server in tests).
 * @public
 */
export interface CodexModelProvider {
  /** Provider id used as `model_provider` (letters, digits, `_`, `-`). */
  id: string;
  /** Base URL of the OpenAI-compatible API, e.g. `http://127.0.0.1:4000/v1`. */
  baseUrl: string;
  /** Name of the environment variable holding its API key (the value is never logged). */
  envKey?: string;
  /** Display name. @defaultValue the id */
  name?: string;
  /** Wire protocol. @defaultValue `responses` */
  wireApi?: 'responses';
}

/**
 * When Codex asks for approval: the pinned protocol's `AskForApproval`, restated here so the
 * public API does not expose generated files (a compile-time check keeps the two equal).
 * @public
 */
export type CodexApprovalPolicy =
  | 'untrusted'
  | 'on-request'
  | 'never'
  | {
      granular: {
        sandbox_approval: boolean;
        rules: boolean;
        skill_approval: boolean;
        request_permissions: boolean;
        mcp_elicitations: boolean;
      };
    };

/**
 * Sandbox of the agent's commands: the pinned protocol's `SandboxMode`.
 * @public
 */
export type CodexSandboxMode = 'read-only' | 'workspace-write' | 'danger-full-access';

// Fails to compile when a regenerated protocol changes either type.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const protocolTypesMatch: [Same<CodexApprovalPolicy, AskForApproval>, Same<CodexSandboxMode, SandboxMode>] = [true, true];
void protocolTypesMatch;

/**
 * Options of {@link createCodexProvider}.
 * @public
 */
export interface CodexProviderOptions {
  /**
   * The `codex` executable (a name on PATH or a path).
   * @defaultValue `codex`
   */
  command?: string;
  /**
   * `CODEX_HOME` of the sessions: config, auth and thread rollouts (needed to resume) live there.
   * @defaultValue a private temp dir created on first start and reused by every later start of this
   * adapter (so a restarted process can resume its thread). Pass the host's `~/.codex` to use its
   * own login and config.
   */
  codexHome?: string;
  /** Model name (`-c model=…`). @defaultValue Codex's own default */
  model?: string;
  /** A model provider entry to configure and select. @defaultValue none (Codex's default provider) */
  modelProvider?: CodexModelProvider;
  /**
   * Further `-c key=value` overrides; values are TOML (strings need quotes: `'"value"'`).
   * @defaultValue `{}`
   */
  config?: Readonly<Record<string, string>>;
  /**
   * When Codex asks for approval (each request becomes a relayed `permission` event).
   * @defaultValue `on-request`
   */
  approvalPolicy?: CodexApprovalPolicy;
  /** Sandbox of the agent's commands. @defaultValue `workspace-write` */
  sandbox?: CodexSandboxMode;
  /** Environment added to the launch environment (e.g. the provider's API key variable). @defaultValue `{}` */
  env?: Readonly<Record<string, string>>;
  /** Oldest accepted CLI version. @defaultValue {@link MIN_CODEX_VERSION} */
  minVersion?: string;
  /** How long a JSON-RPC request to the app server may take. @defaultValue 30000 */
  requestTimeoutMs?: number;
  /** How long `stop()` waits after closing stdin before it signals the process. @defaultValue 2000 */
  stopGraceMs?: number;
  /** How long `stop()` waits after SIGTERM before SIGKILL. @defaultValue 3000 */
  killGraceMs?: number;
  /** How long `checkVersion()` waits for `--version`. @defaultValue 10000 */
  versionTimeoutMs?: number;
  /** Events kept while nobody subscribed yet. @defaultValue 1000 */
  bufferEvents?: number;
}

/**
 * Capabilities of the Codex provider. Mid-turn messages are queued, not steered: see docs/providers.md.
 */
const CAPABILITIES: ProviderCapabilities = Object.freeze({
  structuredInput: true,
  resume: true,
  interactive: false,
  hookDriven: false,
  midTurnMessages: 'queue',
});

const CLIENT_VERSION = '1';

/**
 * Compare dotted numeric versions (`0.169.0` vs `0.170.1`); pre-release suffixes are ignored.
 * @internal
 */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) => (v.split(/[-+]/)[0] ?? '').split('.').map((n) => Number.parseInt(n, 10) || 0);
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** TOML string literal (basic string with escapes). */
function tomlString(value: string): string {
  return JSON.stringify(value);
}

/** The `-c key=value` arguments for the options. */
function configArgs(options: CodexProviderOptions): string[] {
  const entries: Array<[string, string]> = [
    // No network calls of our own making: a runner host decides about updates and telemetry.
    ['check_for_update_on_startup', 'false'],
    ['analytics.enabled', 'false'],
    ['feedback.enabled', 'false'],
  ];
  if (options.model !== undefined) entries.push(['model', tomlString(options.model)]);
  const provider = options.modelProvider;
  if (provider) {
    if (!/^[A-Za-z0-9_-]+$/.test(provider.id)) throw new ProviderError(`invalid Codex model provider id "${provider.id}"`);
    const fields = [`name = ${tomlString(provider.name ?? provider.id)}`, `base_url = ${tomlString(provider.baseUrl)}`, `wire_api = ${tomlString(provider.wireApi ?? 'responses')}`];
    if (provider.envKey !== undefined) fields.push(`env_key = ${tomlString(provider.envKey)}`);
    entries.push([`model_providers.${provider.id}`, `{ ${fields.join(', ')} }`]);
    entries.push(['model_provider', tomlString(provider.id)]);
  }
  for (const [key, value] of Object.entries(options.config ?? {})) entries.push([key, value]);
  return entries.flatMap(([key, value]) => ['-c', `${key}=${value}`]);
}

type Json = Record<string, unknown>;
const asObject = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** A server → client approval request waiting for the relay's decision. */
interface OpenApproval {
  rpcId: number | string;
  method: string;
  turnId: string | undefined;
  /** Decisions the server offers (v2 command approvals list them); used to pick the deny value. */
  available: unknown[] | undefined;
}

interface SessionSettings {
  stopGraceMs: number;
  killGraceMs: number;
  bufferEvents: number;
  requestTimeoutMs: number;
  approvalPolicy: AskForApproval;
  sandbox: SandboxMode;
}

interface PendingRequest {
  method: string;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<Clock['setTimeout']>;
}

/** A JSON-RPC connection to `codex app-server` plus the mapping to provider events. */
class CodexSession implements ProviderSession {
  readonly pid: number | undefined;
  readonly exited: Promise<ProcessExit>;
  readonly #child: SpawnedProcess;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #settings: SessionSettings;
  readonly #cwd: string;
  readonly #events: EventFanout;
  readonly #pending = new Map<number, PendingRequest>();
  #nextId = 1;
  #exitRecord: ProcessExit | undefined;
  #stopping: Promise<ProcessExit> | undefined;
  #threadId: string | undefined;
  /** Turn id → delivery id, so `turn/started` can name the delivery it consumes. */
  readonly #turnDeliveries = new Map<string, string>();
  /** Delivery whose `turn/start` is in flight (its turn id is not known yet). */
  #startingDelivery: string | undefined;
  #activeTurnId: string | undefined;
  /** Turns delivered while another runs: held here and started in order when it completes. */
  readonly #queue: ProviderTurn[] = [];
  /** Text of the latest agent message per turn (the final reply). */
  readonly #lastAgentText = new Map<string, string>();
  /** Items seen started, for summaries of later approval requests. */
  readonly #items = new Map<string, ThreadItem>();
  readonly #approvals = new Map<string, OpenApproval>();

  constructor(child: SpawnedProcess, deps: ProviderDeps, settings: SessionSettings, cwd: string) {
    this.#child = child;
    this.pid = child.pid;
    this.#logger = deps.logger;
    this.#clock = deps.clock;
    this.#settings = settings;
    this.#cwd = cwd;
    this.#events = new EventFanout(deps.logger, 'codex', child.pid, settings.bufferEvents);
    child.stdout.onLine((line) => this.#onLine(line));
    child.stderr.onLine((line) => {
      if (line.trim() !== '') this.#logger.debug(COMPONENT, `codex (pid ${this.pid}) stderr: ${shorten(line)}`);
    });
    this.exited = child.exited.then((exit) => {
      this.#exitRecord = exit;
      // Nothing can be answered any more: the requests die with the process (fail closed).
      this.#approvals.clear();
      for (const [id, pending] of this.#pending) {
        this.#clock.clearTimeout(pending.timer);
        pending.reject(new ProviderError(`codex exited before answering ${pending.method}`, { data: { pid: this.pid } }));
        this.#pending.delete(id);
      }
      const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
      this.#logger.info(COMPONENT, `codex app-server (pid ${this.pid}) exited with ${how}`);
      return exit;
    });
  }

  /** Handshake and thread start (or resume). Rejects with ProviderError. */
  async open(resumeThreadId: string | undefined, clientVersion: string): Promise<void> {
    const init: InitializeParams = {
      clientInfo: { name: 'agent_relay_runner', title: 'agent-relay-runner', version: clientVersion },
      capabilities: { experimentalApi: false, requestAttestation: false },
    };
    await this.#request('initialize', init);
    await this.#notify('initialized');
    const common = { cwd: this.#cwd, approvalPolicy: this.#settings.approvalPolicy, sandbox: this.#settings.sandbox };
    if (resumeThreadId !== undefined) {
      try {
        const params: ThreadResumeParams = { threadId: resumeThreadId, ...common, excludeTurns: true };
        const resumed = (await this.#request('thread/resume', params)) as ThreadStartResponse;
        this.#threadId = this.#threadIdOf(resumed);
        this.#logger.info(COMPONENT, `codex (pid ${this.pid}) resumed thread ${this.#threadId}`);
        this.#dispatch({ type: 'session', sessionId: this.#threadId, source: 'resume' });
        return;
      } catch (error) {
        if (this.#exitRecord) throw error;
        // A thread that cannot be resumed (rollout gone) must not keep the agent down: start fresh, loudly.
        const message = `codex could not resume thread ${resumeThreadId} (${describeError(error)}); starting a new thread`;
        this.#logger.warn(COMPONENT, message);
        this.#dispatch({ type: 'warning', message });
      }
    }
    const params: ThreadStartParams = { ...common };
    const started = (await this.#request('thread/start', params)) as ThreadStartResponse;
    this.#threadId = this.#threadIdOf(started);
    this.#logger.info(COMPONENT, `codex (pid ${this.pid}) started thread ${this.#threadId}`);
    this.#dispatch({ type: 'session', sessionId: this.#threadId, source: 'startup' });
  }

  #threadIdOf(response: ThreadStartResponse): string {
    const id = str(asObject(asObject(response)?.thread)?.id);
    if (!id) throw new ProviderError('codex answered the thread request without a thread id', { data: { pid: this.pid } });
    return id;
  }

  // ---- ProviderSession ----------------------------------------------------------------------

  async deliver(turn: ProviderTurn): Promise<void> {
    this.#assertRunning(`deliver ${turn.deliveryId}`);
    if (this.#activeTurnId !== undefined || this.#startingDelivery !== undefined || this.#queue.length > 0) {
      // Queued, not steered (docs/providers.md): each relay message keeps its own turn id and reply.
      this.#queue.push(turn);
      this.#logger.debug(COMPONENT, `codex (pid ${this.pid}): queued ${turn.deliveryId} behind the running turn`);
      return;
    }
    await this.#startTurn(turn);
  }

  async interrupt(): Promise<void> {
    const turnId = this.#activeTurnId;
    if (this.#exitRecord || this.#stopping || !this.#threadId || turnId === undefined) return;
    const params: TurnInterruptParams = { threadId: this.#threadId, turnId };
    try {
      await this.#request('turn/interrupt', params);
    } catch (error) {
      this.#logger.warn(COMPONENT, `codex (pid ${this.pid}): interrupt of turn ${turnId} failed: ${describeError(error)}`);
    }
  }

  decidePermission(requestId: string, decision: PermissionDecision): void {
    const approval = this.#approvals.get(requestId);
    if (!approval) {
      this.#logger.debug(COMPONENT, `codex (pid ${this.pid}): ignored decision for unknown permission request ${requestId}`);
      return;
    }
    this.#approvals.delete(requestId);
    const behavior = asObject(decision)?.behavior;
    if (behavior !== 'allow' && behavior !== 'deny') {
      this.#logger.warn(COMPONENT, `codex (pid ${this.pid}): malformed decision for ${requestId}; denying`);
    }
    const allow = behavior === 'allow';
    const reason = str(asObject(decision)?.message);
    this.#logger.info(COMPONENT, `codex (pid ${this.pid}): permission ${requestId} ${allow ? 'allowed' : `denied${reason ? `: ${reason}` : ''}`}`);
    this.#answerApproval(approval, allow, reason);
  }

  onEvent(listener: (event: ProviderEvent) => void): () => void {
    return this.#events.subscribe(listener);
  }

  attachSpec(): TerminalAttachSpec {
    return { kind: 'none' };
  }

  stop(): Promise<ProcessExit> {
    this.#stopping ??= (async () => {
      if (this.#exitRecord) return this.#exitRecord;
      this.#denyOpenApprovals(undefined, 'the session is stopping');
      // app-server exits when its stdin closes; signals are only the fallback.
      return stopChild(this.#child, this.exited, this.#settings, { clock: this.#clock, logger: this.#logger }, 'codex');
    })();
    return this.#stopping;
  }

  // ---- turns -------------------------------------------------------------------------------

  async #startTurn(turn: ProviderTurn): Promise<void> {
    const threadId = this.#threadId;
    if (!threadId) throw new ProviderError('codex has no thread yet', { data: { pid: this.pid } });
    this.#startingDelivery = turn.deliveryId;
    const params: TurnStartParams = { threadId, input: [{ type: 'text', text: turn.text, text_elements: [] }] };
    try {
      const response = (await this.#request('turn/start', params)) as TurnStartResponse;
      const turnId = str(asObject(asObject(response)?.turn)?.id);
      if (turnId) {
        this.#turnDeliveries.set(turnId, turn.deliveryId);
        this.#activeTurnId ??= turnId;
      }
      this.#logger.debug(COMPONENT, `codex (pid ${this.pid}): delivered ${turn.deliveryId} as turn ${turnId ?? '?'}`);
    } catch (error) {
      throw new ProviderError(`cannot deliver ${turn.deliveryId} to codex: ${describeError(error)}`, { data: { pid: this.pid }, cause: error });
    } finally {
      if (this.#startingDelivery === turn.deliveryId) this.#startingDelivery = undefined;
    }
  }

  /** Start the next queued turn once the thread is free. */
  #startNextQueued(): void {
    if (this.#activeTurnId !== undefined || this.#startingDelivery !== undefined || this.#exitRecord || this.#stopping) return;
    const next = this.#queue.shift();
    if (!next) return;
    this.#startTurn(next).catch((error: unknown) => {
      // The delivery stays "injected"; the runner requeues it if the process goes away.
      const message = `codex: queued ${next.deliveryId} could not be started: ${describeError(error)}`;
      this.#logger.error(COMPONENT, message);
      this.#dispatch({ type: 'warning', message });
      this.#startNextQueued();
    });
  }

  // ---- wire --------------------------------------------------------------------------------

  #assertRunning(what: string): void {
    if (this.#exitRecord || this.#stopping) {
      throw new ProviderError(`cannot ${what}: codex is ${this.#stopping ? 'stopping' : 'not running'}`, { data: { pid: this.pid } });
    }
  }

  async #write(message: Json): Promise<void> {
    await this.#child.write(`${JSON.stringify(message)}\n`);
  }

  #notify(method: string, params?: unknown): Promise<void> {
    return this.#write(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
  }

  #request(method: string, params: unknown): Promise<unknown> {
    if (this.#exitRecord) return Promise.reject(new ProviderError(`cannot call ${method}: codex is not running`, { data: { pid: this.pid } }));
    const id = this.#nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        this.#pending.delete(id);
        reject(new ProviderError(`codex did not answer ${method} within ${this.#settings.requestTimeoutMs} ms`, { data: { pid: this.pid, method } }));
      }, this.#settings.requestTimeoutMs);
      timer.unref();
      this.#pending.set(id, { method, resolve, reject, timer });
      this.#write({ jsonrpc: '2.0', id, method, params }).catch((error: unknown) => {
        this.#clock.clearTimeout(timer);
        this.#pending.delete(id);
        reject(new ProviderError(`cannot send ${method} to codex: ${describeError(error)}`, { data: { pid: this.pid }, cause: error }));
      });
    });
  }

  #respond(id: number | string, result: unknown): void {
    if (this.#exitRecord) return;
    this.#write({ jsonrpc: '2.0', id, result }).catch((error: unknown) => {
      this.#logger.warn(COMPONENT, `codex (pid ${this.pid}): answer to request ${String(id)} not written: ${describeError(error)}`);
    });
  }

  #respondError(id: number | string, message: string): void {
    if (this.#exitRecord) return;
    this.#write({ jsonrpc: '2.0', id, error: { code: -32601, message } }).catch((error: unknown) => {
      this.#logger.warn(COMPONENT, `codex (pid ${this.pid}): error answer to request ${String(id)} not written: ${describeError(error)}`);
    });
  }

  #warn(message: string): void {
    this.#logger.warn(COMPONENT, message);
    this.#dispatch({ type: 'warning', message });
  }

  #onLine(line: string): void {
    if (line.trim() === '') return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      // Never drop output silently: the text goes to the log and to the runner as a warning.
      this.#warn(`codex (pid ${this.pid}) wrote an unparseable stdout line (not JSON): ${shorten(line)}`);
      return;
    }
    const message = asObject(raw);
    if (!message) {
      this.#warn(`codex (pid ${this.pid}) wrote an unparseable stdout line (not a JSON object): ${shorten(line)}`);
      return;
    }
    const method = str(message.method);
    const id = message.id;
    const hasId = typeof id === 'number' || typeof id === 'string';
    try {
      if (method !== undefined && hasId) this.#onServerRequest(id, method, message.params);
      else if (method !== undefined) this.#onNotification(method, message.params);
      else if (hasId) this.#onResponse(id, message);
      else this.#warn(`codex (pid ${this.pid}) wrote a JSON-RPC message without method or id: ${shorten(line)}`);
    } catch (error) {
      this.#warn(`codex (pid ${this.pid}): could not handle ${method ?? 'a response'}: ${describeError(error)} — ${shorten(line)}`);
    }
  }

  #onResponse(id: number | string, message: Json): void {
    const pending = typeof id === 'number' ? this.#pending.get(id) : undefined;
    if (!pending) {
      this.#logger.debug(COMPONENT, `codex (pid ${this.pid}): response to unknown request ${String(id)}`);
      return;
    }
    this.#pending.delete(id as number);
    this.#clock.clearTimeout(pending.timer);
    const error = asObject(message.error);
    if (error) {
      pending.reject(new ProviderError(`codex ${pending.method} failed: ${str(error.message) ?? JSON.stringify(error)}`, { data: { pid: this.pid, method: pending.method } }));
      return;
    }
    pending.resolve(message.result);
  }

  #onNotification(method: string, params: unknown): void {
    const p = asObject(params) ?? {};
    switch (method) {
      case 'turn/started': {
        const { turn } = p as unknown as TurnStartedNotification;
        const turnId = str(turn?.id);
        if (!turnId) return;
        this.#activeTurnId = turnId;
        const deliveryId = this.#turnDeliveries.get(turnId) ?? this.#startingDelivery;
        if (deliveryId !== undefined) this.#turnDeliveries.set(turnId, deliveryId);
        this.#dispatch({ type: 'turn.started', turnId, ...(deliveryId !== undefined ? { deliveryId } : {}) });
        return;
      }
      case 'item/started': {
        const { item } = p as unknown as ItemStartedNotification;
        if (!item || typeof item.id !== 'string') return;
        this.#items.set(item.id, item);
        const tool = toolOf(item);
        if (tool) this.#dispatch({ type: 'tool', name: tool.name, summary: tool.summary, status: 'started' });
        return;
      }
      case 'item/completed': {
        const { item, turnId } = p as unknown as ItemCompletedNotification;
        if (!item) return;
        this.#items.delete(item.id);
        this.#onItemCompleted(item, turnId);
        return;
      }
      case 'turn/completed': {
        const { turn } = p as unknown as TurnCompletedNotification;
        const turnId = str(turn?.id);
        this.#onTurnCompleted(turnId, turn);
        return;
      }
      case 'thread/tokenUsage/updated': {
        const { tokenUsage } = p as unknown as ThreadTokenUsageUpdatedNotification;
        // `last` is the newest model call: what the context holds now; `total` sums all calls.
        const used = tokenUsage?.last?.totalTokens;
        if (typeof used !== 'number' || !Number.isFinite(used)) return;
        const window = tokenUsage.modelContextWindow;
        this.#dispatch({ type: 'usage', usedTokens: used, ...(typeof window === 'number' ? { windowTokens: window } : {}) });
        return;
      }
      case 'serverRequest/resolved': {
        // Codex settled the request itself (turn interrupted, …): a decision arriving later is ignored.
        const { requestId } = p as unknown as ServerRequestResolvedNotification;
        for (const [key, approval] of this.#approvals) if (approval.rpcId === requestId) this.#approvals.delete(key);
        return;
      }
      case 'error': {
        const { error, willRetry } = p as unknown as ErrorNotification;
        this.#warn(`codex reported an error${willRetry ? ' (retrying)' : ''}: ${str(error?.message) ?? JSON.stringify(p)}`);
        return;
      }
      case 'warning':
      case 'configWarning':
      case 'deprecationNotice':
        this.#logger.warn(COMPONENT, `codex ${method}: ${str(p.message) ?? str(p.summary) ?? JSON.stringify(p)}`);
        return;
      default:
        // Unknown or uninteresting notifications are tolerated (newer CLIs add more).
        this.#logger.debug(COMPONENT, `codex (pid ${this.pid}) notification ${method}`);
    }
  }

  #onItemCompleted(item: ThreadItem, turnId: string | undefined): void {
    switch (item.type) {
      case 'reasoning': {
        const text = [...(item.summary ?? []), ...(item.content ?? [])].join('\n').trim();
        if (text) this.#dispatch({ type: 'reasoning', text });
        return;
      }
      case 'agentMessage': {
        const text = typeof item.text === 'string' ? item.text : '';
        if (turnId) this.#lastAgentText.set(turnId, text);
        if (text) this.#dispatch({ type: 'assistant', text });
        return;
      }
      default: {
        const tool = toolOf(item);
        if (!tool) return;
        const status = (item as { status?: unknown }).status;
        const exitCode = (item as { exitCode?: unknown }).exitCode;
        const failed = status === 'failed' || status === 'declined' || (typeof exitCode === 'number' && exitCode !== 0);
        const summary = status === 'declined' ? `${tool.summary} (declined)` : tool.summary;
        this.#dispatch({ type: 'tool', name: tool.name, summary, status: failed ? 'failed' : 'completed' });
      }
    }
  }

  #onTurnCompleted(turnId: string | undefined, turn: TurnCompletedNotification['turn'] | undefined): void {
    if (turnId !== undefined && this.#activeTurnId !== undefined && turnId !== this.#activeTurnId) {
      this.#logger.debug(COMPONENT, `codex (pid ${this.pid}): completion of turn ${turnId} while ${this.#activeTurnId} is active`);
    }
    this.#activeTurnId = undefined;
    // A settled turn takes its approval requests with it: deny them (fail closed), never apply late.
    this.#denyOpenApprovals(turnId, 'the turn ended before a decision arrived');
    const status = turn?.status;
    const error = str(asObject(turn?.error)?.message);
    if (status === 'failed') this.#warn(`codex turn ${turnId ?? '?'} failed: ${error ?? 'no reason given'}`);
    let finalText = turnId !== undefined ? this.#lastAgentText.get(turnId) : undefined;
    if (finalText === undefined && Array.isArray(turn?.items)) {
      for (const item of turn.items) if (item.type === 'agentMessage' && typeof item.text === 'string') finalText = item.text;
    }
    if (turnId !== undefined) {
      this.#lastAgentText.delete(turnId);
      this.#turnDeliveries.delete(turnId);
    }
    const interrupted = status === 'interrupted' || status === 'failed';
    this.#dispatch({
      type: 'turn.completed',
      ...(turnId !== undefined ? { turnId } : {}),
      ...(finalText ? { finalText } : {}),
      ...(interrupted ? { interrupted: true } : {}),
    });
    this.#startNextQueued();
  }

  #onServerRequest(id: number | string, method: string, params: unknown): void {
    const p = asObject(params) ?? {};
    switch (method) {
      case 'item/commandExecution/requestApproval': {
        const q = p as unknown as CommandExecutionRequestApprovalParams;
        const command = str(q.command) ?? commandOf(this.#items.get(q.itemId)) ?? '(command not given)';
        const summary = q.reason ? `${command} — ${q.reason}` : command;
        const available = (p as { availableDecisions?: unknown }).availableDecisions;
        this.#openApproval(id, method, q.turnId, 'shell', summary, Array.isArray(available) ? available : undefined);
        return;
      }
      case 'item/fileChange/requestApproval': {
        const q = p as unknown as FileChangeRequestApprovalParams;
        const item = this.#items.get(q.itemId);
        const paths = item?.type === 'fileChange' ? item.changes.map((c) => `${c.kind.type} ${c.path}`).join(', ') : '';
        const summary = [paths || `file change ${q.itemId}`, q.reason].filter(Boolean).join(' — ');
        this.#openApproval(id, method, q.turnId, 'apply_patch', summary, undefined);
        return;
      }
      case 'execCommandApproval': {
        const q = p as unknown as ExecCommandApprovalParams;
        const command = Array.isArray(q.command) ? q.command.join(' ') : '(command not given)';
        this.#openApproval(id, method, this.#activeTurnId, 'shell', q.reason ? `${command} — ${q.reason}` : command, undefined);
        return;
      }
      case 'applyPatchApproval': {
        const q = p as unknown as ApplyPatchApprovalParams;
        const paths = Object.keys(asObject(q.fileChanges) ?? {}).join(', ') || 'file change';
        this.#openApproval(id, method, this.#activeTurnId, 'apply_patch', q.reason ? `${paths} — ${q.reason}` : paths, undefined);
        return;
      }
      default: {
        // Anything else we cannot relay is refused, so Codex never waits forever (fail closed).
        const message = `codex asked ${method}, which agent-relay-runner does not support; refused`;
        this.#warn(message);
        this.#respondError(id, message);
      }
    }
  }

  #openApproval(rpcId: number | string, method: string, turnId: string | undefined, tool: string, summary: string, available: unknown[] | undefined): void {
    const requestId = `codex-${String(rpcId)}-${this.pid ?? 0}`;
    if (this.#stopping || this.#exitRecord) {
      this.#answerApproval({ rpcId, method, turnId, available }, false, 'the session is stopping');
      return;
    }
    this.#approvals.set(requestId, { rpcId, method, turnId, available });
    this.#logger.info(COMPONENT, `codex (pid ${this.pid}) asks permission ${requestId}: ${tool} ${shorten(summary)}`);
    this.#dispatch({ type: 'permission', requestId, tool, summary });
  }

  #denyOpenApprovals(turnId: string | undefined, reason: string): void {
    for (const [key, approval] of this.#approvals) {
      if (turnId !== undefined && approval.turnId !== undefined && approval.turnId !== turnId) continue;
      this.#approvals.delete(key);
      this.#logger.info(COMPONENT, `codex (pid ${this.pid}): permission ${key} denied: ${reason}`);
      this.#answerApproval(approval, false, reason);
    }
  }

  #answerApproval(approval: OpenApproval, allow: boolean, reason: string | undefined): void {
    switch (approval.method) {
      case 'item/commandExecution/requestApproval': {
        // Prefer "decline" (the turn goes on without the command); "cancel" when it is all that is offered.
        const offered = approval.available;
        const deny = offered && !offered.includes('decline') && offered.includes('cancel') ? 'cancel' : 'decline';
        const response: CommandExecutionRequestApprovalResponse = { decision: allow ? 'accept' : deny };
        this.#respond(approval.rpcId, response);
        return;
      }
      case 'item/fileChange/requestApproval': {
        const response: FileChangeRequestApprovalResponse = { decision: allow ? 'accept' : 'decline' };
        this.#respond(approval.rpcId, response);
        return;
      }
      default: {
        // Legacy (v1) approvals carry a rejection reason the agent sees.
        const response: ExecCommandApprovalResponse = {
          decision: allow ? 'approved' : { denied: { rejection: reason ?? 'denied by the relay' } },
        };
        this.#respond(approval.rpcId, response);
      }
    }
  }

  #dispatch(event: ProviderEvent): void {
    this.#events.dispatch(event);
  }

}

/** The command of a command-execution item, if it is one. */
function commandOf(item: ThreadItem | undefined): string | undefined {
  return item?.type === 'commandExecution' ? item.command : undefined;
}

/** A tool step for the mirror, for items that are tool calls. */
function toolOf(item: ThreadItem): { name: string; summary: string } | undefined {
  switch (item.type) {
    case 'commandExecution':
      return { name: 'shell', summary: item.command };
    case 'fileChange':
      return { name: 'apply_patch', summary: (item.changes ?? []).map((c) => `${c.kind?.type ?? 'update'} ${c.path}`).join(', ') };
    case 'mcpToolCall':
      return { name: `${item.server}.${item.tool}`, summary: shorten(JSON.stringify(item.arguments ?? null)) };
    case 'dynamicToolCall':
      return { name: item.tool, summary: shorten(JSON.stringify(item.arguments ?? null)) };
    case 'webSearch':
      return { name: 'web_search', summary: str((item as { query?: unknown }).query) ?? '' };
    default:
      return undefined;
  }
}

/**
 * The Codex provider: `codex app-server` over JSON-RPC on stdio (SPEC §9).
 *
 * @remarks
 * Each start spawns `codex app-server` with an isolated `CODEX_HOME` (see
 * {@link CodexProviderOptions.codexHome}), sends `initialize` / `initialized`, then `thread/resume`
 * with the runner's recorded session id (a `session` event with source `resume`) or `thread/start`
 * (source `startup`). The thread id is the session id. Turns go out as `turn/start`; a turn
 * delivered while another runs is queued and started when that one completes
 * (`midTurnMessages: 'queue'`, see docs/providers.md). Notifications map to events: `turn/started`
 * → `turn.started` with the turn's delivery id; completed reasoning items → `reasoning`;
 * command executions, file changes and tool calls → `tool` (started, then completed / failed);
 * agent messages → `assistant`; `turn/completed` → `turn.completed` with the last agent message as
 * `finalText`; `thread/tokenUsage/updated` → `usage` (the newest call's tokens and the context
 * window). Command and file-change approval requests become `permission` events answered through
 * {@link ProviderSession.decidePermission}; a malformed decision, the end of the turn, or the end
 * of the session denies them (fail closed); other server requests are refused. Unparseable lines
 * are logged with `logger.warn` and surfaced as `warning` events; unknown fields and notifications
 * are tolerated. Telemetry and update checks are switched off with `-c` overrides.
 * @public
 */
export function createCodexProvider(options: CodexProviderOptions = {}): ProviderAdapter {
  const command = options.command ?? 'codex';
  const minVersion = options.minVersion ?? MIN_CODEX_VERSION;
  const settings: SessionSettings = {
    stopGraceMs: options.stopGraceMs ?? 2_000,
    killGraceMs: options.killGraceMs ?? 3_000,
    bufferEvents: options.bufferEvents ?? 1_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    approvalPolicy: options.approvalPolicy ?? 'on-request',
    sandbox: options.sandbox ?? 'workspace-write',
  };
  const versionTimeoutMs = options.versionTimeoutMs ?? 10_000;
  const args = ['app-server', ...configArgs(options)];
  let codexHome: Promise<string> | undefined = options.codexHome === undefined ? undefined : Promise.resolve(options.codexHome);

  const resolveHome = (): Promise<string> => {
    // One private home for the adapter's lifetime: a restarted process must find the thread rollout.
    codexHome ??= (async () => {
      const dir = await mkdtemp(join(tmpdir(), 'agent-relay-codex-'));
      await chmod(dir, 0o700);
      return dir;
    })();
    return codexHome;
  };

  return {
    name: 'codex',
    capabilities: CAPABILITIES,

    async checkVersion(deps: ProviderDeps): Promise<string> {
      let child: SpawnedProcess;
      try {
        child = await deps.spawner.spawn({ command, args: ['--version'] });
      } catch (error) {
        throw new ProviderError(`cannot run the Codex CLI "${command}": ${describeError(error)}`, {
          data: { command, ...(isRunnerError(error) ? { causeCode: error.code } : {}) },
          cause: error,
        });
      }
      const probe = await probeVersion(child, versionTimeoutMs, deps.clock);
      if (probe.kind === 'timeout') {
        throw new ProviderError(`"${command} --version" did not answer within ${versionTimeoutMs} ms`, { data: { command } });
      }
      if (probe.kind === 'failed') {
        const { exit, detail } = probe;
        throw new ProviderError(`"${command} --version" failed (code ${exit.code ?? exit.signal}): ${detail}`, {
          data: { command, code: exit.code, signal: exit.signal },
        });
      }
      const found = probe.version;
      if (compareVersions(found, minVersion) < 0) {
        throw new ProviderError(`Codex CLI ${found} is too old: agent-relay-runner needs ${minVersion} or later (${command})`, {
          data: { command, version: found, minVersion },
        });
      }
      deps.logger.info(COMPONENT, `codex version ${found} (${command})`);
      return found;
    },

    async start(launch: ProviderLaunch, deps: ProviderDeps): Promise<ProviderSession> {
      const home = await resolveHome();
      const env: Record<string, string> = { ...launch.env, ...options.env, CODEX_HOME: home };
      let child: SpawnedProcess;
      try {
        child = await deps.spawner.spawn({ command, args: [...args, ...(launch.extraArgs ?? [])], cwd: launch.cwd, env });
      } catch (error) {
        throw new ProviderError(`cannot start codex app-server: ${describeError(error)}`, {
          data: { command, cwd: launch.cwd, ...(isRunnerError(error) ? { causeCode: error.code } : {}) },
          cause: error,
        });
      }
      const resumeNote = launch.resumeSessionId === undefined ? '' : `, resuming ${launch.resumeSessionId}`;
      deps.logger.info(COMPONENT, `codex app-server started (pid ${child.pid}, CODEX_HOME ${home}${resumeNote})`);
      const session = new CodexSession(child, deps, settings, launch.cwd);
      try {
        await session.open(launch.resumeSessionId, CLIENT_VERSION);
      } catch (error) {
        await child.kill({ signal: 'SIGKILL' }).catch(() => undefined);
        throw new ProviderError(`codex app-server handshake failed: ${describeError(error)}`, { data: { command, pid: child.pid }, cause: error });
      }
      return session;
    },
  };
}
