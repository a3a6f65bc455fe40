/**
 * The relay tools' MCP server as the agent's CLI runs it: a real child process (the spec from
 * `relayToolsServer`), spoken to over stdio with the SDK's own client, against a real runner with
 * the reference relay. Also the `send` fallback script, run without any PATH.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { relayToolsServer, writeSendScript, RELAY_TOOLS_SERVER } from '../../src/providers/kit/relay-tools.js';
import { FIELD_LIMITS } from '../../src/protocol/relay-fields.js';
import { startRig, waitFor, type Rig } from '../helpers/rig.js';

const TOKEN = 'control-token-for-tests';
let rig: Rig | undefined;
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
  await rig?.close();
  rig = undefined;
});

/** Start the real server from its launch spec, with `env` as the agent's environment, and connect. */
async function connect(env: Record<string, string>): Promise<Client> {
  const spec = relayToolsServer(env);
  const client = new Client({ name: 'relay-tools-test', version: '0' });
  clients.push(client);
  // Only what the spec carries (plus HOME for tsx's cache): the server must not need the test's environment.
  await client.connect(new StdioClientTransport({ command: spec.command, args: spec.args, env: { ...spec.env, HOME: process.env.HOME ?? '/tmp' }, stderr: 'pipe' }));
  return client;
}

type ToolAnswer = { text: string; isError: boolean };
async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<ToolAnswer> {
  const result = (await client.callTool({ name, arguments: args })) as { content: Array<{ type: string; text?: string }>; isError?: boolean };
  return { text: result.content.map((c) => c.text ?? '').join('\n'), isError: result.isError === true };
}

const agentEnv = (r: Rig) => ({ AGENT_RELAY_RUNNER_PORT: new URL(r.runner.controlUrl!).port, AGENT_RELAY_RUNNER_TOKEN: TOKEN });
const relayMessages = (r: Rig) => r.relay.listMessages().filter((m) => m.kind === 'message');

describe('the relay tools MCP server', () => {
  it('lists its tools and answers reply, send, owed and attachments against a real runner', async () => {
    rig = await startRig({ obligationRefreshMs: 200 });
    const r = rig;
    await r.runner.start();
    const client = await connect(agentEnv(r));
    expect(client.getServerVersion()?.name).toBe(RELAY_TOOLS_SERVER);
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name).sort()).toEqual(['attachments', 'owed', 'reply', 'send']);
    expect(tools.tools.find((t) => t.name === 'reply')?.description).toMatch(/message id.*final text is NOT delivered/s);

    const sent = r.relay.sendToAgent(r.runner.agentId!, {
      from: 'alice',
      body: 'what is 2+2? see the files',
      expectsReply: true,
      attachments: [
        { name: 'notes.txt', content: 'hello from a file' },
        { name: 'blob.bin', content: new Uint8Array([0, 1, 2, 255]) },
      ],
    });
    await waitFor(() => r.deliveries.some((d) => d.messageId === sent.id && d.state === 'consumed'), 'consumed');

    const owed = await waitFor(async () => {
      const answer = await call(client, 'owed');
      return answer.text.includes(sent.id) ? answer : undefined;
    }, 'the owed reply listed');
    expect(owed.isError).toBe(false);
    expect(owed.text).toContain(`message ${sent.id} from alice`);

    const files = await call(client, 'attachments', { message_id: sent.id });
    expect(files.isError).toBe(false);
    expect(files.text).toMatch(/2 attachments/);
    expect(files.text).toMatch(/notes\.txt, 17 bytes\):\n<file path=".*notes\.txt">\nhello from a file\n<\/file>/);
    expect(files.text).toMatch(/blob\.bin, 4 bytes\)$/m); // binary: named, not shown

    const reply = await call(client, 'reply', { message_id: sent.id, body: '4' });
    expect(reply).toEqual({ isError: false, text: expect.stringContaining(`queued for alice`) as unknown as string });
    const answer = await waitFor(() => relayMessages(r).find((m) => m.replyTo === sent.id), 'the reply on the relay');
    expect(answer).toMatchObject({ from: 'worker-1', to: 'alice', body: '4' });
    await waitFor(() => r.relay.obligations(r.runner.agentId!).length === 0, 'obligation cleared on the relay');
    expect((await call(client, 'owed')).text).toBe('You owe no replies.');

    const news = await call(client, 'send', { to: 'bob', body: 'hi bob' });
    expect(news).toEqual({ isError: false, text: expect.stringMatching(/^Message queued for bob \(outbox seq \d+\)\.$/) as unknown as string });
    await waitFor(() => relayMessages(r).find((m) => m.to === 'bob' && m.body === 'hi bob'), 'the message to bob on the relay');
  });

  it('answers bad arguments, unknown messages and over-long bodies with one-line tool errors', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    const client = await connect(agentEnv(r));
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['reply', { message_id: 'no-such-message', body: 'x' }, /^unknown message id "no-such-message": this runner was not given that message/],
      ['attachments', { message_id: 'no-such-message' }, /^unknown message id "no-such-message"/],
      ['reply', { message_id: 'm1' }, /^invalid arguments: "body" is required$/],
      ['reply', { message_id: 'm1', body: '   ' }, /^invalid arguments: "body" is empty/],
      ['send', { to: '', body: 'x' }, /^invalid arguments: "to" must not be empty$/],
      ['send', { to: 'bob', body: 42 }, /^invalid arguments: "body" must be a string$/],
      ['send', { to: 'bob', body: 'x'.repeat(FIELD_LIMITS.messageBody + 1) }, new RegExp(`has ${FIELD_LIMITS.messageBody + 1} characters; the relay accepts at most ${FIELD_LIMITS.messageBody}`)],
      ['nope', {}, /^unknown tool "nope": the relay tools are reply, send, owed, attachments$/],
    ];
    for (const [tool, args, expected] of cases) {
      const answer = await call(client, tool, args);
      expect(answer.isError, `${tool} ${JSON.stringify(args).slice(0, 80)}`).toBe(true);
      expect(answer.text).toMatch(expected);
      expect(answer.text).not.toContain('\n');
    }
    expect(relayMessages(r)).toEqual([]);
  });

  it('tells a stopped runner, a wrong token and a missing environment apart', async () => {
    // A port that was just free: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address() as { port: number };
        probe.close(() => resolve(p));
      });
    });
    const down = await call(await connect({ AGENT_RELAY_RUNNER_PORT: String(port), AGENT_RELAY_RUNNER_TOKEN: TOKEN }), 'reply', { message_id: 'm1', body: 'x' });
    expect(down).toEqual({ isError: true, text: `nothing listens at 127.0.0.1:${port} (ECONNREFUSED): the runner that started this agent has stopped; the message cannot be sent now` });

    rig = await startRig();
    await rig.runner.start();
    const wrong = await call(await connect({ ...agentEnv(rig), AGENT_RELAY_RUNNER_TOKEN: 'not-the-token' }), 'owed');
    expect(wrong.isError).toBe(true);
    expect(wrong.text).toMatch(/^the runner at 127\.0\.0\.1:\d+ refused this tool's credentials \(HTTP 401\)/);

    const none = await call(await connect({}), 'owed');
    expect(none).toEqual({ isError: true, text: expect.stringMatching(/^the relay tools were started without AGENT_RELAY_RUNNER_PORT and AGENT_RELAY_RUNNER_TOKEN/) as unknown as string });
  });

  it('the send script answers with an empty PATH (absolute node and CLI)', async () => {
    rig = await startRig({ obligationRefreshMs: 200 });
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'ping', expectsReply: true });
    await waitFor(() => r.deliveries.some((d) => d.messageId === sent.id && d.state === 'consumed'), 'consumed');
    const script = writeSendScript(`${r.dir}/scratch dir's`); // a space and a quote in the path
    const { stdout } = await promisify(execFile)('/bin/sh', [script, '--to', 'alice', '--reply-to', sent.id, 'pong'], {
      env: { ...agentEnv(r), PATH: '/nonexistent', HOME: process.env.HOME ?? '/tmp' },
    });
    expect(stdout).toMatch(new RegExp(`^queued for alice \\(outbox seq \\d+\\), replying to ${sent.id}`));
    await waitFor(() => relayMessages(r).find((m) => m.replyTo === sent.id && m.body === 'pong'), 'the reply on the relay');
  });
});
