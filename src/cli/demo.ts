/**
 * `agent-relay-runner demo`: the whole story on one machine with no API key. An in-process
 * reference relay (memory state), a runner with the scripted demo provider, a message from
 * "alice" going in, and everything coming out printed live: delivery states, status changes, the
 * session mirror, the reply at the relay, and the agent answering through its control port.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Command, Option } from 'commander';
import type { Runner } from '../create-runner.js';
import type { DeliveryEvent } from '../core/delivery.js';
import type { RelayDevServer } from '../testing/relay-dev-server/index.js';
import { RunnerError } from '../errors/index.js';
import { callControl } from './control-client.js';
import { cliClock, errorLine, oneLine, positiveInt, processOutput, waitUntil, type CliOutput } from './common.js';
import { createReporter, type Reporter } from './reporter.js';

/** What alice sends by default: the demo agent echoes the last line and runs one tool step. */
export const DEFAULT_DEMO_MESSAGE = 'Hi! Can you check the build for me? [tool:read_file]';

/** Default bound of the whole round trip. */
export const DEFAULT_DEMO_TIMEOUT_MS = 30_000;

/** Extra time `stop()` and cleanup get after the round trip bound before the process is ended hard. */
const CLEANUP_GRACE_MS = 10_000;

const AGENT_NAME = 'demo-agent';
const USER_NAME = 'alice';

interface DemoFlags {
  message: string;
  stay?: boolean;
  json?: boolean;
  timeout: number;
}

/** Build the `demo` command. */
export function demoCommand(output: CliOutput = processOutput): Command {
  return new Command('demo')
    .description('run a reference relay, a runner and the scripted demo agent in this process, and show a message round trip')
    .option('--message <text>', `what ${USER_NAME} sends to the agent`, DEFAULT_DEMO_MESSAGE)
    .option('--stay', `keep running after the round trip; lines typed on stdin are sent as ${USER_NAME} (Ctrl-C stops)`)
    .option('--json', 'print one JSON object per line instead of text')
    .addOption(
      new Option('--timeout <ms>', 'give up when the round trip takes longer than this')
        .argParser(positiveInt('--timeout'))
        .default(DEFAULT_DEMO_TIMEOUT_MS),
    )
    .action(async (flags: DemoFlags) => {
      process.exitCode = await runDemo(flags, output);
    });
}

/** Run the demo; resolves with the exit code (0 on a complete round trip). */
export async function runDemo(flags: DemoFlags, output: CliOutput): Promise<number> {
  const json = Boolean(flags.json);
  const reporter = createReporter(output, json);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // The last line of defence: whatever hangs, the demo ends (non-zero) instead of sitting there.
  const hardStop = cliClock.setTimeout(() => {
    output.error(`agent-relay-runner demo: still not finished ${flags.timeout + CLEANUP_GRACE_MS} ms after start; exiting`);
    process.exit(1);
  }, flags.timeout + CLEANUP_GRACE_MS);

  let dir: string | undefined;
  let relay: RelayDevServer | undefined;
  let runner: Runner | undefined;
  let ok = false;
  try {
    dir = await mkdtemp(join(tmpdir(), 'agent-relay-demo-'));
    // Loaded here so `send`/`status` (run by agents, on their critical path) stay quick to start.
    const [{ createRunner }, { createRelayDevServer }, { createDemoProvider }] = await Promise.all([
      import('../create-runner.js'),
      import('../testing/relay-dev-server/index.js'),
      import('../providers/demo/provider.js'),
    ]);
    relay = await createRelayDevServer();
    const token = randomBytes(24).toString('hex');
    runner = createRunner({
      name: AGENT_NAME,
      relayUrl: relay.url,
      apiKey: relay.apiKey,
      provider: createDemoProvider(),
      cwd: dir,
      dataDir: join(dir, 'data'),
      logDir: join(dir, 'logs'),
      // The demo agent needs nothing from the host's environment; a relay session of the
      // user's own (AGENT_RELAY_*) must not leak into it.
      env: { PATH: process.env.PATH ?? '', ...(process.env.AGENT_RELAY_LOG_LEVEL ? { AGENT_RELAY_LOG_LEVEL: process.env.AGENT_RELAY_LOG_LEVEL } : {}) },
      control: { token },
      outbox: { baseDelayMs: 100, maxDelayMs: 2_000 },
    });
    reporter.emit('demo.start', { relayUrl: relay.url, dataDir: dir }, 'demo', `reference relay at ${relay.url} (in-process, memory state); data and logs in ${dir}`);
    const deliveries: DeliveryEvent[] = [];
    runner.on('delivery', (event) => deliveries.push(event));
    reporter.attach(runner);

    const deadline = cliClock.now() + flags.timeout;
    const waitOpts = { deadline, signal: stop.signal };
    await raceAbort(runner.start(), stop.signal, 'the runner to start');
    const agentId = runner.agentId as string;

    const sent = relay.sendToAgent(agentId, { from: USER_NAME, body: flags.message, expectsReply: true });
    reporter.emit(
      'relay.message',
      { message: sent },
      'relay',
      `${USER_NAME} → ${AGENT_NAME} ${sent.id}: ${JSON.stringify(oneLine(sent.body))} (expects a reply)`,
    );

    const r = relay;
    const mirrored = await waitUntil(
      () => r.listMessages().find((m) => m.kind === 'session' && m.entry === 'reply' && m.replyTo === sent.id),
      'the reply to reach the relay',
      waitOpts,
    );
    reporter.emit('relay.reply', { message: mirrored }, 'relay', `reply mirrored to the relay for ${sent.id}: ${JSON.stringify(oneLine(mirrored.body))}`);
    const states = await waitUntil(
      () => {
        const seen = deliveries.filter((d) => d.messageId === sent.id).map((d) => d.state);
        return seen.includes('finished') ? seen : undefined;
      },
      'the delivery to be finished',
      waitOpts,
    );
    const runnerNow = runner;
    await waitUntil(() => runnerNow.status.state === 'idle', 'the agent to go idle', waitOpts);

    // The mirrored reply is for the dashboard; alice is still owed an answer. An agent gives it with
    // `agent-relay-runner send`, which is exactly this call to the runner's control port.
    const port = Number(new URL(runner.controlUrl as string).port);
    const answer = await callControl({ port, token, timeoutMs: 5_000 }, 'POST', '/send', {
      to: USER_NAME,
      body: mirrored.body,
      replyTo: sent.id,
    });
    const seq = (answer.body as { seq?: number } | undefined)?.seq;
    reporter.emit(
      'agent.send',
      { to: USER_NAME, replyTo: sent.id, seq },
      'agent',
      `send --to ${USER_NAME} --reply-to ${sent.id} (through the control port): queued as outbox seq ${String(seq)}`,
    );
    const delivered = await waitUntil(
      () => {
        const found = r.listMessages().find((m) => m.kind === 'message' && m.to === USER_NAME && m.replyTo === sent.id);
        return found && r.obligations(agentId).length === 0 ? found : undefined;
      },
      `the answer to reach ${USER_NAME}`,
      waitOpts,
    );
    reporter.emit(
      'relay.message',
      { message: delivered },
      'relay',
      `${AGENT_NAME} → ${USER_NAME} ${delivered.id}: ${JSON.stringify(oneLine(delivered.body))} (reply obligation cleared)`,
    );
    reporter.emit(
      'demo.ok',
      { deliveryStates: states },
      'demo',
      `round trip complete: delivery ${states.join(' → ')}, reply mirrored, answer delivered`,
    );
    ok = true;
    cliClock.clearTimeout(hardStop);

    if (flags.stay && !stop.signal.aborted) await stay(relay, agentId, runner, reporter, stop.signal);
    return 0;
  } catch (error) {
    const message = stop.signal.aborted && !ok ? 'interrupted' : errorLine(error);
    if (reporter.json) reporter.emit('demo.failed', { error: message }, 'demo', '');
    output.error(`agent-relay-runner demo: ${message}`);
    return stop.signal.aborted && !(error instanceof RunnerError && error.code === 'TIMEOUT') ? 130 : 1;
  } finally {
    cliClock.clearTimeout(hardStop);
    // Stopping is bounded too, however long `--stay` ran.
    const cleanupGuard = cliClock.setTimeout(() => {
      output.error(`agent-relay-runner demo: stopping took longer than ${CLEANUP_GRACE_MS} ms; exiting`);
      process.exit(1);
    }, CLEANUP_GRACE_MS);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    reporter.note('demo', 'stopping');
    await runner?.stop().catch((error: unknown) => output.error(`stopping the runner failed: ${errorLine(error)}`));
    await relay?.close().catch(() => {});
    if (dir && ok) await rm(dir, { recursive: true, force: true }).catch(() => {});
    else if (dir) output.error(`the runner's data and log are kept in ${dir}`);
    reporter.emit('demo.stopped', { ok }, 'demo', 'stopped');
    cliClock.clearTimeout(cleanupGuard);
  }
}

/** `--stay`: keep serving; every line on stdin is a new message from alice, until Ctrl-C. */
async function stay(relay: RelayDevServer, agentId: string, runner: Runner, reporter: Reporter, signal: AbortSignal): Promise<void> {
  reporter.emit(
    'demo.stay',
    { relayUrl: relay.url, controlUrl: runner.controlUrl },
    'demo',
    `still running (control port ${runner.controlUrl}); type a line to send it as ${USER_NAME}, Ctrl-C to stop`,
  );
  const lines = createInterface({ input: process.stdin, terminal: false });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    const sent = relay.sendToAgent(agentId, { from: USER_NAME, body: line });
    reporter.emit('relay.message', { message: sent }, 'relay', `${USER_NAME} → ${AGENT_NAME} ${sent.id}: ${JSON.stringify(oneLine(sent.body))}`);
  });
  try {
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    lines.close();
  }
}

/** `promise`, or a rejection as soon as `signal` aborts (Ctrl-C while starting). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new RunnerError('CLOSED', `stopped while waiting for ${what}`));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => (signal.removeEventListener('abort', onAbort), resolve(value)),
      (error: unknown) => (signal.removeEventListener('abort', onAbort), reject(error)),
    );
  });
}
