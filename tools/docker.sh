#!/usr/bin/env bash
# A container engine for the `kind` provider, behind the network guard (make docker / make docker-stop).
#
#   tools/docker.sh start      no-op when `docker info` answers; else install Debian's docker.io
#                              (root, apt-get) and start dockerd in the background behind the guard
#   tools/docker.sh stop       stop the dockerd this script started, remove exactly its rules
#   tools/docker.sh status     what runs, which rules are in place (exit 0 when guarded and up)
#   tools/docker.sh selftest   prove the guard: rules present, ip_forward 0, dockerd's flags and
#                              proxy environment (exit 1 naming what is missing)
#
# The guard is put in place BEFORE the engine starts and nothing of it is optional:
#   iptables  -I FORWARD 1 -o <uplink> -j DROP    (and the same with ip6tables)
#   iptables  -N DOCKER-USER; -I DOCKER-USER 1 -o <uplink> -j DROP
#   dockerd --ip-forward=false --bridge=none, HTTP(S)_PROXY=http://127.0.0.1:9 in its environment
#     (a forgotten image pull fails on this machine instead of leaving it)
# <uplink> is the device of the default route. Where privileged containers fail for a
# capability missing from the bounding set, dockerd runs the project's runtime wrapper
# (tools/docker/runc-capwrap) as its default runtime.
#
# State (what was started, which rules were added) lives in $TARTWARE_DOCKER_STATE
# (default /run/tartware-docker); `stop` undoes only what is recorded there.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${TARTWARE_DOCKER_STATE:-/run/tartware-docker}
RULES="$STATE/rules"           # one added rule per line: <cmd> <chain> <rule args...>
CHAINS="$STATE/chains"         # chains this script created: <cmd> <chain>
PIDFILE="$STATE/dockerd.pid"
LOG="$STATE/dockerd.log"
RUNTIME_NAME=tw-runc
DEAD_PROXY=http://127.0.0.1:9
START_TIMEOUT_S=${DOCKER_START_TIMEOUT_S:-60}

say() { printf 'docker: %s\n' "$*"; }
die() { printf 'docker: error: %s\n' "$*" >&2; exit 1; }

uplink() {
  local dev
  dev=$(ip -4 route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')
  [[ -n "$dev" ]] || dev=$(ip -6 route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')
  printf '%s\n' "$dev"
}

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

need_root() { [[ $(id -u) == 0 ]] || die "$1 needs root (apt-get, iptables, dockerd)"; }

apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  # No service may start during the install (postinst scripts would start dockerd unguarded).
  local made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local began=$SECONDS rc=0
  say "installing ${missing[*]} (apt-get) ..."
  if ! apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >"$STATE/apt.log" 2>&1; then
    say "apt-get install failed; running apt-get update once"
    apt-get -o DPkg::Lock::Timeout=600 update -q >>"$STATE/apt.log" 2>&1 || true
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >>"$STATE/apt.log" 2>&1 || rc=$?
  fi
  ((made_policy)) && rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || die "apt-get install ${missing[*]} failed (log: $STATE/apt.log)"
  say "installed ${missing[*]} in $((SECONDS - began)) s"
}

# add_rule <iptables|ip6tables> <chain> <args...>: insert at the top, record it (once).
add_rule() {
  local cmd=$1 chain=$2
  shift 2
  if ! "$cmd" -w 5 -C "$chain" "$@" 2>/dev/null; then
    "$cmd" -w 5 -I "$chain" 1 "$@"
  fi
  grep -qxF "$cmd $chain $*" "$RULES" 2>/dev/null || printf '%s %s %s\n' "$cmd" "$chain" "$*" >>"$RULES"
}

add_chain() {
  local cmd=$1 chain=$2
  if ! "$cmd" -w 5 -n -L "$chain" >/dev/null 2>&1; then
    "$cmd" -w 5 -N "$chain"
    printf '%s %s\n' "$cmd" "$chain" >>"$CHAINS"
  fi
}

guard() {
  local dev=$1
  : >>"$RULES"
  : >>"$CHAINS"
  add_rule iptables FORWARD -o "$dev" -j DROP
  add_rule ip6tables FORWARD -o "$dev" -j DROP
  add_chain iptables DOCKER-USER
  add_rule iptables DOCKER-USER -o "$dev" -j DROP
  # Forwarding stays off: the rules above are the second line, this is the first.
  [[ $(cat /proc/sys/net/ipv4/ip_forward) == 0 ]] || die "net.ipv4.ip_forward is 1 on this machine: not starting an engine"
  say "guard in place on uplink $dev: FORWARD and DOCKER-USER drop -o $dev (iptables, ip6tables), ip_forward 0"
}

unguard() {
  local cmd chain rest
  if [[ -f "$RULES" ]]; then
    while read -r cmd chain rest; do
      [[ -n "$cmd" ]] || continue
      # shellcheck disable=SC2086 # the recorded rule's words
      while "$cmd" -w 5 -C "$chain" $rest 2>/dev/null; do "$cmd" -w 5 -D "$chain" $rest; done
      say "removed rule: $cmd -A $chain $rest"
    done <"$RULES"
    rm -f "$RULES"
  fi
  if [[ -f "$CHAINS" ]]; then
    while read -r cmd chain; do
      [[ -n "$cmd" ]] || continue
      # Only when empty: dockerd (stopped by now) may have added its RETURN rule; flush only ours.
      "$cmd" -w 5 -F "$chain" 2>/dev/null || true
      "$cmd" -w 5 -X "$chain" 2>/dev/null && say "removed chain: $cmd $chain"
    done <"$CHAINS"
    rm -f "$CHAINS"
  fi
}

# capabilities the machine's bounding set lacks (privileged containers need the wrapper then)
missing_caps() {
  local bnd
  bnd=$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)
  # CAP_LAST_CAP on this kernel
  local last
  last=$(cat /proc/sys/kernel/cap_last_cap 2>/dev/null || echo 40)
  local i n=0
  for ((i = 0; i <= last; i++)); do
    (((16#$bnd >> i) & 1)) || n=$((n + 1))
  done
  echo "$n"
}

# The engine's own rules (chains DOCKER*, jumps to them) are removed at stop when they were not
# there before it started: a snapshot of iptables-save is taken just before dockerd starts.
snapshot() {
  local cmd t
  for cmd in iptables ip6tables; do
    for t in filter nat; do "$cmd-save" -t "$t" 2>/dev/null >"$STATE/before.$cmd.$t" || true; done
  done
}

engine_rules_remove() {
  local cmd t line chain words n=0
  for cmd in iptables ip6tables; do
    for t in filter nat; do
      [[ -f "$STATE/before.$cmd.$t" ]] || continue
      while read -r line; do
        [[ "$line" == -A* && "$line" == *DOCKER* ]] || continue
        grep -qxF -- "$line" "$STATE/before.$cmd.$t" && continue
        read -ra words <<<"${line#-A }"
        "$cmd" -w 5 -t "$t" -D "${words[@]}" 2>/dev/null && n=$((n + 1))
      done < <("$cmd-save" -t "$t" 2>/dev/null)
      while read -r line; do
        [[ "$line" == :DOCKER* ]] || continue
        chain=${line#:}; chain=${chain%% *}
        grep -q "^:$chain " "$STATE/before.$cmd.$t" && continue
        "$cmd" -w 5 -t "$t" -F "$chain" 2>/dev/null || true
        "$cmd" -w 5 -t "$t" -X "$chain" 2>/dev/null && n=$((n + 1))
      done < <("$cmd-save" -t "$t" 2>/dev/null)
      rm -f "$STATE/before.$cmd.$t"
    done
  done
  say "removed $n rules/chains the engine had added"
}

dockerd_pid() {
  local pid
  [[ -f "$PIDFILE" ]] || return 1
  pid=$(cat "$PIDFILE")
  [[ -n "$pid" && -d /proc/$pid ]] && [[ $(tr '\0' ' ' <"/proc/$pid/cmdline") == *dockerd* ]] || return 1
  echo "$pid"
}

start() {
  if engine_answers; then
    say "docker info answers: using the running engine (nothing started)"
    return 0
  fi
  need_root "make docker"
  mkdir -p "$STATE"
  local dev
  dev=$(uplink)
  [[ -n "$dev" ]] || die "no default route: cannot tell the uplink to guard"
  # iptables first (the guard needs it), then the guard, then the engine's packages.
  apt_install iptables
  guard "$dev"
  apt_install docker.io
  local wrapper="$STATE/runc-capwrap" runtime_args=()
  if [[ $(missing_caps) != 0 ]]; then
    install -m 755 "$REPO_ROOT/tools/docker/runc-capwrap" "$wrapper"
    runtime_args=(--add-runtime "$RUNTIME_NAME=$wrapper" --default-runtime "$RUNTIME_NAME")
    say "capability bounding set lacks $(missing_caps) capabilities: default runtime $RUNTIME_NAME ($wrapper)"
  fi
  snapshot
  local began=$SECONDS
  # setsid: dockerd outlives this script (and make), in its own session.
  env HTTP_PROXY="$DEAD_PROXY" HTTPS_PROXY="$DEAD_PROXY" http_proxy="$DEAD_PROXY" https_proxy="$DEAD_PROXY" \
    NO_PROXY=localhost,127.0.0.1 no_proxy=localhost,127.0.0.1 \
    setsid /usr/sbin/dockerd --ip-forward=false --bridge=none --iptables=true \
    --pidfile "$STATE/dockerd.pidfile" "${runtime_args[@]}" >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  until engine_answers; do
    if ! dockerd_pid >/dev/null; then
      tail -20 "$LOG" >&2
      unguard
      die "dockerd exited (log: $LOG)"
    fi
    if ((SECONDS - began > START_TIMEOUT_S)); then
      die "dockerd did not answer within ${START_TIMEOUT_S}s (log: $LOG); run tools/docker.sh stop"
    fi
    sleep 0.5
  done
  say "dockerd $(docker version --format '{{.Server.Version}}' 2>/dev/null) up in $((SECONDS - began)) s (pid $(cat "$PIDFILE"), log $LOG)"
  selftest
}

stop() {
  local pid
  if pid=$(dockerd_pid); then
    need_root "make docker-stop"
    kill -TERM "$pid"
    local waited=0
    while [[ -d /proc/$pid ]] && ((waited < 300)); do sleep 0.1; waited=$((waited + 1)); done
    if [[ -d /proc/$pid ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
    say "stopped dockerd (pid $pid)"
  else
    say "no dockerd started by tools/docker.sh is running"
  fi
  rm -f "$PIDFILE"
  if compgen -G "$STATE/before.*" >/dev/null; then
    need_root "make docker-stop"
    engine_rules_remove
  fi
  if [[ -f "$RULES" || -f "$CHAINS" ]]; then
    need_root "make docker-stop"
    unguard
  fi
}

# selftest: every part of the guard is in place while the engine is up.
selftest() {
  local dev pid problems=()
  dev=$(uplink)
  iptables -w 5 -C FORWARD -o "$dev" -j DROP 2>/dev/null || problems+=("iptables FORWARD -o $dev -j DROP missing")
  ip6tables -w 5 -C FORWARD -o "$dev" -j DROP 2>/dev/null || problems+=("ip6tables FORWARD -o $dev -j DROP missing")
  iptables -w 5 -C DOCKER-USER -o "$dev" -j DROP 2>/dev/null || problems+=("iptables DOCKER-USER -o $dev -j DROP missing")
  # The first rule of FORWARD is the drop itself, or dockerd's jump to DOCKER-USER (whose first
  # rule is the drop, checked below): nothing is accepted before the uplink drop.
  local rule
  rule=$(iptables -w 5 -S FORWARD 2>/dev/null | grep -v '^-P ' | head -1)
  if [[ "$rule" != "-A FORWARD -o $dev -j DROP" && "$rule" != "-A FORWARD -j DOCKER-USER" ]]; then
    problems+=("FORWARD does not start with the drop or the jump to DOCKER-USER (first: $rule)")
  fi
  rule=$(iptables -w 5 -S DOCKER-USER 2>/dev/null | grep -v '^-N ' | head -1)
  [[ "$rule" == "-A DOCKER-USER -o $dev -j DROP" ]] || problems+=("DOCKER-USER does not start with the drop (first: $rule)")
  [[ $(cat /proc/sys/net/ipv4/ip_forward) == 0 ]] || problems+=("net.ipv4.ip_forward is 1")
  if pid=$(dockerd_pid); then
    local cmdline environ
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    environ=$(tr '\0' '\n' <"/proc/$pid/environ")
    [[ "$cmdline" == *--ip-forward=false* ]] || problems+=("dockerd runs without --ip-forward=false")
    grep -qxF "HTTPS_PROXY=$DEAD_PROXY" <<<"$environ" || problems+=("dockerd's HTTPS_PROXY is not $DEAD_PROXY")
    grep -qxF "HTTP_PROXY=$DEAD_PROXY" <<<"$environ" || problems+=("dockerd's HTTP_PROXY is not $DEAD_PROXY")
  elif engine_answers; then
    say "the running engine was not started here: only the machine's rules are checked"
  fi
  if ((${#problems[@]})); then
    printf 'docker: guard self-test FAILED: %s\n' "${problems[@]}" >&2
    return 1
  fi
  say "guard self-test passed: FORWARD/DOCKER-USER drop -o $dev first, ip6tables too, ip_forward 0, dockerd --ip-forward=false with a dead proxy"
}

status() {
  local pid
  if pid=$(dockerd_pid); then say "dockerd pid $pid (started by tools/docker.sh)"; fi
  if engine_answers; then say "engine answers"; else say "no engine answers"; return 1; fi
  [[ -f "$RULES" ]] && sed 's/^/docker: rule /' "$RULES"
  selftest
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  selftest) selftest ;;
  *) echo "usage: $0 start|stop|status|selftest" >&2; exit 2 ;;
esac
