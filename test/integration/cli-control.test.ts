import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRig, type Rig } from '../helpers/rig.js';
import { cleanEnv, ensureBuilt, jsonLines, runCli, startCli, waitFor } from './cli-helpers.js';

const TOKEN = 'control-token-for-tests'; // what startRig gives the runner

let rig: Rig;
let port: string;
let env: Record<string, string>;

beforeAll(async () => {
  await ensureBuilt();
  rig = await startRig();
  await rig.runner.start();
  port = new URL(rig.runner.controlUrl!).port;
  env = cleanEnv({ AGENT_RELAY_RUNNER_PORT: port, AGENT_RELAY_RUNNER_TOKEN: TOKEN });
  // Idle comes as soon as the provider runs; its session id a moment later, once it has said hello.
  await waitFor(() => rig.runner.status.state === 'idle' && rig.runner.status.sessionId, 'the runner to be idle with a session');
}, 240_000);

afterAll(async () => {
  await rig?.close();
});

/** A TCP port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port: free } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return free;
}

describe('agent-relay-runner status / send / log-level against a real runner', () => {
  it('status prints the runner status for humans and as JSON', async () => {
    const human = await runCli(['status'], { env });
    expect(human.stderr).toBe('');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^state\s+idle$/m);
    expect(human.stdout).toMatch(/^relay\s+connected$/m);
    expect(human.stdout).toMatch(/^session\s+\S+/m);

    const json = await runCli(['status', '--json'], { env });
    expect(json.code).toBe(0);
    const [status] = jsonLines(json.stdout);
    expect(status).toMatchObject({ state: 'idle', connected: true, openSubagents: 0 });
  });

  it('send with body arguments queues a message that reaches the relay', async () => {
    const result = await runCli(['send', '--to', 'alice', 'hello', 'from', 'the', 'cli'], { env });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^queued for alice \(outbox seq \d+\)$/m);
    const message = await waitFor(
      () => rig.relay.listMessages().find((m) => m.kind === 'message' && m.body === 'hello from the cli'),
      'the message at the relay',
    );
    expect(message).toMatchObject({ from: 'worker-1', to: 'alice' });
  });

  it('send --reply-to with the body on stdin answers an owed message and clears the obligation', async () => {
    const agentId = rig.runner.agentId!;
    const asked = rig.relay.sendToAgent(agentId, { from: 'bob', body: 'status report please', expectsReply: true });
    await waitFor(() => rig.deliveries.some((d) => d.messageId === asked.id && d.state === 'consumed'), 'the question consumed');
    expect(rig.relay.obligations(agentId).map((o) => o.messageId)).toContain(asked.id);
    const body = 'all green ✅\n"quoted" \\ backslash\nthird line';
    const result = await runCli(['send', '--to', 'bob', '--reply-to', asked.id, '--json'], { env, stdin: `${body}\n` });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [answer] = jsonLines(result.stdout);
    expect(answer).toMatchObject({ ok: true, to: 'bob', replyTo: asked.id });
    expect(typeof answer!.seq).toBe('number');
    const reply = await waitFor(
      () => rig.relay.listMessages().find((m) => m.kind === 'message' && m.replyTo === asked.id),
      'the reply at the relay',
    );
    expect(reply.body).toBe(body);
    await waitFor(() => !rig.relay.obligations(agentId).some((o) => o.messageId === asked.id), 'the obligation cleared');
  });

  it('send --reply-to with a body the relay would refuse exits 1 saying why, queues nothing, and the reply stays owed', async () => {
    const agentId = rig.runner.agentId!;
    const asked = rig.relay.sendToAgent(agentId, { from: 'dora', body: 'long report please', expectsReply: true });
    await waitFor(() => rig.deliveries.some((d) => d.messageId === asked.id && d.state === 'consumed'), 'the question consumed');
    const before = (await rig.runner.outboxStats()).pending + (await rig.runner.outboxStats()).delivered;
    const body = 'r'.repeat(300 * 1024);
    const result = await runCli(['send', '--to', 'dora', '--reply-to', asked.id], { env, stdin: body });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/the message body has 307200 characters; the relay accepts at most 262144/);
    // Straight to the control port, past the CLI's own check: a 400 naming the field.
    const direct = await fetch(`${rig.runner.controlUrl}/send`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'dora', body, replyTo: asked.id }),
    });
    expect(direct.status).toBe(400);
    expect(await direct.json()).toEqual({ error: 'field "body" must be at most 262144 characters' });
    const after = (await rig.runner.outboxStats()).pending + (await rig.runner.outboxStats()).delivered;
    expect(after).toBe(before);
    const owed = async () =>
      ((await (await fetch(`${rig.runner.controlUrl}/obligations`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { items: Array<{ messageId: string }> }).items;
    await waitFor(async () => (await owed()).some((o) => o.messageId === asked.id), 'the reply still owed');
  });

  it('log-level reads and sets the level', async () => {
    const before = await runCli(['log-level'], { env });
    expect(before.code).toBe(0);
    expect(before.stdout.trim()).toBe(`log level: ${rig.logger.getLevel()}`);

    const set = await runCli(['log-level', 'warn'], { env });
    expect(set.code).toBe(0);
    expect(set.stdout.trim()).toBe('log level set to warn');
    expect(rig.logger.getLevel()).toBe('warn');

    const after = await runCli(['log-level', '--json'], { env });
    expect(jsonLines(after.stdout)).toEqual([{ level: 'warn' }]);
    await runCli(['log-level', 'debug'], { env });
    expect(rig.logger.getLevel()).toBe('debug');
  });

  it('a bad log level exits 1 listing the valid levels, and changes nothing', async () => {
    const result = await runCli(['log-level', 'loud'], { env });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/refused the request \(400\).*invalid level "loud".*debug, info, warn, error, fatal/);
    expect(rig.logger.getLevel()).toBe('debug');
  });
});

describe('control-port command errors', () => {
  it('no port in the environment: exit 1 with a clear message, for every command', async () => {
    for (const args of [['status'], ['log-level'], ['send', '--to', 'alice', 'hi']]) {
      const result = await runCli(args, { env: cleanEnv({ AGENT_RELAY_RUNNER_TOKEN: TOKEN }) });
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr).toMatch(/AGENT_RELAY_RUNNER_PORT is not set/);
    }
  });

  it('no token: exit 1 naming AGENT_RELAY_RUNNER_TOKEN', async () => {
    const result = await runCli(['status'], { env: cleanEnv({ AGENT_RELAY_RUNNER_PORT: port }) });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/AGENT_RELAY_RUNNER_TOKEN is not set/);
  });

  it('a bad port value: exit 1', async () => {
    const result = await runCli(['status', '--port', 'eighty'], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/control port must be a number/);
  });

  it('a wrong token: the runner answers 401 and the command exits 1 saying so', async () => {
    const result = await runCli(['send', '--to', 'alice', 'sneaky'], { env: { ...env, AGENT_RELAY_RUNNER_TOKEN: 'wrong-token' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/refused the token \(401\)/);
    expect(rig.relay.listMessages().some((m) => m.body === 'sneaky')).toBe(false);
  });

  it('nothing listening on the port: exit 1 "cannot reach"', async () => {
    const result = await runCli(['status', '--port', String(await closedPort())], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot reach the runner's control port 127\.0\.0\.1:\d+ \(ECONNREFUSED\): nothing listens there; is the runner still running\?/);
  });

  it('a runner that accepts but never answers: exit 1 after the --timeout bound', async () => {
    const sockets = new Set<Socket>();
    const hung: Server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    try {
      const hungPort = (hung.address() as { port: number }).port;
      const result = await runCli(['send', '--to', 'alice', '--timeout', '300', '--port', String(hungPort), 'hello?'], { env });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/did not answer within 300 ms/);
      expect(sockets.size).toBeGreaterThan(0);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => hung.close(() => r()));
    }
  });

  it('something else on the port answering 200 with the wrong shape: exit 1, never a fake success', async () => {
    const impostor = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r));
    try {
      const impostorPort = String((impostor.address() as { port: number }).port);
      for (const args of [['status'], ['log-level'], ['send', '--to', 'alice', 'hi']]) {
        const result = await runCli([...args, '--port', impostorPort], { env });
        expect(result.code, args.join(' ')).toBe(1);
        expect(result.stdout).toBe('');
        expect(result.stderr).toMatch(/unexpected answer from \/(status|log-level|send)/);
      }
    } finally {
      await new Promise<void>((r) => impostor.close(() => r()));
    }
  });

  it('send with an empty body (nothing on stdin) exits 1', async () => {
    const result = await runCli(['send', '--to', 'alice'], { env, stdin: '' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/message body is empty/);
  });

  it('send without --to, unknown commands and unknown flags exit 1 with commander\'s message', async () => {
    const noTo = await runCli(['send', 'hi'], { env });
    expect(noTo.code).toBe(1);
    expect(noTo.stderr).toMatch(/required option '--to <agent>' not specified/);
    const unknown = await runCli(['frobnicate'], { env });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    const flag = await runCli(['status', '--bogus'], { env });
    expect(flag.code).toBe(1);
    expect(flag.stderr).toMatch(/unknown option '--bogus'/);
  });

  it('--version and --help exit 0', async () => {
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    for (const args of [['--help'], ['send', '--help'], ['demo', '--help'], ['run', '--help'], ['log-level', '--help'], ['status', '--help']]) {
      const help = await runCli(args);
      expect(help.code, args.join(' ')).toBe(0);
      expect(help.stdout).toMatch(/^Usage: agent-relay-runner/);
    }
  });
});

describe('agent-relay-runner run', () => {
  it('runs an agent against the relay, prints its events as JSON lines, and stops cleanly on SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arr-cli-run-'));
    try {
      const proc = startCli(
        ['run', '--relay', rig.relay.url, '--name', 'cli-agent', '--cwd', dir, '--data-dir', join(dir, 'data'), '--log-dir', join(dir, 'logs'), '--json'],
        { env: cleanEnv({ AGENT_RELAY_API_KEY: rig.relay.apiKey }) },
      );
      const ready = await waitFor(() => jsonLines(proc.stdout()).find((e) => e.type === 'run.ready'), 'run.ready', 30_000);
      expect(ready.agentId).toMatch(/^agt_/);
      const sent = rig.relay.sendToAgent('cli-agent', { from: 'carol', body: 'are you there?' });
      await waitFor(
        () => jsonLines(proc.stdout()).find((e) => e.type === 'mirror' && (e.mirror as { entry: string; body: string }).body === 'Echo: are you there?'),
        'the reply in the output',
        30_000,
      );
      await waitFor(
        () => rig.relay.listMessages().find((m) => m.kind === 'session' && m.entry === 'reply' && m.replyTo === sent.id),
        'the reply at the relay',
      );
      proc.child.kill('SIGTERM');
      const result = await proc.done;
      expect(result.code).toBe(0);
      const events = jsonLines(result.stdout);
      expect(events.at(-1)).toMatchObject({ type: 'run.stopped', signal: 'SIGTERM' });
      expect(events.some((e) => e.type === 'status' && (e.status as { state: string }).state === 'offline')).toBe(true);
      // The API key never reaches the output.
      expect(result.stdout + result.stderr).not.toContain(rig.relay.apiKey);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses flags the provider does not take, a missing CLI, and a missing relay URL', async () => {
    const sandboxOnClaude = await runCli(['run', '--relay', rig.relay.url, '--name', 'x', '--provider', 'claude', '--sandbox', 'read-only']);
    expect(sandboxOnClaude.code).toBe(1);
    expect(sandboxOnClaude.stderr).toMatch(/--sandbox does not apply to --provider claude \(only codex\)/);
    const modelOnDemo = await runCli(['run', '--relay', rig.relay.url, '--name', 'x', '--model', 'opus']);
    expect(modelOnDemo.code).toBe(1);
    expect(modelOnDemo.stderr).toMatch(/--model does not apply to --provider demo/);
    const dir = await mkdtemp(join(tmpdir(), 'arr-cli-noclaude-'));
    try {
      const missing = join(dir, 'no-such-claude');
      const noClaude = await runCli(['run', '--relay', rig.relay.url, '--name', 'x', '--provider', 'claude', '--claude-path', missing, '--data-dir', join(dir, 'data'), '--log-dir', dir], {
        env: cleanEnv({ AGENT_RELAY_API_KEY: rig.relay.apiKey }),
      });
      expect(noClaude.code).toBe(1);
      expect(noClaude.stderr).toContain(`Claude Code not found: cannot run "${missing} --version"`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const noRelay = await runCli(['run', '--name', 'x']);
    expect(noRelay.code).toBe(1);
    expect(noRelay.stderr).toMatch(/no relay URL: pass --relay <url> or set AGENT_RELAY_URL/);
    const badProvider = await runCli(['run', '--relay', rig.relay.url, '--name', 'x', '--provider', 'gpt']);
    expect(badProvider.code).toBe(1);
    expect(badProvider.stderr).toMatch(/Allowed choices are demo, claude, claude-interactive, codex/);
  });
});
