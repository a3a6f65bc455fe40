#!/usr/bin/env bash
# Claude Code PostToolUseFailure hook: forwards Claude's payload to the runner's control port (/hooks/post-tool-use-failure)
# in one bounded call, for the session mirror's tool steps. Observation only: the runner answers 204
# and nothing is printed, so Claude goes on as usual. Inert unless AGENT_RELAY_TOOL_HOOKS=1 (the
# interactive provider sets it; headless mode has its tool steps from stdout). See lib.sh.
[[ -n ${AGENT_RELAY_RUNNER_PORT:-} && ${AGENT_RELAY_TOOL_HOOKS:-} == 1 ]] || exit 0
case ${BASH_SOURCE[0]} in */*) AR_DIR=${BASH_SOURCE[0]%/*} ;; *) AR_DIR=. ;; esac
. "$AR_DIR/lib.sh" || exit 0
ar_init post-tool-use-failure
ar_forward_stdin /hooks/post-tool-use-failure
exit 0
