import type { ProcessExit } from '../ports/process-spawner.js';

/**
 * Tuning of the provider exit policy.
 * @public
 */
export interface ExitPolicyOptions {
  /** Exits inside `windowMs` beyond which the runner gives up. @defaultValue 5 */
  maxRapidExits?: number;
  /** Window in which exits count as rapid. @defaultValue 60000 */
  windowMs?: number;
  /** Delay unit per recent exit. @defaultValue 500 */
  baseDelayMs?: number;
  /** Longest restart delay. @defaultValue 10000 */
  maxDelayMs?: number;
  /** Exit codes that park the agent offline for manual recovery (e.g. bad configuration). @defaultValue [78] */
  parkExitCodes?: number[];
}

/**
 * What to do after a provider exit.
 * @public
 */
export type ExitDecision =
  | { action: 'none'; reason: string }
  | { action: 'restart'; delayMs: number; reason: string }
  | { action: 'give_up'; reason: string }
  | { action: 'park'; reason: string };

/**
 * Decides restart, give up or park for each provider exit (SPEC §7): an expected exit ends
 * quietly; an unexpected one restarts after `min(max, max(base, base × recent exits))`; more than
 * `maxRapidExits` inside the window gives up; configured exit codes park the agent.
 */
export class ExitPolicy {
  readonly #exits: number[] = [];
  readonly #o: Required<ExitPolicyOptions>;

  constructor(options: ExitPolicyOptions = {}) {
    this.#o = {
      maxRapidExits: options.maxRapidExits ?? 5,
      windowMs: options.windowMs ?? 60_000,
      baseDelayMs: options.baseDelayMs ?? 500,
      maxDelayMs: options.maxDelayMs ?? 10_000,
      parkExitCodes: options.parkExitCodes ?? [78],
    };
  }

  /** Record an exit at `now` and decide. `expected` is true when the runner asked it to stop. */
  decide(exit: ProcessExit, now: number, expected: boolean): ExitDecision {
    const how = exit.signal ? `signal ${exit.signal}` : `code ${String(exit.code)}`;
    if (expected) return { action: 'none', reason: `provider stopped on request (${how})` };
    if (exit.code !== null && this.#o.parkExitCodes.includes(exit.code)) {
      return { action: 'park', reason: `provider exited with ${how}, which needs manual recovery` };
    }
    this.#exits.push(now);
    while (this.#exits.length > 0 && (this.#exits[0] ?? 0) <= now - this.#o.windowMs) this.#exits.shift();
    const recent = this.#exits.length;
    if (recent > this.#o.maxRapidExits) {
      return {
        action: 'give_up',
        reason: `provider exited ${recent} times within ${Math.round(this.#o.windowMs / 1000)} s (last: ${how}); giving up`,
      };
    }
    const delayMs = Math.min(this.#o.maxDelayMs, Math.max(this.#o.baseDelayMs, this.#o.baseDelayMs * recent));
    return { action: 'restart', delayMs, reason: `provider exited unexpectedly (${how}); restart ${recent} in window` };
  }

  /** Forget past exits (after a manual restart). */
  reset(): void {
    this.#exits.length = 0;
  }
}
