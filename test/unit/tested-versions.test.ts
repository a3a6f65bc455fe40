/**
 * Each provider's "newest tested version" is the CLI the end-to-end suite pins: bumping the pin in
 * e2e/package.json without the constant (or the other way round) would make the drift warning lie.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLAUDE_CODE_TESTED_VERSION } from '../../src/providers/claude/headless.js';
import { CODEX_TESTED_VERSION } from '../../src/providers/codex/provider.js';
import { MIN_OPENCODE_VERSION, OPENCODE_TESTED_VERSION } from '../../src/providers/opencode/provider.js';
import { compareVersions } from '../../src/providers/kit/version.js';

const pins = (JSON.parse(readFileSync(join(resolve(import.meta.dirname, '../..'), 'e2e', 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies;

describe('tested provider versions', () => {
  it('equal the versions e2e/package.json pins', () => {
    expect(CLAUDE_CODE_TESTED_VERSION).toBe(pins['@anthropic-ai/claude-code']);
    expect(CODEX_TESTED_VERSION).toBe(pins['@openai/codex']);
    expect(OPENCODE_TESTED_VERSION).toBe(pins['opencode-ai']);
    expect(compareVersions(MIN_OPENCODE_VERSION, OPENCODE_TESTED_VERSION)).toBeLessThanOrEqual(0);
  });
});
