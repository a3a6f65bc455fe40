/**
 * The pure parts of the person-facing CLI: chat line parsing, monitor event lines, the runner
 * connection file, and the TTY status line of `run` (drawn into a fake terminal).
 */
import { describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { parseChatLine } from '../../src/cli/chat.js';
import { describeAgentState, readFeed } from '../../src/cli/chat-feed.js';
import { describeMonitorEvent } from '../../src/cli/monitor.js';
import { createStatusLine } from '../../src/cli/run-view.js';
import { isLoopbackHost } from '../../src/cli/relay.js';
import type { CliOutput } from '../../src/cli/common.js';
import type { Runner } from '../../src/create-runner.js';
import {
  defaultRunnerDataDir,
  readRunnerConnection,
  removeRunnerConnection,
  runnerConnectionPath,
  writeRunnerConnection,
  type RunnerConnection,
} from '../../src/adapters/runner-registry.js';
import { pidAlive } from '../../src/adapters/pid.js';

const connection: RunnerConnection = {
  name: 'w/1',
  agentId: 'agt_1',
  controlUrl: 'http://127.0.0.1:1234',
  token: 'secret',
  pid: process.pid,
  provider: 'demo',
  version: '1.0.0',
  startedAt: '2026-01-01T00:00:00.000Z',
};

describe('chat line parsing', () => {
  it('@name sends to name; plain text goes to the default target (or nowhere)', () => {
    expect(parseChatLine('@worker-1 hello there', 'x')).toEqual({ to: 'worker-1', body: 'hello there' });
    expect(parseChatLine('  plain words ', 'worker-2')).toEqual({ to: 'worker-2', body: 'plain words' });
    expect(parseChatLine('plain', undefined)).toEqual({ to: undefined, body: 'plain' });
    // "@" alone, or an address with no text, is text for the default target.
    expect(parseChatLine('@worker-1', 'd')).toEqual({ to: 'd', body: '@worker-1' });
  });
});

describe('chat dev feed', () => {
  it('a relay without /dev/feed (404) reads as "no feed", not as an error', async () => {
    const server = createServer((req, res) => res.writeHead(req.url?.startsWith('/dev/feed') ? 404 : 500).end('{}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as { port: number };
      await expect(readFeed(`http://127.0.0.1:${port}/`, 'k', 0)).resolves.toBeUndefined();
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('describes agent states for humans', () => {
    expect(describeAgentState({ id: 'a', name: 'w', connected: true, status: { state: 'busy', subagents: 2 } })).toBe('busy (2 subagents)');
    expect(describeAgentState({ id: 'a', name: 'w', connected: true })).toBe('connected');
    expect(describeAgentState({ id: 'a', name: 'w', connected: false, status: { state: 'offline', detail: 'runner stopped' } })).toBe('offline: runner stopped');
    expect(describeAgentState({ id: 'a', name: 'w', connected: false, status: { state: 'idle' } })).toBe('not connected');
  });
});

describe('monitor event lines', () => {
  const at = new Date(2026, 0, 1, 14, 3, 27).getTime();
  it('formats each known event type, and unknown ones compactly', () => {
    expect(describeMonitorEvent(JSON.stringify({ type: 'hello', at, status: { state: 'idle', openSubagents: 0 } }))).toBe('14:03:27  hello     connected; runner is idle');
    expect(describeMonitorEvent(JSON.stringify({ type: 'delivery', delivery: { messageId: 'msg_1', state: 'consumed', at } }))).toBe('14:03:27  delivery  msg_1 consumed');
    expect(describeMonitorEvent(JSON.stringify({ type: 'mirror', at, mirror: { entry: 'reply', body: 'Echo:\nhi' } }))).toBe('14:03:27  mirror    reply     "Echo: ⏎ hi"');
    expect(describeMonitorEvent(JSON.stringify({ type: 'timeline', timeline: { event: 'bus.state', at, data: { connected: false } } }))).toBe(
      '14:03:27  timeline  bus.state connected=false',
    );
    expect(describeMonitorEvent(JSON.stringify({ type: 'status', at, status: { state: 'busy', openSubagents: 2 } }))).toBe('14:03:27  status    busy (2 subagents)');
    expect(describeMonitorEvent(JSON.stringify({ type: 'outbox', at, pending: 3 }))).toBe('14:03:27  outbox    {"pending":3}');
    expect(describeMonitorEvent('not json')).toMatch(/ \? {9}not json$/);
  });
});

describe('runner connection file', () => {
  it('is written 0600 in the data dir, read back, and removed only by its own pid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arr-registry-'));
    try {
      const path = await writeRunnerConnection(join(dir, 'data'), connection);
      expect(path).toBe(runnerConnectionPath('w/1', join(dir, 'data')));
      const found = readRunnerConnection('w/1', join(dir, 'data'));
      expect(found).toEqual({ path, connection, alive: true });
      expect(readRunnerConnection('w/1', join(dir, 'data'), () => false).alive).toBe(false);
      await removeRunnerConnection(join(dir, 'data'), process.pid + 1);
      expect(await readFile(path, 'utf8')).toContain('"agt_1"');
      await removeRunnerConnection(join(dir, 'data'));
      expect(() => readRunnerConnection('w/1', join(dir, 'data'))).toThrow(/no runner named "w\/1"/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a garbled file is an error, not a crash; the default dir matches createRunner', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arr-registry-'));
    try {
      await writeFile(join(dir, 'runner.json'), '{"name": 1}');
      expect(() => readRunnerConnection('x', dir)).toThrow(/unreadable or not a runner connection/);
      expect(defaultRunnerDataDir('a b', '/home/u')).toBe('/home/u/.agent-relay/runners/a_b');
      expect(pidAlive(process.pid)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('relay bind warning', () => {
  it('knows loopback addresses', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '::', '192.168.1.2', 'example.com'].some(isLoopbackHost)).toBe(false);
  });
});

describe('run status line', () => {
  /** A terminal that keeps what is written to it; readline's cursorTo/clearLine write to it too. */
  function fakeTerminal() {
    const writes: string[] = [];
    const stream = Object.assign(new EventEmitter(), {
      columns: 200,
      isTTY: true,
      write(chunk: string, cb?: () => void) {
        writes.push(chunk);
        cb?.();
        return true;
      },
    }) as unknown as NodeJS.WriteStream;
    return { stream, writes };
  }

  it('draws agent, state, message, bus state and the reconnect countdown, and prints lines above it', () => {
    const { stream, writes } = fakeTerminal();
    const printed: string[] = [];
    const base: CliOutput = { line: (t) => printed.push(t), json: () => {}, error: () => {} };
    const line = createStatusLine(base, stream);
    const runner = Object.assign(new EventEmitter(), {
      status: { state: 'busy', openSubagents: 0, lastActivityAt: 0 },
      outboxStats: () => Promise.resolve({ pending: 0 }),
    }) as unknown as Runner;
    line.attach(runner, 'worker-1');
    (runner as unknown as EventEmitter).emit('delivery', { messageId: 'msg_9', state: 'consumed', deliveryId: 'd', at: 0 });
    line.busState({ connected: true, reason: 'welcome' });
    expect(writes.at(-1)).toBe('worker-1 · busy · msg_9 consumed · bus connected');
    line.busState({ connected: false, reason: 'closed 1006', retryInMs: 4_200 });
    expect(writes.at(-1)).toMatch(/^worker-1 · busy · msg_9 consumed · reconnecting, retry in [45] s$/);
    line.output.line('an event');
    expect(printed).toEqual(['an event']);
    // Erased (cursor to column 0, line cleared) before the event, drawn again after it.
    expect(writes.some((w) => w.includes('\u001b[') || w === '\r')).toBe(true);
    expect(writes.at(-1)).toMatch(/reconnecting/);
    line.close();
    const count = writes.length;
    line.output.line('after close');
    expect(printed.at(-1)).toBe('after close');
    expect(writes).toHaveLength(count); // nothing drawn or erased any more
  });
});
