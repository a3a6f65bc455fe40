/**
 * Rows of the reference relay's tables as protocol values.
 */
import type { RelayAgent, RelayAttachment, RelayMessage, RelayMessageKind, RelayPermissionRequest, RelayTask, TaskStatus } from '../../ports/relay-http.js';
import type { Row } from './sql.js';

/** An `agents` row as a {@link RelayAgent}. */
export function toAgent(r: Row): RelayAgent {
  const agent: RelayAgent = {
    id: r['id'] as string,
    name: r['name'] as string,
    createdAt: r['created_at'] as number,
    lastSeenAt: r['last_seen_at'] as number,
  };
  if (r['provider']) agent.provider = r['provider'] as string;
  return agent;
}

/** A `messages` row as a {@link RelayMessage}. */
export function toMessage(r: Row): RelayMessage {
  const m: RelayMessage = {
    id: r['id'] as string,
    seq: r['seq'] as number,
    kind: r['kind'] as RelayMessageKind,
    from: r['from_name'] as string,
    to: r['to_name'] as string,
    body: r['body'] as string,
    expectsReply: r['expects_reply'] === 1,
    occurredAt: r['occurred_at'] as number,
    createdAt: r['created_at'] as number,
    attachments: JSON.parse(r['attachments'] as string) as RelayAttachment[],
  };
  if (r['reply_to']) m.replyTo = r['reply_to'] as string;
  if (r['task_id']) m.taskId = r['task_id'] as string;
  if (r['entry']) m.entry = r['entry'] as string;
  return m;
}

/** A `tasks` row as a {@link RelayTask}. */
export function toTask(r: Row): RelayTask {
  const t: RelayTask = {
    taskId: r['task_id'] as string,
    agentId: r['agent_id'] as string,
    status: r['status'] as TaskStatus,
    updatedAt: r['updated_at'] as number,
  };
  if (r['message_id']) t.messageId = r['message_id'] as string;
  if (r['note']) t.note = r['note'] as string;
  return t;
}

/** A `permissions` row as a {@link RelayPermissionRequest}. */
export function toPermission(r: Row): RelayPermissionRequest {
  const p: RelayPermissionRequest = {
    id: r['id'] as string,
    requestId: r['request_id'] as string,
    agentId: r['agent_id'] as string,
    tool: r['tool'] as string,
    summary: r['summary'] as string,
    status: r['behavior'] ? 'decided' : 'pending',
    createdAt: r['created_at'] as number,
  };
  if (r['behavior']) {
    p.decision = {
      behavior: r['behavior'] as 'allow' | 'deny',
      decidedBy: r['decided_by'] as string,
      decidedAt: r['decided_at'] as number,
    };
    if (r['message']) p.decision.message = r['message'] as string;
  }
  return p;
}
