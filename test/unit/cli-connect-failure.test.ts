import { describe, expect, it } from 'vitest';
import { connectFailure } from '../../src/cli/connect-failure.js';

const WHERE = "the runner's control port 127.0.0.1:4711";

/** What a failed global fetch looks like: a TypeError whose `cause` is the socket error. */
function fetchFailure(code: string | undefined, message = `connect ${code ?? '?'} 127.0.0.1:4711`): Error {
  const cause = Object.assign(new Error(message), code === undefined ? {} : { code, errno: -1, syscall: 'connect' });
  return Object.assign(new TypeError('fetch failed'), { cause });
}

describe('connectFailure: a sandbox refusal is not a dead runner', () => {
  it.each(['EPERM', 'EACCES'])('%s on connect inside Codex\'s sandbox names the sandbox and the reply tool', (code) => {
    const error = connectFailure(WHERE, 4711, fetchFailure(code), { CODEX_SANDBOX_NETWORK_DISABLED: '1' });
    expect(error.code).toBe('RELAY_UNAVAILABLE');
    expect(error.message).toContain(`refused by Codex's sandbox (its network access is off) (${code})`);
    expect(error.message).toContain('`reply` tool');
    expect(error.message).not.toMatch(/is the runner still running/);
    expect(error.data).toMatchObject({ port: 4711, errno: code, sandbox: true });
  });

  it('EPERM without the Codex marker still blames a sandbox, not the runner', () => {
    const error = connectFailure(WHERE, 4711, fetchFailure('EPERM'), {});
    expect(error.message).toContain('refused by a sandbox around this command (EPERM)');
    expect(error.message).not.toMatch(/still running/);
  });

  it.each(['ECONNREFUSED', 'ECONNRESET'])('%s: nothing listens, the runner is probably gone', (code) => {
    const error = connectFailure(WHERE, 4711, fetchFailure(code), { CODEX_SANDBOX_NETWORK_DISABLED: '1' });
    expect(error.message).toBe(`cannot reach ${WHERE} (${code}): nothing listens there; is the runner still running?`);
    expect(error.data).toMatchObject({ port: 4711, errno: code });
    expect(error.data?.sandbox).toBeUndefined();
  });

  it('another reason keeps its code or message', () => {
    expect(connectFailure(WHERE, 4711, fetchFailure('EHOSTUNREACH')).message).toBe(`cannot reach ${WHERE} (EHOSTUNREACH): is the runner still running?`);
    expect(connectFailure(WHERE, 4711, fetchFailure(undefined, 'bad port')).message).toBe(`cannot reach ${WHERE} (bad port): is the runner still running?`);
    expect(connectFailure(WHERE, 4711, new Error('boom')).message).toBe(`cannot reach ${WHERE}: is the runner still running?`);
  });
});
