import type { ProcessExit } from '../../ports/process-spawner.js';
import type { PermissionDecision, ProviderEvent, ProviderSession, ProviderTurn, TerminalAttachSpec } from '../../ports/provider.js';
import { ProviderError } from '../../errors/index.js';
import { describeError } from '../../shared/describe-error.js';
import type { JsonLinesProcess } from '../kit/process-session.js';
import { COMPONENT, shorten } from '../kit/text.js';
import type { InitializeParams } from './protocol/InitializeParams.js';
import type { ThreadStartParams } from './protocol/v2/ThreadStartParams.js';
import type { ThreadStartResponse } from './protocol/v2/ThreadStartResponse.js';
import type { ThreadResumeParams } from './protocol/v2/ThreadResumeParams.js';
import type { TurnStartParams } from './protocol/v2/TurnStartParams.js';
import type { TurnStartResponse } from './protocol/v2/TurnStartResponse.js';
import type { TurnInterruptParams } from './protocol/v2/TurnInterruptParams.js';
import type { TurnStartedNotification } from './protocol/v2/TurnStartedNotification.js';
import type { TurnCompletedNotification } from './protocol/v2/TurnCompletedNotification.js';
import type { ItemStartedNotification } from './protocol/v2/ItemStartedNotification.js';
import type { ItemCompletedNotification } from './protocol/v2/ItemCompletedNotification.js';
import type { ThreadItem } from './protocol/v2/ThreadItem.js';
import type { ThreadTokenUsageUpdatedNotification } from './protocol/v2/ThreadTokenUsageUpdatedNotification.js';
import type { ErrorNotification } from './protocol/v2/ErrorNotification.js';
import type { ServerRequestResolvedNotification } from './protocol/v2/ServerRequestResolvedNotification.js';
import type { AskForApproval } from './protocol/v2/AskForApproval.js';
import type { SandboxMode } from './protocol/v2/SandboxMode.js';
import { approvalAnswer, readApprovalRequest, type OpenApproval } from './approvals.js';
import { completedItemEvent, toolOf } from './mapping.js';
import { asObject, str } from '../kit/json.js';
import { JsonRpcClient } from '../kit/json-rpc.js';

/** What a session needs beyond its process. */
export interface CodexSessionSettings {
  requestTimeoutMs: number;
  approvalPolicy: AskForApproval;
  sandbox: SandboxMode;
}

/** A JSON-RPC connection to `codex app-server` plus the mapping to provider events. */
export class CodexSession implements ProviderSession {
  readonly pid: number | undefined;
  readonly exited: Promise<ProcessExit>;
  readonly #proc: JsonLinesProcess;
  readonly #rpc: JsonRpcClient;
  readonly #settings: CodexSessionSettings;
  readonly #cwd: string;
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
  /**
   * Events held while a `turn/start` request is in flight. Codex may announce the turn
   * (`turn/started`) before it answers the request, that is before `deliver()` resolves; the runner
   * only counts a turn as consumed once its delivery was injected, so the events wait until the
   * caller of `deliver()` has seen it resolve (one timer tick), and keep their order.
   */
  #held: ProviderEvent[] | undefined;

  constructor(proc: JsonLinesProcess, settings: CodexSessionSettings, cwd: string) {
    this.#proc = proc;
    this.pid = proc.pid;
    this.#settings = settings;
    this.#cwd = cwd;
    this.#rpc = new JsonRpcClient(proc, settings.requestTimeoutMs);
    this.exited = proc.exited;
    const handlers = {
      onServerRequest: (id: number | string, method: string, params: unknown) => this.#onServerRequest(id, method, params),
      onNotification: (method: string, params: unknown) => this.#onNotification(method, params),
    };
    proc.listen({
      onMessage: (message) => this.#rpc.route(message, handlers),
      onStderr: (line) => proc.deps.logger.debug(COMPONENT, `codex (pid ${this.pid}) stderr: ${shorten(line)}`),
      onExit: () => {
        // Nothing can be answered any more: the requests die with the process (fail closed).
        this.#approvals.clear();
        this.#rpc.failAll();
      },
    });
  }

  get #logger() {
    return this.#proc.deps.logger;
  }

  /** Handshake and thread start (or resume). Rejects with ProviderError. */
  async open(resumeThreadId: string | undefined, clientVersion: string): Promise<void> {
    const init: InitializeParams = {
      clientInfo: { name: 'agent_relay_runner', title: 'agent-relay-runner', version: clientVersion },
      capabilities: { experimentalApi: false, requestAttestation: false },
    };
    await this.#rpc.request('initialize', init);
    await this.#rpc.notify('initialized');
    const common = { cwd: this.#cwd, approvalPolicy: this.#settings.approvalPolicy, sandbox: this.#settings.sandbox };
    if (resumeThreadId !== undefined) {
      try {
        const params: ThreadResumeParams = { threadId: resumeThreadId, ...common, excludeTurns: true };
        const resumed = (await this.#rpc.request('thread/resume', params)) as ThreadStartResponse;
        this.#threadId = this.#threadIdOf(resumed);
        this.#logger.info(COMPONENT, `codex (pid ${this.pid}) resumed thread ${this.#threadId}`);
        this.#dispatch({ type: 'session', sessionId: this.#threadId, source: 'resume' });
        return;
      } catch (error) {
        if (this.#proc.exit) throw error;
        // A thread that cannot be resumed (rollout gone) must not keep the agent down: start fresh, loudly.
        this.#proc.warn(`codex could not resume thread ${resumeThreadId} (${describeError(error)}); starting a new thread`);
      }
    }
    const params: ThreadStartParams = { ...common };
    const started = (await this.#rpc.request('thread/start', params)) as ThreadStartResponse;
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
    if (!this.#proc.running) {
      throw new ProviderError(`cannot deliver ${turn.deliveryId}: codex is ${this.#proc.stopping ? 'stopping' : 'not running'}`, { data: { pid: this.pid } });
    }
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
    if (!this.#proc.running || !this.#threadId || turnId === undefined) return;
    const params: TurnInterruptParams = { threadId: this.#threadId, turnId };
    try {
      await this.#rpc.request('turn/interrupt', params);
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
    this.#rpc.respond(approval.rpcId, approvalAnswer(approval, allow, reason));
  }

  onEvent(listener: (event: ProviderEvent) => void): () => void {
    return this.#proc.events.subscribe(listener);
  }

  attachSpec(): TerminalAttachSpec {
    return { kind: 'none' };
  }

  stop(): Promise<ProcessExit> {
    // app-server exits when its stdin closes; signals are only the fallback.
    return this.#proc.stop(() => this.#denyOpenApprovals(undefined, 'the session is stopping'));
  }

  // ---- turns -------------------------------------------------------------------------------

  async #startTurn(turn: ProviderTurn): Promise<void> {
    const threadId = this.#threadId;
    if (!threadId) throw new ProviderError('codex has no thread yet', { data: { pid: this.pid } });
    this.#startingDelivery = turn.deliveryId;
    this.#held ??= [];
    const params: TurnStartParams = { threadId, input: [{ type: 'text', text: turn.text, text_elements: [] }] };
    try {
      const response = (await this.#rpc.request('turn/start', params)) as TurnStartResponse;
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
      this.#proc.deps.clock.setTimeout(() => this.#releaseHeld(), 0);
    }
  }

  #releaseHeld(): void {
    // Another turn/start went out meanwhile: its own release comes later.
    if (this.#startingDelivery !== undefined) return;
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const event of held) this.#proc.dispatch(event);
  }

  /** Start the next queued turn once the thread is free. */
  #startNextQueued(): void {
    if (this.#activeTurnId !== undefined || this.#startingDelivery !== undefined || !this.#proc.running) return;
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

  // ---- what the server sends ---------------------------------------------------------------

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
        const { event, agentText } = completedItemEvent(item);
        if (agentText !== undefined && turnId) this.#lastAgentText.set(turnId, agentText);
        if (event) this.#dispatch(event);
        return;
      }
      case 'turn/completed': {
        const { turn } = p as unknown as TurnCompletedNotification;
        this.#onTurnCompleted(str(turn?.id), turn);
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
        this.#proc.warn(`codex reported an error${willRetry ? ' (retrying)' : ''}: ${str(error?.message) ?? JSON.stringify(p)}`);
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

  #onTurnCompleted(turnId: string | undefined, turn: TurnCompletedNotification['turn'] | undefined): void {
    if (turnId !== undefined && this.#activeTurnId !== undefined && turnId !== this.#activeTurnId) {
      this.#logger.debug(COMPONENT, `codex (pid ${this.pid}): completion of turn ${turnId} while ${this.#activeTurnId} is active`);
    }
    this.#activeTurnId = undefined;
    // A settled turn takes its approval requests with it: deny them (fail closed), never apply late.
    this.#denyOpenApprovals(turnId, 'the turn ended before a decision arrived');
    const status = turn?.status;
    const error = str(asObject(turn?.error)?.message);
    if (status === 'failed') this.#proc.warn(`codex turn ${turnId ?? '?'} failed: ${error ?? 'no reason given'}`);
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
    const ask = readApprovalRequest(method, params, this.#items, this.#activeTurnId);
    if (!ask) {
      // Anything else we cannot relay is refused, so Codex never waits forever (fail closed).
      const message = `codex asked ${method}, which agent-relay-runner does not support; refused`;
      this.#proc.warn(message);
      this.#rpc.respondError(id, message);
      return;
    }
    const approval: OpenApproval = { rpcId: id, method, turnId: ask.turnId, available: ask.available };
    const requestId = `codex-${String(id)}-${this.pid ?? 0}`;
    if (!this.#proc.running) {
      this.#rpc.respond(id, approvalAnswer(approval, false, 'the session is stopping'));
      return;
    }
    this.#approvals.set(requestId, approval);
    this.#logger.info(COMPONENT, `codex (pid ${this.pid}) asks permission ${requestId}: ${ask.tool} ${shorten(ask.summary)}`);
    this.#dispatch({ type: 'permission', requestId, tool: ask.tool, summary: ask.summary });
  }

  #denyOpenApprovals(turnId: string | undefined, reason: string): void {
    for (const [key, approval] of this.#approvals) {
      if (turnId !== undefined && approval.turnId !== undefined && approval.turnId !== turnId) continue;
      this.#approvals.delete(key);
      this.#logger.info(COMPONENT, `codex (pid ${this.pid}): permission ${key} denied: ${reason}`);
      this.#rpc.respond(approval.rpcId, approvalAnswer(approval, false, reason));
    }
  }

  #dispatch(event: ProviderEvent): void {
    if (this.#held) this.#held.push(event);
    else this.#proc.dispatch(event);
  }
}
