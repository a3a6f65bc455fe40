import type { ProcessExit } from '../../ports/process-spawner.js';
import type { PermissionDecision, ProviderEvent, ProviderSession, ProviderTurn, TerminalAttachSpec } from '../../ports/provider.js';
import { ProviderError } from '../../errors/index.js';
import { describeError } from '../../shared/describe-error.js';
import { asObject, num, str } from '../kit/json.js';
import { JsonRpcClient } from '../kit/json-rpc.js';
import type { JsonLinesProcess } from '../kit/process-session.js';
import { COMPONENT, shorten, summarizeToolInput } from '../kit/text.js';
import { HeldEvents, TurnQueue } from '../kit/turn-queue.js';
import { UpdateMapper } from './mapping.js';

/** ACP protocol version this client speaks. */
const ACP_PROTOCOL_VERSION = 1;

/** A permission request OpenCode is waiting on. */
interface OpenPermission {
  rpcId: number | string;
  options: { optionId: string; kind: string }[];
  turnId: string | undefined;
}

/** The turn OpenCode is working on. */
interface ActiveTurn {
  deliveryId: string;
  turnId: string;
  /** The prompt was written (a prompt that never went out has no turn to end). */
  written: boolean;
}

/**
 * One `opencode acp` process speaking the Agent Client Protocol (JSON-RPC on stdio): a session
 * created or loaded at start, one `session/prompt` per turn, `session/update` notifications mapped
 * to events, permission requests relayed.
 */
export class OpenCodeSession implements ProviderSession {
  readonly pid: number | undefined;
  readonly exited: Promise<ProcessExit>;
  readonly #proc: JsonLinesProcess;
  readonly #rpc: JsonRpcClient;
  readonly #mapper: UpdateMapper;
  readonly #cwd: string;
  #sessionId: string | undefined;
  /** While `session/load` replays the history: its updates are the past, not this turn. */
  #loading = false;
  #active: ActiveTurn | undefined;
  #turns = 0;
  /** Turns delivered while another runs: prompted in order when it ends (kit/turn-queue.ts). */
  readonly #queue: TurnQueue;
  readonly #permissions = new Map<string, OpenPermission>();
  /** Events held from the moment a prompt is written until its `turn.started` went out. */
  readonly #held: HeldEvents;

  constructor(proc: JsonLinesProcess, requestTimeoutMs: number, cwd: string) {
    this.#proc = proc;
    this.pid = proc.pid;
    this.exited = proc.exited;
    this.#cwd = cwd;
    this.#rpc = new JsonRpcClient(proc, requestTimeoutMs);
    this.#held = new HeldEvents(proc);
    this.#queue = new TurnQueue(proc, {
      who: 'opencode',
      busy: () => this.#active !== undefined,
      start: (turn) => this.#prompt(turn),
      dispatch: (event) => this.#dispatch(event),
    });
    this.#mapper = new UpdateMapper((event) => this.#dispatch(event));
    const handlers = {
      onServerRequest: (id: number | string, method: string, params: unknown) => this.#onServerRequest(id, method, params),
      onNotification: (method: string, params: unknown) => this.#onNotification(method, params),
    };
    proc.listen({
      onMessage: (message) => this.#rpc.route(message, handlers),
      // OpenCode logs to stderr only with --print-logs; keep what comes at debug.
      onStderr: (line) => proc.deps.logger.debug(COMPONENT, `opencode (pid ${this.pid}) stderr: ${shorten(line)}`),
      onExit: () => {
        this.#permissions.clear();
        this.#rpc.failAll();
      },
    });
  }

  get #logger() {
    return this.#proc.deps.logger;
  }

  /** `initialize`, then `session/load` of the runner's session (replay ignored) or `session/new`. */
  async open(resumeSessionId: string | undefined, clientVersion: string): Promise<void> {
    await this.#rpc.request('initialize', {
      protocolVersion: ACP_PROTOCOL_VERSION,
      // No file system or terminal offered: OpenCode uses its own tools, in the agent's cwd.
      clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false },
      clientInfo: { name: 'agent-relay-runner', version: clientVersion },
    });
    if (resumeSessionId !== undefined) {
      this.#loading = true;
      try {
        await this.#rpc.request('session/load', { sessionId: resumeSessionId, cwd: this.#cwd, mcpServers: [] });
        this.#sessionId = resumeSessionId;
        this.#logger.info(COMPONENT, `opencode (pid ${this.pid}) loaded session ${resumeSessionId}`);
        this.#dispatch({ type: 'session', sessionId: resumeSessionId, source: 'resume' });
        return;
      } catch (error) {
        if (this.#proc.exit) throw error;
        // A session that cannot be loaded (data dir gone) must not keep the agent down: start fresh, loudly.
        this.#proc.warn(`opencode could not load session ${resumeSessionId} (${describeError(error)}); starting a new session`);
      } finally {
        this.#loading = false;
      }
    }
    const created = asObject(await this.#rpc.request('session/new', { cwd: this.#cwd, mcpServers: [] }));
    const sessionId = str(created?.sessionId);
    if (!sessionId) throw new ProviderError('opencode answered session/new without a sessionId', { data: { pid: this.pid } });
    this.#sessionId = sessionId;
    this.#logger.info(COMPONENT, `opencode (pid ${this.pid}) started session ${sessionId}`);
    this.#dispatch({ type: 'session', sessionId, source: 'startup' });
  }

  // ---- ProviderSession ----------------------------------------------------------------------

  deliver(turn: ProviderTurn): Promise<void> {
    // One relay message = one turn: later ones wait for this one to end (midTurnMessages 'queue').
    return this.#queue.deliver(turn);
  }

  async interrupt(): Promise<void> {
    const sessionId = this.#sessionId;
    if (!this.#proc.running || sessionId === undefined || this.#active === undefined) return;
    // ACP: the client sends session/cancel, then answers its open permission requests `cancelled`;
    // the prompt then ends with stopReason `cancelled`. In that order: answered first, the agent
    // could take the `cancelled` answer as a refused tool and end the turn normally (`end_turn`)
    // before it reads the cancel, and the runner would not see the turn as interrupted.
    try {
      await this.#rpc.notify('session/cancel', { sessionId });
    } catch (error) {
      this.#logger.warn(COMPONENT, `opencode (pid ${this.pid}): cancel failed: ${describeError(error)}`);
    } finally {
      this.#cancelPermissions(undefined);
    }
  }

  decidePermission(requestId: string, decision: PermissionDecision): void {
    const open = this.#permissions.get(requestId);
    if (!open) {
      this.#logger.debug(COMPONENT, `opencode (pid ${this.pid}): ignored decision for unknown permission request ${requestId}`);
      return;
    }
    const behavior = asObject(decision)?.behavior;
    if (behavior !== 'allow' && behavior !== 'deny') this.#logger.warn(COMPONENT, `opencode (pid ${this.pid}): malformed decision for ${requestId}; denying`);
    this.#answerPermission(requestId, behavior === 'allow', str(asObject(decision)?.message));
  }

  onEvent(listener: (event: ProviderEvent) => void): () => void {
    return this.#proc.events.subscribe(listener);
  }

  attachSpec(): TerminalAttachSpec {
    return { kind: 'none' };
  }

  stop(): Promise<ProcessExit> {
    // `opencode acp` exits 0 when its stdin closes; signals are only the fallback.
    return this.#proc.stop(() => this.#cancelPermissions(undefined));
  }

  // ---- turns -------------------------------------------------------------------------------

  async #prompt(turn: ProviderTurn): Promise<void> {
    const sessionId = this.#sessionId;
    if (sessionId === undefined) throw new ProviderError('opencode has no session yet', { data: { pid: this.pid } });
    this.#turns += 1;
    const active: ActiveTurn = { deliveryId: turn.deliveryId, turnId: `opencode-turn-${this.#turns}`, written: false };
    this.#active = active;
    this.#held.hold();
    // The answer to session/prompt is the end of the turn, however long it runs: no timeout.
    const { sent, result } = this.#rpc.send('session/prompt', { sessionId, prompt: [{ type: 'text', text: turn.text }] }, { timeoutMs: false });
    result.then(
      (answer) => this.#onTurnEnded(active, answer, undefined),
      (error: unknown) => this.#onTurnEnded(active, undefined, error),
    );
    try {
      await sent;
    } catch (error) {
      this.#active = undefined;
      this.#held.drop();
      throw new ProviderError(`cannot deliver ${turn.deliveryId} to opencode: ${describeError(error)}`, { data: { pid: this.pid }, cause: error });
    }
    active.written = true;
    this.#logger.debug(COMPONENT, `opencode (pid ${this.pid}): delivered ${turn.deliveryId} as ${active.turnId}`);
    this.#held.afterTick(() => this.#held.release({ type: 'turn.started', deliveryId: active.deliveryId, turnId: active.turnId }));
  }

  #onTurnEnded(turn: ActiveTurn, answer: unknown, error: unknown): void {
    // Never written, or the process died: the runner requeues what was not finished; nothing to report.
    if (!turn.written || (this.#proc.exit && error !== undefined)) return;
    if (this.#active === turn) this.#active = undefined;
    this.#cancelPermissions(turn.turnId);
    const finalText = this.#mapper.finishTurn();
    const stopReason = str(asObject(answer)?.stopReason);
    if (error !== undefined) {
      const message = `opencode turn ${turn.turnId} failed: ${describeError(error)}`;
      this.#proc.warn(message);
      this.#dispatch({ type: 'turn.failed', error: message });
    } else if (stopReason !== undefined && stopReason !== 'end_turn' && stopReason !== 'cancelled') {
      this.#proc.warn(`opencode turn ${turn.turnId} stopped: ${stopReason}`);
    }
    const usage = asObject(asObject(answer)?.usage);
    const used = num(usage?.totalTokens);
    if (used > 0) this.#dispatch({ type: 'usage', usedTokens: used });
    const interrupted = error !== undefined || stopReason === 'cancelled';
    this.#dispatch({
      type: 'turn.completed',
      turnId: turn.turnId,
      ...(finalText !== undefined && !interrupted ? { finalText } : {}),
      ...(interrupted ? { interrupted: true } : {}),
    });
    this.#queue.startNext();
  }

  // ---- what OpenCode sends -----------------------------------------------------------------

  #onNotification(method: string, params: unknown): void {
    if (method !== 'session/update') {
      this.#logger.debug(COMPONENT, `opencode (pid ${this.pid}) notification ${method}`);
      return;
    }
    const p = asObject(params);
    if (!p || this.#loading) return;
    if (this.#sessionId !== undefined && str(p.sessionId) !== undefined && str(p.sessionId) !== this.#sessionId) return;
    this.#mapper.update(p);
  }

  #onServerRequest(id: number | string, method: string, params: unknown): void {
    if (method !== 'session/request_permission') {
      // We offered no file system or terminal: anything else is refused, so OpenCode never waits.
      const message = `opencode asked ${method}, which agent-relay-runner does not offer; refused`;
      this.#proc.warn(message);
      this.#rpc.respondError(id, message);
      return;
    }
    const p = asObject(params) ?? {};
    const toolCall = asObject(p.toolCall) ?? {};
    const known = this.#mapper.tool(str(toolCall.toolCallId));
    const tool = known?.name ?? str(toolCall.kind) ?? 'tool';
    const summary = summarizeToolInput(toolCall.rawInput) || known?.summary || str(toolCall.title) || '';
    const options = (Array.isArray(p.options) ? p.options : [])
      .map((o) => asObject(o) ?? {})
      .map((o) => ({ optionId: str(o.optionId) ?? '', kind: str(o.kind) ?? '' }))
      .filter((o) => o.optionId !== '');
    const requestId = `opencode-${String(id)}-${this.pid ?? 0}`;
    this.#permissions.set(requestId, { rpcId: id, options, turnId: this.#active?.turnId });
    if (!this.#proc.running) {
      this.#answerPermission(requestId, false, 'the session is stopping');
      return;
    }
    this.#logger.info(COMPONENT, `opencode (pid ${this.pid}) asks permission ${requestId}: ${tool} ${shorten(summary)}`);
    const host = this.#proc.deps.host;
    if (!host) {
      // Outside a runner: the `permission` event, answered through decidePermission.
      this.#dispatch({ type: 'permission', requestId, tool, summary });
      return;
    }
    host.requestPermission({ tool, summary, input: toolCall.rawInput }).then(
      (outcome) => this.#answerPermission(requestId, outcome.behavior === 'allow', outcome.message),
      (error: unknown) => this.#answerPermission(requestId, false, `the permission relay failed: ${describeError(error)}`),
    );
  }

  /** Answer one open request: the offered allow-once or reject-once option (fail closed). */
  #answerPermission(requestId: string, allow: boolean, reason: string | undefined): void {
    const open = this.#permissions.get(requestId);
    if (!open) return;
    this.#permissions.delete(requestId);
    const option = open.options.find((o) => o.kind === (allow ? 'allow_once' : 'reject_once'));
    const outcome = option ? { outcome: 'selected', optionId: option.optionId } : { outcome: 'cancelled' };
    // ACP carries no reason: the relay's deny reason is logged, not shown to the model.
    this.#logger.info(COMPONENT, `opencode (pid ${this.pid}): permission ${requestId} ${allow && option ? 'allowed' : `denied${reason ? `: ${reason}` : ''}`}`);
    this.#rpc.respond(open.rpcId, { outcome });
  }

  /** Answer open requests `cancelled` (all, or those of one ended turn). */
  #cancelPermissions(turnId: string | undefined): void {
    for (const [requestId, open] of this.#permissions) {
      if (turnId !== undefined && open.turnId !== undefined && open.turnId !== turnId) continue;
      this.#permissions.delete(requestId);
      this.#logger.info(COMPONENT, `opencode (pid ${this.pid}): permission ${requestId} cancelled`);
      this.#rpc.respond(open.rpcId, { outcome: { outcome: 'cancelled' } });
    }
  }

  #dispatch(event: ProviderEvent): void {
    this.#held.dispatch(event);
  }
}
