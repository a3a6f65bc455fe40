/**
 * The hook scripts under conditions Claude Code users actually hit: bash 3.2 (macOS), a runner
 * that resets the connection, and multi-megabyte payloads. Real bash, real sockets on 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const HOOKS_DIR = resolve(import.meta.dirname, '../../hooks');
const HOOK_SCRIPTS = readdirSync(HOOKS_DIR).filter((name) => name.endsWith('.sh'));
const FORWARDING_HOOKS = HOOK_SCRIPTS.filter((name) => name !== 'lib.sh');

/**
 * Constructs bash 3.2 does not have, as line patterns. Comments are stripped before matching.
 * Each entry names the bash version that introduced it.
 */
const BASH4_ONLY: Array<{ what: string; re: RegExp }> = [
  { what: 'case modification ${x,,} ${x^^} (bash 4.0)', re: /\$\{[#!]?\w+(\[[^\]]*\])?(,,?|\^\^?)[^}]*\}/ },
  { what: 'named file descriptor {fd}<> (bash 4.1)', re: /\{[A-Za-z_]\w*\}\s*[<>]/ },
  { what: 'mapfile / readarray (bash 4.0)', re: /(^|[;&|\s])(mapfile|readarray)\b/ },
  { what: 'associative array declare -A (bash 4.0)', re: /\b(declare|local|typeset)\s+(-\w*\s+)*-\w*A/ },
  { what: 'nameref declare -n (bash 4.3)', re: /\b(declare|local|typeset)\s+(-\w*\s+)*-\w*n\b/ },
  { what: 'read -N / read -i (bash 4.0/4.1)', re: /\bread\b[^;|&]*\s-[A-Za-z]*[Ni]\b/ },
  { what: '&>> and |& (bash 4.0)', re: /&>>|\|&/ },
  { what: 'coproc (bash 4.0)', re: /(^|[;&|\s])coproc\b/ },
  { what: ';& or ;;& in case (bash 4.0)', re: /;;&|[^;];&/ },
  { what: '${x@Q} transformations (bash 4.4)', re: /\$\{[^}]*@[QEPAaKkUuL]\}/ },
  { what: 'negative array subscripts (bash 4.3)', re: /\$\{\w+\[-\d+\]\}/ },
  { what: '[[ -v name ]] (bash 4.2)', re: /\[\[\s+-v\s/ },
  { what: 'wait -n (bash 4.3)', re: /\bwait\s+-n\b/ },
  { what: "printf '%(fmt)T' (bash 4.2)", re: /%\([^)]*\)T/ },
  { what: 'shopt globstar / lastpipe (bash 4.0/4.2)', re: /shopt\s+-s\s+(globstar|lastpipe)/ },
];

/** Lines of `source` (comments removed) that use a bash-4-only construct. */
function bash4Findings(source: string): string[] {
  const found: string[] = [];
  source.split('\n').forEach((raw, index) => {
    const line = raw.replace(/(^|\s)#.*$/, '$1');
    for (const { what, re } of BASH4_ONLY) if (re.test(line)) found.push(`${index + 1}: ${what}: ${raw.trim()}`);
  });
  return found;
}

interface HookRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  ms: number;
}

function runHook(name: string, stdin: string, env: Record<string, string>): Promise<HookRun> {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn('bash', [resolve(HOOKS_DIR, name)], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.on('error', fail);
    child.on('close', (code, signal) => done({ code, signal, stdout, ms: performance.now() - started }));
    // The hook may stop reading early (it ignores SIGPIPE; we must not die of EPIPE either).
    child.stdin.on('error', () => {});
    child.stdin.end(stdin);
  });
}

const servers: Array<Server | NetServer> = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((done) => server.close(() => done(undefined)));
});

/** Accepts every connection and resets it at once (what a runner out of descriptors looks like). */
async function resettingServer(): Promise<number> {
  const server = createNetServer((socket) => socket.resetAndDestroy());
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return (server.address() as { port: number }).port;
}

/** An HTTP server recording each request body and answering 204. */
async function recordingServer(): Promise<{ port: number; bodies: Map<string, string> }> {
  const bodies = new Map<string, string>();
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      bodies.set(req.url ?? '', Buffer.concat(chunks).toString('utf8'));
      res.writeHead(204).end();
    });
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { port: (server.address() as { port: number }).port, bodies };
}

/** A Stop payload of about `bytes` bytes: one huge last_assistant_message. */
function bigStopPayload(bytes: number): string {
  const filler = 'x'.repeat(bytes);
  return JSON.stringify({ hook_event_name: 'Stop', session_id: 's-1', stop_hook_active: false, last_assistant_message: filler });
}

describe('hooks run on bash 3.2', () => {
  it.each(BASH4_ONLY.map((rule) => [rule.what, rule]))('the check catches %s', (_what, rule) => {
    const planted: Record<string, string> = {
      'case modification ${x,,} ${x^^} (bash 4.0)': 'if [[ ${line,,} == x ]]; then :; fi',
      'named file descriptor {fd}<> (bash 4.1)': 'exec {fd}<>"/dev/tcp/127.0.0.1/80"',
      'mapfile / readarray (bash 4.0)': 'mapfile -t lines <file',
      'associative array declare -A (bash 4.0)': 'declare -A seen=()',
      'nameref declare -n (bash 4.3)': 'local -n ref=$1',
      'read -N / read -i (bash 4.0/4.1)': 'IFS= read -r -t 1 -N "$len" -u 9 body',
      '&>> and |& (bash 4.0)': 'echo hi &>>/tmp/log',
      'coproc (bash 4.0)': 'coproc cat',
      ';& or ;;& in case (bash 4.0)': 'case $x in a) echo ;;& b) echo ;; esac',
      '${x@Q} transformations (bash 4.4)': 'echo "${value@Q}"',
      'negative array subscripts (bash 4.3)': 'echo "${parts[-1]}"',
      '[[ -v name ]] (bash 4.2)': 'if [[ -v AR_TOKEN ]]; then :; fi',
      'wait -n (bash 4.3)': 'wait -n',
      "printf '%(fmt)T' (bash 4.2)": "printf '%(%s)T' -1",
      'shopt globstar / lastpipe (bash 4.0/4.2)': 'shopt -s lastpipe',
    };
    const line = planted[rule.what];
    expect(line, `a planted example for ${rule.what}`).toBeDefined();
    expect(bash4Findings(`# a comment: \${x,,} mapfile\n${line}\n`)).toEqual([expect.stringContaining(rule.what)]);
  });

  it.each(HOOK_SCRIPTS)('%s uses no bash-4-only construct', (name) => {
    expect(bash4Findings(readFileSync(resolve(HOOKS_DIR, name), 'utf8'))).toEqual([]);
  });
});

describe('hooks against a runner that resets the connection', () => {
  // A payload larger than a socket buffer makes the write meet the reset (EPIPE → SIGPIPE).
  const payload = bigStopPayload(1024 * 1024);

  it.each(['devtcp', 'curl'])('every hook exits 0, never 141, transport %s', async (transport) => {
    const port = await resettingServer();
    for (const hook of FORWARDING_HOOKS) {
      const run = await runHook(hook, payload, {
        AGENT_RELAY_RUNNER_PORT: String(port),
        AGENT_RELAY_RUNNER_TOKEN: 'token',
        AGENT_RELAY_HOOK_TRANSPORT: transport,
        AGENT_RELAY_PERMISSION_HOOK_TIMEOUT_S: '2',
      });
      expect({ hook, code: run.code, signal: run.signal, stdout: run.stdout }).toEqual({ hook, code: 0, signal: null, stdout: '' });
    }
  });
});

describe('hooks with a large payload', () => {
  // Read a byte per system call, 1.5 MB took 0.5 s of the hook's 1.8 s budget here and 6 MB more
  // than all of it; read in bulk, both take milliseconds.
  it.each([
    ['devtcp', 1_500_000],
    ['curl', 1_500_000],
    ['devtcp', 6_000_000],
  ] as const)('a large Stop payload reaches the runner whole, transport %s, %d bytes', async (transport, size) => {
    const { port, bodies } = await recordingServer();
    const payload = bigStopPayload(size);
    const run = await runHook('stop.sh', payload, {
      AGENT_RELAY_RUNNER_PORT: String(port),
      AGENT_RELAY_RUNNER_TOKEN: 'token',
      AGENT_RELAY_HOOK_TRANSPORT: transport,
    });
    expect(run.code).toBe(0);
    // Without a bulk read the hook's own watchdog kills it before anything is sent. (curl's
    // here-string adds one trailing newline, which JSON does not mind.)
    const received = bodies.get('/hooks/stop') ?? '';
    expect(received.trimEnd().length).toBe(payload.length);
    expect(received.trimEnd()).toBe(payload);
  });
});
