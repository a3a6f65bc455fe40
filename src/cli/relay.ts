/**
 * `agent-relay-runner relay`: the reference relay (`createRelayDevServer`) as a local server, for
 * trying runners and chats on one machine and for tests. It is the dev and test server;
 * `docs/protocol.md` stays the contract for production relays.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { Command, Option } from 'commander';
import type { RelayDevServer } from '../testing/relay-dev-server/index.js';
import { RunnerError } from '../errors/index.js';
import { cliClock, clockTime, errorLine, oneLine, processOutput, usageError, type CliOutput } from './common.js';

/** The port `relay` listens on by default, and where `chat` looks for a relay by default. */
export const DEFAULT_RELAY_PORT = 4000;

/** The default relay URL of `chat` (the `relay` command's default bind). */
export const DEFAULT_RELAY_URL = `http://127.0.0.1:${DEFAULT_RELAY_PORT}`;

/** The workspace key of a loopback `relay` without `--key` (the dev server's own default). */
export const DEV_WORKSPACE_KEY = 'dev-workspace-key';

/** How often the activity log looks for new agents and messages. */
const ACTIVITY_POLL_MS = 250;

interface RelayFlags {
  port: number;
  host: string;
  state?: string;
  key?: string;
  json?: boolean;
  quiet?: boolean;
}

/** Build the `relay` command. */
export function relayCommand(output: CliOutput = processOutput): Command {
  return new Command('relay')
    .description('run the reference relay locally (the dev and test server; docs/protocol.md is the contract for production relays)')
    .addOption(new Option('--port <port>', 'TCP port; 0 picks a free one').argParser(portNumber).default(DEFAULT_RELAY_PORT))
    .option('--host <address>', 'bind address (anything but loopback exposes a test server to the network)', '127.0.0.1')
    .option('--state <file>', 'keep the relay state in this sql.js file (default: in memory, lost on exit)')
    .option('--key <key>', `workspace key agents register with (default: "${DEV_WORKSPACE_KEY}" on loopback, a random one otherwise)`)
    .option('--quiet', 'do not print agents and messages as they arrive')
    .option('--json', 'print one JSON object per line instead of text')
    .action(async (flags: RelayFlags) => {
      process.exitCode = await serveRelay(flags, output);
    });
}

function portNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 65_535) throw usageError(`--port must be a number from 0 to 65535, got "${value}"`);
  return n;
}

/** Whether `host` is a loopback address or name. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** Serve until SIGINT/SIGTERM; resolves with the exit code. */
async function serveRelay(flags: RelayFlags, output: CliOutput): Promise<number> {
  const json = Boolean(flags.json);
  const loopback = isLoopbackHost(flags.host);
  // A well-known key is fine where only this machine can connect; on a network it would be an open door.
  const apiKey = flags.key ?? (loopback ? DEV_WORKSPACE_KEY : `dev_${randomBytes(18).toString('hex')}`);
  if (!loopback) {
    output.error(
      `agent-relay-runner relay: warning: binding ${flags.host} exposes the reference relay (a test server: no TLS, simple auth) to the network`,
    );
  }
  // Listening for signals before anything is printed: whoever reads "Ctrl-C stops" may send one at once.
  let signalled: NodeJS.Signals | undefined;
  let wake: () => void = () => {};
  const stopped = new Promise<NodeJS.Signals>((resolve) => (wake = () => resolve(signalled ?? 'SIGTERM')));
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) process.exit(130);
    signalled = signal;
    wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const { createRelayDevServer } = await import('../testing/relay-dev-server/index.js');
  let relay: RelayDevServer;
  try {
    relay = await createRelayDevServer({ port: flags.port, host: flags.host, apiKey, ...(flags.state ? { path: flags.state } : {}) });
  } catch (error) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'EADDRINUSE'
        ? `port ${flags.port} on ${flags.host} is already in use (another relay?); pass --port 0 for any free port`
        : `cannot start the relay: ${errorLine(error)}`;
    output.error(`agent-relay-runner relay: ${reason}`);
    return 1;
  }
  const state = flags.state ?? 'memory';
  if (json) {
    output.json({ type: 'relay.ready', at: cliClock.now(), url: relay.url, wsUrl: relay.wsUrl, port: relay.port, host: flags.host, apiKey, state });
  } else {
    output.line(`reference relay (dev and test server) listening on ${relay.url}`);
    output.line(`workspace key  ${apiKey}`);
    output.line(`state          ${flags.state ? flags.state : 'in memory (lost on exit; --state <file> keeps it)'}`);
    output.line(`bus            ${relay.wsUrl}`);
    output.line('');
    output.line(`run an agent:   AGENT_RELAY_API_KEY=${apiKey} agent-relay-runner run --relay ${relay.url} --name worker-1`);
    output.line(`chat with it:   agent-relay-runner chat --as alice --relay ${relay.url} --key ${apiKey} --to worker-1`);
    output.line('Ctrl-C stops the relay.');
  }

  const stopActivity = flags.quiet ? () => {} : watchActivity(relay, output, json);
  const signal = await stopped;
  stopActivity();
  try {
    // close() writes the state file, so a --state relay comes back with every agent and message.
    await relay.close();
  } catch (error) {
    output.error(`agent-relay-runner relay: closing failed: ${errorLine(error)}`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (json) output.json({ type: 'relay.stopped', at: cliClock.now(), signal });
  else output.line(`${signal}: relay stopped`);
  return 0;
}

/** Print agents as they register and conversation messages as they arrive; returns the stop function. */
function watchActivity(relay: RelayDevServer, output: CliOutput, json: boolean): () => void {
  // Whatever a state file brought along is history, not news.
  const knownAgents = new Set(relay.listAgents().map((a) => a.id));
  let lastSeq = relay.listMessages().at(-1)?.seq ?? 0;
  let lastRequests = -1;
  let rescans = 0;
  const tick = () => {
    // Nothing changes without a request, so a big state file is not rescanned four times a second.
    // A request is counted when it arrives, before it is applied: keep looking for a second after.
    const requests = relay.stats().requests;
    if (requests !== lastRequests) rescans = 4;
    lastRequests = requests;
    if (rescans === 0) return;
    rescans -= 1;
    try {
      for (const agent of relay.listAgents()) {
        if (knownAgents.has(agent.id)) continue;
        knownAgents.add(agent.id);
        if (json) output.json({ type: 'relay.agent', at: cliClock.now(), agent });
        else output.line(`${clockTime(cliClock.now())}  agent     ${agent.name} registered (${agent.id}${agent.provider ? `, ${agent.provider}` : ''})`);
      }
      for (const message of relay.listMessages()) {
        if (message.seq <= lastSeq) continue;
        lastSeq = message.seq;
        if (message.kind !== 'message') continue; // session-mirror entries are many; chat shows them
        if (json) output.json({ type: 'relay.message', at: cliClock.now(), message });
        else {
          const flags = [message.expectsReply ? 'expects a reply' : '', message.replyTo ? `reply to ${message.replyTo}` : ''].filter(Boolean).join(', ');
          output.line(`${clockTime(message.createdAt)}  message   ${message.from} → ${message.to} ${message.id}: ${JSON.stringify(oneLine(message.body, 80))}${flags ? ` (${flags})` : ''}`);
        }
      }
    } catch (error) {
      if (!(error instanceof RunnerError && error.code === 'CLOSED')) throw error;
    }
  };
  const timer = cliClock.setInterval(tick, ACTIVITY_POLL_MS);
  return () => cliClock.clearInterval(timer);
}
