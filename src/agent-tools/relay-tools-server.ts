/**
 * The agent's relay tools as an MCP server (stdio): `reply`, `send`, `owed` and `attachments`,
 * each a call to the runner's control port (docs/providers.md, "Relay tools"). An edge like an
 * adapter: it talks to the runner over HTTP only and is never imported by the core.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import * as v from 'valibot';
// The low-level `Server` (not `McpServer`): the tools' arguments are checked with valibot, the
// project's schema library, and every failure becomes a one-line tool error the model can act on.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { FIELD_LIMITS } from '../protocol/relay-fields.js';
import { callRunner, RunnerCallError, type RunnerEndpoint } from './runner-client.js';

/** The MCP server name: Claude Code calls the tools `mcp__relay__<tool>`, Codex `relay.<tool>`. */
export const RELAY_TOOLS_SERVER_NAME = 'relay';

/** Text attachments up to this size are returned inline by `attachments`; bigger ones by path only. */
export const INLINE_ATTACHMENT_BYTES = 64 * 1024;

/** How the tool server reaches its runner; `undefined` endpoint: started outside a runner. */
export interface RelayToolsConfig {
  /** The control port and token, or a reason why there is none (every tool then answers that reason). */
  endpoint: RunnerEndpoint | { missing: string };
  /** Version reported to the MCP client. */
  version: string;
}

/** Default bound of one control-port call: the runner answers these at once. */
const DEFAULT_TIMEOUT_MS = 5_000;

/** Read the endpoint from the environment (`AGENT_RELAY_RUNNER_PORT`, `AGENT_RELAY_RUNNER_TOKEN`). */
export function relayToolsEndpointFromEnv(env: Readonly<Record<string, string | undefined>>): RelayToolsConfig['endpoint'] {
  const rawPort = env.AGENT_RELAY_RUNNER_PORT?.trim() ?? '';
  const token = env.AGENT_RELAY_RUNNER_TOKEN?.trim() ?? '';
  if (rawPort === '' || token === '') {
    return { missing: 'the relay tools were started without AGENT_RELAY_RUNNER_PORT and AGENT_RELAY_RUNNER_TOKEN: they only work inside an agent started by agent-relay-runner' };
  }
  const port = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || port < 1 || port > 65_535) return { missing: `AGENT_RELAY_RUNNER_PORT must be a port number, got "${rawPort.slice(0, 20)}"` };
  return { port, token, timeoutMs: DEFAULT_TIMEOUT_MS };
}

const MAX_BODY = FIELD_LIMITS.messageBody;
const idField = (name: string) =>
  v.pipe(
    v.string(`"${name}" must be a string`),
    v.trim(),
    v.nonEmpty(`"${name}" must not be empty`),
    v.maxLength(FIELD_LIMITS.id, `"${name}" is longer than ${FIELD_LIMITS.id} characters: it is not a relay id or name`),
  );
const bodyField = v.pipe(
  v.string('"body" must be a string'),
  v.check((body) => body.trim() !== '', '"body" is empty: write the message text'),
  v.check((body) => body.length <= MAX_BODY, (issue) => `"body" has ${String((issue.input as string).length)} characters; the relay accepts at most ${MAX_BODY}: shorten it or split it into several messages`),
);
const argsObject = <const E extends v.ObjectEntries>(entries: E) => v.object(entries, 'the arguments must be an object');

const replyArgs = argsObject({ message_id: idField('message_id'), body: bodyField });
const sendArgs = argsObject({ to: idField('to'), body: bodyField });
const attachmentsArgs = argsObject({ message_id: idField('message_id') });

const stringProp = (description: string, maxLength: number) => ({ type: 'string', description, minLength: 1, maxLength });

/**
 * Claude Code defers MCP tools behind its tool search (the model sees only their names and must
 * search before calling). The relay tools are how the agent answers, on every turn, and small:
 * always in the prompt.
 */
const ALWAYS_LOAD = { 'anthropic/alwaysLoad': true };

/** The tool list, with descriptions that tell the model how to answer on the relay. */
export const RELAY_TOOLS: readonly Tool[] = [
  {
    name: 'reply',
    title: 'Reply to a relay message',
    description:
      'Answer a relay message. Give the message id from the message header "[relay message <id> from <sender> …]" and your answer; the runner sends it to that message\'s sender and marks the message answered. ' +
      'A message that "expects a reply" must be answered with this tool before you end your turn: your final text is NOT delivered to the sender. ' +
      `Plain text, at most ${MAX_BODY} characters. Reply once per message, with the complete answer.`,
    inputSchema: {
      type: 'object',
      properties: {
        message_id: stringProp('The id of the relay message you answer (from its header).', FIELD_LIMITS.id),
        body: stringProp('Your answer, as plain text.', MAX_BODY),
      },
      required: ['message_id', 'body'],
      additionalProperties: false,
    },
    _meta: ALWAYS_LOAD,
    annotations: { title: 'Reply to a relay message', readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  },
  {
    name: 'send',
    title: 'Send a relay message',
    description:
      'Send a new relay message to another agent or person, by name. To answer a message you were given, use `reply` instead (it finds the sender and marks the message answered). ' +
      `Plain text, at most ${MAX_BODY} characters.`,
    inputSchema: {
      type: 'object',
      properties: {
        to: stringProp('Recipient: an agent or user name on the relay.', FIELD_LIMITS.id),
        body: stringProp('The message, as plain text.', MAX_BODY),
      },
      required: ['to', 'body'],
      additionalProperties: false,
    },
    _meta: ALWAYS_LOAD,
    annotations: { title: 'Send a relay message', readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  },
  {
    name: 'owed',
    title: 'Replies you still owe',
    description:
      'List the relay messages you still owe a reply to: message id, sender and the start of the message. Answer each with `reply` before ending your turn. ' +
      '"not shown yet" marks messages still queued for you: they will arrive as their own turn, do not answer them from the excerpt.',
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
    _meta: ALWAYS_LOAD,
    annotations: { title: 'Replies you still owe', readOnlyHint: true, openWorldHint: false },
  },
  {
    name: 'attachments',
    title: 'A relay message\'s attachments',
    description:
      `List the files attached to a relay message: their local paths, and the text of small text files (up to ${INLINE_ATTACHMENT_BYTES / 1024} KiB each). Read bigger or binary files from the path.`,
    inputSchema: {
      type: 'object',
      properties: { message_id: stringProp('The id of the relay message (from its header).', FIELD_LIMITS.id) },
      required: ['message_id'],
      additionalProperties: false,
    },
    _meta: ALWAYS_LOAD,
    annotations: { title: 'A relay message\'s attachments', readOnlyHint: true, openWorldHint: false },
  },
];

/**
 * Build the relay tools' MCP server (not yet connected: pass it a transport with `connect`).
 * @param config - the runner endpoint (or why there is none) and the reported version
 */
export function createRelayToolsServer(config: RelayToolsConfig): Server {
  const server = new Server(
    { name: RELAY_TOOLS_SERVER_NAME, version: config.version },
    {
      capabilities: { tools: {} },
      // Claude Code shows these in the conversation: short, and no wording of the Stop reminder's.
      instructions: 'Tools to talk on the Agent Relay: answer a relay message with `reply` (its message id and your text), start a conversation with `send`, list the messages waiting for your answer with `owed`, read a message\'s files with `attachments`.',
    },
  );
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [...RELAY_TOOLS] }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const endpoint = config.endpoint;
    try {
      if ('missing' in endpoint) return toolError(endpoint.missing);
      return await callTool(endpoint, request.params.name, request.params.arguments ?? {});
    } catch (error) {
      if (error instanceof RunnerCallError) return toolError(error.message);
      return toolError(`the relay tool failed unexpectedly: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  return server;
}

async function callTool(endpoint: RunnerEndpoint, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  switch (name) {
    case 'reply': {
      const parsed = parse(replyArgs, args);
      if (typeof parsed === 'string') return toolError(parsed);
      const answer = (await callRunner(endpoint, 'POST', '/reply', { messageId: parsed.message_id, body: parsed.body })) as { seq: number; to: string };
      return text(`Reply to message ${parsed.message_id} queued for ${answer.to} (outbox seq ${answer.seq}); the message is answered.`);
    }
    case 'send': {
      const parsed = parse(sendArgs, args);
      if (typeof parsed === 'string') return toolError(parsed);
      const answer = (await callRunner(endpoint, 'POST', '/send', { to: parsed.to, body: parsed.body })) as { seq: number };
      return text(`Message queued for ${parsed.to} (outbox seq ${answer.seq}).`);
    }
    case 'owed':
      return text(owedText((await callRunner(endpoint, 'GET', '/obligations')) as OwedAnswer));
    case 'attachments': {
      const parsed = parse(attachmentsArgs, args);
      if (typeof parsed === 'string') return toolError(parsed);
      const answer = (await callRunner(endpoint, 'POST', '/attachments', { messageId: parsed.message_id })) as { paths: string[] };
      return text(await attachmentsText(parsed.message_id, answer.paths));
    }
    default:
      return toolError(`unknown tool "${name.slice(0, 60)}": the relay tools are ${RELAY_TOOLS.map((t) => t.name).join(', ')}`);
  }
}

interface OwedAnswer {
  items: Array<{ messageId: string; from: string; excerpt?: string; shown?: boolean }>;
  stale?: boolean;
}

function owedText(owed: OwedAnswer): string {
  if (owed.items.length === 0) return 'You owe no replies.';
  const lines = owed.items.map((o) => `- message ${o.messageId} from ${o.from}${o.shown === false ? ' (not shown yet)' : ''}${o.excerpt ? `: ${JSON.stringify(o.excerpt)}` : ''}`);
  if (owed.stale) lines.push('(The runner could not refresh this list from the relay lately; it may be out of date.)');
  return [`You owe ${owed.items.length} repl${owed.items.length === 1 ? 'y' : 'ies'} (answer each with reply):`, ...lines].join('\n');
}

/** The attachment list, with small UTF-8 text files inline. */
async function attachmentsText(messageId: string, paths: string[]): Promise<string> {
  if (paths.length === 0) return `Message ${messageId} has no downloaded attachments.`;
  const parts = [`Message ${messageId} has ${paths.length} attachment${paths.length === 1 ? '' : 's'}:`];
  for (const path of paths) {
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      parts.push(`- ${path} (${basename(path)}; the file is gone)`);
      continue;
    }
    const head = `- ${path} (${basename(path)}, ${size} bytes)`;
    const content = size <= INLINE_ATTACHMENT_BYTES ? asText(await readFile(path).catch(() => undefined)) : undefined;
    parts.push(content === undefined ? head : `${head}:\n<file path=${JSON.stringify(path)}>\n${content}\n</file>`);
  }
  return parts.join('\n');
}

/** The bytes as text when they are valid UTF-8 without NUL bytes (a binary file is named, not shown). */
function asText(bytes: Buffer | undefined): string | undefined {
  if (!bytes || bytes.includes(0)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** Valid arguments, or the first problem as one line. */
function parse<S extends v.GenericSchema>(schema: S, args: unknown): v.InferOutput<S> | string {
  const result = v.safeParse(schema, args);
  if (result.success) return result.output;
  const issue = result.issues[0];
  const key = issue.path?.[0]?.key;
  if (issue.kind === 'schema' && issue.input === undefined && typeof key === 'string') return `invalid arguments: "${key}" is required`;
  return `invalid arguments: ${issue.message}`;
}

const text = (line: string): CallToolResult => ({ content: [{ type: 'text', text: line }] });
const toolError = (line: string): CallToolResult => ({ content: [{ type: 'text', text: line }], isError: true });
