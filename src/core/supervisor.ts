import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { ProcessExit } from '../ports/process-spawner.js';
import type { ProviderAdapter, ProviderDeps, ProviderEvent, ProviderLaunch, ProviderSession } from '../ports/provider.js';
import { ExitPolicy, type ExitPolicyOptions } from './exit-policy.js';
import type { StatusTracker } from './status.js';
import { describeError } from '../shared/describe-error.js';
import type { AgentProfile } from '../ports/relay-http.js';
import { providerProfile } from './profile.js';

/** What {@link ProviderSupervisor} needs. */
export interface ProviderSupervisorDeps {
  provider: ProviderAdapter;
  /** The ports handed to the provider, as given (the one place `ProviderDeps` is built from). */
  providerDeps: ProviderDeps;
  clock: Clock;
  logger: Logger;
  status: StatusTracker;
  exitPolicy?: ExitPolicyOptions;
  /** Working directory of the agent. */
  cwd: string;
  /** Environment for each provider start (read at start: it carries the control port). */
  env: () => Record<string, string>;
  /** The relay's agent profile, read at each start (a re-registration may bring a new one). */
  profile?: () => AgentProfile | undefined;
  /** A timeline event for the dashboard. */
  timeline: (event: string, data: Record<string, unknown>) => void;
  /** An event of the running session. */
  onEvent: (event: ProviderEvent) => void;
  /** A session is up and can take turns. */
  onUp: () => void;
  /** The session went away (before the exit policy decides what happens next). */
  onDown: () => void;
  /** The exit policy gave up: no session will come back by itself. */
  onGaveUp: (reason: string) => void;
  /** A start failed (also logged, and rethrown to the caller). */
  onError: (error: Error) => void;
}

/**
 * Provider supervision: starts the provider after a version check, applies the exit policy to
 * every exit (restart after a delay, give up, park, or nothing for an exit the runner asked for),
 * and resumes the last session id on restart when the provider can.
 */
export class ProviderSupervisor {
  readonly #d: ProviderSupervisorDeps;
  readonly #policy: ExitPolicy;
  #session: ProviderSession | undefined;
  #sessionId: string | undefined;
  #expectedExit = false;
  #stopping = false;
  #restartTimer: TimerHandle | undefined;

  constructor(deps: ProviderSupervisorDeps) {
    this.#d = deps;
    this.#policy = new ExitPolicy(deps.exitPolicy);
  }

  /** The running session, if any. */
  get session(): ProviderSession | undefined {
    return this.#session;
  }

  /** The provider's session id, as last reported; restarts resume it. */
  get sessionId(): string | undefined {
    return this.#sessionId;
  }

  /** The provider named its session. */
  sessionNamed(sessionId: string): void {
    this.#sessionId = sessionId;
  }

  /** A notice from the provider that only needs logging (and, for compaction, counts as activity). */
  notice(event: Extract<ProviderEvent, { type: 'warning' | 'turn.failed' | 'compaction' }>): void {
    const { logger, status } = this.#d;
    if (event.type === 'warning') {
      if (event.topic === 'version') status.providerWarning(event.message);
      return logger.warn('provider', event.message);
    }
    if (event.type === 'turn.failed') return logger.error('provider', `turn failed: ${event.error ?? 'unknown error'}${event.details ? ` (${event.details})` : ''}`);
    logger.info('provider', `compaction ${event.phase} (${event.trigger ?? 'unknown trigger'})`);
    status.activity();
  }

  /** Start the provider, resuming `resumeSessionId` when the provider can. Rejects when it cannot start. */
  async start(resumeSessionId: string | undefined): Promise<void> {
    if (this.#stopping) return;
    const { provider, status, logger } = this.#d;
    status.set('starting');
    try {
      const deps = this.#providerDeps();
      const version = await provider.checkVersion(deps);
      status.update({ providerVersion: version });
      // A new check starts clean: the session re-reports the warning if this version is untested.
      status.providerWarning(undefined);
      logger.info('provider', `${provider.name} version ${version}`);
      const launch: ProviderLaunch = { cwd: this.#d.cwd, env: this.#d.env() };
      if (resumeSessionId && provider.capabilities.resume) launch.resumeSessionId = resumeSessionId;
      const profile = providerProfile(this.#d.profile?.());
      if (profile) launch.profile = profile;
      const session = await provider.start(launch, deps);
      this.#session = session;
      this.#expectedExit = false;
      const off = session.onEvent((event) => this.#d.onEvent(event));
      void session.exited.then((exit) => {
        off();
        this.#exited(session, exit);
      });
      status.ready();
      this.#d.timeline('provider.started', { pid: session.pid ?? null, resumed: Boolean(launch.resumeSessionId) });
      this.#d.onUp();
    } catch (error) {
      logger.error('provider', `could not start ${provider.name}: ${describeError(error)}`);
      status.set('error', describeError(error));
      this.#d.onError(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  /** Restart on request: the exit history is forgotten and the session resumed. */
  async restart(): Promise<void> {
    this.#policy.reset();
    await this.#stopSession(true);
    await this.start(this.#sessionId);
  }

  /** Allow starts again after {@link ProviderSupervisor.stop} (a runner start retried after a failed one). */
  reopen(): void {
    this.#stopping = false;
    this.#policy.reset();
  }

  /** Stop for good: no more restarts; the running session is stopped as an expected exit. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#d.clock.clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    await this.#stopSession(false);
  }

  /** The one place the provider's ports are assembled: a new port is one field in `providerDeps`. */
  #providerDeps(): ProviderDeps {
    return { ...this.#d.providerDeps };
  }

  async #stopSession(rethrow: boolean): Promise<void> {
    const session = this.#session;
    if (!session) return;
    this.#expectedExit = true;
    const stopped = session.stop();
    await (rethrow ? stopped : stopped.catch(() => {}));
  }

  #exited(session: ProviderSession, exit: ProcessExit): void {
    if (this.#session !== session) return;
    this.#session = undefined;
    this.#d.onDown();
    const decision = this.#policy.decide(exit, this.#d.clock.now(), this.#expectedExit || this.#stopping);
    this.#d.timeline('provider.restart_decision', { ...decision, code: exit.code, signal: exit.signal });
    this.#d.logger[decision.action === 'none' ? 'info' : 'warn']('provider', decision.reason);
    switch (decision.action) {
      case 'restart':
        this.#restartTimer = this.#d.clock.setTimeout(() => {
          this.#restartTimer = undefined;
          void this.start(this.#sessionId).catch(() => {});
        }, decision.delayMs);
        return;
      case 'give_up':
        this.#d.status.set('error', decision.reason);
        this.#d.onGaveUp(decision.reason);
        return;
      case 'park':
        this.#d.status.set('offline', decision.reason);
        return;
      case 'none':
        return;
    }
  }
}
