/**
 * `agent-relay-runner run`: run one agent against a relay until SIGINT/SIGTERM, printing its live
 * status and events.
 */
import { Command, Option } from 'commander';
import type { ProviderAdapter } from '../ports/provider.js';
import type { Runner } from '../create-runner.js';
import { cliClock, errorLine, positiveInt, processOutput, usageError, type CliOutput } from './common.js';
import { createReporter } from './reporter.js';

/** Providers the `--provider` flag knows; only `demo` ships in this version. */
export const PROVIDER_NAMES = ['demo', 'claude', 'codex'] as const;

/** How long a clean stop may take after a signal before the process is ended hard. */
const STOP_GRACE_MS = 15_000;

interface RunFlags {
  relay?: string;
  name: string;
  apiKey?: string;
  provider: (typeof PROVIDER_NAMES)[number];
  cwd?: string;
  dataDir?: string;
  logDir?: string;
  prompt?: string;
  controlPort?: number;
  json?: boolean;
}

/** Build the `run` command. */
export function runCommand(output: CliOutput = processOutput): Command {
  return new Command('run')
    .description('run an agent on a relay until interrupted (SIGINT/SIGTERM stop it cleanly)')
    .addOption(new Option('--relay <url>', 'relay base URL, e.g. https://relay.example.com').env('AGENT_RELAY_URL'))
    .requiredOption('--name <name>', 'agent name on the relay (1–64 of A-Z a-z 0-9 _ . -)')
    .addOption(new Option('--api-key <key>', 'workspace API key (prefer the env var: flags show up in ps)').env('AGENT_RELAY_API_KEY'))
    .addOption(new Option('--provider <provider>', 'the agent to run').choices(PROVIDER_NAMES).default('demo'))
    .option('--cwd <dir>', "the agent's working directory (default: the current directory)")
    .option('--data-dir <dir>', 'outbox, scratch and attachments (default: ~/.agent-relay/runners/<name>)')
    .option('--log-dir <dir>', 'where the log file goes (default: ~/.agent-relay/logs)')
    .option('--prompt <text>', 'an initial prompt delivered once the agent is up')
    .addOption(new Option('--control-port <port>', 'bind the control port here (default: any free port)').argParser(positiveInt('--control-port')))
    .option('--json', 'print one JSON object per line instead of text')
    .action(async (flags: RunFlags) => {
      process.exitCode = await runAgent(flags, output);
    });
}

/** Resolve the provider named by `--provider`. */
async function providerFor(name: RunFlags['provider']): Promise<ProviderAdapter> {
  if (name === 'demo') {
    const { createDemoProvider } = await import('../providers/demo/provider.js');
    return createDemoProvider();
  }
  throw usageError(`provider "${name}" is not available yet in this version; use --provider demo`);
}

/** Run until a signal; resolves with the exit code. */
async function runAgent(flags: RunFlags, output: CliOutput): Promise<number> {
  const relayUrl = flags.relay?.trim();
  if (!relayUrl) throw usageError('no relay URL: pass --relay <url> or set AGENT_RELAY_URL');
  const provider = await providerFor(flags.provider);
  const { createRunner } = await import('../create-runner.js');
  const runner: Runner = createRunner({
    name: flags.name,
    relayUrl,
    provider,
    ...(flags.apiKey ? { apiKey: flags.apiKey } : {}),
    ...(flags.cwd ? { cwd: flags.cwd } : {}),
    ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
    ...(flags.logDir ? { logDir: flags.logDir } : {}),
    ...(flags.prompt ? { initialPrompt: flags.prompt } : {}),
    ...(flags.controlPort ? { control: { port: flags.controlPort } } : {}),
  });
  const reporter = createReporter(output, Boolean(flags.json));
  reporter.attach(runner);
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
      reporter.emit('run.ready', { agentId: runner.agentId, controlUrl: runner.controlUrl }, 'run', `running as ${runner.agentId}; Ctrl-C stops`);
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
    reporter.emit('run.stopped', { signal: signalled ?? null }, 'run', 'stopped');
    cliClock.clearTimeout(guard);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return code;
}
