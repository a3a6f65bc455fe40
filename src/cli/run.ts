/**
 * `agent-relay-runner run`: run one agent against a relay until SIGINT/SIGTERM, printing its live
 * status and events.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import type { Runner } from '../create-runner.js';
import { defaultRunnerDataDir, readRunnerConnection, type RunnerConnection } from '../adapters/runner-registry.js';
import { createFileLogger } from '../adapters/tslog-logger.js';
import { createSqlJsOutboxStore } from '../adapters/sqljs-outbox-store/index.js';
import { isRunnerError } from '../errors/index.js';
import type { OutboxStore } from '../ports/outbox-store.js';
import { cliClock, errorLine, oneLine, positiveInt, processOutput, shellLine, usageError, type CliOutput } from './common.js';
import { createReporter } from './reporter.js';
import { checkProviderFlags, providerFor, providerOptions, type ProviderFlags } from './run-providers.js';
import { createStatusLine, watchedRelayPorts, type StatusLine } from './run-view.js';


/** How long a clean stop may take after a signal before the process is ended hard. */
const STOP_GRACE_MS = 15_000;

interface RunFlags extends ProviderFlags {
  relay?: string;
  name: string;
  apiKey?: string;
  cwd?: string;
  dataDir?: string;
  logDir?: string;
  prompt?: string;
  controlPort?: number;
  json?: boolean;
}

/** Build the `run` command. */
export function runCommand(output: CliOutput = processOutput): Command {
  const command = new Command('run')
    .description('run an agent on a relay until interrupted (SIGINT/SIGTERM stop it cleanly)')
    .addOption(new Option('--relay <url>', 'relay base URL, e.g. https://relay.example.com').env('AGENT_RELAY_URL'))
    .requiredOption('--name <name>', 'agent name on the relay (1–64 of A-Z a-z 0-9 _ . -)')
    .addOption(new Option('--api-key <key>', 'workspace API key (prefer the env var: flags show up in ps)').env('AGENT_RELAY_API_KEY'));
  for (const option of providerOptions()) command.addOption(option);
  return command
    .option('--cwd <dir>', "the agent's working directory (default: the current directory)")
    .option('--data-dir <dir>', 'outbox, scratch and attachments (default: ~/.agent-relay/runners/<name>)')
    .option('--log-dir <dir>', 'where the log file goes (default: ~/.agent-relay/logs)')
    .option('--prompt <text>', 'an initial prompt delivered once the agent is up')
    .addOption(new Option('--control-port <port>', 'bind the control port here (default: any free port)').argParser(positiveInt('--control-port')))
    .option('--json', 'print one JSON object per line instead of text')
    .action(async (flags: RunFlags) => {
      checkProviderFlags(flags, (key) => command.getOptionValueSource(key));
      process.exitCode = await runAgent(flags, output);
    });
}

/** Run until a signal; resolves with the exit code. */
async function runAgent(flags: RunFlags, baseOutput: CliOutput): Promise<number> {
  const relayUrl = flags.relay?.trim();
  if (!relayUrl) throw usageError('no relay URL: pass --relay <url> or set AGENT_RELAY_URL');
  // Checked here because `run` builds the relay adapters itself, before createRunner looks.
  if (!/^https?:\/\/[^/]/i.test(relayUrl)) throw usageError(`--relay must be an http(s) URL, got "${oneLine(relayUrl, 200)}"`);
  const provider = await providerFor(flags);
  const { createRunner } = await import('../create-runner.js');
  const json = Boolean(flags.json);
  // One live status line on a terminal; plain lines into pipes and files; JSON untouched.
  const statusLine: StatusLine | undefined = !json && process.stdout.isTTY ? createStatusLine(baseOutput) : undefined;
  const output = statusLine?.output ?? baseOutput;
  const reporter = createReporter(output, json);
  const dataDir = flags.dataDir ?? defaultRunnerDataDir(flags.name);
  // Two runners on one data dir would share an outbox and fight over the connection file.
  const running = findRunning(flags.name, dataDir);
  if (running) throw usageError(`runner ${flags.name} already runs (pid ${running.pid}, control ${running.controlUrl}); stop it first, or pass another --data-dir`);
  // Created here (not by createRunner) because `run` builds the relay ports itself; closed below.
  const logger = createFileLogger({ agentId: flags.name, clock: cliClock, ...(flags.logDir ? { logDir: flags.logDir } : {}) });
  const token = randomBytes(24).toString('hex');
  const ports = watchedRelayPorts(relayUrl, flags.apiKey, logger, {
    onIncoming: (m) =>
      reporter.emit('message.in', { message: m }, 'message', `${m.from} → ${flags.name} ${m.id}: ${JSON.stringify(oneLine(m.body))}${m.expectsReply ? ' (expects a reply)' : ''}`),
    onSent: (m) =>
      reporter.emit('message.out', { message: m }, 'sent', `${flags.name} → ${m.to}: ${JSON.stringify(oneLine(m.body))}${m.replyTo ? ` (reply to ${m.replyTo})` : ''}`),
    onBusState: (event) => {
      statusLine?.busState(event);
      if (!event.connected && event.retryInMs !== undefined) reporter.note('bus', `reconnecting, retry in ${Math.max(1, Math.round(event.retryInMs / 1000))} s`);
    },
  });
  // The store's lock is the real guard against a second runner on this data dir (runner.json is
  // only written once a runner is up): open it here, before anything starts, so `run` refuses in
  // one line instead of running with an outbox that refuses every event.
  const store = createSqlJsOutboxStore({ path: join(dataDir, 'outbox.sqlite'), logger, clock: cliClock });
  try {
    await store.counts();
  } catch (error) {
    await store.close?.();
    await logger.close?.();
    if (isRunnerError(error) && error.code === 'STORE_LOCKED') throw usageError(`runner ${flags.name} already runs: ${errorLine(error)}`);
    throw error;
  }
  const runner: Runner = createRunnerOrCloseLogger(() => createRunner({
    name: flags.name,
    relayUrl,
    provider,
    logger,
    http: ports.http,
    bus: ports.bus,
    dataDir,
    store,
    control: { token, ...(flags.controlPort ? { port: flags.controlPort } : {}) },
    ...(flags.apiKey ? { apiKey: flags.apiKey } : {}),
    ...(flags.cwd ? { cwd: flags.cwd } : {}),
    ...(flags.logDir ? { logDir: flags.logDir } : {}),
    ...(flags.prompt ? { initialPrompt: flags.prompt } : {}),
  }), logger, store);
  reporter.attach(runner);
  statusLine?.attach(runner, flags.name);
  reporter.emit('run.start', { name: flags.name, relayUrl, provider: flags.provider }, 'run', `${flags.name} (${flags.provider}) on ${relayUrl}`);

  let signalled: string | undefined;
  let wake: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (wake = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      // A second Ctrl-C means "now": don't make the user wait for a slow stop.
      output.error(`agent-relay-runner run: ${signal} again, exiting without a clean stop`);
      process.exit(130);
    }
    signalled = signal;
    wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let code = 0;
  try {
    await Promise.race([runner.start(), stopped]);
    if (!signalled) {
      const controlUrl = runner.controlUrl as string;
      const monitorUrl = `${controlUrl.replace(/^http/, 'ws')}/monitor`;
      // The runner wrote runner.json (mode 0600) in its data dir: `status --name` finds it.
      reporter.emit('run.ready', { agentId: runner.agentId, controlUrl, monitorUrl }, 'run', `running as ${runner.agentId}; Ctrl-C stops`);
      reporter.note('run', `control ${controlUrl}   monitor ${monitorUrl}`);
      // An interactive provider: how a human watches the agent (read-only unless the provider says otherwise).
      const terminal = runner.terminal();
      if (terminal.command) {
        const readOnly = terminal.kind === 'tmux' && terminal.command.includes('-r');
        reporter.emit('run.attach', { kind: terminal.kind, command: terminal.command, readOnly }, 'run', `attach${readOnly ? ' (read-only)' : ''}: ${shellLine(terminal.command)}`);
      }
      // A one-time link (valid 60 s) that logs a browser into the monitor page; the URL it leaves
      // behind carries no secret. Humans only: it is a credential, so it never goes to --json.
      if (!reporter.json) reporter.note('run', `monitor page (one-time link): ${runner.monitorLink().url}`);
      reporter.note('run', `from another shell: agent-relay-runner status --name ${flags.name}   (or monitor --name ${flags.name})`);
      await stopped;
    }
  } catch (error) {
    // Humans get the reason once, on stderr; machines also get it in the stream.
    if (reporter.json) reporter.emit('run.failed', { error: errorLine(error) }, 'run', '');
    output.error(`agent-relay-runner run: ${errorLine(error)}`);
    code = 1;
  } finally {
    const guard = cliClock.setTimeout(() => {
      output.error(`agent-relay-runner run: stopping took longer than ${STOP_GRACE_MS} ms; exiting`);
      process.exit(1);
    }, STOP_GRACE_MS);
    reporter.note('run', signalled ? `${signalled}: stopping` : 'stopping');
    await runner.stop().catch((error: unknown) => output.error(`stopping the runner failed: ${errorLine(error)}`));
    // Ours, not the runner's (passed in): closing it flushes the journal and releases the lock.
    await store.close?.().catch((error: unknown) => output.error(`closing the outbox failed: ${errorLine(error)}`));
    await logger.close?.();
    statusLine?.close();
    reporter.emit('run.stopped', { signal: signalled ?? null }, 'run', 'stopped');
    cliClock.clearTimeout(guard);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return code;
}

/** The live runner whose connection file sits in `dataDir`, if any (a stale file is not one). */
function findRunning(name: string, dataDir: string): RunnerConnection | undefined {
  try {
    const found = readRunnerConnection(name, dataDir);
    return found.alive && found.connection.pid !== process.pid ? found.connection : undefined;
  } catch {
    return undefined;
  }
}

/** `create()`, closing the logger and store made for it when it throws (a bad flag must not leave a file open). */
function createRunnerOrCloseLogger(create: () => Runner, logger: { close?: () => Promise<void> }, store: OutboxStore): Runner {
  try {
    return create();
  } catch (error) {
    void store.close?.().catch(() => {});
    void logger.close?.().catch(() => {});
    throw error;
  }
}
