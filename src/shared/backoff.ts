/**
 * Capped exponential backoff with jitter, shared by every retry loop (outbox delivery, bus
 * reconnect). Pure: the caller supplies the random draw, so tests and simulations stay seeded.
 */

/** Delay policy of {@link backoffDelay}. */
export interface BackoffPolicy {
  /** First step, in ms. */
  baseDelayMs: number;
  /** Largest step, in ms. */
  maxDelayMs: number;
}

/**
 * Delay before attempt `attempts + 1`: the step doubles from `baseDelayMs` up to `maxDelayMs`, and
 * the delay is drawn in [step / 2, step] — never below half the step, so a burst of retriers
 * spreads out without any of them hammering.
 * @param attempts - failures so far (1 for the first retry)
 * @param random - a draw in [0, 1); values outside are clamped
 */
export function backoffDelay(attempts: number, policy: BackoffPolicy, random: number): number {
  const exponent = Math.max(0, attempts - 1);
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(exponent, 30));
  return Math.round(step / 2 + (step / 2) * Math.min(Math.max(random, 0), 1));
}
