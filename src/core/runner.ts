import type { LogLevel } from '../ports/logger.js';
import type { ProviderEvent, TerminalAttachSpec } from '../ports/provider.js';
import type { Obligation } from '../ports/relay-http.js';
import type { Outbox } from './outbox.js';
import type { RunnerCoreDeps, RunnerEvents } from './runner-types.js';
import { ClosedError } from '../errors/index.js';
import { Emitter } from './emitter.js';
import { StatusTracker } from './status.js';
import { stopVerdict, type StopVerdict } from './obligations.js';
import { relayContextBlock } from './turns.js';
import { Registration } from './registration.js';
import { RelayLink } from './relay-link.js';
import { PermissionRelay, type RelayedPermissionOutcome } from './permissions.js';
import { ProviderSupervisor } from './supervisor.js';
import { SessionMirror } from './session-mirror.js';
import { Inbox } from './inbox.js';

export type { RunnerCoreDeps, RunnerEvents, RunnerOutboxEvent, SentEvent, TimelineEvent, MirrorEvent, StopVerdict, RelayedPermissionOutcome, PendingPermission } from './runner-types.js';

/**
 * The runner's core: a coordinator over its subsystems — registration and token, the relay link
 * (bus, outbox, obligations), delivery, provider supervision, session mirror, permission relay and
 * bus commands. It routes provider events between them and owns only the start/stop order.
 */
export class RunnerCore extends Emitter<RunnerEvents> {
  readonly status: StatusTracker;
  readonly #d: RunnerCoreDeps;
  readonly #registration: Registration;
  readonly #link: RelayLink;
  readonly #permissions: PermissionRelay;
  readonly #supervisor: ProviderSupervisor;
  readonly #mirror: SessionMirror;
  readonly #inbox: Inbox;
  #phase: 'new' | 'started' | 'stopped' = 'new';

  constructor(deps: RunnerCoreDeps) {
    super((event, error) => deps.logger.error('runner', `listener for "${event}" threw: ${String(error)}`));
    const { clock, logger, http, provider } = deps;
    this.#d = deps;
    this.#registration = new Registration({
      http, clock, logger, heartbeatMs: deps.heartbeatMs,
      identity: { name: deps.name, provider: provider.name, runnerVersion: deps.runnerVersion }, profileFields: provider.profileFields,
      busConnected: () => this.connected,
      onRenewed: (token) => this.#link.tokenRenewed(token),
      onReregistered: (registered) => void this.#link.reattach(registered.agent.id, registered.token),
      onTrouble: (reason) => this.status.relayTrouble(reason),
    });
    this.#link = new RelayLink({
      clock, logger, http, auth: this.#registration, makeBus: deps.makeBus, makeOutbox: deps.makeOutbox, obligationRefreshMs: deps.obligationRefreshMs,
      currentStatus: () => this.status.get(),
      onTimeline: (entry) => this.emit('timeline', entry), onSent: (event) => this.emit('sent', event), onOutbox: (event) => this.emit('outbox', event),
      onError: (error) => this.emit('error', error),
    });
    this.status = new StatusTracker(clock, deps.stalledAfterMs, (status) => {
      this.#link.status(status);
      this.emit('status', status);
    });
    this.#supervisor = new ProviderSupervisor({
      provider, providerDeps: deps.providerDeps, clock, logger, status: this.status, cwd: deps.cwd, env: deps.providerEnv, exitPolicy: deps.exitPolicy, profile: () => this.#registration.profile,
      timeline: (event, data) => this.#link.timeline(event, data),
      onEvent: (event) => this.providerEvent(event),
      onUp: () => void this.#inbox.queue.pump(),
      onDown: () => (this.#inbox.providerDown(), this.#mirror.turnOpen && this.#endTurn(undefined, true, true)),
      onGaveUp: (reason) => this.#inbox.abandonAll(`the agent's provider stopped for good: ${reason}`),
      onError: (error) => this.emit('error', error),
    });
    this.#permissions = new PermissionRelay({ clock, logger, auth: this.#registration, http, timeoutMs: deps.permissionTimeoutMs, interactive: provider.capabilities.interactive, onPending: (pending) => this.emit('permissions', pending), ...(deps.onPermissionRequest ? { local: deps.onPermissionRequest } : {}) });
    this.#mirror = new SessionMirror({
      features: () => this.#registration.profile?.features,
      enqueue: (kind, payload) => this.#link.enqueue(kind, payload),
      onMirror: (event) => this.emit('mirror', event),
    });
    this.#inbox = new Inbox({
      clock, logger, http, auth: this.#registration, provider: this.#supervisor, maxAttachmentBytes: deps.maxAttachmentBytes, saveAttachment: deps.saveAttachment,
      contextBlock: () => (this.#registration.profile?.features.relayContext === false ? undefined : relayContextBlock(deps.name, deps.workspace, deps.sendCommand)),
      onState: (event) => this.emit('delivery', event),
      onObligation: (obligation) => this.#link.obligationArrived(obligation),
      ...(deps.journal ? { journal: deps.journal } : {}), ...(deps.sendCommand ? { sendCommand: deps.sendCommand } : {}),
      onGiveUp: (message, reason) => this.#mirror.gaveUp(message, `${deps.name} could not answer this message: ${reason}`),
    });
  }

  /** Relay agent id, once registered. */
  get agentId(): string | undefined {
    return this.#registration.agentId;
  }

  /** The current agent token, read by the HTTP adapter and the bus. A secret. */
  get token(): string | undefined {
    return this.#registration.token;
  }

  /** The outbox (after start). */
  get outbox(): Outbox | undefined {
    return this.#link.outbox;
  }

  /** Whether the bus is up. */
  get connected(): boolean {
    return this.#link.connected;
  }

  /** Bring the runner up (SPEC §7 order, minus what the composition root does). */
  async start(): Promise<void> {
    if (this.#phase === 'stopped') throw new ClosedError('runner');
    if (this.#phase === 'started') return;
    this.#phase = 'started';
    await this.#inbox.start(); // the delivery journal is read before the bus can bring a message
    const registered = await this.#registration.register();
    this.#link.open(registered.agent.id, registered.token, { runner: this, provider: this.#supervisor, permissions: this.#permissions, inbox: this.#inbox });
    await this.#supervisor.start(undefined);
    await this.#inbox.catchUp();
    if (this.#d.initialPrompt) this.#inbox.acceptPrompt(this.#d.initialPrompt);
    this.emit('ready', { agentId: registered.agent.id });
  }

  /** Tear down in reverse order; idempotent. Nothing accepted is lost; `cutoff` ends the last drain early. */
  async stop(cutoff?: Promise<void>): Promise<void> {
    if (this.#phase === 'stopped') return;
    this.#phase = 'stopped';
    await this.#teardown(cutoff);
  }

  /** Undo a failed `start()` (provider, bus, timers) so that `start()` can be called again. */
  async abortStart(): Promise<void> {
    if (this.#phase === 'started') await this.#teardown().finally(() => ((this.#phase = 'new'), this.#supervisor.reopen()));
  }

  async #teardown(cutoff?: Promise<void>): Promise<void> {
    this.#registration.stop();
    this.#inbox.stop();
    this.#permissions.stop();
    await this.#supervisor.stop();
    await this.#mirror.sessionEnded(this.#supervisor.sessionId);
    this.status.set('offline', 'runner stopped');
    this.status.dispose();
    await this.#link.close(cutoff);
  }

  /** The Stop decision, from the local snapshot only (never the network): only messages the agent was shown. */
  stopDecision(stopHookActive: boolean): StopVerdict {
    return stopVerdict(this.obligations().items.filter((o) => o.shown), stopHookActive, this.#d.sendCommand);
  }

  /** Obligation snapshot for the control port; `shown` tells owed-and-seen from still queued in the runner. */
  obligations(): { items: Array<Obligation & { shown: boolean }>; fetchedAt: number | undefined; stale: boolean } {
    const snapshot = this.#link.obligations();
    return { ...snapshot, items: snapshot.items.map((o) => ({ ...o, shown: this.#inbox.shown(o.messageId) })) };
  }

  /** An agent's own relay message (`agent-relay-runner send`), through the outbox. */
  async send(input: { to: string; body: string; replyTo?: string; expectsReply?: boolean }): Promise<{ seq: number; idempotencyKey: string }> {
    if (this.#phase === 'stopped') throw new ClosedError('runner');
    const sent = await this.#link.sendMessage(input);
    if (input.replyTo) (this.#mirror.replied(input.replyTo), this.#inbox.replied(input.replyTo));
    this.status.activity();
    return sent;
  }

  /** A provider event, from stdout (structured providers) or from a hook (hook-driven ones). */
  providerEvent(event: ProviderEvent): void {
    if (event.type === 'reasoning' || event.type === 'tool' || event.type === 'assistant') this.status.activity();
    switch (event.type) {
      case 'session':
        this.#inbox.sessionNamed(event.sessionId, this.#supervisor.sessionId === undefined);
        this.#supervisor.sessionNamed(event.sessionId);
        this.status.update({ sessionId: event.sessionId });
        return this.#link.timeline('provider.session', { sessionId: event.sessionId, source: event.source });
      case 'version':
        return this.status.update({ providerVersion: event.version });
      case 'turn.started':
        this.#permissions.turnStarted();
        this.status.turnStarted();
        return this.#mirror.turnStarted(this.#inbox.turnStarted({ deliveryId: event.deliveryId, prompt: event.prompt }), event.prompt);
      case 'reasoning':
        return this.#mirror.reasoning(event.text);
      case 'tool':
        return this.#mirror.tool(event.name, event.status, event.summary);
      case 'assistant':
        return this.#mirror.assistant(event.text);
      case 'turn.completed':
        return this.#endTurn(event.finalText, event.interrupted === true);
      case 'usage':
        return this.status.update({ context: { usedTokens: event.usedTokens, ...(event.windowTokens !== undefined ? { windowTokens: event.windowTokens } : {}) } });
      case 'subagent':
        return this.status.subagent(event.phase);
      case 'permission':
        return this.#permissions.answerProvider(event, () => this.#supervisor.session);
      case 'warning':
      case 'turn.failed':
      case 'compaction':
        return this.#supervisor.notice(event);
      case 'session.ended':
        return void this.sessionEnded(event.reason);
    }
  }

  /** Relay a permission request and wait a bounded time (see `PermissionRelay`). */
  requestPermission(input: { requestId?: string; tool: string; summary: string; input?: unknown }): Promise<RelayedPermissionOutcome> {
    return this.#permissions.request(input);
  }

  /** Set the log level (control port or bus command). */
  setLogLevel(level: LogLevel): void {
    this.#d.logger.setLevel(level);
    this.#d.logger.info('runner', `log level set to ${level}`);
  }

  /** A hook crashed: FATAL line and a `hook_fatal` event for the relay. */
  hookFatal(report: { hook: string; message: string; exitCode?: number; line?: number; command?: string }): Promise<void> {
    return this.#link.hookFatal(report);
  }

  /** Interrupt the current turn. */
  async interrupt(): Promise<void> { await this.#supervisor.session?.interrupt(); }

  /** A message this run accepted (sender, attachments), for the agent's relay tools; undefined when unknown. */
  message(messageId: string): ReturnType<Inbox['queue']['message']> { return this.#inbox.queue.message(messageId); }

  /** Restart the provider on request, resuming its session. */
  restartProvider(): Promise<void> {
    return this.#supervisor.restart();
  }

  /** Terminal attach spec of the provider. */
  attachSpec(): TerminalAttachSpec { return this.#supervisor.session?.attachSpec() ?? { kind: 'none' }; }

  /** Shared token recovery: one renewal at a time, then the bus reconnects with the fresh token. */
  recoverAuth(): Promise<void> {
    return this.#registration.recover();
  }

  /** Session ended (SessionEnd hook or provider exit): analyse it into an insight. */
  sessionEnded(reason: string): Promise<void> {
    this.#link.timeline('provider.session_end', { reason });
    return this.#mirror.sessionEnded(this.#supervisor.sessionId);
  }

  /** A turn ended, or was `lost` with the provider: then its message comes back as a retry and its task stays in_progress. */
  #endTurn(finalText: string | undefined, interrupted: boolean, lost = false): void {
    this.#permissions.turnEnded();
    this.status.turnEnded();
    if (lost) this.#mirror.turnLost();
    else (this.#mirror.turnEnded(finalText, interrupted), this.#inbox.turnEnded());
    this.#link.obligationsChanged();
    void this.#inbox.queue.pump();
  }
}
