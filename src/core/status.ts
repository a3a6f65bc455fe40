import type { Clock, TimerHandle } from '../ports/clock.js';

/**
 * The agent's state as the dashboard sees it.
 * @public
 */
export type AgentState = 'starting' | 'busy' | 'idle' | 'stalled' | 'error' | 'offline';

/**
 * The status a runner publishes (last-wins, never queued).
 * @public
 */
export interface AgentStatus {
  /** Current state. */
  state: AgentState;
  /** Epoch ms of the last provider activity. */
  lastActivityAt: number;
  /** Subagents currently running. */
  openSubagents: number;
  /** Context-window usage, when known. */
  context?: { usedTokens: number; windowTokens?: number };
  /** Provider session id, when known. */
  sessionId?: string;
  /** Provider CLI version, when known. */
  providerVersion?: string;
  /**
   * Set when the provider CLI is newer than the newest version its adapter was tested with: it runs,
   * but may have changed its protocol. Cleared when a later start finds a tested version.
   */
  providerWarning?: string;
  /** Why the state is `error` or `offline`. */
  detail?: string;
}

/**
 * Tracks busy/idle/stalled from provider events and hooks, counting subagents so the agent is
 * never shown idle while subagents run, and flagging `stalled` when a busy agent goes quiet.
 */
export class StatusTracker {
  #status: AgentStatus;
  /** Why the relay link is broken beyond a retry (shown as `error` over the provider's state). */
  #trouble: string | undefined;
  #turnOpen = false;
  #stallTimer: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly stalledAfterMs: number,
    private readonly publish: (status: AgentStatus) => void,
  ) {
    this.#status = { state: 'starting', lastActivityAt: clock.now(), openSubagents: 0 };
  }

  /** A copy of the current status. */
  get(): AgentStatus {
    const status = { ...this.#status, ...(this.#status.context ? { context: { ...this.#status.context } } : {}) };
    return this.#trouble === undefined ? status : { ...status, state: 'error', detail: this.#trouble };
  }

  /**
   * The relay link is broken in a way retries do not fix (a reason; the status shows `error` with
   * it), or works again (undefined; the provider's own state shows again).
   */
  relayTrouble(reason: string | undefined): void {
    if (this.#trouble === reason) return;
    this.#trouble = reason;
    this.publish(this.get());
  }

  /** Provider activity: a turn began. */
  turnStarted(): void {
    this.#turnOpen = true;
    this.#activity();
  }

  /** Provider activity that is not a turn boundary (reasoning, a tool step, a hook call). */
  activity(): void {
    this.#activity();
  }

  /** The main turn ended (completed, interrupted or failed). Idle unless subagents still run. */
  turnEnded(): void {
    this.#turnOpen = false;
    this.#activity();
  }

  /** A subagent started or stopped. */
  subagent(phase: 'start' | 'stop'): void {
    this.#activity(Math.max(0, this.#status.openSubagents + (phase === 'start' ? 1 : -1)));
  }

  /** Ready with no turn running (provider up, or session reset). */
  ready(): void {
    this.#turnOpen = false;
    this.#activity(0);
  }

  /** Set a terminal-ish state (`starting`, `error`, `offline`) with a reason. */
  set(state: 'starting' | 'error' | 'offline', detail?: string): void {
    this.#clearStall();
    this.#turnOpen = false;
    const next: AgentStatus = { ...this.#status, state, lastActivityAt: this.clock.now() };
    if (detail === undefined) delete next.detail;
    else next.detail = detail;
    this.#emit(next);
  }

  /** Merge details (session id, version, context usage) without changing the state. */
  update(patch: Partial<Pick<AgentStatus, 'sessionId' | 'providerVersion' | 'context'>>): void {
    this.#emit({ ...this.#status, ...patch });
  }

  /** Set (or, with `undefined`, clear) the warning about an untested provider version. */
  providerWarning(message: string | undefined): void {
    const next: AgentStatus = { ...this.#status };
    if (message === undefined) delete next.providerWarning;
    else next.providerWarning = message;
    this.#emit(next);
  }

  /** Stop timers. */
  dispose(): void {
    this.#clearStall();
  }

  #activity(openSubagents = this.#status.openSubagents): void {
    const busy = this.#turnOpen || openSubagents > 0;
    const next: AgentStatus = { ...this.#status, openSubagents, state: busy ? 'busy' : 'idle', lastActivityAt: this.clock.now() };
    delete next.detail;
    this.#clearStall();
    if (busy) {
      this.#stallTimer = this.clock
        .setTimeout(() => {
          this.#stallTimer = undefined;
          this.#emit({ ...this.#status, state: 'stalled' });
        }, this.stalledAfterMs)
        .unref();
    }
    this.#emit(next);
  }

  #clearStall(): void {
    this.clock.clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
  }

  #emit(next: AgentStatus): void {
    const prev = this.#status;
    this.#status = next;
    const changed =
      prev.state !== next.state ||
      prev.openSubagents !== next.openSubagents ||
      prev.sessionId !== next.sessionId ||
      prev.providerVersion !== next.providerVersion ||
      prev.providerWarning !== next.providerWarning ||
      prev.detail !== next.detail ||
      prev.context?.usedTokens !== next.context?.usedTokens;
    if (changed) this.publish(this.get());
  }
}
