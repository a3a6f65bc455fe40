#!/usr/bin/env bash
# Claude Code PermissionRequest hook: relays the request to the runner (POST
# /hooks/permission-request), which asks the relay and waits a bounded time for a decision.
# The runner answers with Claude's hookSpecificOutput allow/deny JSON (printed verbatim) or with
# nothing (Claude shows its own dialog). This hook is the one allowed to wait long:
#   curl gives up after AGENT_RELAY_PERMISSION_HOOK_TIMEOUT_S (default 290 s, at most 290 s);
#   hooks.json gives Claude's own timeout for this hook as 300 s, so curl always ends first;
#   the runner must decide within PERMISSION_MAX_WAIT_MS (280 s) — see src/control/handlers.ts.
# On timeout the hook prints nothing and exits 0: Claude falls back to its dialog.
[[ -n ${AGENT_RELAY_RUNNER_PORT:-} ]] || exit 0
case ${BASH_SOURCE[0]} in */*) AR_DIR=${BASH_SOURCE[0]%/*} ;; *) AR_DIR=. ;; esac
AR_WAIT_S=${AGENT_RELAY_PERMISSION_HOOK_TIMEOUT_S:-290}
if ! [[ $AR_WAIT_S =~ ^[0-9]{1,3}$ ]] || ((AR_WAIT_S < 1 || AR_WAIT_S > 290)); then AR_WAIT_S=290; fi
. "$AR_DIR/lib.sh" || exit 0
ar_init permission-request $((AR_WAIT_S * 1000 + 1500))
ar_forward_stdin /hooks/permission-request $((AR_WAIT_S * 1000))
exit 0
