/**
 * What a chatting person sees beyond the messages addressed to them. Relay protocol v1 delivers
 * only those; session-mirror entries and agent status go to the relay's dashboard, not to other
 * agents. The reference relay (`agent-relay-runner relay`) offers a dev-only `GET /dev/feed` with
 * both, and `chat` polls it when it is there. Against another relay this window stays closed.
 */
import { RELAY_PROTOCOL_HEADER, RELAY_PROTOCOL_VERSION, type RelayMessage, type RunnerStatusSnapshot } from '../ports/index.js';

/** One agent as the dev feed shows it. */
export interface FeedAgent {
  /** Relay agent id. */
  id: string;
  /** Agent name. */
  name: string;
  /** Whether it has a live bus connection. */
  connected: boolean;
  /** The last status it sent on the bus, if any. */
  status?: RunnerStatusSnapshot;
}

/** One answer of `GET /dev/feed?after=<seq>`. */
export interface FeedPage {
  /** Messages (both kinds) with a larger `seq`, oldest first, at most 500. */
  messages: RelayMessage[];
  /** Every registered agent. */
  agents: FeedAgent[];
  /** The newest `seq` on the relay. */
  lastSeq: number;
}

/**
 * Read one feed page; `undefined` when the relay has no dev feed (a production relay: 404).
 * Throws on network failure (the caller keeps polling).
 */
export async function readFeed(relayUrl: string, apiKey: string, after: number): Promise<FeedPage | undefined> {
  const res = await fetch(`${relayUrl.replace(/\/+$/, '')}/dev/feed?after=${after}`, {
    headers: { authorization: `Bearer ${apiKey}`, [RELAY_PROTOCOL_HEADER]: String(RELAY_PROTOCOL_VERSION) },
    signal: AbortSignal.timeout(5_000),
  });
  const text = await res.text();
  if (res.status === 404 || res.status === 405) return undefined;
  if (res.status !== 200) throw new Error(`dev feed answered ${res.status}`);
  const page = JSON.parse(text) as Partial<FeedPage>;
  if (!Array.isArray(page.messages) || !Array.isArray(page.agents) || typeof page.lastSeq !== 'number') return undefined;
  return page as FeedPage;
}

/** `busy`, `idle (2 subagents)`, `offline: runner stopped`, `disconnected`. */
export function describeAgentState(agent: FeedAgent): string {
  if (!agent.connected) return agent.status?.state === 'offline' ? `offline${agent.status.detail ? `: ${agent.status.detail}` : ''}` : 'not connected';
  const status = agent.status;
  if (!status) return 'connected';
  let text = status.state;
  if (status.subagents) text += ` (${status.subagents} subagent${status.subagents === 1 ? '' : 's'})`;
  if (status.detail) text += `: ${status.detail}`;
  return text;
}
