/**
 * The relay tools' client of the runner's loopback control port (docs/control-port.md): global
 * `fetch` (keep-alive, so a warm tool call costs one local round trip), bearer token, bounded wait,
 * and failures sorted into what the model can act on — a runner that is gone, a sandbox that blocks
 * loopback, a refused token, a refused request.
 */
import { socketReason } from '../shared/socket-error.js';

/** Where the runner's control port is, from the tool server's environment. */
export interface RunnerEndpoint {
  /** Loopback port (`AGENT_RELAY_RUNNER_PORT`). */
  port: number;
  /** The runner's control token (`AGENT_RELAY_RUNNER_TOKEN`; a secret: never printed). */
  token: string;
  /** Bound of one call, headers and body. */
  timeoutMs: number;
}

/** A failed call, with a one-line reason written for the model. */
export class RunnerCallError extends Error {
  /** What went wrong: `unreachable` (nothing listens), `blocked` (loopback refused by a sandbox or the OS), `timeout`, `refused` (the runner answered no). */
  readonly kind: 'unreachable' | 'blocked' | 'timeout' | 'refused';
  /** HTTP status when the runner answered. */
  readonly status: number | undefined;

  constructor(kind: RunnerCallError['kind'], message: string, status?: number) {
    super(message);
    this.name = 'RunnerCallError';
    this.kind = kind;
    this.status = status;
  }
}

/** Socket errors that mean "a sandbox or the OS forbade the connection", not "no runner". */
const BLOCKED_CODES = new Set(['EPERM', 'EACCES', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN']);

/** Call the runner; resolves with the parsed JSON of a 2xx answer, rejects with a {@link RunnerCallError}. */
export async function callRunner(endpoint: RunnerEndpoint, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const where = `127.0.0.1:${endpoint.port}`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(`http://${where}${path}`, {
      method,
      headers: { authorization: `Bearer ${endpoint.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(endpoint.timeoutMs),
    });
    text = await res.text();
  } catch (error) {
    throw socketFailure(error, where, endpoint.timeoutMs);
  }
  const reason = errorLine(text);
  if (res.status >= 200 && res.status < 300) return text === '' ? undefined : (JSON.parse(text) as unknown);
  if (res.status === 401 || res.status === 403) {
    throw new RunnerCallError('refused', `the runner at ${where} refused this tool's credentials (HTTP ${res.status}): the relay tools were started with another runner's port or token; use the send command from the relay context instead`, res.status);
  }
  if (res.status === 507) throw new RunnerCallError('refused', `not sent: ${reason ?? 'the runner outbox is full'} (the relay has been unreachable for a long time; try again later)`, res.status);
  if (res.status >= 500) throw new RunnerCallError('refused', `the runner failed to handle the request (HTTP ${res.status}${reason ? `: ${reason}` : ''}); try again once, then report it`, res.status);
  if (res.status === 404 && !reason?.startsWith('unknown message id')) {
    throw new RunnerCallError('refused', `this runner does not offer ${method} ${path} (HTTP 404): it is older than these relay tools; use the send command from the relay context instead`, res.status);
  }
  throw new RunnerCallError('refused', reason ?? `the runner refused the request (HTTP ${res.status})`, res.status);
}

/** `{"error": "…"}` of a control-port answer, or undefined. */
function errorLine(text: string): string | undefined {
  try {
    const error = (JSON.parse(text) as { error?: unknown } | null)?.error;
    return typeof error === 'string' && error !== '' ? error : undefined;
  } catch {
    return undefined;
  }
}

/** Sort a fetch failure: timeout, blocked (sandbox), or nothing listening. */
function socketFailure(error: unknown, where: string, timeoutMs: number): RunnerCallError {
  const name = (error as { name?: string } | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new RunnerCallError('timeout', `the runner at ${where} did not answer within ${timeoutMs} ms; it may be overloaded: try again once`);
  }
  const { code, message } = socketReason(error);
  if (code !== undefined && BLOCKED_CODES.has(code)) {
    return new RunnerCallError(
      'blocked',
      `the connection to the runner at ${where} was blocked (${code}): a sandbox forbids loopback network access for this process; the runner itself may well be running`,
    );
  }
  if (code === 'ECONNREFUSED') {
    return new RunnerCallError('unreachable', `nothing listens at ${where} (ECONNREFUSED): the runner that started this agent has stopped; the message cannot be sent now`);
  }
  return new RunnerCallError('unreachable', `cannot reach the runner at ${where} (${code ?? message ?? String(error)})`);
}
