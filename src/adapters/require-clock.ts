import type { Clock } from '../ports/clock.js';
import { InvalidArgumentError } from '../errors/index.js';

/**
 * Refuse a missing clock at construction, with the factory's name, rather than fail on the first
 * timer. Adapters take no default clock: `createRunner` resolves it once, and a host that builds
 * an adapter itself passes `createSystemClock()` (or its fake clock in tests).
 * @internal
 */
export function requireClock(clock: Clock | undefined, factory: string): asserts clock is Clock {
  if (!clock || typeof clock.now !== 'function' || typeof clock.setTimeout !== 'function') {
    throw new InvalidArgumentError(`${factory} needs a clock: pass createSystemClock() (or a fake clock in tests)`);
  }
}
