#!/usr/bin/env bash
# Claude Code UserPromptSubmit hook: forwards Claude's payload to the runner's control port (/hooks/user-prompt)
# in one bounded call and prints the runner's answer verbatim when there is one. See lib.sh.
[[ -n ${AGENT_RELAY_RUNNER_PORT:-} ]] || exit 0
case ${BASH_SOURCE[0]} in */*) AR_DIR=${BASH_SOURCE[0]%/*} ;; *) AR_DIR=. ;; esac
. "$AR_DIR/lib.sh" || exit 0
ar_init user-prompt-submit
ar_forward_stdin /hooks/user-prompt
exit 0
