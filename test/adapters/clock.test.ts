import { describe, it } from 'vitest';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { runClockConformance } from '../../src/testing/conformance/clock.js';

runClockConformance(
  'system clock',
  () => ({
    clock: createSystemClock(),
    // Real delays; the extra few ms absorb timer coarseness.
    tick: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms + 5)),
  }),
  { describe, it },
);

runClockConformance(
  'fake clock',
  () => {
    const clock = createFakeClock();
    return { clock, tick: (ms) => clock.advanceAsync(ms) };
  },
  { describe, it },
);
