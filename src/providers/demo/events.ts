import type { ProviderEvent } from '../../ports/provider.js';
import { parseJsonLine, str } from '../kit/json.js';

// The demo agent's stdout protocol: one JSON object per line, already shaped like a ProviderEvent.


/**
 * Turn one parsed stdout object into a {@link ProviderEvent}, keeping only the known fields.
 * @internal
 * @returns the event, or a reason why the object is not a valid event
 */
export function toProviderEvent(raw: Record<string, unknown>): ProviderEvent | string {
  const type = raw.type;
  const optional = <K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> =>
    value === undefined ? {} : ({ [key]: value } as Record<K, string>);
  switch (type) {
    case 'session': {
      const sessionId = str(raw.sessionId);
      const source = raw.source;
      if (!sessionId) return 'session event without a sessionId';
      if (source !== 'startup' && source !== 'resume' && source !== 'clear' && source !== 'compact') {
        return 'session event with an unknown source';
      }
      return { type, sessionId, source };
    }
    case 'turn.started':
      return {
        type,
        ...optional('deliveryId', str(raw.deliveryId)),
        ...optional('turnId', str(raw.turnId)),
        ...optional('prompt', str(raw.prompt)),
      };
    case 'reasoning':
    case 'assistant': {
      const text = str(raw.text);
      if (text === undefined) return `${type} event without text`;
      return { type, text };
    }
    case 'tool': {
      const name = str(raw.name);
      const status = raw.status;
      if (name === undefined) return 'tool event without a name';
      if (status !== 'started' && status !== 'completed' && status !== 'failed') return 'tool event with an unknown status';
      return { type, name, summary: str(raw.summary) ?? '', status };
    }
    case 'turn.completed':
      return {
        type,
        ...optional('turnId', str(raw.turnId)),
        ...optional('finalText', str(raw.finalText)),
        ...(raw.interrupted === true ? { interrupted: true } : {}),
      };
    case 'usage': {
      const used = raw.usedTokens;
      if (typeof used !== 'number' || !Number.isFinite(used) || used < 0) return 'usage event without usedTokens';
      const window = raw.windowTokens;
      return { type, usedTokens: used, ...(typeof window === 'number' && Number.isFinite(window) ? { windowTokens: window } : {}) };
    }
    case 'subagent': {
      const phase = raw.phase;
      if (phase !== 'start' && phase !== 'stop') return 'subagent event with an unknown phase';
      return { type, phase, ...optional('id', str(raw.id)) };
    }
    case 'permission': {
      const requestId = str(raw.requestId);
      const tool = str(raw.tool);
      if (!requestId || tool === undefined) return 'permission event without requestId or tool';
      return { type, requestId, tool, summary: str(raw.summary) ?? '' };
    }
    case 'version': {
      const version = str(raw.version);
      if (version === undefined) return 'version event without a version';
      return { type, version };
    }
    case 'warning': {
      const message = str(raw.message);
      if (message === undefined) return 'warning event without a message';
      return { type, message };
    }
    default:
      return `unknown event type ${JSON.stringify(type)}`;
  }
}

/**
 * Parse one stdout line of the demo agent.
 * @returns the event, or `{ error }` with a one-line reason when the line is not a valid event
 * @internal
 */
export function parseDemoAgentLine(line: string): { event: ProviderEvent } | { error: string } {
  const parsed = parseJsonLine(line);
  if ('error' in parsed) return parsed;
  const result = toProviderEvent(parsed.value);
  return typeof result === 'string' ? { error: result } : { event: result };
}
