/**
 * Turn text the runner writes to the provider: the relay context block (once per session), the
 * sender header of each relay message, and the task-claim guidance the runner makes redundant.
 */

import { describeError } from '../shared/describe-error.js';

/**
 * The workspace description a host passes in `AGENT_RELAY_WORKSPACE_JSON`.
 * @public
 */
export interface WorkspaceInfo {
  /** The agent works in an isolated worktree. */
  isolated?: boolean;
  /** Whether dependencies are installed in that worktree. @defaultValue true */
  dependenciesInstalled?: boolean;
  /** Untracked paths symlinked from the main checkout. */
  symlinks?: { linked?: string[] };
}

/**
 * Parse `AGENT_RELAY_WORKSPACE_JSON`. Bad JSON yields `undefined` and a reason, never a throw:
 * a broken hint must not keep an agent from starting.
 */
export function parseWorkspaceJson(raw: string | undefined): { workspace?: WorkspaceInfo; error?: string } {
  if (raw === undefined || raw.trim() === '') return {};
  try {
    const value = JSON.parse(raw) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return { error: 'AGENT_RELAY_WORKSPACE_JSON is not a JSON object' };
    }
    const v = value as Record<string, unknown>;
    const workspace: WorkspaceInfo = {};
    if (typeof v.isolated === 'boolean') workspace.isolated = v.isolated;
    if (typeof v.dependenciesInstalled === 'boolean') workspace.dependenciesInstalled = v.dependenciesInstalled;
    const linked = (v.symlinks as { linked?: unknown } | undefined)?.linked;
    if (Array.isArray(linked)) workspace.symlinks = { linked: linked.filter((p): p is string => typeof p === 'string') };
    return { workspace };
  } catch (error) {
    return { error: `AGENT_RELAY_WORKSPACE_JSON is not valid JSON: ${describeError(error)}` };
  }
}

/** The send command a turn names when the runner was given none (the CLI, found on PATH). */
export const DEFAULT_SEND_COMMAND = 'agent-relay-runner send';

/**
 * The block prepended to the first turn of a session: the relay tools first (one warm MCP call),
 * the send command as the fallback.
 * @param sendCommand - the fallback, shell-ready (the runner's PATH-free script by absolute path)
 */
export function relayContextBlock(agentName: string, workspace: WorkspaceInfo | undefined, sendCommand = DEFAULT_SEND_COMMAND): string {
  const lines = [
    '<agent-relay-context>',
    `You are "${agentName}", an agent on an Agent Relay server. Messages from other agents and from people arrive as turns with a header naming the sender and the message id.`,
    'To answer a message, call the `reply` tool of the `relay` MCP server (in Claude Code: mcp__relay__reply) with the message id from its header and your answer.',
    `If that tool is not available, run: ${sendCommand} --to <sender> --reply-to <message id> "<your answer>" (or pipe the answer on stdin).`,
    'The other relay tools: `send` (a new message to an agent or person, by name), `owed` (the messages waiting for your answer), `attachments` (a message\'s files).',
    'A message marked "expects a reply" must be answered that way before you finish your turn; your final text alone is not delivered as the answer.',
  ];
  if (workspace?.isolated) {
    lines.push(
      workspace.dependenciesInstalled === false
        ? 'Workspace: you are in an isolated git worktree WITHOUT installed dependencies; install them before building or testing.'
        : 'Workspace: you are in an isolated git worktree.',
    );
  }
  const linked = workspace?.symlinks?.linked ?? [];
  if (linked.length > 0) {
    lines.push(
      `These paths are symlinked from the main checkout and write through to it; treat them as read-only: ${linked.join(', ')}.`,
    );
  }
  lines.push('</agent-relay-context>');
  return lines.join('\n');
}

/** The header line that tells the agent who sent a relay message and how to answer it. */
export function messageHeader(message: { id: string; from: string; expectsReply?: boolean; taskId?: string }, sendCommand = DEFAULT_SEND_COMMAND): string {
  const parts = [`[relay message ${message.id} from ${message.from}`];
  if (message.taskId) parts.push(`task ${message.taskId}`);
  if (message.expectsReply) parts.push(`expects a reply: reply tool with message_id ${message.id}, or ${sendCommand} --to ${message.from} --reply-to ${message.id}`);
  return `${parts.join(' · ')}]`;
}

/**
 * Remove the relay's "claim it yourself" guidance from a task message: the runner claims the task
 * on the agent's behalf, so the instruction would only make the agent claim it twice.
 * @remarks Drops every line that tells the reader to claim the task (e.g. "Claim it yourself: …").
 */
export function stripClaimGuidance(body: string): string {
  return body
    .split('\n')
    .filter((line) => !/\bclaim (it|this task|the task) yourself\b/i.test(line))
    .join('\n')
    .trim();
}

/** Id of the runner's own initial prompt: delivered like a message, never mirrored or marked read. */
export function initialPromptId(now: number): string {
  return `initial-${now}`;
}

/** Whether a delivered message is the runner's initial prompt rather than a relay message. */
export function isInitialPromptId(id: string): boolean {
  return id.startsWith('initial-');
}
