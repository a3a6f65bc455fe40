/**
 * The relay protocol schemas' rejection paths, table-driven: for every HTTP body and every bus
 * frame, a complete sample is accepted (and a small unknown field tolerated), while a missing
 * field, a wrong type and a huge extra field are refused with a one-line reason, never a throw.
 */
import { describe, expect, it } from 'vitest';
import {
  RELAY_HTTP_SHAPES,
  RUNNER_FRAME_SHAPES,
  SERVER_FRAME_SHAPES,
  decodeRunnerFrame,
  decodeServerFrame,
  decodeText,
  exceedsBytes,
  type RelayHttpShapeName,
  type WireShape,
} from '../../src/protocol/relay-codec.js';
import { RelayMessageSchema } from '../../src/protocol/relay-messages.js';

type Json = Record<string, unknown>;

/** A sample that passes, the field to delete (undefined: the body has none), and a field to give a wrong type. */
interface Case {
  sample: Json;
  missing: string | undefined;
  wrong: [field: string, value: unknown];
}

const message = { id: 'msg_1', seq: 1, kind: 'message', from: 'alice', to: 'alpha', body: 'hi', expectsReply: true, occurredAt: 1, createdAt: 2, attachments: [] };
const agent = { id: 'agt_1', name: 'alpha', createdAt: 1, lastSeenAt: 2 };
const profile = { features: { relayContext: true, insights: true, sessionMirror: true } };
const permission = { id: 'perm_1', requestId: 'r1', agentId: 'agt_1', tool: 'Bash', summary: 'ls', status: 'pending', createdAt: 1 };
const task = { taskId: 'T1', agentId: 'agt_1', status: 'completed', updatedAt: 3 };

const HTTP_CASES: Record<RelayHttpShapeName, Case> = {
  'error.response': { sample: { error: { code: 'invalid_body', message: 'nope' } }, missing: 'error', wrong: ['error', 'text'] },
  'register.request': { sample: { name: 'alpha', provider: 'demo', metadata: {} }, missing: 'name', wrong: ['metadata', [1]] },
  'register.response': { sample: { agent, token: 'rt_1', tokenExpiresAt: 9, profile }, missing: 'profile', wrong: ['tokenExpiresAt', 'soon'] },
  'heartbeat.request': { sample: {}, missing: undefined, wrong: ['', []] },
  'heartbeat.response': { sample: { serverTime: 5 }, missing: 'serverTime', wrong: ['serverTime', '5'] },
  'token.request': { sample: {}, missing: undefined, wrong: ['', 'token please'] },
  'token.response': { sample: { token: 'rt_2', tokenExpiresAt: 9 }, missing: 'token', wrong: ['token', 42] },
  'delete.response': { sample: { deleted: true }, missing: 'deleted', wrong: ['deleted', 'yes'] },
  'message.request': { sample: { to: 'bob', body: 'x', occurredAt: 1, idempotencyKey: 'k' }, missing: 'idempotencyKey', wrong: ['body', 42] },
  'message.response': { sample: { message, duplicate: false }, missing: 'message', wrong: ['duplicate', 0] },
  'batch.request': { sample: { items: [{ kind: 'message', idempotencyKey: 'k', occurredAt: 1, payload: {} }] }, missing: 'items', wrong: ['items', {}] },
  'batch.response': { sample: { results: [{ index: 0, status: 201, id: 'msg_1' }], notAttempted: 0 }, missing: 'results', wrong: ['notAttempted', 'none'] },
  'unread.response': { sample: { messages: [message] }, missing: 'messages', wrong: ['messages', 'none'] },
  'markRead.request': { sample: { ids: ['msg_1'] }, missing: 'ids', wrong: ['ids', [1]] },
  'markRead.response': { sample: { marked: 1 }, missing: 'marked', wrong: ['marked', '1'] },
  'obligations.response': { sample: { obligations: [{ messageId: 'msg_1', from: 'alice', excerpt: 'hi', createdAt: 1 }] }, missing: 'obligations', wrong: ['obligations', {}] },
  'taskStatus.request': { sample: { status: 'completed', occurredAt: 1, idempotencyKey: 'k' }, missing: 'status', wrong: ['status', 'done-ish'] },
  'taskStatus.response': { sample: { task, duplicate: false }, missing: 'task', wrong: ['task', 'done'] },
  'insight.request': { sample: { type: 'context_ratio', data: { r: 1 }, occurredAt: 1, idempotencyKey: 'k' }, missing: 'data', wrong: ['data', 'x'] },
  'insight.response': { sample: { id: 'ins_1', duplicate: true }, missing: 'id', wrong: ['duplicate', null] },
  'permission.request': { sample: { requestId: 'r1', tool: 'Bash', summary: 'ls', input: { command: 'ls' } }, missing: 'tool', wrong: ['summary', { text: 'ls' }] },
  'permission.response': { sample: { permission }, missing: 'permission', wrong: ['permission', 'pending'] },
};

const SERVER_FRAME_CASES: Record<string, Case> = {
  welcome: { sample: { type: 'welcome', protocol: 1, agentId: 'agt_1', serverTime: 1 }, missing: 'agentId', wrong: ['serverTime', 'now'] },
  'message.new': { sample: { type: 'message.new', message }, missing: 'message', wrong: ['message', 'hi'] },
  command: { sample: { type: 'command', id: 'cmd_1', name: 'stop', args: {} }, missing: 'name', wrong: ['args', [1]] },
  'permission.decision': { sample: { type: 'permission.decision', permissionId: 'perm_1', requestId: 'r1', behavior: 'allow' }, missing: 'requestId', wrong: ['behavior', 'maybe'] },
  error: { sample: { type: 'error', code: 'bad_frame', message: 'x', fatal: false }, missing: 'code', wrong: ['fatal', 'yes'] },
  pong: { sample: { type: 'pong', id: 'p1', serverTime: 1 }, missing: 'serverTime', wrong: ['id', 1] },
};

const RUNNER_FRAME_CASES: Record<string, Case> = {
  hello: { sample: { type: 'hello', protocol: 1, agentId: 'agt_1', token: 'rt_1' }, missing: 'token', wrong: ['protocol', '1'] },
  status: { sample: { type: 'status', status: { state: 'idle', subagents: 0 } }, missing: 'status', wrong: ['status', 'idle'] },
  timeline: { sample: { type: 'timeline', event: 'provider.exit', at: 1, data: {} }, missing: 'at', wrong: ['event', 7] },
  'command.result': { sample: { type: 'command.result', id: 'cmd_1', ok: false, error: 'no' }, missing: 'error', wrong: ['ok', 'nope'] },
  ping: { sample: { type: 'ping', id: 'p1' }, missing: 'id', wrong: ['id', {}] },
};

/** The sample's JSON with an extra string field of `size` characters, built without re-serialising. */
const withHugeField = (sample: Json, size: number) => `${JSON.stringify(sample).slice(0, -1)}${Object.keys(sample).length ? ',' : ''}"huge":"${'x'.repeat(size)}"}`;

const without = (sample: Json, field: string) => Object.fromEntries(Object.entries(sample).filter(([k]) => k !== field));

describe('HTTP bodies', () => {
  it('has a case for every body shape', () => {
    expect(Object.keys(HTTP_CASES).sort()).toEqual(Object.keys(RELAY_HTTP_SHAPES).sort());
  });

  for (const [name, c] of Object.entries(HTTP_CASES) as Array<[RelayHttpShapeName, Case]>) {
    const wire: WireShape = RELAY_HTTP_SHAPES[name];
    const decode = (text: string) => {
      let result: ReturnType<typeof decodeText> | undefined;
      expect(() => (result = decodeText(wire, text, 'body'))).not.toThrow();
      return result!;
    };

    it(`${name}: accepts the sample and tolerates a small unknown field`, () => {
      expect(decode(JSON.stringify(c.sample))).toMatchObject({ ok: true });
      const tolerant = decode(JSON.stringify({ ...c.sample, addedInV1_5: 'fine' }));
      expect(tolerant).toMatchObject({ ok: true });
      expect((tolerant as { value: Json }).value).not.toHaveProperty('addedInV1_5');
    });

    it(`${name}: refuses a missing field`, () => {
      if (c.missing === undefined) {
        // `{}` has no field to leave out: leaving out the body itself is the closest thing.
        expect(decode('null')).toMatchObject({ ok: false, problem: 'invalid', reason: 'body must be a JSON object' });
        return;
      }
      expect(decode(JSON.stringify(without(c.sample, c.missing)))).toMatchObject({ ok: false, problem: 'invalid', reason: `body.${c.missing} is required` });
    });

    it(`${name}: refuses a wrong type`, () => {
      const [field, value] = c.wrong;
      const body = field === '' ? value : { ...c.sample, [field]: value };
      const result = decode(JSON.stringify(body));
      expect(result).toMatchObject({ ok: false, problem: 'invalid' });
      expect((result as { reason: string }).reason).toMatch(field === '' ? /^body must be a JSON object$/ : new RegExp(`^body\\.${field}\\b.*must `));
    });

    it(`${name}: refuses a huge extra field by its byte cap (${wire.maxBytes} bytes)`, () => {
      expect(decode(withHugeField(c.sample, wire.maxBytes))).toMatchObject({ ok: false, problem: 'too_large' });
    });
  }

  it('refuses a huge value in a known field by its maximum length, and names it', () => {
    const result = decodeText(RELAY_HTTP_SHAPES['message.request'], JSON.stringify({ to: 'x'.repeat(5000), body: 'b', occurredAt: 1, idempotencyKey: 'k' }), 'body');
    expect(result).toEqual({ ok: false, problem: 'invalid', reason: 'body.to must have at most 200 characters' });
  });

  it('applies defaults so receivers see complete objects', () => {
    const { attachments: _a, expectsReply: _e, ...bare } = message;
    const decoded = decodeText(RELAY_HTTP_SHAPES['unread.response'], JSON.stringify({ messages: [bare] }), 'body');
    expect(decoded).toEqual({ ok: true, value: { messages: [{ ...bare, expectsReply: false, attachments: [] }] } });
  });

  it('reads null optional fields as absent', () => {
    const decoded = decodeText(RELAY_HTTP_SHAPES['message.request'], JSON.stringify({ to: 'bob', body: 'x', entry: null, occurredAt: 1, idempotencyKey: 'k' }), 'body');
    expect(decoded.ok && decoded.value.entry).toBeUndefined();
    expect(decoded.ok).toBe(true);
  });

  it('reports text that is not JSON', () => {
    expect(decodeText(RELAY_HTTP_SHAPES['heartbeat.response'], '{"serverTime":', 'body')).toMatchObject({ ok: false, problem: 'not_json' });
  });
});

for (const [direction, cases, shapes, decode] of [
  ['server → runner frames', SERVER_FRAME_CASES, SERVER_FRAME_SHAPES, decodeServerFrame],
  ['runner → server frames', RUNNER_FRAME_CASES, RUNNER_FRAME_SHAPES, decodeRunnerFrame],
] as const) {
  describe(direction, () => {
    const safely = (text: string) => {
      let result: ReturnType<typeof decode> | undefined;
      expect(() => (result = decode(text))).not.toThrow();
      return result!;
    };

    it('has a case for every frame type', () => {
      expect(Object.keys(cases).sort()).toEqual([...shapes.keys()].sort());
    });

    for (const [type, c] of Object.entries(cases)) {
      const maxBytes = shapes.get(type)!.maxBytes;

      it(`${type}: accepts the sample and tolerates a small unknown field`, () => {
        expect(safely(JSON.stringify(c.sample))).toMatchObject({ ok: true, frame: { type } });
        expect(safely(JSON.stringify({ ...c.sample, addedInV1_5: 1 }))).toMatchObject({ ok: true });
      });

      it(`${type}: refuses a missing field`, () => {
        expect(safely(JSON.stringify(without(c.sample, c.missing!)))).toEqual(
          expect.objectContaining({ ok: false, type, unknownType: false, reason: `frame.${c.missing} is required` }),
        );
      });

      it(`${type}: refuses a wrong type`, () => {
        const [field, value] = c.wrong;
        const result = safely(JSON.stringify({ ...c.sample, [field]: value }));
        expect(result).toMatchObject({ ok: false, type, problem: 'invalid' });
        expect((result as { reason: string }).reason).toMatch(new RegExp(`^frame\\.${field}\\b.*must `));
      });

      it(`${type}: refuses a huge extra field by its byte cap (${maxBytes} bytes)`, () => {
        // Refused before parsing: by the largest cap of the direction (type unknown yet) or by its own.
        const result = safely(withHugeField(c.sample, maxBytes));
        expect(result).toMatchObject({ ok: false, problem: 'too_large' });
        expect([undefined, type]).toContain((result as { type?: string }).type);
      });
    }

    it('refuses what is not a frame, and marks unknown types for forward compatibility', () => {
      expect(safely('{nope')).toMatchObject({ ok: false, type: undefined, problem: 'not_json' });
      expect(safely('[1]')).toMatchObject({ ok: false, reason: 'frame is not a JSON object' });
      expect(safely('{"type":7}')).toMatchObject({ ok: false, reason: 'frame.type must be a string' });
      expect(safely('{"type":"from.the.future"}')).toMatchObject({ ok: false, type: 'from.the.future', unknownType: true });
      expect(safely('{"type":"__proto__"}')).toMatchObject({ ok: false, unknownType: true });
      expect(safely(`"${'x'.repeat(5 * 1024 * 1024)}"`)).toMatchObject({ ok: false, type: undefined, problem: 'too_large' });
    });
  });
}

describe('exceedsBytes', () => {
  it('counts UTF-8 bytes, including multi-byte characters and surrogate pairs', () => {
    expect(exceedsBytes('abc', 3)).toBe(false);
    expect(exceedsBytes('abcd', 3)).toBe(true);
    expect(exceedsBytes('é', 2)).toBe(false);
    expect(exceedsBytes('éé', 3)).toBe(true);
    expect(exceedsBytes('€', 3)).toBe(false);
    expect(exceedsBytes('😀', 4)).toBe(false);
    expect(exceedsBytes('😀😀', 7)).toBe(true);
  });
});

describe('schema objects', () => {
  it('are plain valibot schemas a host can use', () => {
    expect(RelayMessageSchema.type).toBe('object');
  });
});
