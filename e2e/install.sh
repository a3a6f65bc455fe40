#!/usr/bin/env bash
# Installs the pinned provider CLIs (Claude Code, Codex, OpenCode) used by the end-to-end tests (e2e/package-lock.json) into
# e2e/node_modules — never into the library's own dependencies. Cached: it does nothing when
# e2e/node_modules exists and was installed from the current lockfile (a stamp file holds the
# lockfile's hash), so `npm test` stays quick after the first run. Safe to run concurrently:
# a lock directory serialises installs. Prints the installed versions.
set -euo pipefail
cd "$(dirname "$0")"

lock_hash() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum package-lock.json | cut -d' ' -f1
  else shasum -a 256 package-lock.json | cut -d' ' -f1; fi
}

stamp=node_modules/.agent-relay-e2e-stamp
want=$(lock_hash)

installed() {
  [[ -f $stamp && $(cat "$stamp") == "$want" ]] &&
    [[ -x node_modules/.bin/claude && -e node_modules/.bin/codex && -x node_modules/.bin/opencode ]]
}

if ! installed; then
  # mkdir is atomic: one installer at a time (parallel test files call this together).
  lockdir=.install.lock
  for _ in $(seq 1 600); do
    if mkdir "$lockdir" 2>/dev/null; then break; fi
    sleep 1
  done
  trap 'rmdir "$lockdir" 2>/dev/null || true' EXIT
  if ! installed; then
    echo "e2e/install.sh: installing the pinned provider CLIs (npm install --prefix e2e)..." >&2
    rm -f "$stamp"
    # `npm install`, not `npm ci`: the lockfile holds only the platform packages of opencode-ai the
    # registry had when it was written, which `npm ci` refuses as out of sync; `npm install`
    # installs from the lockfile all the same (leaving it unchanged). Not --omit=optional: the
    # Claude Code and Codex binaries are optional platform packages too.
    npm install --no-audit --no-fund --loglevel=error >&2
    # Newer npm may skip install scripts; Claude Code's only copies its native binary into place.
    if ! node_modules/.bin/claude --version >/dev/null 2>&1; then
      (cd node_modules/@anthropic-ai/claude-code && node install.cjs) >&2
    fi
    if ! node_modules/.bin/opencode --version >/dev/null 2>&1; then
      (cd node_modules/opencode-ai && node postinstall.mjs) >&2
    fi
    # OpenCode's postinstall hard-links (or copies) its platform binary into opencode-ai/bin; the
    # platform packages it came from (two match linux-x64, 177 MB each) are then dead weight.
    if node_modules/.bin/opencode --version >/dev/null 2>&1; then
      rm -rf node_modules/opencode-linux-* node_modules/opencode-darwin-* node_modules/opencode-windows-*
    fi
    printf '%s' "$want" >"$stamp"
  fi
fi

echo "claude $(node_modules/.bin/claude --version 2>/dev/null | head -n1)"
echo "codex $(node_modules/.bin/codex --version 2>/dev/null | head -n1)"
echo "opencode $(node_modules/.bin/opencode --version 2>/dev/null | head -n1)"
