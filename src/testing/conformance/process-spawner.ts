import * as assert from 'node:assert/strict';
import type { ProcessSpawner, SpawnedProcess, SpawnRequest } from '../../ports/process-spawner.js';
import { isRunnerError } from '../../errors/index.js';
import { createSystemClock } from '../../adapters/system-clock.js';
import type { ConformanceTestApi } from './clock.js';
import { pidAlive } from '../../adapters/pid.js';

/**
 * What a {@link runProcessSpawnerConformance} factory returns.
 * @public
 */
export interface ProcessSpawnerHarness {
  /** The spawner under test; it must be able to run `process.execPath` (node) with real timers. */
  spawner: ProcessSpawner;
  /** Release anything the harness holds. */
  dispose?(): Promise<void> | void;
}

/**
 * Options of {@link runProcessSpawnerConformance}.
 * @public
 */
export interface ProcessSpawnerConformanceOptions {
  /**
   * The spawner honours {@link SpawnRequest.processGroup}: run the process-group tests.
   * @defaultValue false
   */
  processGroups?: boolean;
}

/** Whether `pid` is gone (or a zombie nobody reaped yet, which is just as dead). */
const isDead = (pid: number): boolean => !pidAlive(pid);

/** Resolve once `pid` is dead; reject after `ms`. */
async function waitDead(pid: number, ms: number): Promise<void> {
  const clock = createSystemClock();
  const deadline = clock.now() + ms;
  while (!isDead(pid)) {
    if (clock.now() > deadline) throw new assert.AssertionError({ message: `process ${pid} still alive after ${ms} ms` });
    await new Promise<void>((resolve) => clock.setTimeout(resolve, 50));
  }
}

/** Collects a stream's lines and lets a test wait for a condition on them. */
function collect(stream: SpawnedProcess['stdout']): { lines: string[]; waitFor(pred: (lines: string[]) => boolean): Promise<void> } {
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  stream.onLine((line) => {
    lines.push(line);
    for (const w of [...waiters]) w();
  });
  return {
    lines,
    waitFor(pred) {
      if (pred(lines)) return Promise.resolve();
      return new Promise((resolve) => {
        const check = () => {
          if (pred(lines)) {
            waiters.splice(waiters.indexOf(check), 1);
            resolve();
          }
        };
        waiters.push(check);
      });
    },
  };
}

/**
 * Conformance suite for {@link ProcessSpawner}, driving real `node -e` children: line splitting
 * (`\n`, `\r\n`, a final partial line), exit code and signal, kill with escalation to SIGKILL,
 * stdin writes, the exact environment, a missing command, and (when the harness says it supports
 * them) process groups: a grandchild dies with its group.
 * @remarks Waits are event-driven (a line arrived, the process exited); the test framework's own
 * timeout bounds them.
 * @public
 */
export function runProcessSpawnerConformance(
  name: string,
  factory: () => ProcessSpawnerHarness | Promise<ProcessSpawnerHarness>,
  api: ConformanceTestApi,
  options: ProcessSpawnerConformanceOptions = {},
): void {
  const { describe, it } = api;
  const harnessSupportsGroups = options.processGroups === true && process.platform !== 'win32';
  // Long-lived children exit on their own once orphaned, so a test that times out half-way (and never
  // reaches its cleanup) leaves no process behind.
  const stayAlive = 'const parent = process.ppid; setInterval(() => { if (process.ppid !== parent) process.exit(99); }, 250);';
  const node = (script: string, extra: Partial<SpawnRequest> = {}): SpawnRequest => ({
    command: process.execPath,
    args: ['-e', script],
    ...extra,
  });

  const withSpawner =
    (body: (start: (request: SpawnRequest) => Promise<SpawnedProcess>, spawner: ProcessSpawner) => Promise<void>) =>
    async () => {
      const harness = await factory();
      const started: SpawnedProcess[] = [];
      const start = async (request: SpawnRequest) => {
        const child = await harness.spawner.spawn(request);
        started.push(child);
        return child;
      };
      try {
        await body(start, harness.spawner);
      } finally {
        // Never leave a child behind, even when an assertion failed half-way.
        await Promise.all(started.map((c) => c.kill({ signal: 'SIGKILL', graceMs: 0 }).catch(() => undefined)));
        await harness.dispose?.();
      }
    };

  describe(`ProcessSpawner conformance: ${name}`, () => {
    it('splits stdout and stderr into lines, handling \\r\\n and a final partial line', withSpawner(async (start) => {
      const child = await start(
        node(
          "process.stdout.write('one\\ntwo\\r\\nthr');" +
            "setTimeout(() => { process.stdout.write('ee\\n\\nlast-no-newline'); process.stderr.write('err1\\r\\nerr2'); }, 20);",
        ),
      );
      assert.equal(typeof child.pid, 'number');
      const out = collect(child.stdout);
      const err = collect(child.stderr);
      const exit = await child.exited;
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.deepEqual(out.lines, ['one', 'two', 'three', '', 'last-no-newline']);
      assert.deepEqual(err.lines, ['err1', 'err2']);
    }));

    it('reports the exit code', withSpawner(async (start) => {
      const child = await start(node('process.exit(3)'));
      assert.deepEqual(await child.exited, { code: 3, signal: null });
    }));

    it('unsubscribed listeners stop receiving lines', withSpawner(async (start) => {
      const child = await start(node("console.log('a'); setTimeout(() => console.log('b'), 50)"));
      const seen: string[] = [];
      const stop = child.stdout.onLine((line) => {
        seen.push(line);
        stop();
      });
      await child.exited;
      assert.deepEqual(seen, ['a']);
    }));

    it('kill() sends SIGTERM and resolves with the signal', withSpawner(async (start) => {
      const child = await start(node("console.log('ready'); " + stayAlive));
      await collect(child.stdout).waitFor((l) => l.includes('ready'));
      const exit = await child.kill({ graceMs: 10_000 });
      assert.deepEqual(exit, { code: null, signal: 'SIGTERM' });
      assert.deepEqual(await child.exited, exit);
    }));

    it('kill() escalates to SIGKILL when the child ignores the first signal', withSpawner(async (start) => {
      const child = await start(node("process.on('SIGTERM', () => console.log('ignored')); console.log('ready'); " + stayAlive));
      const out = collect(child.stdout);
      await out.waitFor((l) => l.includes('ready'));
      const exit = await child.kill({ signal: 'SIGTERM', graceMs: 200 });
      assert.deepEqual(exit, { code: null, signal: 'SIGKILL' });
    }));

    it('kill() on an exited process resolves with the recorded exit', withSpawner(async (start) => {
      const child = await start(node('process.exit(7)'));
      await child.exited;
      assert.deepEqual(await child.kill(), { code: 7, signal: null });
    }));

    it('write() reaches stdin and endInput() closes it', withSpawner(async (start) => {
      const child = await start(
        node(
          "let buf = ''; process.stdin.setEncoding('utf8');" +
            "process.stdin.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { console.log(buf.slice(0, i).toUpperCase()); buf = buf.slice(i + 1); } });" +
            "process.stdin.on('end', () => { console.log('eof'); process.exit(0); });",
        ),
      );
      const out = collect(child.stdout);
      await child.write('hello\n');
      await out.waitFor((l) => l.includes('HELLO'));
      await child.write('wor');
      await child.write('ld\n');
      await out.waitFor((l) => l.includes('WORLD'));
      child.endInput();
      assert.deepEqual(await child.exited, { code: 0, signal: null });
      assert.deepEqual(out.lines, ['HELLO', 'WORLD', 'eof']);
    }));

    it('write() rejects with a RunnerError after the process exited or stdin was closed, without crashing', withSpawner(async (start) => {
      const exitedChild = await start(node('process.exit(0)'));
      await exitedChild.exited;
      await assert.rejects(exitedChild.write('late\n'), (e: unknown) => isRunnerError(e) && e.code === 'PROCESS');

      const closer = await start(node("require('fs').closeSync(0); console.log('closed'); " + stayAlive));
      await collect(closer.stdout).waitFor((l) => l.includes('closed'));
      // The first write may still land in the pipe buffer before the OS notices; keep writing until it fails.
      let failure: unknown;
      for (let i = 0; i < 50 && failure === undefined; i++) {
        await closer.write('x'.repeat(1024) + '\n').catch((e: unknown) => (failure = e));
      }
      assert.ok(isRunnerError(failure) && failure.code === 'PROCESS', `expected a ProcessError, got ${String(failure)}`);
      await assert.rejects(closer.write('again\n'), (e: unknown) => isRunnerError(e) && e.code === 'PROCESS');
    }));

    it('gives the child exactly the environment passed', withSpawner(async (start) => {
      const child = await start(
        node('console.log(JSON.stringify(process.env))', { env: { RUNNER_CONFORMANCE_VAR: 'yes', UNSET_ONE: undefined } }),
      );
      const out = collect(child.stdout);
      await child.exited;
      const env = JSON.parse(out.lines.join('')) as Record<string, string>;
      assert.equal(env['RUNNER_CONFORMANCE_VAR'], 'yes');
      assert.ok(!('UNSET_ONE' in env), 'undefined values are not passed');
      for (const key of Object.keys(process.env)) {
        if (key !== 'RUNNER_CONFORMANCE_VAR') assert.ok(!(key in env), `parent variable ${key} leaked into the child`);
      }
    }));

    it('inherits the parent environment when env is omitted', withSpawner(async (start) => {
      const child = await start(node("console.log(process.env.PATH ?? '<none>')"));
      const out = collect(child.stdout);
      await child.exited;
      assert.deepEqual(out.lines, [process.env['PATH'] ?? '<none>']);
    }));

    const grandchildScript =
      // The grandchild ignores SIGTERM and, as a safety net only, ends itself after 30 s.
      "const { spawn } = require('node:child_process');" +
      "const g = spawn(process.execPath, ['-e', \"process.on('SIGTERM', () => {}); setTimeout(() => {}, 30000)\"], { stdio: 'ignore' });" +
      "console.log('grandchild ' + g.pid);";

    if (harnessSupportsGroups) {
      it('kill() on a process group ends a grandchild that ignores SIGTERM', withSpawner(async (start) => {
        const child = await start(node("process.on('SIGTERM', () => process.exit(0));" + grandchildScript + stayAlive, { processGroup: true }));
        const out = collect(child.stdout);
        await out.waitFor((l) => l.some((x) => x.startsWith('grandchild ')));
        const grandchild = Number(out.lines.find((x) => x.startsWith('grandchild '))?.split(' ')[1]);
        assert.ok(Number.isInteger(grandchild) && grandchild > 0);
        try {
          const exit = await child.kill({ signal: 'SIGTERM', graceMs: 300 });
          assert.deepEqual(exit, { code: 0, signal: null });
          await waitDead(grandchild, 5_000);
        } finally {
          if (!isDead(grandchild)) process.kill(grandchild, 'SIGKILL');
        }
      }));

      it('kill() after the leader exited still ends what is left of its group', withSpawner(async (start) => {
        const child = await start(node("process.stdin.on('end', () => process.exit(0)); process.stdin.resume();" + grandchildScript, { processGroup: true }));
        const out = collect(child.stdout);
        await out.waitFor((l) => l.some((x) => x.startsWith('grandchild ')));
        const grandchild = Number(out.lines.find((x) => x.startsWith('grandchild '))?.split(' ')[1]);
        try {
          child.endInput();
          assert.deepEqual(await child.exited, { code: 0, signal: null });
          assert.equal(isDead(grandchild), false, 'the grandchild outlived a graceful exit');
          assert.deepEqual(await child.kill({ signal: 'SIGTERM', graceMs: 300 }), { code: 0, signal: null });
          await waitDead(grandchild, 5_000);
        } finally {
          if (!isDead(grandchild)) process.kill(grandchild, 'SIGKILL');
        }
      }));
    }

    it('rejects with a RunnerError (ENOENT) for a command that does not exist', withSpawner(async (start) => {
      await assert.rejects(
        start({ command: 'agent-relay-runner-no-such-command-8d1f', args: [] }),
        (e: unknown) => isRunnerError(e) && e.code === 'PROCESS' && e.data['code'] === 'ENOENT',
      );
    }));
  });
}
