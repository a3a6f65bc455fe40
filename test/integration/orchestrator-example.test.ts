/**
 * examples/orchestrator.ts as a user runs it: three agents in one process, one status line, and
 * Ctrl-C (SIGINT) stopping them all, leaving no temp dir behind (issue 13, item 4).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/rig.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe('examples/orchestrator.ts', () => {
  it('runs three agents, shows their status on one line, and stops them all on Ctrl-C with nothing left behind', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/orchestrator.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    try {
      await waitFor(() => out.includes('every agent answered lead'), 'every agent answered', 60_000);
      const root = /data in (\S+);/.exec(out)?.[1];
      expect(root).toBeDefined();
      expect(existsSync(root!)).toBe(true);
      expect(out).toMatch(/^planner idle · coder idle · reviewer idle$/m);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(out).toContain('all agents stopped');
      expect(out).toMatch(/^planner offline · coder offline · reviewer offline$/m);
      expect(existsSync(root!)).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  }, 90_000);
});
