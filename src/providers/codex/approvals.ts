import type { CommandExecutionRequestApprovalParams } from './protocol/v2/CommandExecutionRequestApprovalParams.js';
import type { CommandExecutionRequestApprovalResponse } from './protocol/v2/CommandExecutionRequestApprovalResponse.js';
import type { FileChangeRequestApprovalParams } from './protocol/v2/FileChangeRequestApprovalParams.js';
import type { FileChangeRequestApprovalResponse } from './protocol/v2/FileChangeRequestApprovalResponse.js';
import type { ExecCommandApprovalParams } from './protocol/ExecCommandApprovalParams.js';
import type { ExecCommandApprovalResponse } from './protocol/ExecCommandApprovalResponse.js';
import type { ApplyPatchApprovalParams } from './protocol/ApplyPatchApprovalParams.js';
import type { ThreadItem } from './protocol/v2/ThreadItem.js';
import { asObject, str } from '../kit/json.js';
import { commandOf } from './mapping.js';

/** A server → client approval request waiting for the relay's decision. */
export interface OpenApproval {
  rpcId: number | string;
  method: string;
  turnId: string | undefined;
  /** Decisions the server offers (v2 command approvals list them); used to pick the deny value. */
  available: unknown[] | undefined;
  /** What was asked, for the note that carries a denial's reason: e.g. `shell: rm -rf build`. */
  label?: string;
}

/**
 * Whether the answer to `method` can carry the relay's deny reason to the model. The v2 approvals
 * answer only `accept` / `decline` / `cancel`; the legacy v1 ones have a rejection text.
 */
export function answerCarriesReason(method: string): boolean {
  return method === 'execCommandApproval' || method === 'applyPatchApproval';
}

/** What the relay is asked: the tool and a one-line summary. */
export interface ApprovalAsk {
  tool: string;
  summary: string;
  turnId: string | undefined;
  available: unknown[] | undefined;
}

/**
 * Read an approval request of the app server (v2 command / file change, v1 exec / patch).
 * @param items - items seen started, whose command or paths summarise a v2 request
 * @param activeTurnId - the running turn, which v1 requests do not name
 * @returns the ask, or undefined for a request this adapter cannot relay
 */
export function readApprovalRequest(method: string, params: unknown, items: ReadonlyMap<string, ThreadItem>, activeTurnId: string | undefined): ApprovalAsk | undefined {
  const p = asObject(params) ?? {};
  switch (method) {
    case 'item/commandExecution/requestApproval': {
      const q = p as unknown as CommandExecutionRequestApprovalParams;
      const command = str(q.command) ?? commandOf(items.get(q.itemId)) ?? '(command not given)';
      const available = (p as { availableDecisions?: unknown }).availableDecisions;
      return { tool: 'shell', summary: q.reason ? `${command} — ${q.reason}` : command, turnId: q.turnId, available: Array.isArray(available) ? available : undefined };
    }
    case 'item/fileChange/requestApproval': {
      const q = p as unknown as FileChangeRequestApprovalParams;
      const item = items.get(q.itemId);
      const paths = item?.type === 'fileChange' ? item.changes.map((c) => `${c.kind.type} ${c.path}`).join(', ') : '';
      const summary = [paths || `file change ${q.itemId}`, q.reason].filter(Boolean).join(' — ');
      return { tool: 'apply_patch', summary, turnId: q.turnId, available: undefined };
    }
    case 'execCommandApproval': {
      const q = p as unknown as ExecCommandApprovalParams;
      const command = Array.isArray(q.command) ? q.command.join(' ') : '(command not given)';
      return { tool: 'shell', summary: q.reason ? `${command} — ${q.reason}` : command, turnId: activeTurnId, available: undefined };
    }
    case 'applyPatchApproval': {
      const q = p as unknown as ApplyPatchApprovalParams;
      const paths = Object.keys(asObject(q.fileChanges) ?? {}).join(', ') || 'file change';
      return { tool: 'apply_patch', summary: q.reason ? `${paths} — ${q.reason}` : paths, turnId: activeTurnId, available: undefined };
    }
    default:
      return undefined;
  }
}

/** The JSON-RPC result that answers `approval`: allow, or deny with the reason where the protocol carries one. */
export function approvalAnswer(approval: OpenApproval, allow: boolean, reason: string | undefined): unknown {
  switch (approval.method) {
    case 'item/commandExecution/requestApproval': {
      // Prefer "decline" (the turn goes on without the command); "cancel" when it is all that is offered.
      const offered = approval.available;
      const deny = offered && !offered.includes('decline') && offered.includes('cancel') ? 'cancel' : 'decline';
      const response: CommandExecutionRequestApprovalResponse = { decision: allow ? 'accept' : deny };
      return response;
    }
    case 'item/fileChange/requestApproval': {
      const response: FileChangeRequestApprovalResponse = { decision: allow ? 'accept' : 'decline' };
      return response;
    }
    default: {
      // Legacy (v1) approvals carry a rejection reason the agent sees.
      const response: ExecCommandApprovalResponse = {
        decision: allow ? 'approved' : { denied: { rejection: reason ?? 'denied by the relay' } },
      };
      return response;
    }
  }
}
