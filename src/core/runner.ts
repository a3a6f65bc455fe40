import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger, LogLevel } from '../ports/logger.js';
import { LOG_LEVELS } from '../ports/logger.js';
import type { ProcessExit, ProcessSpawner } from '../ports/process-spawner.js';
import type {
  PermissionDecision,
  ProviderAdapter,
  ProviderEvent,
  ProviderHost,
  ProviderSession,
  ProviderTurn,
  TerminalAttachSpec,
} from '../ports/provider.js';
import type { AgentProfile, Obligation, RelayHttp, RelayMessage, TokenGrant } from '../ports/relay-http.js';
import type { CommandFrame, RelayBus } from '../ports/relay-bus.js';
import type { Outbox } from './outbox.js';
import { ClosedError, RelayHttpError, isRunnerError } from '../errors/index.js';
import { Emitter } from './emitter.js';
import { DeliveryQueue, type DeliveryEvent, type InboundMessage } from './delivery.js';
import { ExitPolicy, type ExitDecision, type ExitPolicyOptions } from './exit-policy.js';
import { StatusTracker, type AgentStatus } from './status.js';
import { createObligationCache, type ObligationCache } from './obligations.js';
import { relayContextBlock, type WorkspaceInfo } from './turns.js';
import { describeError } from '../shared/describe-error.js';

/**
 * A runner timeline entry: decisions and lifecycle events worth showing on a dashboard.
 * @public
 */
export interface TimelineEvent {
  /** Event name, e.g. `provider.restart_decision`. */
  event: string;
  /** Epoch ms. */
  at: number;
  /** Details (plain JSON). */
  data?: Record<string, unknown>;
}

/**
 * A session-mirror entry the runner posted (through the outbox) for the relay.
 * @public
 */
export interface MirrorEvent {
  /** `prompt`, `reply`, `reasoning` or `tool`. */
  entry: 'prompt' | 'reply' | 'reasoning' | 'tool';
  /** Text posted. */
  body: string;
  /** The relay message this entry belongs to, when known. */
  replyTo?: string;
}

/**
 * Events of a runner.
 * @public
 */
export type RunnerEvents = {
  /** Status changed (last-wins). */
  status: (status: AgentStatus) => void;
  /** A delivery changed state: queued, injected, consumed. */
  delivery: (event: DeliveryEvent) => void;
  /** A session-mirror entry was queued for the relay. */
  mirror: (event: MirrorEvent) => void;
  /** A timeline event (also published on the bus). */
  timeline: (event: TimelineEvent) => void;
  /** The runner finished `start()`. */
  ready: (info: { agentId: string; controlUrl?: string }) => void;
  /** A failure the runner handled (logged too). */
  error: (error: Error) => void;
};

/**
 * The runner's answer to "may the agent stop now?", from the local obligation snapshot.
 * @public
 */
export interface StopVerdict {
  /** True when the agent still owes replies and must continue. */
  block: boolean;
  /** What the agent is told, when blocking. */
  reason?: string;
  /** The messages still owed. */
  messageIds: string[];
}

/**
 * Outcome of a relayed permission request; `ask` leaves the decision to the provider's own dialog.
 * @public
 */
export type RelayedPermissionOutcome = PermissionDecision | { behavior: 'ask'; message: string };

/** Everything the core needs; the composition root fills it. */
export interface RunnerCoreDeps {
  name: string;
  cwd: string;
  clock: Clock;
  logger: Logger;
  http: RelayHttp;
  makeBus: (agentId: string, token: string) => RelayBus;
  makeOutbox: (agentId: string) => Outbox;
  provider: ProviderAdapter;
  spawner: ProcessSpawner;
  tokens: { set(grant: TokenGrant): void };
  providerEnv: () => Record<string, string>;
  initialPrompt?: string;
  workspace?: WorkspaceInfo;
  runnerVersion: string;
  exitPolicy?: ExitPolicyOptions;
  stalledAfterMs: number;
  heartbeatMs: number;
  permissionTimeoutMs: number;
  obligationRefreshMs: number;
  /** Download attachments to local files; returns their paths. */
  saveAttachments?: (message: RelayMessage) => Promise<string[]>;
  /** What providers get as `ProviderDeps.host` (control routes, Stop decision, permission relay). */
  providerHost?: ProviderHost;
}

interface Turn {
  message?: InboundMessage;
  repliedTo: Set<string>;
  lastText: string;
  claimedTask?: string;
  permissions: Set<string>;
}

interface PendingPermission {
  resolve: (outcome: RelayedPermissionOutcome) => void;
  timer: TimerHandle;
  relayId?: string;
}

/** Tools that gather context (vs. act), for the `context_ratio` insight. */
const GATHER_TOOLS = /^(read|grep|glob|ls|list|search|find|webfetch|websearch|lookup|view|cat)/i;

/**
 * The runner's core: relay lifecycle, delivery, status, mirror, exit policy, commands,
 * permission relay. Talks to ports only.
 */
export class RunnerCore extends Emitter<RunnerEvents> {
  agentId: string | undefined;
  profile: AgentProfile | undefined;
  readonly status: StatusTracker;
  readonly #d: RunnerCoreDeps;
  readonly #log: Logger;
  readonly #exitPolicy: ExitPolicy;
  readonly #delivery: DeliveryQueue;
  #bus: RelayBus | undefined;
  #outbox: Outbox | undefined;
  #obligations: ObligationCache<Obligation> | undefined;
  #session: ProviderSession | undefined;
  #sessionId: string | undefined;
  /**
   * Sessions that already received the relay context block ('' = given before the provider named
   * its session). Keyed by session id so a resumed session never gets it twice, however the
   * provider labels the restart.
   */
  readonly #contextGiven = new Set<string>();
  #turn: Turn | undefined;
  #expectedExit = false;
  #stopping = false;
  #stopped = false;
  #started = false;
  #restartTimer: TimerHandle | undefined;
  #renewTimer: TimerHandle | undefined;
  #heartbeatTimer: TimerHandle | undefined;
  #recovering: Promise<void> | undefined;
  #unsubscribers: Array<() => void> = [];
  readonly #permissions = new Map<string, PendingPermission>();
  #permissionSeq = 0;
  #toolCounts = { gather: 0, act: 0 };

  constructor(deps: RunnerCoreDeps) {
    super((event, error) => deps.logger.error('runner', `listener for "${event}" threw: ${String(error)}`));
    this.#d = deps;
    this.#log = deps.logger;
    this.#exitPolicy = new ExitPolicy(deps.exitPolicy);
    this.status = new StatusTracker(deps.clock, deps.stalledAfterMs, (status) => {
      this.#bus?.send({ type: 'status', status: { ...status, subagents: status.openSubagents } });
      this.emit('status', status);
    });
    this.#delivery = new DeliveryQueue({
      clock: deps.clock,
      logger: deps.logger,
      inject: () => {
        const session = this.#session;
        return session ? (turn: ProviderTurn) => session.deliver(turn) : undefined;
      },
      takeContextBlock: () => {
        if (this.profile?.features.relayContext === false) return undefined;
        const session = this.#sessionId ?? '';
        if (this.#contextGiven.has(session)) return undefined;
        this.#contextGiven.add(session);
        return relayContextBlock(deps.name, deps.workspace);
      },
      onState: (event) => {
        this.#log.info('delivery', `message ${event.messageId} ${event.state}`);
        this.emit('delivery', event);
      },
    });
  }

  /** The outbox (after start). */
  get outbox(): Outbox | undefined {
    return this.#outbox;
  }

  /** Whether the bus is up. */
  get connected(): boolean {
    return this.#bus?.connected ?? false;
  }

  /** Whether turn lifecycle comes from the Claude Code hooks (else from the provider's own events). */
  get hookDriven(): boolean {
    return this.#d.provider.capabilities.hookDriven;
  }

  /** Provider session id, when known. */
  get sessionId(): string | undefined {
    return this.#sessionId;
  }

  /** Bring the runner up (SPEC §7 order, minus what the composition root does). */
  async start(): Promise<void> {
    if (this.#stopped) throw new ClosedError('runner');
    if (this.#started) return;
    this.#started = true;
    const d = this.#d;
    const registered = await d.http.register({ name: d.name, provider: d.provider.name, runnerVersion: d.runnerVersion });
    this.agentId = registered.agent.id;
    this.profile = registered.profile;
    d.tokens.set(registered);
    this.#scheduleRenewal(registered.tokenExpiresAt);
    this.#log.info('runner', `registered as ${registered.agent.name} (${registered.agent.id})`);
    this.#logProfile(registered.profile);

    this.#outbox = d.makeOutbox(registered.agent.id);
    this.#outbox.start();

    const agentId = registered.agent.id;
    this.#obligations = createObligationCache<Obligation>({
      fetch: () => this.#withAuth(() => d.http.obligations(agentId)),
      key: (o) => o.messageId,
      clock: d.clock,
      logger: d.logger,
      refreshIntervalMs: d.obligationRefreshMs,
    });
    this.#obligations.start();

    const bus = d.makeBus(agentId, registered.token);
    this.#bus = bus;
    this.#unsubscribers.push(
      bus.on('message.new', (frame) => void this.#accept(frame.message)),
      bus.on('command', (frame) => void this.#command(frame)),
      bus.on('permission.decision', (frame) => this.#applyPermission(frame.requestId, frame)),
      bus.on('error', (frame) => {
        this.#log.warn('bus', `relay error ${frame.code}: ${frame.message}`);
        if (frame.code === 'unauthorized' || frame.code === 'token_expired') void this.recoverAuth().catch(() => {});
      }),
      bus.on('state', (event) => {
        this.#log.info('bus', event.connected ? 'connected' : `disconnected (${event.reason})`);
        this.#timeline('bus.state', { connected: event.connected, reason: event.reason });
        if (event.connected) void this.#catchUp();
      }),
    );
    bus.connect();
    this.#heartbeatTimer = d.clock.setInterval(() => void this.#heartbeat(), d.heartbeatMs).unref();

    await this.#startProvider(undefined);
    await this.#catchUp();
    if (d.initialPrompt) {
      this.#delivery.accept({ id: `initial-${d.clock.now()}`, from: 'runner', body: d.initialPrompt, expectsReply: false });
      void this.#delivery.pump();
    }
    this.emit('ready', { agentId });
  }

  /** Tear down in reverse order; idempotent. Nothing accepted is lost: the outbox keeps its rows. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopping = true;
    const clock = this.#d.clock;
    clock.clearTimeout(this.#restartTimer);
    clock.clearTimeout(this.#renewTimer);
    clock.clearInterval(this.#heartbeatTimer);
    for (const [id, pending] of this.#permissions) {
      clock.clearTimeout(pending.timer);
      pending.resolve({ behavior: 'deny', message: 'the runner is stopping' });
      this.#permissions.delete(id);
    }
    if (this.#session) {
      this.#expectedExit = true;
      await this.#session.stop().catch(() => {});
    }
    await this.#enqueueInsight();
    this.status.set('offline', 'runner stopped');
    this.status.dispose();
    this.#obligations?.stop();
    // Give queued events one last chance to go out quickly; whatever is left stays stored.
    await this.#outbox?.drain().catch(() => {});
    await this.#outbox?.close();
    for (const off of this.#unsubscribers.splice(0)) off();
    await this.#bus?.close();
  }

  // ---- control-port facing operations -------------------------------------------------------

  /** The Stop decision, from the local obligation snapshot only (never the network). */
  stopDecision(stopHookActive: boolean): StopVerdict {
    const owed = this.#obligations?.get().items ?? [];
    if (stopHookActive || owed.length === 0) return { block: false, messageIds: owed.map((o) => o.messageId) };
    const lines = owed.map(
      (o) => `- message ${o.messageId} from ${o.from}: "${o.excerpt}" → agent-relay-runner send --to ${o.from} --reply-to ${o.messageId} "<answer>"`,
    );
    return {
      block: true,
      reason: `You still owe ${owed.length === 1 ? 'a reply' : `${owed.length} replies`} on the relay. Answer before finishing:\n${lines.join('\n')}`,
      messageIds: owed.map((o) => o.messageId),
    };
  }

  /** Obligation snapshot for the control port. */
  obligations(): { items: Obligation[]; fetchedAt: number | undefined; stale: boolean } {
    return this.#obligations?.get() ?? { items: [], fetchedAt: undefined, stale: true };
  }

  /** An agent's own relay message (`agent-relay-runner send`), through the outbox. */
  async send(input: { to: string; body: string; replyTo?: string; expectsReply?: boolean }): Promise<{ seq: number; idempotencyKey: string }> {
    const outbox = this.#requireOutbox();
    const payload: Record<string, unknown> = { kind: 'message', to: input.to, body: input.body };
    if (input.replyTo) payload.replyTo = input.replyTo;
    if (input.expectsReply) payload.expectsReply = true;
    const row = await outbox.enqueue({ kind: 'message', payload });
    if (input.replyTo) {
      this.#obligations?.resolveLocally(input.replyTo);
      this.#turn?.repliedTo.add(input.replyTo);
    }
    this.#obligations?.markDirty();
    this.status.activity();
    return { seq: row.seq, idempotencyKey: row.idempotencyKey };
  }

  /** A provider event, from stdout (structured providers) or from a hook (hook-driven ones). */
  providerEvent(event: ProviderEvent): void {
    switch (event.type) {
      case 'session':
        // A block given before the session had a name went into this session.
        if (this.#sessionId === undefined && this.#contextGiven.delete('')) this.#contextGiven.add(event.sessionId);
        this.#sessionId = event.sessionId;
        this.status.update({ sessionId: event.sessionId });
        this.#timeline('provider.session', { sessionId: event.sessionId, source: event.source });
        return;
      case 'version':
        this.status.update({ providerVersion: event.version });
        return;
      case 'turn.started': {
        const message = this.#delivery.consumed({ deliveryId: event.deliveryId, prompt: event.prompt });
        this.#turn = { repliedTo: new Set(), lastText: '', permissions: new Set() };
        if (message) this.#turn.message = message;
        this.status.turnStarted();
        if (message && !message.id.startsWith('initial-')) {
          this.#mirror('prompt', message.body, message.id);
          void this.#markRead(message.id);
          if (message.taskId) {
            this.#turn.claimedTask = message.taskId;
            void this.#enqueue('task_status', { taskId: message.taskId, status: 'in_progress', messageId: message.id });
          }
        } else if (event.prompt && !message) {
          this.#mirror('prompt', event.prompt); // typed into the TUI by a human
        }
        return;
      }
      case 'reasoning':
        this.status.activity();
        this.#mirror('reasoning', event.text, this.#turn?.message?.id);
        return;
      case 'tool':
        this.status.activity();
        if (event.status === 'started') {
          if (GATHER_TOOLS.test(event.name)) this.#toolCounts.gather++;
          else this.#toolCounts.act++;
        }
        this.#mirror('tool', `${event.name} ${event.status}: ${event.summary}`, this.#turn?.message?.id);
        return;
      case 'assistant':
        this.status.activity();
        if (this.#turn) this.#turn.lastText = event.text;
        return;
      case 'turn.completed':
        this.#endTurn(event.finalText, event.interrupted === true);
        return;
      case 'usage': {
        const context: AgentStatus['context'] = { usedTokens: event.usedTokens };
        if (event.windowTokens !== undefined) context.windowTokens = event.windowTokens;
        this.status.update({ context });
        return;
      }
      case 'subagent':
        this.status.subagent(event.phase);
        return;
      case 'permission':
        void this.requestPermission({ requestId: event.requestId, tool: event.tool, summary: event.summary }).then((outcome) => {
          if (outcome.behavior === 'ask') return; // structured providers never ask: see requestPermission
          this.#session?.decidePermission(event.requestId, outcome);
        });
        return;
      case 'warning':
        this.#log.warn('provider', event.message);
        return;
      case 'compaction':
        this.#log.info('provider', `compaction ${event.phase} (${event.trigger ?? 'unknown trigger'})`);
        this.status.activity();
        return;
      case 'turn.failed':
        this.#log.error('provider', `turn failed: ${event.error ?? 'unknown error'}${event.details ? ` (${event.details})` : ''}`);
        return;
      case 'session.ended':
        void this.sessionEnded(event.reason);
        return;
    }
  }

  /**
   * Relay a permission request and wait a bounded time. On timeout an interactive provider falls
   * back to its own dialog (`ask`); the others deny with a reason. Late decisions are ignored.
   */
  async requestPermission(input: { requestId?: string; tool: string; summary: string; input?: unknown }): Promise<RelayedPermissionOutcome> {
    const agentId = this.agentId;
    const requestId = input.requestId ?? `perm-${++this.#permissionSeq}`;
    const onTimeout: RelayedPermissionOutcome = this.#d.provider.capabilities.interactive
      ? { behavior: 'ask', message: 'no decision from the relay in time; asking locally' }
      : { behavior: 'deny', message: `no permission decision from the relay within ${formatMs(this.#d.permissionTimeoutMs)}` };
    if (!agentId || this.#stopping) return onTimeout;
    this.#turn?.permissions.add(requestId);
    const outcome = new Promise<RelayedPermissionOutcome>((resolve) => {
      const timer = this.#d.clock.setTimeout(() => {
        this.#permissions.delete(requestId);
        this.#log.warn('permission', `request ${requestId} (${input.tool}) timed out: ${onTimeout.behavior}`);
        resolve(onTimeout);
      }, this.#d.permissionTimeoutMs);
      this.#permissions.set(requestId, { resolve, timer });
    });
    try {
      const body: { requestId: string; tool: string; summary: string; input?: unknown } = { requestId, tool: input.tool, summary: input.summary };
      if (input.input !== undefined) body.input = input.input;
      const created = await this.#withAuth(() => this.#d.http.createPermissionRequest(agentId, body));
      const pending = this.#permissions.get(requestId);
      if (pending) pending.relayId = created.id;
      if (created.decision) this.#applyPermission(requestId, created.decision);
    } catch (error) {
      // Fail closed (or fall back locally) at once: nobody remote can answer a request the relay never saw.
      this.#log.warn('permission', `could not relay request ${requestId}: ${describeError(error)}`);
      this.#applyPermission(requestId, null, onTimeout);
    }
    return outcome;
  }

  /** Set the log level (control port or bus command). */
  setLogLevel(level: LogLevel): void {
    this.#log.setLevel(level);
    this.#log.info('runner', `log level set to ${level}`);
  }

  /** A hook crashed: FATAL line and a `hook_fatal` event for the relay. */
  async hookFatal(report: { hook: string; message: string; exitCode?: number; line?: number; command?: string }): Promise<void> {
    this.#log.fatal('hook', `${report.hook} failed${report.line ? ` at line ${report.line}` : ''}${report.exitCode !== undefined ? ` (exit ${report.exitCode})` : ''}: ${report.message}`);
    await this.#enqueue('hook_fatal', { ...report });
  }

  /** Interrupt the current turn. */
  async interrupt(): Promise<void> {
    await this.#session?.interrupt();
  }

  /** Restart the provider on request, resuming its session. */
  async restartProvider(): Promise<void> {
    this.#exitPolicy.reset();
    if (this.#session) {
      this.#expectedExit = true;
      await this.#session.stop();
    }
    await this.#startProvider(this.#sessionId);
  }

  /** Terminal attach spec of the provider. */
  attachSpec(): TerminalAttachSpec {
    return this.#session?.attachSpec() ?? { kind: 'none' };
  }

  /** Shared token recovery: one renewal at a time, then the bus reconnects with the fresh token. */
  recoverAuth(): Promise<void> {
    if (this.#recovering) return this.#recovering;
    this.#recovering = (async () => {
      const agentId = this.agentId;
      if (!agentId) return;
      let grant: TokenGrant;
      try {
        grant = await this.#d.http.renewToken(agentId);
      } catch (error) {
        if (!(error instanceof RelayHttpError && error.code === 'RELAY_AUTH')) throw error;
        this.#log.warn('auth', 'token renewal refused; registering again');
        grant = await this.#d.http.register({ name: this.#d.name, provider: this.#d.provider.name, runnerVersion: this.#d.runnerVersion });
      }
      this.#d.tokens.set(grant);
      this.#scheduleRenewal(grant.tokenExpiresAt);
      this.#bus?.setToken(grant.token);
      this.#bus?.reconnect('token renewed');
      this.#log.info('auth', 'token renewed');
    })().finally(() => {
      this.#recovering = undefined;
    });
    return this.#recovering;
  }

  // ---- internals -----------------------------------------------------------------------------

  async #startProvider(resumeSessionId: string | undefined): Promise<void> {
    if (this.#stopping) return;
    const d = this.#d;
    this.status.set('starting');
    try {
      const deps = { spawner: d.spawner, logger: d.logger, clock: d.clock, ...(d.providerHost ? { host: d.providerHost } : {}) };
      const version = await d.provider.checkVersion(deps);
      this.status.update({ providerVersion: version });
      this.#log.info('provider', `${d.provider.name} version ${version}`);
      const launch: { cwd: string; env: Record<string, string>; resumeSessionId?: string } = { cwd: d.cwd, env: d.providerEnv() };
      if (resumeSessionId && d.provider.capabilities.resume) launch.resumeSessionId = resumeSessionId;
      const session = await d.provider.start(launch, deps);
      this.#session = session;
      this.#expectedExit = false;
      const off = session.onEvent((event) => this.providerEvent(event));
      void session.exited.then((exit) => {
        off();
        this.#onProviderExit(session, exit);
      });
      this.status.ready();
      this.#timeline('provider.started', { pid: session.pid ?? null, resumed: Boolean(launch.resumeSessionId) });
      void this.#delivery.pump();
    } catch (error) {
      this.#log.error('provider', `could not start ${d.provider.name}: ${describeError(error)}`);
      this.status.set('error', describeError(error));
      this.emit('error', error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  #onProviderExit(session: ProviderSession, exit: ProcessExit): void {
    if (this.#session !== session) return;
    this.#session = undefined;
    this.#delivery.requeueInjected();
    if (this.#turn) this.#endTurn(undefined, true);
    const decision: ExitDecision = this.#exitPolicy.decide(exit, this.#d.clock.now(), this.#expectedExit || this.#stopping);
    this.#timeline('provider.restart_decision', { ...decision, code: exit.code, signal: exit.signal });
    this.#log[decision.action === 'none' ? 'info' : 'warn']('provider', decision.reason);
    switch (decision.action) {
      case 'restart':
        this.#restartTimer = this.#d.clock.setTimeout(() => {
          this.#restartTimer = undefined;
          void this.#startProvider(this.#sessionId).catch(() => {});
        }, decision.delayMs);
        return;
      case 'give_up':
        this.status.set('error', decision.reason);
        return;
      case 'park':
        this.status.set('offline', decision.reason);
        return;
      case 'none':
        return;
    }
  }

  #endTurn(finalText: string | undefined, interrupted: boolean): void {
    const turn = this.#turn;
    this.#turn = undefined;
    for (const requestId of turn?.permissions ?? []) {
      // A decision arriving after its turn settled must never be applied late.
      const pending = this.#permissions.get(requestId);
      if (pending) {
        this.#d.clock.clearTimeout(pending.timer);
        this.#permissions.delete(requestId);
        pending.resolve({ behavior: 'deny', message: 'the turn ended before a decision arrived' });
      }
    }
    this.status.turnEnded();
    const text = (finalText ?? turn?.lastText ?? '').trim();
    const messageId = turn?.message?.id;
    // The agent already answered this message itself: don't post its final text a second time.
    if (text && !(messageId && turn?.repliedTo.has(messageId)) && !interrupted) {
      this.#mirror('reply', text, messageId && !messageId.startsWith('initial-') ? messageId : undefined);
    }
    if (turn?.claimedTask) {
      void this.#enqueue('task_status', {
        taskId: turn.claimedTask,
        status: interrupted ? 'failed' : 'completed',
        messageId: turn.message?.id,
      });
    }
    this.#obligations?.markDirty();
    void this.#delivery.pump();
  }

  async #accept(message: RelayMessage): Promise<void> {
    if (this.#stopping || message.kind !== 'message') return;
    const inbound: InboundMessage = { id: message.id, from: message.from, body: message.body, expectsReply: message.expectsReply };
    if (message.taskId) inbound.taskId = message.taskId;
    if (message.attachments.length > 0 && this.#d.saveAttachments) {
      try {
        inbound.attachments = await this.#d.saveAttachments(message);
      } catch (error) {
        this.#log.warn('attachments', `message ${message.id}: ${describeError(error)}`);
      }
    }
    if (!this.#delivery.accept(inbound)) return;
    if (message.expectsReply) this.#obligations?.markDirty();
    await this.#delivery.pump();
  }

  async #catchUp(): Promise<void> {
    const agentId = this.agentId;
    if (!agentId || this.#stopping) return;
    try {
      const unread = await this.#withAuth(() => this.#d.http.pollUnread(agentId));
      for (const message of unread) await this.#accept(message);
      if (unread.length > 0) this.#log.info('delivery', `caught up ${unread.length} unread message(s)`);
    } catch (error) {
      this.#log.warn('delivery', `unread poll failed: ${describeError(error)}`);
    }
  }

  async #markRead(messageId: string): Promise<void> {
    const agentId = this.agentId;
    if (!agentId) return;
    try {
      await this.#withAuth(() => this.#d.http.markRead(agentId, [messageId]));
    } catch (error) {
      // Harmless: an unread message that was already delivered is deduped by id.
      this.#log.debug('delivery', `mark read ${messageId} failed: ${describeError(error)}`);
    }
  }

  async #command(frame: CommandFrame): Promise<void> {
    const reply = (ok: boolean, result?: unknown, error?: string) =>
      this.#bus?.send(ok ? { type: 'command.result', id: frame.id, ok: true, result } : { type: 'command.result', id: frame.id, ok: false, error: error ?? 'failed' });
    this.#timeline('command', { id: frame.id, name: frame.name });
    try {
      switch (frame.name) {
        case 'stop':
        case 'exit':
          reply(true, { stopping: true });
          await this.stop();
          return;
        case 'interrupt':
          await this.interrupt();
          reply(true, { interrupted: Boolean(this.#session) });
          return;
        case 'restart':
          await this.restartProvider();
          reply(true, { restarted: true, sessionId: this.#sessionId ?? null });
          return;
        case 'set_log_level': {
          const level = frame.args.level;
          if (typeof level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(level)) {
            reply(false, undefined, `level must be one of ${LOG_LEVELS.join(', ')}`);
            return;
          }
          this.setLogLevel(level as LogLevel);
          reply(true, { level });
          return;
        }
        case 'permission_decision': {
          const { requestId, behavior, message } = frame.args;
          if (typeof requestId !== 'string' || (behavior !== 'allow' && behavior !== 'deny')) {
            reply(false, undefined, 'permission_decision needs requestId and behavior allow|deny');
            return;
          }
          const applied = this.#applyPermission(requestId, typeof message === 'string' ? { behavior, message } : { behavior });
          reply(true, { applied });
          return;
        }
        default:
          reply(false, undefined, `unknown command ${frame.name}`);
      }
    } catch (error) {
      reply(false, undefined, describeError(error));
    }
  }

  #applyPermission(requestId: string, decision: PermissionDecision | null, fallback?: RelayedPermissionOutcome): boolean {
    const pending = this.#permissions.get(requestId);
    if (!pending) {
      if (decision) this.#log.info('permission', `ignored a decision for ${requestId}: no request is waiting (late or unknown)`);
      return false;
    }
    this.#permissions.delete(requestId);
    this.#d.clock.clearTimeout(pending.timer);
    const outcome: RelayedPermissionOutcome = decision
      ? { behavior: decision.behavior, ...(decision.message ? { message: decision.message } : {}) }
      : (fallback ?? { behavior: 'deny', message: 'no decision' });
    this.#log.info('permission', `request ${requestId}: ${outcome.behavior}`);
    pending.resolve(outcome);
    return true;
  }

  async #heartbeat(): Promise<void> {
    const agentId = this.agentId;
    if (!agentId || this.#bus?.connected) return;
    try {
      await this.#withAuth(() => this.#d.http.heartbeat(agentId));
    } catch (error) {
      this.#log.debug('heartbeat', `failed: ${describeError(error)}`);
    }
  }

  #scheduleRenewal(expiresAt: number): void {
    const clock = this.#d.clock;
    clock.clearTimeout(this.#renewTimer);
    const ttl = expiresAt - clock.now();
    // Renew at 80 % of the lifetime, at least 1 s ahead.
    const inMs = Math.max(0, Math.min(ttl - 1000, ttl * 0.8));
    this.#renewTimer = clock
      .setTimeout(() => {
        void this.recoverAuth().catch((error: unknown) => this.#log.warn('auth', `scheduled renewal failed: ${describeError(error)}`));
      }, inMs)
      .unref();
  }

  /** Run a relay call; on 401/403 run the shared recovery once and retry. */
  async #withAuth<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (!(isRunnerError(error) && error.code === 'RELAY_AUTH')) throw error;
      await this.recoverAuth();
      return call();
    }
  }

  #mirror(entry: MirrorEvent['entry'], body: string, replyTo?: string): void {
    if (this.profile?.features.sessionMirror === false) return;
    const payload: Record<string, unknown> = { kind: 'session', entry, body, to: '' };
    if (replyTo) payload.replyTo = replyTo;
    void this.#enqueue('session', payload);
    const event: MirrorEvent = { entry, body };
    if (replyTo) event.replyTo = replyTo;
    this.emit('mirror', event);
  }

  async #enqueue(kind: string, payload: Record<string, unknown>): Promise<void> {
    const outbox = this.#outbox;
    if (!outbox) return;
    try {
      await outbox.enqueue({ kind, payload: stripUndefined(payload) });
    } catch (error) {
      this.#log.error('outbox', `could not queue ${kind}: ${describeError(error)}`);
      this.emit('error', error instanceof Error ? error : new Error(String(error)));
    }
  }

  async #enqueueInsight(): Promise<void> {
    const { gather, act } = this.#toolCounts;
    if (gather + act === 0 || this.profile?.features.insights === false) return;
    this.#toolCounts = { gather: 0, act: 0 };
    await this.#enqueue('insight', {
      type: 'context_ratio',
      data: { gather, act, ratio: Math.round((gather / (gather + act)) * 1000) / 1000, sessionId: this.#sessionId ?? null },
    });
  }

  /** Session ended (SessionEnd hook or provider exit): analyse it into an insight. */
  sessionEnded(reason: string): Promise<void> {
    this.#timeline('provider.session_end', { reason });
    return this.#enqueueInsight();
  }

  #timeline(event: string, data: Record<string, unknown>): void {
    const entry: TimelineEvent = { event, at: this.#d.clock.now(), data: stripUndefined(data) };
    this.#bus?.send({ type: 'timeline', event, at: entry.at, data: entry.data ?? {} });
    this.emit('timeline', entry);
  }

  #logProfile(profile: AgentProfile): void {
    const projected: string[] = [];
    const skipped: string[] = [];
    if (profile.model) skipped.push(`model ${profile.model} (the ${this.#d.provider.name} provider takes no model flag)`);
    if (profile.permissionMode) skipped.push(`permission mode ${profile.permissionMode}`);
    for (const [feature, on] of Object.entries(profile.features)) (on ? projected : skipped).push(`${feature}${on ? '' : ' (off)'}`);
    this.#log.info('profile', `projected: ${projected.join(', ') || 'nothing'}; not projected: ${skipped.join(', ') || 'nothing'}`);
  }

  #requireOutbox(): Outbox {
    if (!this.#outbox || this.#stopped) throw new ClosedError('runner');
    return this.#outbox;
  }
}

function stripUndefined<T extends Record<string, unknown>>(value: T): T {
  for (const key of Object.keys(value)) if (value[key] === undefined) delete value[key];
  return value;
}

function formatMs(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

