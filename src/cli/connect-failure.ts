/**
 * Why a connection to the runner's control port failed, in words that say what to do. The
 * socket-level errno tells a dead runner (nobody listens: ECONNREFUSED) apart from a sandbox that
 * forbids the connection before it leaves the process (EPERM / EACCES on connect: Codex's
 * `workspace-write` sandbox answers every loopback connect with EPERM and sets
 * `CODEX_SANDBOX_NETWORK_DISABLED=1` — seen by running `codex sandbox` 0.169.0 on Linux). A
 * sandboxed process cannot learn whether the runner is alive, so that message does not guess.
 */
import { RunnerError } from '../errors/index.js';
import { socketReason } from '../shared/socket-error.js';

/** Errnos a sandbox (seccomp, Seatbelt, Landlock) returns for a refused `connect`. */
const SANDBOX_ERRNOS = new Set(['EPERM', 'EACCES']);
/** Errnos meaning that nothing accepts connections on the port. */
const DEAD_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET']);

/**
 * The one-line error for a control-port call that never got an answer (not a timeout).
 * @param where - e.g. `the runner's control port 127.0.0.1:4711`
 * @param env - the caller's environment (`CODEX_SANDBOX_NETWORK_DISABLED` names Codex's sandbox)
 */
export function connectFailure(where: string, port: number, error: unknown, env: NodeJS.ProcessEnv = process.env): RunnerError {
  const { code, message } = socketReason(error);
  const data = { port, ...(code !== undefined ? { errno: code } : {}) };
  if (code !== undefined && SANDBOX_ERRNOS.has(code)) {
    const whose = env['CODEX_SANDBOX_NETWORK_DISABLED'] === '1' ? "Codex's sandbox (its network access is off)" : 'a sandbox around this command';
    return new RunnerError(
      'RELAY_UNAVAILABLE',
      `the connection to ${where} was refused by ${whose} (${code}), not by the runner, which may well be running: ` +
        'answer with the relay `reply` tool (MCP server "relay") instead of this command, or give the sandbox network access',
      { data: { ...data, sandbox: true }, cause: error },
    );
  }
  if (code !== undefined && DEAD_ERRNOS.has(code)) {
    return new RunnerError('RELAY_UNAVAILABLE', `cannot reach ${where} (${code}): nothing listens there; is the runner still running?`, { data, cause: error });
  }
  const detail = code ?? message;
  return new RunnerError('RELAY_UNAVAILABLE', `cannot reach ${where}${detail ? ` (${detail})` : ''}: is the runner still running?`, { data, cause: error });
}
