/**
 * Keeping an end-to-end run's runner log for a post-mortem: with `AGENT_RELAY_E2E_LOG_DIR` set,
 * each rig writes its log (real timestamps) to `<dir>/<test name>-<n>.log` when it closes, so a
 * failure seen once under load can be read afterwards instead of guessed at.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { createMemoryLogger, type MemoryLogger } from '../../src/testing/memory-logger.js';

let written = 0;

/** A debug-level memory logger; with real timestamps when logs are being kept. */
export function e2eLogger(): MemoryLogger {
  return createMemoryLogger({ level: 'debug', ...(process.env.AGENT_RELAY_E2E_LOG_DIR ? { clock: createSystemClock() } : {}) });
}

/** Write the rig's log when `AGENT_RELAY_E2E_LOG_DIR` asks for it; never throws. */
export async function keepLog(logger: MemoryLogger, extra: Record<string, unknown> = {}): Promise<void> {
  const dir = process.env.AGENT_RELAY_E2E_LOG_DIR;
  if (!dir) return;
  const name = (expect.getState().currentTestName ?? 'rig').replace(/[^\w.-]+/g, '_').slice(0, 120);
  const tail = Object.entries(extra).map(([k, v]) => `# ${k}: ${JSON.stringify(v)}`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${name}-${process.pid}-${++written}.log`), `${[...logger.lines(), ...tail].join('\n')}\n`);
  } catch {
    // A post-mortem aid only.
  }
}
