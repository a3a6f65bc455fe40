#!/usr/bin/env bash
# Installs the pinned provider CLIs used by the end-to-end tests (e2e/package-lock.json) into
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
    [[ -x node_modules/.bin/claude && -e node_modules/.bin/codex ]]
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
    echo "e2e/install.sh: installing the pinned provider CLIs (npm ci --prefix e2e)..." >&2
    rm -f "$stamp"
    npm ci --no-audit --no-fund --loglevel=error >&2
    # Newer npm may skip install scripts; Claude Code's only copies its native binary into place.
    if ! node_modules/.bin/claude --version >/dev/null 2>&1; then
      (cd node_modules/@anthropic-ai/claude-code && node install.cjs) >&2
    fi
    printf '%s' "$want" >"$stamp"
  fi
fi

echo "claude $(node_modules/.bin/claude --version 2>/dev/null | head -n1)"
echo "codex $(node_modules/.bin/codex --version 2>/dev/null | head -n1)"
