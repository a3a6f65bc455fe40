import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChildProcessSpawner } from '../../src/adapters/child-process-spawner.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { createCodexProvider } from '../../src/providers/codex/provider.js';
import { compareVersions } from '../../src/providers/kit/version.js';
import { isRunnerError } from '../../src/errors/index.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../../src/testing/fake-openai-server.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { runProviderConformance } from '../../src/testing/conformance/provider.js';
import type { ProviderDeps, ProviderEvent, ProviderSession } from '../../src/ports/provider.js';
import { waitFor } from '../helpers/rig.js';
import { codexOptionsFor, ensureCodex } from './codex-helpers.js';

beforeAll(() => {
  ensureCodex();
}, 600_000);

const deps = (): ProviderDeps => {
  const clock = createSystemClock();
  return { spawner: createChildProcessSpawner({ clock }), logger: createMemoryLogger({ level: 'debug' }), clock };
};

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'arr-codex-adapter-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A fake model for the conformance suite: `[slow]` holds the answer long enough to interrupt. */
const conformanceModel = (): Promise<FakeOpenAIServer> =>
  createFakeOpenAIServer((call) => ({
    holdMs: call.lastUserText.includes('[slow]') ? 20_000 : 0,
    output: [{ type: 'text', text: `answer ${call.index}` }],
  }));

runProviderConformance(
  'codex (real CLI, fake OpenAI server)',
  async () => {
    const model = await conformanceModel();
    const dir = await mkdtemp(join(tmpdir(), 'arr-codex-conf-'));
    await mkdir(join(dir, 'home'), { mode: 0o700 });
    return {
      adapter: createCodexProvider(codexOptionsFor(model, join(dir, 'home'))),
      deps: deps(),
      launch: { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir } },
      quickTurnText: 'say something',
      slowTurnText: 'take long [slow]',
      async cleanup() {
        await model.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  { describe, it: (name, fn) => it(name, fn, 60_000) },
  { timeoutMs: 40_000 },
);

describe('codex adapter: version check and bad input', () => {
  it('compares versions numerically', () => {
    expect(compareVersions('0.169.0', '0.169.0')).toBe(0);
    expect(compareVersions('0.99.9', '0.169.0')).toBe(-1);
    expect(compareVersions('0.170.0-alpha.1', '0.169.5')).toBe(1);
  });

  it('a missing binary is a ProviderError at checkVersion and start', async () => {
    const adapter = createCodexProvider({ command: join(scratch, 'no-such-codex'), codexHome: scratch });
    const version = await adapter.checkVersion(deps()).catch((e: unknown) => e);
    expect(isRunnerError(version) && version.code).toBe('PROVIDER');
    expect(String((version as Error).message)).toContain('no-such-codex');
    const started = await adapter.start({ cwd: scratch, env: {} }, deps()).catch((e: unknown) => e);
    expect(isRunnerError(started) && started.code).toBe('PROVIDER');
  });

  it('a CLI that is too old is a ProviderError naming both versions', async () => {
    const old = join(scratch, 'old-codex');
    await writeFile(old, '#!/bin/sh\necho "codex-cli 0.99.0"\n');
    await chmod(old, 0o700);
    const error = await createCodexProvider({ command: old }).checkVersion(deps()).catch((e: unknown) => e);
    expect(isRunnerError(error) && error.code).toBe('PROVIDER');
    expect((error as Error).message).toMatch(/0\.99\.0 is too old.*0\.169\.0/);
  });

  it('logs an unparseable line loudly and surfaces it as a warning; unknown fields and notifications are tolerated', async () => {
    // A stand-in app server: answers the handshake (with extra fields), then writes garbage and an unknown notification.
    const fake = join(scratch, 'fake-app-server.mjs');
    await writeFile(
      fake,
      `#!/usr/bin/env node
import { createInterface } from 'node:readline';
const out = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  if (m.method === 'initialize') out({ id: m.id, result: { userAgent: 'fake', surprise: true } });
  if (m.method === 'thread/start') {
    out({ id: m.id, result: { thread: { id: 'thread-fake-1', brandNew: 1 } } });
    out({ method: 'some/futureNotification', params: { x: 1 } });
    process.stdout.write('this is not json {\\n');
  }
});
`,
    );
    await chmod(fake, 0o700);
    const d = deps();
    // The stand-in starts no MCP servers: without relayTools: false the session would wait for the relay tools' startup.
    const session = await createCodexProvider({ command: fake, codexHome: scratch, relayTools: false }).start({ cwd: scratch, env: { PATH: process.env.PATH ?? '' } }, d);
    const events: ProviderEvent[] = [];
    session.onEvent((e) => events.push(e));
    try {
      await waitFor(() => events.find((e) => e.type === 'warning'), 'a warning event');
      expect(events).toContainEqual({ type: 'session', sessionId: 'thread-fake-1', source: 'startup' });
      expect(events.filter((e) => e.type === 'warning')).toHaveLength(1);
      const warning = events.find((e) => e.type === 'warning');
      expect(warning).toMatchObject({ message: expect.stringContaining('this is not json {') });
      const logger = d.logger as ReturnType<typeof createMemoryLogger>;
      expect(logger.lines().some((l) => l.includes('WARN') && l.includes('unparseable stdout line') && l.includes('this is not json {'))).toBe(true);
    } finally {
      await session.stop();
    }
  });
});

describe('codex adapter: approvals fail closed', () => {
  let model: FakeOpenAIServer;
  let session: ProviderSession | undefined;
  let dir: string;
  beforeAll(async () => {
    model = await createFakeOpenAIServer((call) =>
      call.afterToolOutput ? { output: [{ type: 'text', text: 'ran' }] } : { output: [{ type: 'shell', command: 'echo approved-run' }] },
    );
    dir = await mkdtemp(join(tmpdir(), 'arr-codex-approvals-'));
    await mkdir(join(dir, 'home'), { mode: 0o700 });
  });
  afterAll(async () => {
    await session?.stop();
    await model.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a malformed decision denies, and a later decision for the same request is ignored', async () => {
    const adapter = createCodexProvider(codexOptionsFor(model, join(dir, 'home'), { approvalPolicy: 'untrusted' }));
    session = await adapter.start({ cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir } }, deps());
    const events: ProviderEvent[] = [];
    session.onEvent((e) => events.push(e));
    await session.deliver({ deliveryId: 'd-approval', text: 'run something' });
    const asked = await waitFor(() => events.find((e) => e.type === 'permission'), 'a permission event', 40_000);
    if (asked.type !== 'permission') throw new Error('unreachable');
    expect(asked.tool).toBe('shell');
    session.decidePermission(asked.requestId, { behavior: 'sure' } as unknown as { behavior: 'allow' });
    // Ignored: the request was already answered (denied).
    session.decidePermission(asked.requestId, { behavior: 'allow' });
    const done = await waitFor(() => events.find((e) => e.type === 'turn.completed'), 'turn completed', 40_000);
    expect(events.some((e) => e.type === 'tool' && e.status === 'failed' && e.summary.includes('echo approved-run'))).toBe(true);
    expect(events.some((e) => e.type === 'tool' && e.status === 'completed')).toBe(false);
    expect(done).toMatchObject({ type: 'turn.completed' });
    // The command never ran: the model was never called back with its output.
    expect(model.responseRequests().some((q) => q.rawBody.includes('approved-run\\n'))).toBe(false);
  }, 90_000);
});
