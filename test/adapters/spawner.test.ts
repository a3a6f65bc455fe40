import { describe, expect, it } from 'vitest';
import { createChildProcessSpawner } from '../../src/adapters/child-process-spawner.js';
import { runProcessSpawnerConformance } from '../../src/testing/conformance/process-spawner.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { InvalidArgumentError, ProcessError } from '../../src/errors/index.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';

runProcessSpawnerConformance('child_process', () => ({ spawner: createChildProcessSpawner({ clock: createSystemClock() }) }), { describe, it }, { processGroups: true });

const node = (script: string) => ({ command: process.execPath, args: ['-e', script] });
// Exits once orphaned, so a timed-out test leaves no child behind.
const stayAlive = 'const parent = process.ppid; setInterval(() => { if (process.ppid !== parent) process.exit(99); }, 250);';

describe('createChildProcessSpawner specifics', () => {
  it('escalates to SIGKILL on the injected clock, not on wall time', async () => {
    const clock = createFakeClock();
    const spawner = createChildProcessSpawner({ clock });
    const child = await spawner.spawn(node("process.on('SIGTERM', () => {}); console.log('ready'); " + stayAlive));
    try {
      await new Promise<void>((resolve) => child.stdout.onLine((l) => l === 'ready' && resolve()));
      let settled = false;
      const killing = child.kill({ graceMs: 60_000 }).then((exit) => {
        settled = true;
        return exit;
      });
      // Give the child real time to (not) die from SIGTERM; the fake clock has not moved.
      await new Promise((r) => setTimeout(r, 200));
      expect(settled).toBe(false);
      clock.advance(60_000);
      expect(await killing).toEqual({ code: null, signal: 'SIGKILL' });
    } finally {
      // If an assertion failed the child may still be alive; ESRCH just means it is already gone.
      try {
        process.kill(child.pid!, 'SIGKILL');
      } catch {
        // already exited
      }
    }
  });

  it('rejects bad arguments with InvalidArgumentError', async () => {
    const spawner = createChildProcessSpawner({ clock: createSystemClock() });
    await expect(spawner.spawn({ command: '', args: [] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(spawner.spawn({ command: 'node', args: [1 as unknown as string] })).rejects.toBeInstanceOf(InvalidArgumentError);
    const child = await spawner.spawn(node(stayAlive));
    await expect(child.kill({ signal: 'SIGNOPE' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await child.kill({ signal: 'SIGKILL' });
  });

  it('rejects a missing working directory with ProcessError', async () => {
    const spawner = createChildProcessSpawner({ clock: createSystemClock() });
    await expect(spawner.spawn({ ...node('0'), cwd: '/nonexistent/agent-relay-runner-cwd' })).rejects.toBeInstanceOf(ProcessError);
  });

  it('delivers a long line split across many chunks, and multi-byte characters intact', async () => {
    const spawner = createChildProcessSpawner({ clock: createSystemClock() });
    const child = await spawner.spawn(node("process.stdout.write('é'.repeat(200000) + '\\n✓')"));
    const lines: string[] = [];
    child.stdout.onLine((l) => lines.push(l));
    await child.exited;
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe('é'.repeat(200000));
    expect(lines[1]).toBe('✓');
  });

  it('reads one 32 MiB line in linear time (readline, not a quadratic splitter)', async () => {
    const spawner = createChildProcessSpawner({ clock: createSystemClock() });
    // 32 MiB of JSON on one line, written in the pipe's small chunks, then a short line.
    const child = await spawner.spawn(
      node("const s = JSON.stringify({ type: 'big', text: 'x'.repeat(32 * 1024 * 1024) }); process.stdout.write(s + '\\n'); process.stdout.write('after\\n');"),
    );
    const lengths: number[] = [];
    const started = performance.now();
    child.stdout.onLine((l) => lengths.push(l.length));
    expect(await child.exited).toEqual({ code: 0, signal: null });
    const elapsed = performance.now() - started;
    expect(lengths).toEqual([32 * 1024 * 1024 + 24, 5]);
    // The quadratic splitter took about 13 s here; readline takes well under one.
    expect(elapsed).toBeLessThan(6_000);
  }, 30_000);
});
