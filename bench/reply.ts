/**
 * bench/reply — issue 11: the cost of one agent reply, from the agent's tool call to the event
 * durable in the runner's outbox (the call returns only after the outbox's local write), in one run:
 *   1. the `reply` relay tool over MCP (stdio), warm server: `callTool` → tool result;
 *   2. the `send` fallback: the runner's PATH-free script (`<scratch>/agent-relay-send --reply-to …`),
 *      process start to exit — what one answer costs the agent without the tool;
 *   3. for reference, the control port's `POST /reply` alone over HTTP keep-alive (the runner's share).
 * Bar: MCP median ≤ 20 ms.
 *
 *   npm run build && node --import tsx bench/reply.ts [--calls 50] [--sends 20]
 *
 * The tool server and the send script run from the BUILT package (dist/), as users run them: tsx
 * would add its own start-up to every `send`. The runner runs in this process (sql.js file outbox,
 * fdatasync per event) against the reference relay on loopback. Writes bench/results/reply.json.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { createRunner } from '../src/create-runner.js';
import { createRelayDevServer } from '../src/testing/relay-dev-server/index.js';
import { silentProvider } from './silent-provider.js';

const ROOT = resolve(import.meta.dirname, '..');
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(value) && value > 0 ? value : fallback;
};
const CALLS = arg('calls', 50);
const SENDS = arg('sends', 20);
const WARMUP = 10;
const TOKEN = 'bench-reply-token-5a4b3c2d1e0f';

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
const stats = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 100) / 100;
  return { n: sorted.length, medianMs: round(quantile(sorted, 0.5)), p95Ms: round(quantile(sorted, 0.95)), maxMs: round(sorted.at(-1) ?? NaN), minMs: round(sorted[0] ?? NaN) };
};

async function main(): Promise<void> {
  const kitPath = join(ROOT, 'dist', 'providers', 'kit', 'relay-tools.js');
  if (!existsSync(kitPath)) throw new Error('bench/reply measures the built package: run `npm run build` first');
  const kit = (await import(pathToFileURL(kitPath).href)) as typeof import('../src/providers/kit/relay-tools.js');

  const load = { before: loadavg().map((n) => Math.round(n * 100) / 100) };
  const dir = await mkdtemp(join(tmpdir(), 'arr-bench-reply-'));
  const relay = await createRelayDevServer();
  const runner = createRunner({
    name: 'bench-reply',
    relayUrl: relay.url,
    apiKey: relay.apiKey,
    provider: silentProvider(),
    cwd: dir,
    dataDir: join(dir, 'data'),
    logDir: join(dir, 'logs'),
    env: { PATH: process.env.PATH ?? '' },
    control: { token: TOKEN },
  });
  await runner.start();
  const port = new URL(runner.controlUrl!).port;
  const env = { AGENT_RELAY_RUNNER_PORT: port, AGENT_RELAY_RUNNER_TOKEN: TOKEN };

  // One relay message per reply, all accepted by the runner before the clock starts.
  const total = WARMUP + CALLS + WARMUP + CALLS + 2 + SENDS;
  const ids: string[] = [];
  for (let i = 0; i < total; i++) ids.push(relay.sendToAgent(runner.agentId!, { from: 'alice', body: `question ${i}`, expectsReply: true }).id);
  const known = async (id: string) => (await fetch(`${runner.controlUrl}/attachments`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ messageId: id }) })).status === 200;
  for (const id of ids) while (!(await known(id))) await new Promise((r) => setTimeout(r, 20));
  const next = () => ids.shift()!;
  // One reply at a time on an idle runner (an agent answers once per turn): the previous reply's
  // delivery to the relay (in this process) is over before the next call starts.
  const settle = async () => {
    while ((await runner.outboxStats()).pending > 0) await new Promise((r) => setTimeout(r, 5));
  };

  // 1. MCP: a warm server, as the agent's CLI keeps it.
  const spec = kit.relayToolsServer(env);
  const client = new Client({ name: 'bench-reply', version: '0' });
  const t0 = performance.now();
  await client.connect(new StdioClientTransport({ command: spec.command, args: spec.args, env: { ...spec.env } }));
  const connectMs = performance.now() - t0;
  const mcpCall = async () => {
    await settle();
    const start = performance.now();
    const result = (await client.callTool({ name: 'reply', arguments: { message_id: next(), body: 'answer' } })) as { isError?: boolean; content: Array<{ text?: string }> };
    const ms = performance.now() - start;
    if (result.isError) throw new Error(`reply tool failed: ${result.content[0]?.text}`);
    return ms;
  };
  for (let i = 0; i < WARMUP; i++) await mcpCall();
  const mcp: number[] = [];
  for (let i = 0; i < CALLS; i++) mcp.push(await mcpCall());
  await client.close();

  // 3. The control port alone (keep-alive fetch): the runner's own share of a reply.
  const httpCall = async () => {
    await settle();
    const start = performance.now();
    const res = await fetch(`http://127.0.0.1:${port}/reply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messageId: next(), body: 'answer' }),
    });
    await res.text();
    if (res.status !== 200) throw new Error(`POST /reply answered ${res.status}`);
    return performance.now() - start;
  };
  for (let i = 0; i < WARMUP; i++) await httpCall();
  const http: number[] = [];
  for (let i = 0; i < CALLS; i++) http.push(await httpCall());
  // And a control-port round trip that writes nothing (GET /obligations): what the durable write adds.
  const readOnly: number[] = [];
  for (let i = 0; i < CALLS + WARMUP; i++) {
    const start = performance.now();
    const res = await fetch(`http://127.0.0.1:${port}/obligations`, { headers: { authorization: `Bearer ${TOKEN}` } });
    await res.text();
    if (i >= WARMUP) readOnly.push(performance.now() - start);
  }

  // 2. send: the script the context block names, one process per answer.
  const script = kit.writeSendScript(join(dir, 'scratch'));
  const sendOnce = async () => {
    await settle();
    return new Promise<number>((resolveRun, reject) => {
      const start = performance.now();
      const child = spawn('/bin/sh', [script, '--to', 'alice', '--reply-to', next(), 'answer'], { env: { ...env, PATH: '/usr/bin:/bin' }, stdio: 'ignore' });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolveRun(performance.now() - start) : reject(new Error(`send exited ${code}`))));
    });
  };
  for (let i = 0; i < 2; i++) await sendOnce();
  const send: number[] = [];
  for (let i = 0; i < SENDS; i++) send.push(await sendOnce());

  await runner.stop();
  await relay.close();
  await rm(dir, { recursive: true, force: true });

  const result = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadavg: { ...load, after: loadavg().map((n) => Math.round(n * 100) / 100) } },
    mcpReply: { ...stats(mcp), barMedianMs: 20, pass: stats(mcp).medianMs <= 20, serverConnectMs: Math.round(connectMs) },
    sendScript: stats(send),
    controlPortReply: stats(http),
    controlPortReadOnly: stats(readOnly),
  };
  await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
  await writeFile(join(ROOT, 'bench', 'results', 'reply.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  const row = (name: string, s: ReturnType<typeof stats>) => `| ${name} | ${s.n} | ${s.medianMs} | ${s.p95Ms} | ${s.maxMs} |`;
  console.log(['', '| path | n | median ms | p95 ms | max ms |', '|---|---|---|---|---|', row('MCP `reply` tool, warm (call → result)', result.mcpReply), row('`send` script (process start → exit)', result.sendScript), row('control port `POST /reply` alone', result.controlPortReply), row('control port `GET /obligations` (no write)', result.controlPortReadOnly)].join('\n'));
}

await main();
