/**
 * `agent-relay-runner monitor`: print a runner's live `/monitor` event stream (status, deliveries,
 * session mirror, timeline) as readable lines, or raw with `--json`, until Ctrl-C or the runner stops.
 */
import { Command, Option } from 'commander';
import WebSocket from 'ws';
import { RunnerError } from '../errors/index.js';
import { addControlOptions, resolveControlTarget, type ControlFlags, type ControlTarget } from './control-client.js';
import { clockTime, cliClock, oneLine, positiveInt, processOutput, type CliOutput } from './common.js';
import { describeData, describeStatus } from './reporter.js';

interface MonitorFlags extends ControlFlags {
  json?: boolean;
  count?: number;
}

/** Build the `monitor` command. */
export function monitorCommand(output: CliOutput = processOutput): Command {
  const command = new Command('monitor')
    .description("print the runner's live events (its control port's /monitor stream) until Ctrl-C")
    .option('--json', 'print each event as the runner sent it, one JSON object per line')
    .addOption(new Option('--count <n>', 'exit 0 after this many events (the first is the hello)').argParser(positiveInt('--count')));
  addControlOptions(command);
  return command.action(async (flags: MonitorFlags) => {
    await streamMonitor(resolveControlTarget(flags), flags, output);
  });
}

/** Connect and print until the stream ends; rejects (exit 1) when the runner cannot be reached. */
async function streamMonitor(target: ControlTarget, flags: MonitorFlags, output: CliOutput): Promise<void> {
  const where = `the runner's control port 127.0.0.1:${target.port}`;
  // The token travels in the Authorization header, never in the URL (URLs end up in logs).
  const ws = new WebSocket(`ws://127.0.0.1:${target.port}/monitor`, { headers: { authorization: `Bearer ${target.token}` }, handshakeTimeout: target.timeoutMs });
  let seen = 0;
  let stoppedBySignal = false;
  const onSignal = () => {
    stoppedBySignal = true;
    ws.close(1000);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await new Promise<void>((resolve, reject) => {
      let opened = false;
      ws.on('open', () => (opened = true));
      ws.on('unexpected-response', (_req, res) => {
        const status = res.statusCode ?? 0;
        reject(
          status === 401
            ? new RunnerError('RELAY_AUTH', `${where} refused the token (401)`)
            : new RunnerError('PROTOCOL', `${where} refused the monitor stream (${status}): is it an agent-relay-runner control port?`),
        );
        ws.terminate();
      });
      ws.on('message', (data) => {
        // Frames already on the wire keep arriving while the close handshake runs: print none of them.
        if (flags.count !== undefined && seen >= flags.count) return;
        seen += 1;
        const text = data.toString();
        if (flags.json) output.line(text);
        else output.line(describeMonitorEvent(text));
        if (flags.count !== undefined && seen >= flags.count) ws.close(1000);
      });
      ws.on('error', (error: NodeJS.ErrnoException) => {
        if (opened) return; // 'close' follows and says how it ended
        reject(new RunnerError('RELAY_UNAVAILABLE', `cannot reach ${where} (${error.code ?? error.message}): is the runner still running?`));
      });
      ws.on('close', (code) => {
        if (!opened) return reject(new RunnerError('RELAY_UNAVAILABLE', `cannot reach ${where}: is the runner still running?`));
        const done = stoppedBySignal || (flags.count !== undefined && seen >= flags.count);
        if (!done && !flags.json) output.error(`agent-relay-runner monitor: the runner closed the stream (code ${code}); it has probably stopped`);
        resolve();
      });
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** One `/monitor` event as one readable line: `14:03:27  delivery  msg_… consumed`. */
export function describeMonitorEvent(text: string): string {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return `${clockTime(cliClock.now())}  ?         ${oneLine(text)}`;
  }
  const type = typeof event.type === 'string' ? event.type : '?';
  const inner = (key: string) => (typeof event[key] === 'object' && event[key] !== null ? (event[key] as Record<string, unknown>) : {});
  const at = typeof event.at === 'number' ? event.at : typeof inner(type).at === 'number' ? (inner(type).at as number) : cliClock.now();
  const line = (label: string, body: string) => `${clockTime(at)}  ${label.padEnd(9)} ${body}`;
  switch (type) {
    case 'hello': {
      const status = inner('status');
      return line('hello', typeof status.state === 'string' ? `connected; runner is ${describeStatus(status as never)}` : 'connected');
    }
    case 'status':
      return line('status', describeStatus(inner('status') as never));
    case 'delivery': {
      const d = inner('delivery');
      return line('delivery', `${String(d.messageId)} ${String(d.state)}`);
    }
    case 'mirror': {
      const m = inner('mirror');
      return line('mirror', `${String(m.entry).padEnd(9)} ${JSON.stringify(oneLine(String(m.body ?? '')))}`);
    }
    case 'timeline': {
      const t = inner('timeline');
      return line('timeline', `${String(t.event)}${describeData(t.data as Record<string, unknown> | undefined)}`);
    }
    default: {
      // Event types added later still show, compactly.
      const { type: _t, at: _a, ...rest } = event;
      return line(oneLine(type, 9), oneLine(JSON.stringify(rest), 160));
    }
  }
}
