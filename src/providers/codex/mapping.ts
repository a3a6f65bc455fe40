import type { ProviderEvent } from '../../ports/provider.js';
import { summarizeToolInput } from '../kit/text.js';
import type { ThreadItem } from './protocol/v2/ThreadItem.js';
import { str } from '../kit/json.js';

// How Codex thread items become provider events (the session keeps the state around them).

/** The command of a command-execution item, if it is one. */
export function commandOf(item: ThreadItem | undefined): string | undefined {
  return item?.type === 'commandExecution' ? item.command : undefined;
}

/** A tool step for the mirror, for items that are tool calls. */
export function toolOf(item: ThreadItem): { name: string; summary: string } | undefined {
  switch (item.type) {
    case 'commandExecution':
      return { name: 'shell', summary: item.command };
    case 'fileChange':
      return { name: 'apply_patch', summary: (item.changes ?? []).map((c) => `${c.kind?.type ?? 'update'} ${c.path}`).join(', ') };
    case 'mcpToolCall':
      return { name: `${item.server}.${item.tool}`, summary: summarizeToolInput(item.arguments ?? null) };
    case 'dynamicToolCall':
      return { name: item.tool, summary: summarizeToolInput(item.arguments ?? null) };
    case 'webSearch':
      return { name: 'web_search', summary: str((item as { query?: unknown }).query) ?? '' };
    default:
      return undefined;
  }
}

/**
 * The event a completed item gives: reasoning, the agent's message (also returned as `agentText`,
 * the turn's final reply so far), or a finished tool step.
 */
export function completedItemEvent(item: ThreadItem): { event?: ProviderEvent; agentText?: string } {
  switch (item.type) {
    case 'reasoning': {
      const text = [...(item.summary ?? []), ...(item.content ?? [])].join('\n').trim();
      return text ? { event: { type: 'reasoning', text } } : {};
    }
    case 'agentMessage': {
      const text = typeof item.text === 'string' ? item.text : '';
      return { agentText: text, ...(text ? { event: { type: 'assistant', text } } : {}) };
    }
    default: {
      const tool = toolOf(item);
      if (!tool) return {};
      const status = (item as { status?: unknown }).status;
      const exitCode = (item as { exitCode?: unknown }).exitCode;
      const failed = status === 'failed' || status === 'declined' || (typeof exitCode === 'number' && exitCode !== 0);
      const summary = status === 'declined' ? `${tool.summary} (declined)` : tool.summary;
      return { event: { type: 'tool', name: tool.name, summary, status: failed ? 'failed' : 'completed' } };
    }
  }
}
