import { describe, expect, it } from 'vitest';
import { createChildProcessSpawner } from '../../src/adapters/child-process-spawner.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { isRunnerError } from '../../src/errors/index.js';
import type { ProviderDeps, ProviderEvent } from '../../src/ports/provider.js';
import { createDemoProvider } from '../../src/providers/demo/provider.js';
import { JsonLinesProcess, spawnProviderProcess } from '../../src/providers/kit/process-session.js';
import { summarizeToolInput } from '../../src/providers/kit/text.js';
import { compareVersions, judgeVersion, VersionCheck } from '../../src/providers/kit/version.js';
import { createMemoryLogger, type MemoryLogger } from '../../src/testing/memory-logger.js';
import { pidAlive } from '../../src/adapters/pid.js';

function makeDeps(): ProviderDeps & { logger: MemoryLogger } {
  return { spawner: createChildProcessSpawner({ clock: createSystemClock() }), logger: createMemoryLogger({ level: 'debug' }), clock: createSystemClock() };
}

/** A "CLI" whose --version prints `version`. */
const versionCli = (version: string) => ({ command: process.execPath, args: ['-e', `console.log('fake-cli ${version}')`] });

describe('provider kit: versions', () => {
  it('compares with semver, ignoring pre-release suffixes', () => {
    expect(compareVersions('0.169.0', '0.169.0')).toBe(0);
    expect(compareVersions('0.99.9', '0.169.0')).toBe(-1);
    expect(compareVersions('0.170.0-alpha.1', '0.169.5')).toBe(1);
    expect(compareVersions('2.1.330', '2.1.33')).toBe(1);
    expect(() => compareVersions('not a version', '1.0.0')).toThrow();
  });

  it('places a version below, inside or above the tested range', () => {
    expect(judgeVersion('1.0.0', '1.1.0', '2.0.0').kind).toBe('too-old');
    expect(judgeVersion('1.5.0', '1.1.0', '2.0.0').kind).toBe('ok');
    expect(judgeVersion('2.0.1', '1.1.0', '2.0.0').kind).toBe('untested');
    expect(judgeVersion('9.0.0', undefined, undefined).kind).toBe('ok');
  });

  it('rejects a CLI older than the minimum with a ProviderError naming both versions', async () => {
    const check = new VersionCheck({ displayName: 'Fake CLI', ...versionCli('1.0.0'), minVersion: '1.2.0', testedVersion: '2.0.0', timeoutMs: 10_000 });
    const error = await check.run(makeDeps()).catch((e: unknown) => e);
    expect(isRunnerError(error) && error.code).toBe('PROVIDER');
    expect((error as Error).message).toMatch(/Fake CLI 1\.0\.0 is too old.*1\.2\.0/);
  });

  it('accepts a CLI newer than the newest tested version, logs it at WARN and keeps the warning', async () => {
    const deps = makeDeps();
    const check = new VersionCheck({ displayName: 'Fake CLI', ...versionCli('2.1.0'), minVersion: '1.2.0', testedVersion: '2.0.0', timeoutMs: 10_000 });
    expect(await check.run(deps)).toBe('2.1.0');
    expect(check.warning).toMatch(/Fake CLI 2\.1\.0 is newer than .*2\.0\.0/);
    expect(deps.logger.entries.some((e) => e.level === 'warn' && /2\.1\.0 is newer/.test(e.message))).toBe(true);
  });

  it('reports an untested version as the first warning event of the next session', async () => {
    const deps = makeDeps();
    const adapter = createDemoProvider({ testedVersion: '0.9.0' });
    expect(await adapter.checkVersion(deps)).toBe('1.0.0');
    const session = await adapter.start({ cwd: process.cwd(), env: { ...(process.env as Record<string, string>) } }, deps);
    try {
      const events: ProviderEvent[] = [];
      await new Promise<void>((resolve) => {
        session.onEvent((event) => {
          events.push(event);
          if (event.type === 'session') resolve();
        });
      });
      expect(events[0]).toEqual({ type: 'warning', topic: 'version', message: expect.stringMatching(/demo agent 1\.0\.0 is newer/) });
    } finally {
      await session.stop();
    }
  });
});

describe('provider kit: JSON-lines session', () => {
  it('never drops a line silently: unparseable lines are logged at WARN with their text, counted and reported', async () => {
    const deps = makeDeps();
    const script = "console.log('{\"type\":\"ok\"}'); console.log('garbage here'); console.log('[1,2]'); console.log('{\"type\":\"bad\"}');";
    const child = await spawnProviderProcess(deps, { command: process.execPath, args: ['-e', script] }, 'a test process');
    const proc = new JsonLinesProcess(child, deps, { who: 'kit-test', bufferEvents: 100, stopGraceMs: 1_000, killGraceMs: 1_000 });
    const messages: unknown[] = [];
    const events: ProviderEvent[] = [];
    proc.events.subscribe((event) => events.push(event));
    proc.listen({
      onMessage(message) {
        if (message.type === 'bad') return 'a bad message';
        messages.push(message);
      },
    });
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(messages).toEqual([{ type: 'ok' }]);
    expect(proc.unparseableLines).toBe(3);
    const warnings = events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
    expect(warnings).toEqual([
      expect.stringMatching(/kit-test \(pid \d+\) wrote an unparseable stdout line \(not JSON\): garbage here/),
      expect.stringMatching(/\(not a JSON object\): \[1,2\]/),
      expect.stringMatching(/\(a bad message\): \{"type":"bad"\}/),
    ]);
    expect(deps.logger.entries.filter((e) => e.level === 'warn')).toHaveLength(3);
  });

  it('stop closes stdin, then signals the whole group', async () => {
    const deps = makeDeps();
    // Ignores both stdin's end and SIGTERM: only the SIGKILL at the end of the grace ends it.
    const script = "process.on('SIGTERM', () => {}); process.stdin.resume(); setInterval(() => {}, 1000); console.log('{\"type\":\"ready\"}');";
    const child = await spawnProviderProcess(deps, { command: process.execPath, args: ['-e', script] }, 'a test process');
    const proc = new JsonLinesProcess(child, deps, { who: 'kit-test', bufferEvents: 100, stopGraceMs: 100, killGraceMs: 200 });
    await new Promise<void>((resolve) => proc.listen({ onMessage: (m) => void (m.type === 'ready' && resolve()) }));
    expect(await proc.stop()).toEqual({ code: null, signal: 'SIGKILL' });
    expect(proc.running).toBe(false);
    await expect(proc.writeLine({ type: 'late' }, 'write late')).rejects.toThrow(/kit-test is stopping/);
  });
});

/** Whether `pid` is gone (a zombie nobody reaped yet counts as gone). */
const isDead = (pid: number): boolean => !pidAlive(pid);

describe('provider kit: stop ends the process group', () => {
  it('a grandchild that ignores SIGTERM does not outlive stop(), even after a clean exit of the CLI', async () => {
    const deps = makeDeps();
    const script =
      "process.stdin.on('end', () => process.exit(0)); process.stdin.resume();" +
      "const g = require('node:child_process').spawn(process.execPath, ['-e', \"process.on('SIGTERM', () => {}); setTimeout(() => {}, 30000)\"], { stdio: 'ignore' });" +
      "console.log(JSON.stringify({ type: 'grandchild', pid: g.pid }));";
    const child = await spawnProviderProcess(deps, { command: process.execPath, args: ['-e', script] }, 'a test process');
    const proc = new JsonLinesProcess(child, deps, { who: 'kit-test', bufferEvents: 100, stopGraceMs: 2_000, killGraceMs: 200 });
    const grandchild = await new Promise<number>((resolve) => proc.listen({ onMessage: (m) => void (m.type === 'grandchild' && resolve(m.pid as number)) }));
    try {
      expect(await proc.stop()).toEqual({ code: 0, signal: null });
      const clock = createSystemClock();
      const deadline = clock.now() + 5_000;
      while (!isDead(grandchild) && clock.now() < deadline) await new Promise<void>((r) => clock.setTimeout(r, 50));
      expect(isDead(grandchild)).toBe(true);
    } finally {
      if (!isDead(grandchild)) process.kill(grandchild, 'SIGKILL');
    }
  });
});

describe('provider kit: summarizeToolInput', () => {
  it('picks command, path, url or pattern, else JSON; collapses whitespace; caps the length', () => {
    expect(summarizeToolInput({ command: 'ls  -la\n/tmp', description: 'list' })).toBe('ls -la /tmp');
    expect(summarizeToolInput({ file_path: '/a/b.ts', content: 'x' })).toBe('/a/b.ts');
    expect(summarizeToolInput({ filePath: '/a/c.ts', oldString: 'x' })).toBe('/a/c.ts'); // OpenCode's file tools
    expect(summarizeToolInput({ url: 'https://example.com' })).toBe('https://example.com');
    expect(summarizeToolInput({ pattern: 'TODO', path: undefined })).toBe('TODO');
    expect(summarizeToolInput({ a: 1 })).toBe('{"a":1}');
    expect(summarizeToolInput(undefined)).toBe('');
    expect(summarizeToolInput({ command: 'x'.repeat(1_000) })).toHaveLength(201);
  });
});
