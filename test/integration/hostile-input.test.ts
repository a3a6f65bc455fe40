/**
 * Issue 10, item 4: one frame must not kill the host. A child process embeds a runner under
 * `node --unhandled-rejections=strict` (any unhandled rejection ends it with a non-zero code) and
 * is fed property-based hostile bus frames and HTTP response bodies (test/fixtures/fuzz/hostile-host.ts).
 * The seed is fixed so the run is repeatable; set FUZZ_SEED to explore others (a failure prints its seed).
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = join(ROOT, 'test', 'fixtures', 'fuzz', 'hostile-host.ts');
const TSX_LOADER = join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs');

function runHost(env: Record<string, string>): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--unhandled-rejections=strict', '--import', `file://${TSX_LOADER}`, SCRIPT], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

describe('hostile input against a running runner (issue 10, item 4)', () => {
  it('fuzzed bus frames and HTTP bodies: the host stays up, bad frames are dropped with a counted warning, good messages still answered', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arr-fuzz-'));
    try {
      const seed = process.env.FUZZ_SEED ?? '20261201';
      const run = await runHost({ FUZZ_SEED: seed, FUZZ_RUNS: '60', FUZZ_HTTP_RUNS: '20', FUZZ_DIR: dir });
      const report = run.stdout.trim().split('\n').filter(Boolean).at(-1) ?? '';
      expect(run.code, `seed ${seed}\n${run.stdout}\n${run.stderr.slice(-4000)}`).toBe(0);
      const parsed = JSON.parse(report) as { ok: boolean; badFrames: number; framesDropped: number; injectedServed: number; malformedBodies: number };
      expect(parsed.ok).toBe(true);
      // The generator is not vacuous: most frames were bad, every one dropped; bodies were served and refused.
      expect(parsed.badFrames).toBeGreaterThan(30);
      expect(parsed.framesDropped).toBe(parsed.badFrames);
      expect(parsed.injectedServed).toBeGreaterThanOrEqual(20);
      expect(parsed.malformedBodies).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
