import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { PermissionDecision, ProviderSession } from '../ports/provider.js';
import type { RelayHttp, RelayPermissionRequestInput } from '../ports/relay-http.js';
import type { RelayAuth } from './registration.js';
import { describeError } from '../shared/describe-error.js';

/**
 * Outcome of a relayed permission request; `ask` leaves the decision to the provider's own dialog.
 * @public
 */
export type RelayedPermissionOutcome = PermissionDecision | { behavior: 'ask'; message: string };

/**
 * A permission request waiting for a decision from the relay.
 * @public
 */
export interface PendingPermission {
  /** The request id (the provider's, or one the runner chose). */
  requestId: string;
  /** The tool asking for permission. */
  tool: string;
  /** What the tool wants to do, in one line. */
  summary: string;
  /** Epoch ms when it was raised. */
  since: number;
  /** Epoch ms when it times out (falls back to the local dialog, or a deny). */
  deadline: number;
}

/**
 * A permission request as the host's local callback sees it (`RunnerOptions.onPermissionRequest`).
 * @public
 */
export interface LocalPermissionRequest {
  /** The request id (the provider's, or one the runner chose). */
  requestId: string;
  /** The tool asking for permission. */
  tool: string;
  /** What the tool wants to do, in one line. */
  summary: string;
  /** The tool's input as the provider gave it, when it did. */
  input?: unknown;
}

/**
 * The host's answer to a permission request: a decision, or `'relay'` to let the relay decide
 * (the usual bounded wait).
 * @public
 */
export type LocalPermissionAnswer = PermissionDecision | 'relay';

/** What {@link PermissionRelay} needs. */
export interface PermissionRelayDeps {
  clock: Clock;
  logger: Logger;
  /** How long a request waits for a decision from the relay. */
  timeoutMs: number;
  /** Interactive providers fall back to their own dialog on timeout; the others deny. */
  interactive: boolean;
  /** The agent id (requests fall back at once while unregistered) and authenticated calls. */
  auth: RelayAuth;
  /** The relay call this subsystem makes. */
  http: Pick<RelayHttp, 'createPermissionRequest'>;
  /** The waiting requests changed (raised or settled): the list as it is now. */
  onPending?: (pending: PendingPermission[]) => void;
  /** The host decides first (like the Agent SDK's `canUseTool`); `'relay'` defers to the relay. */
  local?: (request: LocalPermissionRequest) => LocalPermissionAnswer | Promise<LocalPermissionAnswer>;
}

interface Pending {
  resolve: (outcome: RelayedPermissionOutcome) => void;
  timer: TimerHandle;
  view: PendingPermission;
}

/**
 * The permission relay: raises a provider's request on the relay and waits a bounded time for a
 * decision. On timeout an interactive provider falls back to its own dialog (`ask`), the others
 * deny with a reason. A decision with no waiting request (late, unknown) is ignored, and the
 * requests of a turn that settled are denied, so nothing is applied late.
 */
export class PermissionRelay {
  readonly #d: PermissionRelayDeps;
  readonly #pending = new Map<string, Pending>();
  /** Requests raised during the open turn; undefined when no turn is open. */
  #turn: Set<string> | undefined;
  #seq = 0;
  #stopped = false;

  constructor(deps: PermissionRelayDeps) {
    this.#d = deps;
  }

  /** Relay a request and wait for its outcome (never rejects). */
  async request(input: { requestId?: string; tool: string; summary: string; input?: unknown }): Promise<RelayedPermissionOutcome> {
    // The host's callback (when given) decides first; the relay only when it defers.
    const { clock, logger, timeoutMs } = this.#d;
    const agentId = this.#d.auth.agentId;
    const requestId = input.requestId ?? `perm-${++this.#seq}`;
    const onTimeout: RelayedPermissionOutcome = this.#d.interactive
      ? { behavior: 'ask', message: 'no decision from the relay in time; asking locally' }
      : { behavior: 'deny', message: `no permission decision from the relay within ${formatMs(timeoutMs)}` };
    if (this.#stopped) return onTimeout;
    if (this.#d.local) {
      const local = await this.#askHost(requestId, input, onTimeout);
      if (local) return local;
    }
    if (!agentId) return onTimeout;
    this.#turn?.add(requestId);
    const outcome = new Promise<RelayedPermissionOutcome>((resolve) => {
      const timer = clock.setTimeout(() => {
        this.#pending.delete(requestId);
        this.#changed();
        logger.warn('permission', `request ${requestId} (${input.tool}) timed out: ${onTimeout.behavior}`);
        resolve(onTimeout);
      }, timeoutMs);
      const since = clock.now();
      this.#pending.set(requestId, { resolve, timer, view: { requestId, tool: input.tool, summary: input.summary, since, deadline: since + timeoutMs } });
      this.#changed();
    });
    try {
      const body: RelayPermissionRequestInput = { requestId, tool: input.tool, summary: input.summary };
      if (input.input !== undefined) body.input = input.input;
      const created = await this.#d.auth.withAuth(() => this.#d.http.createPermissionRequest(agentId, body));
      if (created.decision) this.decide(requestId, created.decision);
    } catch (error) {
      // Fail closed (or fall back locally) at once: nobody remote can answer a request the relay never saw.
      logger.warn('permission', `could not relay request ${requestId}: ${describeError(error)}`);
      this.decide(requestId, null, onTimeout);
    }
    return outcome;
  }

  /**
   * Ask the host's callback first, bounded by the same timeout. A decision is final; `'relay'`,
   * anything unrecognised, or a callback that throws defers to the relay (logged). A decision
   * arriving after its turn settled is never applied: the request is denied instead.
   */
  async #askHost(requestId: string, input: { tool: string; summary: string; input?: unknown }, onTimeout: RelayedPermissionOutcome): Promise<RelayedPermissionOutcome | undefined> {
    const { clock, logger, timeoutMs } = this.#d;
    const turn = this.#turn;
    const request: LocalPermissionRequest = { requestId, tool: input.tool, summary: input.summary };
    if (input.input !== undefined) request.input = input.input;
    let timer: TimerHandle | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = clock.setTimeout(() => resolve('timeout'), timeoutMs);
    });
    let answer: LocalPermissionAnswer | 'timeout' | undefined;
    try {
      answer = await Promise.race([Promise.resolve(this.#d.local?.(request)), timedOut]);
    } catch (error) {
      logger.warn('permission', `the host's permission callback threw for ${requestId} (${input.tool}); asking the relay: ${describeError(error)}`);
      return undefined;
    } finally {
      clock.clearTimeout(timer);
    }
    if (answer === 'timeout') {
      logger.warn('permission', `the host's permission callback did not answer ${requestId} (${input.tool}) in time: ${onTimeout.behavior}`);
      return onTimeout;
    }
    if (answer === undefined || answer === 'relay') return undefined;
    if (answer.behavior !== 'allow' && answer.behavior !== 'deny') {
      logger.warn('permission', `the host's permission callback gave no decision for ${requestId}; asking the relay`);
      return undefined;
    }
    if (this.#stopped || (turn !== undefined && this.#turn !== turn)) return { behavior: 'deny', message: 'the turn ended before a decision arrived' };
    logger.info('permission', `request ${requestId} (${input.tool}): ${answer.behavior} by the host`);
    return { behavior: answer.behavior, ...(answer.message ? { message: answer.message } : {}) };
  }

  /** A structured provider raised a request: relay it and hand the outcome to its session. */
  answerProvider(event: { requestId: string; tool: string; summary: string }, session: () => Pick<ProviderSession, 'decidePermission'> | undefined): void {
    void this.request({ requestId: event.requestId, tool: event.tool, summary: event.summary }).then((outcome) => {
      if (outcome.behavior === 'ask') return; // only interactive providers are told to ask, and they ask through the hooks
      session()?.decidePermission(event.requestId, outcome);
    });
  }

  /**
   * Apply a decision to a waiting request; `null` settles it with `fallback` (or a deny).
   * @returns false when no request with that id is waiting (the decision is ignored).
   */
  decide(requestId: string, decision: PermissionDecision | null, fallback?: RelayedPermissionOutcome): boolean {
    const pending = this.#pending.get(requestId);
    if (!pending) {
      if (decision) this.#d.logger.info('permission', `ignored a decision for ${requestId}: no request is waiting (late or unknown)`);
      return false;
    }
    this.#pending.delete(requestId);
    this.#d.clock.clearTimeout(pending.timer);
    this.#changed();
    const outcome: RelayedPermissionOutcome = decision
      ? { behavior: decision.behavior, ...(decision.message ? { message: decision.message } : {}) }
      : (fallback ?? { behavior: 'deny', message: 'no decision' });
    this.#d.logger.info('permission', `request ${requestId}: ${outcome.behavior}`);
    pending.resolve(outcome);
    return true;
  }

  /** The requests waiting for a decision, oldest first (copies). */
  pending(): PendingPermission[] {
    return [...this.#pending.values()].map((p) => ({ ...p.view }));
  }

  /** A turn began: requests from now on belong to it. */
  turnStarted(): void {
    this.#turn = new Set();
  }

  /** The turn settled: its requests still waiting are denied, never applied late. */
  turnEnded(): void {
    const requests = this.#turn ?? new Set<string>();
    this.#turn = undefined;
    for (const requestId of requests) this.#settle(requestId, 'the turn ended before a decision arrived');
  }

  /** Deny everything still waiting and refuse new requests. */
  stop(): void {
    this.#stopped = true;
    for (const requestId of [...this.#pending.keys()]) this.#settle(requestId, 'the runner is stopping');
  }

  #settle(requestId: string, message: string): void {
    const pending = this.#pending.get(requestId);
    if (!pending) return;
    this.#d.clock.clearTimeout(pending.timer);
    this.#pending.delete(requestId);
    this.#changed();
    pending.resolve({ behavior: 'deny', message });
  }

  #changed(): void {
    this.#d.onPending?.(this.pending());
  }
}

function formatMs(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
