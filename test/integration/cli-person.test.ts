/**
 * What a person sees, from the command line: `relay`, `chat`, runners found by name (`status`,
 * `log-level`, `monitor` with `--name`), and `run` showing its URLs, senders and own sends.
 * Everything runs the built CLI as a child process on loopback, ephemeral ports only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRig, type Rig } from '../helpers/rig.js';
import { writeRunnerConnection } from '../../src/adapters/runner-registry.js';
import { createSqlJsOutboxStore } from '../../src/adapters/sqljs-outbox-store/index.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { cleanEnv, ensureBuilt, jsonLines, runCli, startCli, waitFor } from './cli-helpers.js';

const TOKEN = 'control-token-for-tests'; // what startRig gives the runner

let rig: Rig;
let dataDir: string;

beforeAll(async () => {
  await ensureBuilt();
  rig = await startRig();
  await rig.runner.start();
  dataDir = join(rig.dir, 'data');
  await writeRunnerConnection(dataDir, {
    name: 'worker-1',
    agentId: rig.runner.agentId!,
    controlUrl: rig.runner.controlUrl!,
    token: TOKEN,
    pid: process.pid,
    provider: 'demo',
    version: '0.0.0-test',
    startedAt: new Date(0).toISOString(),
  });
  await waitFor(() => rig.runner.status.state === 'idle', 'the runner to be idle');
}, 240_000);

afterAll(async () => {
  await rig?.close();
});

/** A TCP port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

describe('runners found by name', () => {
  it('status, log-level and send find the runner through its connection file', async () => {
    const env = cleanEnv();
    const status = await runCli(['status', '--name', 'worker-1', '--data-dir', dataDir], { env });
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^state\s+idle$/m);
    const level = await runCli(['log-level', '--name', 'worker-1', '--data-dir', dataDir, '--json'], { env });
    expect(level.code).toBe(0);
    expect(jsonLines(level.stdout)[0]).toEqual({ level: 'debug' });
    const sent = await runCli(['send', '--name', 'worker-1', '--data-dir', dataDir, '--to', 'carol', 'found by name'], { env });
    expect(sent.code).toBe(0);
    await waitFor(() => rig.relay.listMessages().find((m) => m.body === 'found by name'), 'the message at the relay');
  });

  it('the environment variables still work when --name is not given', async () => {
    const port = new URL(rig.runner.controlUrl!).port;
    const result = await runCli(['status', '--json'], { env: cleanEnv({ AGENT_RELAY_RUNNER_PORT: port, AGENT_RELAY_RUNNER_TOKEN: TOKEN }) });
    expect(result.code).toBe(0);
    expect(jsonLines(result.stdout)[0]).toMatchObject({ state: 'idle' });
  });

  it('an unknown name exits 1 with the path it looked at', async () => {
    for (const command of ['status', 'log-level', 'monitor']) {
      const result = await runCli([command, '--name', 'nobody', '--data-dir', join(rig.dir, 'nope')]);
      expect(result.code, command).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/no runner named "nobody": .*runner\.json does not exist/);
    }
    // Without --data-dir the default data dir under $HOME is the place.
    const home = await mkdtemp(join(tmpdir(), 'arr-home-'));
    try {
      const result = await runCli(['status', '--name', 'ghost'], { env: cleanEnv({ HOME: home }) });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(join(home, '.agent-relay', 'runners', 'ghost', 'runner.json'));
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('a runner that died and left its file behind is reported as not running', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arr-stale-'));
    try {
      const pid = await deadPid();
      await writeRunnerConnection(dir, {
        name: 'gone',
        agentId: 'agt_gone',
        controlUrl: `http://127.0.0.1:${await closedPort()}`,
        token: 't',
        pid,
        provider: 'demo',
        version: '0.0.0',
        startedAt: new Date(0).toISOString(),
      });
      expect(statSync(join(dir, 'runner.json')).mode & 0o777).toBe(0o600);
      for (const command of ['status', 'log-level', 'monitor']) {
        const result = await runCli([command, '--name', 'gone', '--data-dir', dir]);
        expect(result.code, command).toBe(1);
        expect(result.stderr).toContain(`runner gone is not running (stale file from pid ${pid})`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('monitor prints the live event stream, readable or raw, until Ctrl-C', async () => {
    const env = cleanEnv();
    const raw = startCli(['monitor', '--name', 'worker-1', '--data-dir', dataDir, '--json'], { env, killAfterMs: 30_000 });
    const human = startCli(['monitor', '--name', 'worker-1', '--data-dir', dataDir], { env, killAfterMs: 30_000 });
    await waitFor(() => raw.stdout().includes('"hello"') && human.stdout().includes('hello'), 'the hello events');
    const sent = rig.relay.sendToAgent('worker-1', { from: 'dave', body: 'watch this' });
    await waitFor(() => raw.stdout().includes(`"messageId":"${sent.id}"`) && human.stdout().includes(`${sent.id} queued`), 'the delivery events');
    raw.child.kill('SIGINT');
    human.child.kill('SIGINT');
    const rawResult = await raw.done;
    expect(rawResult.code).toBe(0);
    const events = jsonLines(rawResult.stdout);
    expect(events[0]).toMatchObject({ type: 'hello' });
    expect(events.some((e) => e.type === 'delivery')).toBe(true);
    const humanResult = await human.done;
    expect(humanResult.code).toBe(0);
    expect(humanResult.stdout).toMatch(/^\d\d:\d\d:\d\d {2}hello {5}connected; runner is \w+/m);
    expect(humanResult.stdout).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d {2}delivery {2}${sent.id} queued$`, 'm'));
    expect(humanResult.stdout + humanResult.stderr).not.toContain(TOKEN);
  });

  it('monitor --count stops after that many events', async () => {
    const result = await runCli(['monitor', '--name', 'worker-1', '--data-dir', dataDir, '--json', '--count', '1']);
    expect(result.code).toBe(0);
    expect(jsonLines(result.stdout)).toEqual([expect.objectContaining({ type: 'hello' })]);
  });
});

describe('agent-relay-runner relay', () => {
  it('serves the reference relay, prints its URL and workspace key, keeps state in a file, and stops cleanly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arr-relay-'));
    try {
      const state = join(dir, 'relay.sqlite');
      const proc = startCli(['relay', '--port', '0', '--state', state, '--json'], { killAfterMs: 30_000 });
      const ready = await waitFor(() => jsonLines(proc.stdout()).find((e) => e.type === 'relay.ready'), 'relay.ready');
      expect(ready).toMatchObject({ host: '127.0.0.1', apiKey: 'dev-workspace-key', state });
      expect(ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${String(ready.url)}/v1/health`);
      expect(await health.json()).toMatchObject({ ok: true, protocol: 1 });
      // An agent registering shows in the activity log.
      const res = await fetch(`${String(ready.url)}/v1/agents`, {
        method: 'POST',
        headers: { authorization: 'Bearer dev-workspace-key', 'x-relay-protocol': '1', 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'erin' }),
      });
      expect(res.status).toBe(201);
      await waitFor(() => jsonLines(proc.stdout()).find((e) => e.type === 'relay.agent'), 'relay.agent');
      proc.child.kill('SIGTERM');
      const result = await proc.done;
      expect(result.code).toBe(0);
      expect(jsonLines(result.stdout).at(-1)).toMatchObject({ type: 'relay.stopped', signal: 'SIGTERM' });
      expect(existsSync(state)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('human output names the URL and key; a non-loopback bind warns and gets a random key', async () => {
    const proc = startCli(['relay', '--port', '0', '--host', '0.0.0.0'], { killAfterMs: 30_000 });
    await waitFor(() => proc.stdout().includes('Ctrl-C stops'), 'the ready text');
    proc.child.kill('SIGINT');
    const result = await proc.done;
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/warning: binding 0\.0\.0\.0 exposes the reference relay/);
    expect(result.stdout).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(result.stdout).toMatch(/^workspace key {2}dev_[0-9a-f]{36}$/m);
    expect(result.stdout).toMatch(/relay stopped/);
  }, 60_000);

  it("the dev feed chat reads needs the workspace key and is not under /v1", async () => {
    const headers = { 'x-relay-protocol': '1' };
    const refused = await fetch(`${rig.relay.url}/dev/feed`, { headers });
    expect(refused.status).toBe(401);
    const res = await fetch(`${rig.relay.url}/dev/feed?after=0`, { headers: { ...headers, authorization: `Bearer ${rig.relay.apiKey}` } });
    expect(res.status).toBe(200);
    const page = (await res.json()) as { agents: Array<{ name: string; connected: boolean }>; lastSeq: number };
    expect(page.agents.find((a) => a.name === 'worker-1')).toMatchObject({ connected: true });
    expect(typeof page.lastSeq).toBe('number');
  });

  it('a port in use exits 1 with a hint', async () => {
    const busy = startCli(['relay', '--port', '0', '--json'], { killAfterMs: 30_000 });
    const ready = await waitFor(() => jsonLines(busy.stdout()).find((e) => e.type === 'relay.ready'), 'relay.ready');
    try {
      const result = await runCli(['relay', '--port', String(ready.port)]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/port \d+ on 127\.0\.0\.1 is already in use .*--port 0/);
    } finally {
      busy.child.kill('SIGTERM');
      await busy.done;
    }
  }, 60_000);
});

describe('help of the new commands', () => {
  it('relay, chat and monitor --help exit 0', async () => {
    for (const command of ['relay', 'chat', 'monitor']) {
      const help = await runCli([command, '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage: agent-relay-runner ${command}`));
    }
    const status = await runCli(['status', '--help']);
    expect(status.stdout).toMatch(/--name <name>/);
    expect(status.stdout).toMatch(/--data-dir <dir>/);
  });
});

describe('agent-relay-runner chat', () => {
  it('sends lines from stdin, shows the answer, the mirror and receipts, and exits at EOF', async () => {
    const result = await runCli(['chat', '--as', 'alice', '--relay', rig.relay.url, '--key', rig.relay.apiKey, '--to', 'worker-1', '--wait', '20000'], {
      stdin: 'hello there [tool:read_file]\n@worker-1 second one\n',
      killAfterMs: 40_000,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = result.stdout;
    expect(out).toMatch(/^\d\d:\d\d:\d\d {2}you {10}@worker-1 hello there \[tool:read_file\]$/m);
    expect(out).toMatch(/you {10}→ worker-1 {2}msg_\S+ stored by the relay/);
    expect(out).toMatch(/worker-1 {5}took msg_\S+ \(consumed\)/);
    expect(out).toMatch(/worker-1 {5}\[tool\] read_file started/);
    expect(out).toMatch(/worker-1 {5}\[reply\] Echo: hello there/);
    expect(out).toMatch(/worker-1 {5}\[reply\] Echo: second one/);
    const sent = rig.relay.listMessages({ from: 'alice', kind: 'message' });
    expect(sent.map((m) => m.body)).toEqual(expect.arrayContaining(['hello there [tool:read_file]', 'second one']));
  }, 60_000);

  it('shows messages sent to the person on the bus, with the sender', async () => {
    const proc = startCli(['chat', '--as', 'bob', '--relay', rig.relay.url, '--key', rig.relay.apiKey, '--wait', '1000'], { killAfterMs: 30_000 });
    await waitFor(() => proc.stdout().includes('connected to'), 'the bus to connect');
    const answer = await rig.runner.send({ to: 'bob', body: 'ping from the agent' });
    expect(answer.seq).toBeGreaterThan(0);
    await waitFor(() => proc.stdout().includes('ping from the agent'), 'the message in the chat');
    proc.child.stdin!.end('@nobody-here hi\n');
    const result = await proc.done;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\d\d:\d\d:\d\d {2}worker-1 {5}ping from the agent$/m);
    expect(result.stdout).toMatch(/no answer from nobody-here to msg_\S+ within 1000 ms/);
  }, 60_000);

  it('plain text without a default target gets a hint, not a send', async () => {
    const result = await runCli(['chat', '--as', 'carol', '--relay', rig.relay.url, '--key', rig.relay.apiKey], { stdin: 'to whom?\n' });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/no default target: write "@agent text"/);
  });

  it('refuses to chat under the name of a connected agent', async () => {
    const result = await runCli(['chat', '--as', 'worker-1', '--relay', rig.relay.url, '--key', rig.relay.apiKey]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/an agent named worker-1 is connected to http:\/\/127\.0\.0\.1:\d+ already; chat under another --as/);
  });

  it('no relay: exit 1 with the URL it tried', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const result = await runCli(['chat', '--as', 'alice', '--relay', url]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`no relay at ${url}`);
    expect(result.stderr).toMatch(/start one with: agent-relay-runner relay/);
  });
});

describe('agent-relay-runner run, for a person', () => {
  it('announces its control and monitor URLs, writes its connection file, shows senders and its own sends', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arr-cli-run-person-'));
    const data = join(dir, 'data');
    try {
      const proc = startCli(['run', '--relay', rig.relay.url, '--name', 'cli-person', '--cwd', dir, '--data-dir', data, '--log-dir', join(dir, 'logs'), '--json'], {
        env: cleanEnv({ AGENT_RELAY_API_KEY: rig.relay.apiKey }),
      });
      const ready = await waitFor(() => jsonLines(proc.stdout()).find((e) => e.type === 'run.ready'), 'run.ready', 30_000);
      expect(ready.controlUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(ready.monitorUrl).toBe(`${String(ready.controlUrl).replace('http', 'ws')}/monitor`);
      const runnerReady = jsonLines(proc.stdout()).find((e) => e.type === 'ready');
      expect(runnerReady?.controlUrl).toBe(ready.controlUrl);

      const file = join(data, 'runner.json');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const connection = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      expect(connection).toMatchObject({ name: 'cli-person', agentId: ready.agentId, controlUrl: ready.controlUrl, pid: proc.child.pid, provider: 'demo' });
      expect(typeof connection.token).toBe('string');

      rig.relay.sendToAgent('cli-person', { from: 'frank', body: 'who am I?' });
      const incoming = await waitFor(() => jsonLines(proc.stdout()).find((e) => e.type === 'message.in'), 'message.in', 20_000);
      expect(incoming.message).toMatchObject({ from: 'frank', body: 'who am I?' });
      const sent = await runCli(['send', '--name', 'cli-person', '--data-dir', data, '--to', 'frank', 'you are frank']);
      expect(sent.code).toBe(0);
      const out = await waitFor(() => jsonLines(proc.stdout()).find((e) => e.type === 'message.out'), 'message.out', 20_000);
      expect(out.message).toMatchObject({ to: 'frank', body: 'you are frank' });

      proc.child.kill('SIGTERM');
      const result = await proc.done;
      expect(result.code).toBe(0);
      expect(existsSync(file)).toBe(false);
      expect(result.stdout).not.toContain(String(connection.token));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('a relay URL that is not http(s) is a usage error', async () => {
    const result = await runCli(['run', '--relay', 'ftp://relay.example', '--name', 'x']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--relay must be an http\(s\) URL, got "ftp:\/\/relay\.example"/);
  });

  it('refuses to start a second runner on a data dir whose runner still runs', async () => {
    // The rig's runner (this test process) holds dataDir's connection file.
    const result = await runCli(['run', '--relay', rig.relay.url, '--name', 'worker-1', '--data-dir', dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`runner worker-1 already runs \\(pid ${process.pid}, control http://127\\.0\\.0\\.1:\\d+\\); stop it first`));
  });

  it('refuses, in one line, a second runner whose outbox store another process holds (no runner.json yet)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arr-cli-run-locked-'));
    // This test process holds the store, as a first `run` still starting up would.
    const held = createSqlJsOutboxStore({ path: join(dir, 'outbox.sqlite'), clock: createSystemClock() });
    try {
      await held.counts();
      const result = await runCli(['run', '--relay', rig.relay.url, '--name', 'locked-1', '--cwd', dir, '--data-dir', dir, '--log-dir', join(dir, 'logs')], { env: cleanEnv({ AGENT_RELAY_API_KEY: rig.relay.apiKey }), killAfterMs: 20_000 });
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(new RegExp(`runner locked-1 already runs: outbox store .*outbox\\.sqlite is in use by pid ${process.pid}`));
      expect(await held.counts()).toMatchObject({ pending: 0 }); // the holder is unharmed
    } finally {
      await held.close?.();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('human output prints plain lines when not a TTY, with senders and URLs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arr-cli-run-human-'));
    try {
      const proc = startCli(['run', '--relay', rig.relay.url, '--name', 'cli-human', '--cwd', dir, '--data-dir', join(dir, 'data'), '--log-dir', join(dir, 'logs')], {
        env: cleanEnv({ AGENT_RELAY_API_KEY: rig.relay.apiKey }),
      });
      await waitFor(() => proc.stdout().includes('monitor ws://'), 'the URLs', 30_000);
      rig.relay.sendToAgent('cli-human', { from: 'gina', body: 'hi there' });
      await waitFor(() => proc.stdout().includes('mirror    reply'), 'the reply', 20_000);
      proc.child.kill('SIGTERM');
      const result = await proc.done;
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/run {7}control http:\/\/127\.0\.0\.1:\d+ {3}monitor ws:\/\/127\.0\.0\.1:\d+\/monitor/);
      expect(result.stdout).toMatch(/message {3}gina → cli-human msg_\S+: "hi there"/);
      // No cursor movement or line clearing in a pipe.
      expect(result.stdout).not.toContain('\u001b[');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
