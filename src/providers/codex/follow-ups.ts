/**
 * Follow-up turns: what Codex is told after a turn ends, before the runner counts the relay
 * message's turn as done. Codex has no Stop hook the runner can answer (`turn/completed` is a
 * notification, not a question), so the two things Claude learns inside its turn arrive here as one
 * more `turn/start` on the same thread, part of the same chain (one relay message = one chain = one
 * `turn.started` … `turn.completed` for the runner):
 *
 * - the **reminder**: the turn ended while the agent still owes a reply it was shown — the runner's
 *   own Stop decision (`host.stopDecision`), the text Claude's Stop hook gets;
 * - **notes**: the relay denied a permission with a reason, and the v2 approval answer has no field
 *   to carry it (`decline` / `cancel` only), so the model would never learn why.
 *
 * Bounded, never a loop: each owed message is reminded at most once per chain, each note is sent
 * once, and a chain gets at most {@link MAX_FOLLOW_UPS_PER_CHAIN} follow-up turns.
 */

/** Most follow-up turns one chain may take (a model that keeps asking for denied commands cannot loop). */
export const MAX_FOLLOW_UPS_PER_CHAIN = 3;

/** What the Stop decision says (the `ProviderHost.stopDecision` answer, with the owed ids). */
export interface ReminderVerdict {
  block: boolean;
  reason?: string;
  messageIds?: readonly string[];
}

/** The text of one follow-up turn and what it covers. */
export interface FollowUp {
  text: string;
  /** Owed message ids this turn reminds about (empty when it only carries notes). */
  reminded: string[];
  /** Notes it carries. */
  notes: string[];
}

/** The follow-up state of one chain. */
export class FollowUpChain {
  readonly #reminded = new Set<string>();
  #notes: string[] = [];
  #taken = 0;
  /** Extra words for the reminder (how to answer from inside Codex), set by the session. */
  constructor(private readonly howToAnswer: string | undefined) {}

  /** A note for the model (a denial's reason); sent with the next follow-up turn of this chain. */
  note(text: string): void {
    this.#notes.push(text);
  }

  /** How many follow-up turns this chain took. */
  get taken(): number {
    return this.#taken;
  }

  /**
   * The next follow-up turn, or undefined when there is nothing new to say (or the chain used its
   * follow-ups up). `verdict` is read only when `remind` is true (the turn ended normally).
   */
  next(verdict: ReminderVerdict | undefined, remind: boolean): FollowUp | undefined {
    if (this.#taken >= MAX_FOLLOW_UPS_PER_CHAIN) return undefined;
    const owed = remind && verdict?.block ? (verdict.messageIds ?? []) : [];
    // A verdict without ids still blocks once: remember it under a placeholder key.
    const keys = owed.length > 0 ? [...owed] : remind && verdict?.block ? ['(unnamed)'] : [];
    const fresh = keys.filter((id) => !this.#reminded.has(id));
    const notes = this.#notes;
    if (fresh.length === 0 && notes.length === 0) return undefined;
    this.#notes = [];
    this.#taken += 1;
    for (const id of fresh) this.#reminded.add(id);
    const parts: string[] = [];
    if (notes.length > 0) parts.push(`Note from agent-relay-runner:\n${notes.map((n) => `- ${n}`).join('\n')}`);
    if (fresh.length > 0) {
      const reason = verdict?.reason?.trim() || 'You still owe a reply on the relay.';
      parts.push(this.howToAnswer ? `${reason}\n${this.howToAnswer}` : reason);
    }
    return { text: parts.join('\n\n'), reminded: fresh.filter((id) => id !== '(unnamed)'), notes };
  }
}
