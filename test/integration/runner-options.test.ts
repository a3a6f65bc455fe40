import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRunner, type RunnerOptions } from '../../src/create-runner.js';
import { createControlServer } from '../../src/control/control-server.js';
import { createDemoProvider, InvalidArgumentError, isRunnerError, RunnerError } from '../../src/index.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { startRig, waitFor, type Rig } from '../helpers/rig.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';

let rig: Rig | undefined;
let dir: string | undefined;
let blocker: Server | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
  await new Promise<void>((r) => (blocker ? blocker.close(() => r()) : r()));
  blocker = undefined;
});

const base = (): RunnerOptions => ({
  name: 'opt-1',
  relayUrl: 'http://127.0.0.1:1',
  provider: createDemoProvider(),
  logger: createMemoryLogger(),
  dataDir: join(tmpdir(), 'arr-options-never-created'),
});

/** The InvalidArgumentError createRunner throws for these options. */
function refusal(extra: Record<string, unknown>): InvalidArgumentError {
  try {
    createRunner({ ...base(), ...extra } as RunnerOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return error as InvalidArgumentError;
  }
  throw new Error(`createRunner accepted ${JSON.stringify(extra)}`);
}

describe('createRunner validates every option (issue 10, item 7)', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['stalledAfterMs: NaN', { stalledAfterMs: Number.NaN }, 'stalledAfterMs'],
    ['permissionTimeoutMs: -5', { permissionTimeoutMs: -5 }, 'permissionTimeoutMs'],
    ['heartbeatMs: "soon"', { heartbeatMs: 'soon' }, 'heartbeatMs'],
    ['obligationRefreshMs: Infinity', { obligationRefreshMs: Number.POSITIVE_INFINITY }, 'obligationRefreshMs'],
    ['maxAttachmentBytes: 1.5', { maxAttachmentBytes: 1.5 }, 'maxAttachmentBytes'],
    ['control.port: "abc"', { control: { port: 'abc' } }, 'control.port'],
    ['control.port: 70000', { control: { port: 70_000 } }, 'control.port'],
    ['control.token: ""', { control: { token: '' } }, 'control.token'],
    ['outbox.maxAttempts: 0', { outbox: { maxAttempts: 0 } }, 'outbox.maxAttempts'],
    ['exitPolicy.windowMs: NaN', { exitPolicy: { windowMs: Number.NaN } }, 'exitPolicy.windowMs'],
    ['exitPolicy.parkExitCodes: "78"', { exitPolicy: { parkExitCodes: '78' } }, 'exitPolicy.parkExitCodes'],
    ['relayUrl: ftp', { relayUrl: 'ftp://relay' }, 'relayUrl'],
    ['relayUrl: not a URL', { relayUrl: 'http://' }, 'relayUrl'],
    ['apiKey: 42', { apiKey: 42 }, 'apiKey'],
    ['cwd: ""', { cwd: '' }, 'cwd'],
    ['dataDir with NUL', { dataDir: 'a\0b' }, 'dataDir'],
    ['env with a number', { env: { PATH: 1 } }, 'env'],
    ['initialPrompt: {}', { initialPrompt: {} }, 'initialPrompt'],
    ['clock: {}', { clock: {} }, 'clock'],
    ['logger without methods', { logger: { info: () => undefined } }, 'logger'],
    ['store: "memory"', { store: 'memory' }, 'store'],
    ['http without methods', { http: {}, bus: () => undefined }, 'http'],
    ['bus: {}', { bus: {} }, 'bus'],
    ['spawner: {}', { spawner: {} }, 'spawner'],
    ['fetch: "fetch"', { fetch: 'fetch' }, 'fetch'],
    ['provider: {}', { provider: {} }, 'provider'],
    ['name with a space', { name: 'a b' }, 'name'],
  ];
  for (const [label, extra, option] of cases) {
    it(`refuses ${label}, naming ${option}`, () => {
      const error = refusal(extra);
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.data.option).toBe(option);
      expect(error.message).toContain(option);
    });
  }

  it('creates no Unix socket named after a string port', () => {
    refusal({ control: { port: 'abc' } });
    expect(existsSync('abc')).toBe(false);
  });

  it('refuses a control token equal to the workspace key (the agent is given the control token)', () => {
    expect(refusal({ apiKey: 'same-secret-value', control: { token: 'same-secret-value' } }).data.option).toBe('control.token');
  });

  it('refuses no relayUrl unless both http and bus are given', () => {
    expect(refusal({ relayUrl: undefined }).data.option).toBe('relayUrl');
  });

  it('accepts a full, valid set of options', () => {
    const runner = createRunner({
      ...base(),
      apiKey: 'k',
      cwd: tmpdir(),
      env: { PATH: '/bin', UNSET: undefined },
      control: { port: 0, token: 't' },
      outbox: { baseDelayMs: 0, maxAttempts: 3 },
      exitPolicy: { parkExitCodes: [78], windowMs: 0 },
      stalledAfterMs: 1,
      heartbeatMs: 10,
      permissionTimeoutMs: 5,
      obligationRefreshMs: 100,
      maxAttachmentBytes: 0,
    });
    expect(runner.status.state).toBeDefined();
  });
});

describe('bind failures and an unusable dataDir are RunnerErrors with a code (issue 10, item 7)', () => {
  it('a control port in use: start() rejects with BIND_FAILED and leaves nothing registered', async () => {
    blocker = createServer();
    await new Promise<void>((r) => blocker!.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    rig = await startRig({ control: { port, token: 'control-token-for-tests' } });
    const error = await rig.runner.start().catch((e: unknown) => e);
    expect(isRunnerError(error) && error.code).toBe('BIND_FAILED');
    expect((error as RunnerError).data).toMatchObject({ port, errno: 'EADDRINUSE' });
    expect(rig.relay.listAgents()).toEqual([]);
  });

  it('createControlServer refuses a port out of range or not a number before binding', async () => {
    const logger = createMemoryLogger();
    for (const port of [70_000, -1, 1.5, 'abc' as unknown as number]) {
      const error = await createControlServer({ clock: createSystemClock(), token: 't', logger, port }).catch((e: unknown) => e);
      expect(isRunnerError(error) && error.code).toBe('INVALID_ARGUMENT');
    }
  });

  it('a dataDir that is a file: start() rejects with DATA_DIR naming it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'arr-options-'));
    const file = join(dir, 'not-a-dir');
    await writeFile(file, 'x');
    rig = await startRig({ dataDir: file });
    const error = await rig.runner.start().catch((e: unknown) => e);
    expect(isRunnerError(error) && error.code).toBe('DATA_DIR');
    expect((error as RunnerError).data.dataDir).toBe(file);
    expect(rig.relay.listAgents()).toEqual([]);
  });
});

describe('runner.send validates its input (issue 10, item 7)', () => {
  it('rejects a bad input with an InvalidArgumentError naming the field, and queues nothing', async () => {
    rig = await startRig();
    await rig.runner.start();
    const bad: Array<[unknown, string | undefined]> = [
      [null, undefined],
      [{ to: '', body: 'x' }, 'to'],
      [{ to: 'alice', body: 5 }, 'body'],
      [{ to: 'alice' }, 'body'],
      [{ to: 'alice', body: 'x', replyTo: '' }, 'replyTo'],
      [{ to: 'a'.repeat(201), body: 'x' }, 'to'],
      [{ to: 'alice', body: 'x'.repeat(256 * 1024 + 1) }, 'body'],
    ];
    for (const [input, field] of bad) {
      const error = await rig.runner.send(input as { to: string; body: string }).catch((e: unknown) => e);
      expect(error, JSON.stringify(input)?.slice(0, 60)).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).data.field).toBe(field);
    }
    await expect(rig.runner.send({ to: 'alice', body: 'fine' })).resolves.toMatchObject({ seq: expect.any(Number) });
    const r = rig;
    await waitFor(() => r.relay.listMessages({ kind: 'message' }).length > 0, 'the good message on the relay');
    expect(r.relay.listMessages({ kind: 'message' }).map((m) => m.body)).toEqual(['fine']);
  });
});
