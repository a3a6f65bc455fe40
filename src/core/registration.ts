import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { AgentProfile, RegisterAgentInput, RegisterAgentResult, RelayHttp, TokenGrant } from '../ports/relay-http.js';
import { isRunnerError } from '../errors/index.js';
import { describeError } from '../shared/describe-error.js';
import type { ProviderProfileField } from '../ports/provider.js';
import { profileReport } from './profile.js';

/** What {@link Registration} needs. */
export interface RegistrationDeps {
  /** The relay calls this subsystem makes itself. */
  http: Pick<RelayHttp, 'register' | 'renewToken' | 'heartbeat'>;
  clock: Clock;
  logger: Logger;
  /** Who registers: name, provider, runner version. */
  identity: RegisterAgentInput;
  /** The profile fields the provider projects (for the one-line profile report). */
  profileFields?: readonly ProviderProfileField[] | undefined;
  /** HTTP heartbeat period while the bus is down. */
  heartbeatMs: number;
  /** Whether the bus is up; heartbeats are only sent while it is not. */
  busConnected: () => boolean;
  /** A fresh token is in force (after a renewal, or a re-registration that kept the agent id). */
  onRenewed: (token: string) => void;
  /** The relay forgot the agent and registered it anew under another id: the link must follow. */
  onReregistered: (registered: RegisterAgentResult) => void;
  /** Recovery failed for a reason a retry of the same call cannot fix (a reason), or works again (undefined). */
  onTrouble: (reason: string | undefined) => void;
}

/** What other subsystems use of the registration: the agent id and authenticated calls. */
export interface RelayAuth {
  /** Relay agent id; undefined while not registered. */
  readonly agentId: string | undefined;
  /** Run a relay call; on 401/403 run the shared recovery once and retry. */
  withAuth<T>(call: () => Promise<T>): Promise<T>;
}

/** True when the relay refused the credentials (401/403), whichever adapter reported it. */
export function isAuthFailure(error: unknown): boolean {
  return isRunnerError(error) && error.code === 'RELAY_AUTH';
}

/** True when the relay does not know the agent (404 on an agent route): it lost its state. */
export function isUnknownAgent(error: unknown): boolean {
  return isRunnerError(error) && error.code === 'RELAY_HTTP' && error.data['status'] === 404;
}

/**
 * Registration and token lifecycle: registers the agent, owns its bearer token, renews it at 80 %
 * of its lifetime, and runs one shared recovery (renew, else register again) for every caller that
 * met a 401/403. Adapters read the token through {@link Registration.token}.
 */
export class Registration implements RelayAuth {
  readonly #d: RegistrationDeps;
  #token: string | undefined;
  #agentId: string | undefined;
  #profile: AgentProfile | undefined;
  #renewTimer: TimerHandle | undefined;
  #heartbeatTimer: TimerHandle | undefined;
  #recovering: Promise<void> | undefined;

  constructor(deps: RegistrationDeps) {
    this.#d = deps;
  }

  /** The current bearer token (undefined before the first registration). A secret. */
  get token(): string | undefined {
    return this.#token;
  }

  /** Relay agent id, once registered. */
  get agentId(): string | undefined {
    return this.#agentId;
  }

  /** The profile the relay handed out at registration. */
  get profile(): AgentProfile | undefined {
    return this.#profile;
  }

  /** Register, keep the token, schedule its renewal and start the heartbeat. */
  async register(): Promise<RegisterAgentResult> {
    const registered = await this.#d.http.register(this.#d.identity);
    this.#agentId = registered.agent.id;
    this.#profile = registered.profile;
    this.#grant(registered);
    this.#d.logger.info('runner', `registered as ${registered.agent.name} (${registered.agent.id})`);
    this.#logProfile(registered.profile);
    this.#d.onTrouble(undefined);
    this.#d.clock.clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = this.#d.clock.setInterval(() => void this.#heartbeat(), this.#d.heartbeatMs).unref();
    return registered;
  }

  /**
   * Shared token recovery: one renewal at a time. A refused renewal, or one for an agent the relay
   * no longer knows (it lost its state: 404), registers again; a new agent id is adopted. When that
   * fails too, `onTrouble` reports why (the status shows it) and the next recovery tries again.
   */
  recover(): Promise<void> {
    if (this.#recovering) return this.#recovering;
    this.#recovering = (async () => {
      const agentId = this.#agentId;
      if (!agentId) return;
      let grant: TokenGrant;
      try {
        grant = await this.#d.http.renewToken(agentId);
      } catch (error) {
        if (!isAuthFailure(error) && !isUnknownAgent(error)) throw error;
        this.#d.logger.warn('auth', `token renewal ${isUnknownAgent(error) ? 'found the agent unknown to the relay' : 'refused'}; registering again`);
        grant = await this.#reregister(agentId);
      }
      const moved = this.#agentId !== agentId;
      this.#grant(grant);
      // A new agent id already rebuilt the link with this token; a renewal only swaps it in.
      if (!moved) this.#d.onRenewed(grant.token);
      this.#d.onTrouble(undefined);
      this.#d.logger.info('auth', 'token renewed');
    })().finally(() => {
      this.#recovering = undefined;
    });
    return this.#recovering;
  }

  async #reregister(agentId: string): Promise<RegisterAgentResult> {
    let registered: RegisterAgentResult;
    try {
      registered = await this.#d.http.register(this.#d.identity);
    } catch (error) {
      const reason = `the relay no longer accepts agent ${agentId} and registering again failed: ${describeError(error)}`;
      this.#d.logger.error('auth', reason);
      this.#d.onTrouble(reason);
      throw error;
    }
    this.#profile = registered.profile;
    if (registered.agent.id !== agentId) {
      this.#agentId = registered.agent.id;
      this.#token = registered.token;
      this.#d.logger.warn('auth', `registered again as ${registered.agent.id} (was ${agentId})`);
      this.#d.onReregistered(registered);
    }
    return registered;
  }

  /** Run a relay call; on 401/403 run the shared recovery once and retry. */
  async withAuth<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (!isAuthFailure(error)) throw error;
      await this.recover();
      return call();
    }
  }

  /** Stop the renewal and heartbeat timers. */
  stop(): void {
    this.#d.clock.clearTimeout(this.#renewTimer);
    this.#d.clock.clearInterval(this.#heartbeatTimer);
    this.#renewTimer = undefined;
    this.#heartbeatTimer = undefined;
  }

  #grant(grant: TokenGrant): void {
    this.#token = grant.token;
    this.#d.logger.addSecret?.(grant.token);
    const clock = this.#d.clock;
    clock.clearTimeout(this.#renewTimer);
    const ttl = grant.tokenExpiresAt - clock.now();
    // Renew at 80 % of the lifetime, at least 1 s ahead.
    const inMs = Math.max(0, Math.min(ttl - 1000, ttl * 0.8));
    this.#renewTimer = clock
      .setTimeout(() => {
        void this.recover().catch((error: unknown) => this.#d.logger.warn('auth', `scheduled renewal failed: ${describeError(error)}`));
      }, inMs)
      .unref();
  }

  async #heartbeat(): Promise<void> {
    const agentId = this.#agentId;
    if (!agentId || this.#d.busConnected()) return;
    try {
      await this.withAuth(() => this.#d.http.heartbeat(agentId));
    } catch (error) {
      this.#d.logger.debug('heartbeat', `failed: ${describeError(error)}`);
    }
  }

  #logProfile(profile: AgentProfile): void {
    this.#d.logger.info('profile', profileReport(profile, this.#d.identity.provider ?? 'configured', this.#d.profileFields));
  }
}
