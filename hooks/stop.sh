#!/usr/bin/env bash
# Claude Code Stop hook: asks the runner whether the agent may stop (it may still owe a relay
# reply) and records the finished turn. One call does both: POST /hooks/stop answers
#   204          -> turn recorded, busy cleared: print nothing;
#   200 + block  -> print {"decision":"block",...} so Claude keeps going (busy stays set).
# Any other outcome (runner gone, timeout, error, or a block while stop_hook_active) leaves busy
# set, so the EXIT trap reports the turn end through /hooks/session-turn (bounded).
[[ -n ${AGENT_RELAY_RUNNER_PORT:-} ]] || exit 0
case ${BASH_SOURCE[0]} in */*) AR_DIR=${BASH_SOURCE[0]%/*} ;; *) AR_DIR=. ;; esac
. "$AR_DIR/lib.sh" || exit 0
ar_init stop

AR_STOP_SETTLED=0
AR_PAYLOAD=
ar_stop_on_exit() {
  if ((AR_STOP_SETTLED == 0)); then
    AR_REQ_BODY=${AR_PAYLOAD:-'{"hook_event_name":"Stop"}'}
    ar_post /hooks/session-turn 500 var
  fi
}
AR_EXIT_HOOK=ar_stop_on_exit

ar_read_stdin
AR_PAYLOAD=$AR_STDIN
ar_test_fail_point

# Belt and braces with the runner: never print a block when Claude says this stop already
# follows one (stop_hook_active), or the agent could loop. Matches only the real top-level key:
# inside a JSON string value its quotes would be escaped.
AR_ACTIVE=0
AR_ACTIVE_RE='"stop_hook_active"[[:space:]]*:[[:space:]]*true'
if [[ $AR_PAYLOAD =~ $AR_ACTIVE_RE ]]; then AR_ACTIVE=1; fi

AR_REQ_BODY=$AR_PAYLOAD
ar_post /hooks/stop 800 var
if [[ $AR_STATUS == 204 ]]; then
  AR_STOP_SETTLED=1
elif [[ $AR_STATUS == 200 && $AR_BODY == '{"decision":"block"'* && $AR_ACTIVE == 0 ]]; then
  printf '%s\n' "$AR_BODY"
  AR_STOP_SETTLED=1
fi
exit 0
