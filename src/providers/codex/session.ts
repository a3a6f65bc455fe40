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
import { answerCarriesReason, approvalAnswer, readApprovalRequest, type OpenApproval } from './approvals.js';
import { FollowUpChain } from './follow-ups.js';
import { McpStartupWatch } from './mcp-startup.js';
import { completedItemEvent, toolOf } from './mapping.js';
import { asObject, str } from '../kit/json.js';
import { JsonRpcClient } from '../kit/json-rpc.js';
import { HeldEvents, TurnQueue } from '../kit/turn-queue.js';

/** What a session needs beyond its process. */
export interface CodexSessionSettings {
  /** Model for the thread (from the agent profile); absent: the `-c model` / Codex default. */
  model?: string;
  /** Developer instructions for the thread (the profile's extra instructions). */
  developerInstructions?: string;
  requestTimeoutMs: number;
  approvalPolicy: AskForApproval;
  sandbox: SandboxMode;
  /** Appended to the reminder: how to answer from inside Codex (the relay MCP tools, when registered). */
  howToAnswer?: string | undefined;
  /**
   * An MCP server whose startup the session waits for before it counts as open, at most
   * `timeoutMs`: Codex starts a thread's MCP servers in the background and runs turns meanwhile,
   * so a first turn could call a tool that is not there yet ("unsupported call").
   */
  awaitMcpServer?: { name: string; timeoutMs: number } | undefined;
}


/**
 * One relay message's turn and the follow-up turns it took (reminder, notes): the runner sees one
 * `turn.started` (the first turn's id) and one `turn.completed` for all of it.
 */
interface TurnChain {
  deliveryId: string;
  firstTurnId: string | undefined;
  /** The newest agent message of any turn of the chain: the chain's final reply. */
  lastText: string | undefined;
  followUps: FollowUpChain;
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
  /**
   * Turns that completed while a `turn/start` was unanswered. Under load Codex can run a whole fast
   * turn (started … completed) before it writes the answer to `turn/start`; that late answer must
   * not make the finished turn "active" again, or every later message waits behind it forever.
   */
  readonly #completedWhileStarting = new Set<string>();
  /** The last turns that completed (bounded), to tell a late answer from one naming an old turn. */
  readonly #recentlyCompleted: string[] = [];
  #activeTurnId: string | undefined;
  /** Turns delivered while another runs: started in order when it completes (kit/turn-queue.ts). */
  readonly #queue: TurnQueue;
  /** Text of the latest agent message per turn (the final reply). */
  readonly #lastAgentText = new Map<string, string>();
  /** Items seen started, for summaries of later approval requests. */
  readonly #items = new Map<string, ThreadItem>();
  readonly #approvals = new Map<string, OpenApproval>();
  /**
   * Events held while a `turn/start` request is in flight: Codex may announce the turn
   * (`turn/started`) before it answers the request, that is before `deliver()` resolves.
   */
  readonly #held: HeldEvents;
  /** The chain of the relay message being answered (see {@link TurnChain}). */
  #chain: TurnChain | undefined;
  /** Turn ids of follow-up turns: their `turn/started` is not a new relay turn. */
  readonly #followUpTurns = new Set<string>();
  /** A follow-up `turn/start` is in flight (its turn id is not known yet). */
  #startingFollowUp = false;
  /** `interrupt()` was called for the running chain: it ends without follow-ups. */
  #interrupted = false;
  readonly #mcp = new McpStartupWatch();

  constructor(proc: JsonLinesProcess, settings: CodexSessionSettings, cwd: string) {
    this.#proc = proc;
    this.pid = proc.pid;
    this.#settings = settings;
    this.#cwd = cwd;
    this.#rpc = new JsonRpcClient(proc, settings.requestTimeoutMs);
    this.exited = proc.exited;
    this.#held = new HeldEvents(proc);
    this.#queue = new TurnQueue(proc, {
      who: 'codex',
      busy: () => this.#busy(),
      start: (turn) => this.#startTurn(turn),
      dispatch: (event) => this.#dispatch(event),
    });
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
        this.#mcp.poke();
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
    const { model, developerInstructions } = this.#settings;
    const common = {
      cwd: this.#cwd, approvalPolicy: this.#settings.approvalPolicy, sandbox: this.#settings.sandbox,
      ...(model === undefined ? {} : { model }), ...(developerInstructions === undefined ? {} : { developerInstructions }),
    };
    if (resumeThreadId !== undefined) {
      try {
        const params: ThreadResumeParams = { threadId: resumeThreadId, ...common, excludeTurns: true };
        const resumed = (await this.#rpc.request('thread/resume', params)) as ThreadStartResponse;
        this.#threadId = this.#threadIdOf(resumed);
        this.#logger.info(COMPONENT, `codex (pid ${this.pid}) resumed thread ${this.#threadId}`);
        await this.#awaitMcpServer();
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
    await this.#awaitMcpServer();
    this.#dispatch({ type: 'session', sessionId: this.#threadId, source: 'startup' });
  }

  /** Wait (bounded) until the awaited MCP server is ready or failed; a failure or timeout is a warning, not an error. */
  async #awaitMcpServer(): Promise<void> {
    const wanted = this.#settings.awaitMcpServer;
    if (!wanted) return;
    const state = await this.#mcp.settled(wanted.name, wanted.timeoutMs, this.#proc.deps.clock, () => this.#proc.running);
    if (state?.status === 'ready' || !this.#proc.running) return;
    const why = state ? `${state.status}${state.error ? `: ${state.error}` : ''}` : `not ready within ${wanted.timeoutMs} ms`;
    this.#proc.warn(`codex: the ${wanted.name} MCP server (the agent's relay tools) is ${why}; the agent can only answer with the send command`);
  }

  #threadIdOf(response: ThreadStartResponse): string {
    const id = str(asObject(asObject(response)?.thread)?.id);
    if (!id) throw new ProviderError('codex answered the thread request without a thread id', { data: { pid: this.pid } });
    return id;
  }

  // ---- ProviderSession ----------------------------------------------------------------------

  deliver(turn: ProviderTurn): Promise<void> {
    // Queued, not steered (docs/providers.md): each relay message keeps its own turn id and reply.
    return this.#queue.deliver(turn);
  }

  async interrupt(): Promise<void> {
    const turnId = this.#activeTurnId;
    if (!this.#proc.running || !this.#threadId || turnId === undefined) return;
    const params: TurnInterruptParams = { threadId: this.#threadId, turnId };
    // An interrupted chain ends as it is: no reminder, no notes.
    this.#interrupted = true;
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
    if (!allow && reason && !answerCarriesReason(approval.method)) {
      // The v2 answer has no field for it: the model learns the reason in a follow-up turn.
      this.#chain?.followUps.note(`The relay denied ${approval.label ?? 'a permission request'}. Reason: ${reason}`);
    }
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
    this.#chain = { deliveryId: turn.deliveryId, firstTurnId: undefined, lastText: undefined, followUps: new FollowUpChain(this.#settings.howToAnswer) };
    this.#interrupted = false;
    this.#held.hold();
    const params: TurnStartParams = { threadId, input: [{ type: 'text', text: turn.text, text_elements: [] }] };
    try {
      const response = (await this.#rpc.request('turn/start', params)) as TurnStartResponse;
      const turnId = str(asObject(asObject(response)?.turn)?.id);
      const alreadyEnded = turnId !== undefined && (this.#completedWhileStarting.has(turnId) || this.#recentlyCompleted.includes(turnId));
      if (turnId !== undefined && alreadyEnded && !this.#completedWhileStarting.has(turnId)) {
        // An answer naming a turn that had ended before this turn/start went out: the input was
        // steered into it and may never be answered. Say so rather than wait on a dead turn.
        this.#proc.warn(`codex answered turn/start for ${turn.deliveryId} with turn ${turnId}, which had already completed; the message may go unanswered`);
      }
      if (turnId && !alreadyEnded) {
        this.#turnDeliveries.set(turnId, turn.deliveryId);
        this.#activeTurnId ??= turnId;
        if (this.#chain?.deliveryId === turn.deliveryId) this.#chain.firstTurnId ??= turnId;
      }
      this.#logger.debug(COMPONENT, `codex (pid ${this.pid}): delivered ${turn.deliveryId} as turn ${turnId ?? '?'}${alreadyEnded ? ' (already completed)' : ''}`);
    } catch (error) {
      if (this.#chain?.deliveryId === turn.deliveryId) this.#chain = undefined;
      throw new ProviderError(`cannot deliver ${turn.deliveryId} to codex: ${describeError(error)}`, { data: { pid: this.pid }, cause: error });
    } finally {
      if (this.#startingDelivery === turn.deliveryId) this.#startingDelivery = undefined;
      this.#completedWhileStarting.clear();
      this.#held.afterTick(() => {
        // Another turn/start went out meanwhile: its own release comes later.
        if (this.#startingDelivery === undefined) this.#held.release();
        // A turn that completed before this answer could not start the next queued one then.
        this.#queue.startNext();
      });
    }
  }

  /** Whether a turn runs or is being started (a delivered one or a follow-up). */
  #busy(): boolean {
    return this.#activeTurnId !== undefined || this.#startingDelivery !== undefined || this.#startingFollowUp;
  }

  // ---- what the server sends ---------------------------------------------------------------

  #onNotification(method: string, params: unknown): void {
    const p = asObject(params) ?? {};
    switch (method) {
      case 'turn/started': {
        const { turn } = p as unknown as TurnStartedNotification;
        const turnId = str(turn?.id);
        if (!turnId) return;
        this.#logger.debug(COMPONENT, `codex (pid ${this.pid}): turn/started ${turnId}`);
        this.#activeTurnId = turnId;
        if (this.#startingFollowUp || this.#followUpTurns.has(turnId)) {
          // A follow-up continues the chain's turn: not a new relay turn for the runner.
          this.#followUpTurns.add(turnId);
          return;
        }
        if (this.#chain && this.#chain.deliveryId === (this.#turnDeliveries.get(turnId) ?? this.#startingDelivery)) this.#chain.firstTurnId ??= turnId;
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
        this.#logger.debug(COMPONENT, `codex (pid ${this.pid}): turn/completed ${str(turn?.id) ?? '?'} (${str(turn?.status) ?? '?'})`);
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
      case 'mcpServer/startupStatus/updated': {
        const update = this.#mcp.update(p);
        if (update) this.#logger.debug(COMPONENT, `codex (pid ${this.pid}): MCP server ${update.name} ${update.status}`);
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
    if (turnId !== undefined && this.#startingDelivery !== undefined) this.#completedWhileStarting.add(turnId);
    if (turnId !== undefined && this.#recentlyCompleted.push(turnId) > 32) this.#recentlyCompleted.shift();
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
      this.#followUpTurns.delete(turnId);
    }
    const chain = this.#chain;
    if (chain && finalText) chain.lastText = finalText;
    const interrupted = status === 'interrupted' || status === 'failed';
    // Follow-ups only for a chain that ended on its own (a cancelled command counts: its note must
    // reach the model), never after interrupt(), a failure, or with the process going away.
    if (chain && !this.#interrupted && status !== 'failed' && this.#proc.running) {
      const followUp = chain.followUps.next(this.#proc.deps.host?.stopDecision(false), true);
      if (followUp) {
        const what = [followUp.reminded.length > 0 ? `reminding it of ${followUp.reminded.join(', ')}` : '', followUp.notes.length > 0 ? `${followUp.notes.length} note(s)` : '']
          .filter(Boolean)
          .join(' and ');
        this.#logger.info(COMPONENT, `codex (pid ${this.pid}): turn ${turnId ?? '?'} of ${chain.deliveryId} ended; follow-up turn ${chain.followUps.taken} (${what || 'a reminder'})`);
        this.#startFollowUp(chain, followUp.text);
        return;
      }
    }
    this.#endChain(chain, turnId, chain ? chain.lastText : finalText, interrupted);
  }

  /** The runner's `turn.completed` for the chain (or a lone turn), then the next queued turn. */
  #endChain(chain: TurnChain | undefined, turnId: string | undefined, finalText: string | undefined, interrupted: boolean): void {
    if (chain && this.#chain === chain) this.#chain = undefined;
    this.#interrupted = false;
    const reportedTurnId = chain?.firstTurnId ?? turnId;
    this.#dispatch({
      type: 'turn.completed',
      ...(reportedTurnId !== undefined ? { turnId: reportedTurnId } : {}),
      ...(finalText ? { finalText } : {}),
      ...(interrupted ? { interrupted: true } : {}),
    });
    this.#queue.startNext();
  }

  /** One more turn of the chain (reminder or notes); the chain ends when it does. */
  #startFollowUp(chain: TurnChain, text: string): void {
    const threadId = this.#threadId;
    if (!threadId) return this.#endChain(chain, undefined, chain.lastText, false);
    this.#startingFollowUp = true;
    const params: TurnStartParams = { threadId, input: [{ type: 'text', text, text_elements: [] }] };
    this.#rpc
      .request('turn/start', params)
      .then((response) => {
        const turnId = str(asObject(asObject(response)?.turn)?.id);
        if (turnId && !this.#followUpTurns.has(turnId) && this.#activeTurnId === undefined) this.#activeTurnId = turnId;
        if (turnId) this.#followUpTurns.add(turnId);
        this.#startingFollowUp = false;
      })
      .catch((error: unknown) => {
        this.#startingFollowUp = false;
        this.#proc.warn(`codex: the follow-up turn of ${chain.deliveryId} could not be started: ${describeError(error)}`);
        this.#endChain(chain, undefined, chain.lastText, false);
      });
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
    const approval: OpenApproval = { rpcId: id, method, turnId: ask.turnId, available: ask.available, label: `${ask.tool}: ${shorten(ask.summary)}` };
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
    this.#held.dispatch(event);
  }
}
