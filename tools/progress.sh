# Sourced by the tools/ scripts: atomic tool links (link_tool, at the end) and live progress for
# the builds that take minutes on an empty cache (a silent `go build` of kube-apiserver looks like
# a hang).
#
#   with_heartbeat "kube-apiserver v1.36.3" go build ...    # an external command, not a function
#
# runs the command in the foreground; while it runs, every TOOLS_HEARTBEAT_S seconds (default
# 30) it prints e.g.
#
#   tools: still building kube-apiserver v1.36.3: 90s so far (step 7/8 control plane; next: data plane)
#
# TOOLS_STEP and TOOLS_NEXT are exported per step by tools/install.sh (empty when a script runs
# on its own). The ticker ends with the command, and on its own once the script that started it
# is gone (it checks its parent each tick), so a killed install never leaves it printing.

heartbeat_start() {
  local what=$1 every=${TOOLS_HEARTBEAT_S:-30} parent=$$
  (
    trap - EXIT INT TERM
    started=$SECONDS
    where=""
    [[ -n "${TOOLS_STEP:-}" ]] && where=" (step $TOOLS_STEP${TOOLS_NEXT:+; next: $TOOLS_NEXT})"
    while sleep "$every"; do
      kill -0 "$parent" 2>/dev/null || exit 0
      printf 'tools: still building %s: %ss so far%s\n' "$what" "$((SECONDS - started))" "$where"
    done
  ) &
  HEARTBEAT_PID=$!
}

heartbeat_stop() {
  if [[ -n "${HEARTBEAT_PID:-}" ]]; then
    kill "$HEARTBEAT_PID" 2>/dev/null || true
    wait "$HEARTBEAT_PID" 2>/dev/null || true
    HEARTBEAT_PID=
  fi
}

with_heartbeat() {
  local what=$1 rc=0
  shift
  heartbeat_start "$what"
  "$@" || rc=$?
  heartbeat_stop
  return "$rc"
}

# link_tool TARGET LINK: point LINK at TARGET atomically (a new link renamed over the old), so a
# suite already running beside a `make tools` never finds a tool missing (`ln -sfn` unlinks first).
link_tool() {
  ln -sfn "$1" "$2.new.$$" && mv -Tf "$2.new.$$" "$2"
}
