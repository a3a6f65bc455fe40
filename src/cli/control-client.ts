/**
 * A minimal client of the runner's loopback control port (`docs/control-port.md`) for the
 * `send`, `status` and `log-level` commands: global `fetch`, bearer token, bounded wait.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { RunnerError } from '../errors/index.js';
import { readRunnerConnection } from '../adapters/runner-registry.js';
import { positiveInt, usageError } from './common.js';
import { connectFailure } from './connect-failure.js';

/** Where the runner's control port is and how to authenticate. */
export interface ControlTarget {
  /** Loopback port. */
  port: number;
  /** The runner's per-run token (a secret: never printed). */
  token: string;
  /** How long one call may take before it is abandoned. */
  timeoutMs: number;
}

/** Raw flags of a control-port command (`--name`, `--data-dir`, `--port`, `--token`, `--timeout`). */
export interface ControlFlags {
  name?: string;
  dataDir?: string;
  port?: string;
  token?: string;
  timeout: number;
}

/** Default bound of one control-port call; the runner answers these endpoints at once. */
export const DEFAULT_CONTROL_TIMEOUT_MS = 5_000;

/** Add `--name`, `--data-dir`, `--port`, `--token` (both also from the environment) and `--timeout` to a command. */
export function addControlOptions(command: Command): Command {
  return command
    .option('--name <name>', "find the runner by its agent name (its connection file in the runner's data dir)")
    .option('--data-dir <dir>', "with --name: the runner's data dir (default: ~/.agent-relay/runners/<name>)")
    .addOption(new Option('--port <port>', "the runner's control port").env('AGENT_RELAY_RUNNER_PORT'))
    .addOption(new Option('--token <token>', "the runner's control token (prefer the env var: flags show up in ps)").env('AGENT_RELAY_RUNNER_TOKEN'))
    .addOption(
      new Option('--timeout <ms>', 'give up on the runner after this many milliseconds')
        .argParser(positiveInt('--timeout'))
        .default(DEFAULT_CONTROL_TIMEOUT_MS),
    );
}

/**
 * Validate the control flags; clear usage errors when the port or token is missing. With `--name`
 * the port and token come from the runner's connection file instead (an unknown name, or a runner
 * that died and left its file behind, is an error).
 */
export function resolveControlTarget(flags: ControlFlags): ControlTarget {
  if (flags.name !== undefined) return targetByName(flags.name, flags.dataDir, flags.timeout);
  if (flags.dataDir !== undefined) throw usageError('--data-dir needs --name');
  const rawPort = flags.port?.trim() ?? '';
  if (rawPort === '') {
    throw usageError('AGENT_RELAY_RUNNER_PORT is not set: run this inside an agent started by agent-relay-runner, or pass --port');
  }
  const port = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || port < 1 || port > 65_535) {
    throw usageError(`the control port must be a number from 1 to 65535, got "${rawPort}"`);
  }
  const token = flags.token?.trim() ?? '';
  if (token === '') {
    throw usageError('AGENT_RELAY_RUNNER_TOKEN is not set: run this inside an agent started by agent-relay-runner, or pass --token');
  }
  return { port, token, timeoutMs: flags.timeout };
}

/** The control target of the runner named `name`, from its connection file. */
function targetByName(name: string, dataDir: string | undefined, timeoutMs: number): ControlTarget {
  if (name.trim() === '') throw usageError('--name must not be empty');
  const found = readRunnerConnection(name.trim(), dataDir);
  if (!found.alive) {
    throw new RunnerError('CLOSED', `runner ${name} is not running (stale file from pid ${found.connection.pid}); remove ${found.path}`, {
      data: { pid: found.connection.pid, path: found.path },
    });
  }
  const port = Number(new URL(found.connection.controlUrl).port);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw usageError(`the connection file ${found.path} has no usable control URL`);
  return { port, token: found.connection.token, timeoutMs };
}

/** A successful control-port answer. */
export interface ControlAnswer {
  /** HTTP status (2xx). */
  status: number;
  /** Parsed JSON body, or undefined when there was none. */
  body: unknown;
}

/**
 * Call the control port. Resolves with 2xx answers; rejects with a one-line {@link RunnerError}
 * when the runner is unreachable, too slow, refuses the token, or refuses the request.
 */
export async function callControl(target: ControlTarget, method: 'GET' | 'POST', path: string, body?: unknown): Promise<ControlAnswer> {
  const where = `the runner's control port 127.0.0.1:${target.port}`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(`http://127.0.0.1:${target.port}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${target.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      // One signal bounds the whole exchange, headers and body alike.
      signal: AbortSignal.timeout(target.timeoutMs),
    });
    text = await res.text();
  } catch (error) {
    const name = (error as { name?: string } | undefined)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new RunnerError('TIMEOUT', `${where} did not answer within ${target.timeoutMs} ms`, { data: { port: target.port } });
    }
    // undici puts the socket-level reason (ECONNREFUSED, EPERM from a sandbox, …) in `cause`.
    throw connectFailure(where, target.port, error);
  }
  const parsed = parseJson(text);
  if (res.status === 401) {
    throw new RunnerError('RELAY_AUTH', `${where} refused the token (401): check AGENT_RELAY_RUNNER_TOKEN`, { data: { status: 401 } });
  }
  if (res.status >= 400) {
    const reason = reasonOf(parsed) ?? (text.trim().slice(0, 200) || res.statusText);
    const code = res.status < 500 ? 'INVALID_ARGUMENT' : 'PROCESS';
    throw new RunnerError(code, `the runner refused the request (${res.status}): ${reason}`, { data: { status: res.status } });
  }
  return { status: res.status, body: parsed };
}

/** A 2xx answer of the wrong shape: whatever listens on the port is not an agent-relay-runner. */
export function unexpectedAnswer(path: string): RunnerError {
  return new RunnerError('PROTOCOL', `unexpected answer from ${path}: is AGENT_RELAY_RUNNER_PORT an agent-relay-runner control port?`);
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function reasonOf(body: unknown): string | undefined {
  if (typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string') {
    return (body as { error: string }).error;
  }
  return undefined;
}
