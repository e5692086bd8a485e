#!/usr/bin/env bash
# Starts, stops and reports the servers the tests need, each on loopback, with its data,
# pid file and log under .services/<name>/ in the repository (git-ignored).
#
#   npm run services -- start [service...]    install if missing, start, wait until ready
#   npm run services -- stop [service...]     stop what this script started, remove its data
#   npm run services -- status [service...]   exit 0 when every named service is running
#
# Services: nats (JetStream), ferretdb (MongoDB wire protocol over SQLite, built from
# scripts/ferretdb with Go), haproxy (installed only: the multi-hub tests start their own
# balancers on free ports, in front of the hubs they start), elasticsearch (a single node built
# from scripts/elasticsearch with Maven; Java 21+). Each service supplies <name>_start, <name>_stop and
# <name>_status; adding one means adding its three functions and its name to SERVICES.
# Service functions are called by composed name ("${name}_${action}"), not directly.
# shellcheck disable=SC2317
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="$ROOT/.services"
SERVICES=(nats ferretdb haproxy elasticsearch)

log() { printf '%s\n' "$*" >&2; }
die() {
  log "services: $*"
  exit 1
}

# The package index is refreshed at most once per run, and only when something is missing.
APT_UPDATED=0
apt_install() {
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "installing $* needs root (or sudo)"
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null || die "$* is missing and there is no apt-get; install it yourself"
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "services: apt-get update"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  log "services: apt-get install $*"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_alive PID_FILE [COMMAND]: the recorded process runs (and, given COMMAND, is that program,
# so a pid reused after a reboot is not mistaken for our server).
pid_alive() {
  local pid_file=$1 command=${2:-}
  [[ -s $pid_file ]] || return 1
  local pid
  pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null || return 1
  [[ -z $command || $(ps -p "$pid" -o comm= 2>/dev/null) == "$command" ]]
}

# wait_for SECONDS DESCRIPTION COMMAND...: retries COMMAND every 0.1 s until it succeeds.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local tries=$((seconds * 10))
  for ((i = 0; i < tries; i++)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  die "timed out after ${seconds}s waiting for $what"
}

# stop_pid NAME PID_FILE: TERM, then KILL after 10 s; removes the pid file.
stop_pid() {
  local name=$1 pid_file=$2
  if ! pid_alive "$pid_file"; then
    rm -f "$pid_file"
    return 0
  fi
  local pid
  pid=$(cat "$pid_file")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "services: $name did not stop on TERM, killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
}

# --- nats: NATS with JetStream ------------------------------------------------------------
NATS_PORT=${NATS_PORT:-4222}
NATS_MONITOR_PORT=${NATS_MONITOR_PORT:-8222}
NATS_DIR="$STATE_DIR/nats"
NATS_PID="$NATS_DIR/nats-server.pid"

nats_ready() {
  port_open "$NATS_PORT" || return 1
  # /healthz reports ok only once JetStream is up, not merely the client port.
  curl -fsS "http://127.0.0.1:$NATS_MONITOR_PORT/healthz" >/dev/null 2>&1
}

nats_start() {
  if pid_alive "$NATS_PID" nats-server; then
    log "nats: already running (pid $(cat "$NATS_PID"), nats://127.0.0.1:$NATS_PORT)"
    return 0
  fi
  if port_open "$NATS_PORT"; then
    die "nats: port $NATS_PORT is taken by a process this script did not start; stop it or set NATS_PORT"
  fi
  command -v nats-server >/dev/null || apt_install nats-server
  command -v curl >/dev/null || apt_install curl
  mkdir -p "$NATS_DIR/store"
  # setsid detaches the server from this shell's process group, so it outlives the script.
  setsid nats-server \
    --addr 127.0.0.1 --port "$NATS_PORT" \
    --http_port "$NATS_MONITOR_PORT" \
    --jetstream --store_dir "$NATS_DIR/store" \
    --pid "$NATS_PID" --log "$NATS_DIR/nats-server.log" \
    </dev/null >>"$NATS_DIR/nats-server.out" 2>&1 &
  wait_for 15 "nats-server on port $NATS_PORT (see $NATS_DIR/nats-server.log)" nats_ready
  log "nats: running (pid $(cat "$NATS_PID"), nats://127.0.0.1:$NATS_PORT, JetStream)"
}

nats_stop() {
  stop_pid nats "$NATS_PID"
  rm -rf "$NATS_DIR"
  log "nats: stopped"
}

nats_status() {
  if pid_alive "$NATS_PID" nats-server && nats_ready; then
    log "nats: running (pid $(cat "$NATS_PID"), nats://127.0.0.1:$NATS_PORT)"
  else
    log "nats: not running"
    return 3
  fi
}

# --- ferretdb: the MongoDB wire protocol, stored in SQLite ------------------------------------
# Built once from scripts/ferretdb (Go modules from the module proxy) into a cache folder keyed
# by its go.sum, so a fresh clone on the same machine reuses the binary.
FERRETDB_PORT=${FERRETDB_PORT:-27017}
FERRETDB_DIR="$STATE_DIR/ferretdb"
FERRETDB_PID="$FERRETDB_DIR/ferretdb.pid"
FERRETDB_SRC="$ROOT/scripts/ferretdb"
FERRETDB_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/quire/ferretdb"

ferretdb_binary() {
  local key
  key=$(cat "$FERRETDB_SRC/go.mod" "$FERRETDB_SRC/go.sum" "$FERRETDB_SRC/main.go" | sha256sum | cut -c1-16)
  printf '%s/ferretdb-%s\n' "$FERRETDB_CACHE" "$key"
}

ferretdb_build() {
  local bin=$1
  [[ -x $bin ]] && return 0
  if ! command -v go >/dev/null; then
    [[ -x /usr/local/go/bin/go ]] && PATH="/usr/local/go/bin:$PATH" || apt_install golang-go
  fi
  log "ferretdb: building $(basename "$bin") (first time only, about 2 minutes)"
  mkdir -p "$FERRETDB_CACHE"
  (cd "$FERRETDB_SRC" && CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" .) || die "ferretdb: build failed"
  mv "$bin.tmp" "$bin"
}

ferretdb_start() {
  if pid_alive "$FERRETDB_PID"; then
    log "ferretdb: already running (pid $(cat "$FERRETDB_PID"), mongodb://127.0.0.1:$FERRETDB_PORT)"
    return 0
  fi
  if port_open "$FERRETDB_PORT"; then
    die "ferretdb: port $FERRETDB_PORT is taken by a process this script did not start; stop it or set FERRETDB_PORT"
  fi
  local bin
  bin=$(ferretdb_binary)
  ferretdb_build "$bin"
  mkdir -p "$FERRETDB_DIR/data"
  setsid "$bin" -listen "127.0.0.1:$FERRETDB_PORT" -data "$FERRETDB_DIR/data" \
    </dev/null >>"$FERRETDB_DIR/ferretdb.log" 2>&1 &
  echo $! >"$FERRETDB_PID"
  wait_for 30 "ferretdb on port $FERRETDB_PORT (see $FERRETDB_DIR/ferretdb.log)" port_open "$FERRETDB_PORT"
  log "ferretdb: running (pid $(cat "$FERRETDB_PID"), mongodb://127.0.0.1:$FERRETDB_PORT)"
}

ferretdb_stop() {
  stop_pid ferretdb "$FERRETDB_PID"
  rm -rf "$FERRETDB_DIR"
  log "ferretdb: stopped"
}

ferretdb_status() {
  if pid_alive "$FERRETDB_PID" && port_open "$FERRETDB_PORT"; then
    log "ferretdb: running (pid $(cat "$FERRETDB_PID"), mongodb://127.0.0.1:$FERRETDB_PORT)"
  else
    log "ferretdb: not running"
    return 3
  fi
}

# --- haproxy: the load balancer in front of hub replicas ----------------------------------
# Debian installs it under /usr/sbin, which a user's PATH may lack.
haproxy_binary() { command -v haproxy 2>/dev/null || { [[ -x /usr/sbin/haproxy ]] && echo /usr/sbin/haproxy; }; }

haproxy_start() {
  haproxy_binary >/dev/null || apt_install haproxy
  # Debian's package enables a system-wide instance on port 80; the tests need only the binary.
  if command -v systemctl >/dev/null && systemctl is-active --quiet haproxy 2>/dev/null; then
    systemctl stop haproxy 2>/dev/null || true
  fi
  log "haproxy: installed ($("$(haproxy_binary)" -v | head -1 | cut -d' ' -f1-3)); tests start their own"
}

haproxy_stop() { :; }

haproxy_status() {
  if haproxy_binary >/dev/null; then
    log "haproxy: installed"
  else
    log "haproxy: not installed"
    return 3
  fi
}

# --- elasticsearch: a single Elasticsearch node from the Maven Central jars -----------------
# A development and test node only (see scripts/elasticsearch/README.md). Built once from
# scripts/elasticsearch into a cache folder keyed by a hash of its files, so a fresh clone on the
# same machine reuses the build. The transport port is the first free one in 9300-9399.
ELASTICSEARCH_PORT=${ELASTICSEARCH_PORT:-9200}
ELASTICSEARCH_DIR="$STATE_DIR/elasticsearch"
ELASTICSEARCH_PID="$ELASTICSEARCH_DIR/elasticsearch.pid"
ELASTICSEARCH_LOG="$ELASTICSEARCH_DIR/elasticsearch.log"
ELASTICSEARCH_SRC="$ROOT/scripts/elasticsearch"
ELASTICSEARCH_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/quire/elasticsearch"

# java_major JAVA_HOME: the feature version (17, 21, 25...) of that JDK, or nothing.
java_major() {
  [[ -x $1/bin/java ]] || return 0
  "$1/bin/java" -version 2>&1 | sed -nE '1s/.* version "(1\.)?([0-9]+).*/\2/p'
}

# Elasticsearch 9 needs Java 21 or later: ES_JAVA_HOME if set, else Temurin 25, else any JDK under
# /usr/lib/jvm that is recent enough.
elasticsearch_java_home() {
  if [[ -n ${ES_JAVA_HOME:-} ]]; then
    local major
    major=$(java_major "$ES_JAVA_HOME")
    [[ -n $major && $major -ge 21 ]] || die "elasticsearch: ES_JAVA_HOME=$ES_JAVA_HOME is not a Java 21+ JDK"
    printf '%s\n' "$ES_JAVA_HOME"
    return 0
  fi
  local home major
  for home in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
    major=$(java_major "$home")
    if [[ -n $major && $major -ge 21 && -x $home/bin/javac ]]; then
      printf '%s\n' "$home"
      return 0
    fi
  done
  die "elasticsearch: needs a Java 21+ JDK (e.g. apt-get install openjdk-21-jdk-headless or temurin-25-jdk); none under /usr/lib/jvm, and ES_JAVA_HOME is not set"
}

# The folder with the node's runtime classpath (lib/) for the current sources.
elasticsearch_build_dir() {
  local key
  key=$(cd "$ELASTICSEARCH_SRC" && find pom.xml src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  printf '%s/%s\n' "$ELASTICSEARCH_CACHE" "$key"
}

elasticsearch_build() {
  local dir=$1 java_home=$2
  [[ -d $dir/lib ]] && return 0
  command -v mvn >/dev/null || apt_install maven
  log "elasticsearch: building $(basename "$dir") (first time only: Maven fetches ~45 MB of jars, 10-60 s)"
  mkdir -p "$ELASTICSEARCH_CACHE"
  rm -rf "$dir.tmp"
  if ! (cd "$ELASTICSEARCH_SRC" && JAVA_HOME=$java_home nice -n 10 mvn -q -B package -Dquire.build.dir="$dir.tmp") \
    >"$ELASTICSEARCH_CACHE/build.log" 2>&1; then
    tail -n 20 "$ELASTICSEARCH_CACHE/build.log" >&2
    die "elasticsearch: build failed (see $ELASTICSEARCH_CACHE/build.log)"
  fi
  mv "$dir.tmp" "$dir"
}

elasticsearch_ready() {
  if ! pid_alive "$ELASTICSEARCH_PID" java; then
    tail -n 20 "$ELASTICSEARCH_LOG" >&2
    die "elasticsearch: exited while starting (see $ELASTICSEARCH_LOG)"
  fi
  port_open "$ELASTICSEARCH_PORT" || return 1
  curl -fsS --max-time 3 "http://127.0.0.1:$ELASTICSEARCH_PORT/_cluster/health?wait_for_status=yellow&timeout=2s" >/dev/null 2>&1
}

elasticsearch_start() {
  if pid_alive "$ELASTICSEARCH_PID" java; then
    log "elasticsearch: already running (pid $(cat "$ELASTICSEARCH_PID"), http://127.0.0.1:$ELASTICSEARCH_PORT)"
    return 0
  fi
  if port_open "$ELASTICSEARCH_PORT"; then
    die "elasticsearch: port $ELASTICSEARCH_PORT is taken by a process this script did not start; stop it or set ELASTICSEARCH_PORT"
  fi
  command -v curl >/dev/null || apt_install curl
  local java_home dir
  # Service functions run under "||", where set -e is off: a failure in $(...) must exit here.
  java_home=$(elasticsearch_java_home) || exit 1
  dir=$(elasticsearch_build_dir) || exit 1
  elasticsearch_build "$dir" "$java_home"
  mkdir -p "$ELASTICSEARCH_DIR"/{home,data,logs,tmp}
  # The heap and GC suit a small test node; ES_JAVA_OPTS adds to or overrides them.
  # shellcheck disable=SC2086 # ES_JAVA_OPTS is a list of options
  setsid "$java_home/bin/java" \
    -Xms512m -Xmx1g -XX:+UseSerialGC \
    --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector \
    -Djava.io.tmpdir="$ELASTICSEARCH_DIR/tmp" \
    -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true \
    ${ES_JAVA_OPTS:-} \
    -cp "$dir/lib/*" dev.quire.esnode.Main \
    -Epath.home="$ELASTICSEARCH_DIR/home" -Epath.data="$ELASTICSEARCH_DIR/data" -Epath.logs="$ELASTICSEARCH_DIR/logs" \
    -Ehttp.port="$ELASTICSEARCH_PORT" -Etransport.port=9300-9399 \
    </dev/null >>"$ELASTICSEARCH_LOG" 2>&1 &
  echo $! >"$ELASTICSEARCH_PID"
  # A cold JVM takes 5-15 s here; allow for a busy machine.
  wait_for 90 "elasticsearch on port $ELASTICSEARCH_PORT (see $ELASTICSEARCH_LOG)" elasticsearch_ready
  log "elasticsearch: running (pid $(cat "$ELASTICSEARCH_PID"), http://127.0.0.1:$ELASTICSEARCH_PORT)"
}

elasticsearch_stop() {
  stop_pid elasticsearch "$ELASTICSEARCH_PID"
  rm -rf "$ELASTICSEARCH_DIR"
  log "elasticsearch: stopped"
}

elasticsearch_status() {
  if pid_alive "$ELASTICSEARCH_PID" java && port_open "$ELASTICSEARCH_PORT" &&
    curl -fsS --max-time 3 "http://127.0.0.1:$ELASTICSEARCH_PORT/_cluster/health" >/dev/null 2>&1; then
    log "elasticsearch: running (pid $(cat "$ELASTICSEARCH_PID"), http://127.0.0.1:$ELASTICSEARCH_PORT)"
  else
    log "elasticsearch: not running"
    return 3
  fi
}

# --- dispatch ------------------------------------------------------------------------------
usage() { die "usage: services.sh start|stop|status [${SERVICES[*]}]"; }

[[ $# -ge 1 ]] || usage
action=$1
shift
case $action in start | stop | status) ;; *) usage ;; esac

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${SERVICES[@]}")
for name in "${targets[@]}"; do
  [[ " ${SERVICES[*]} " == *" $name "* ]] || die "unknown service '$name' (known: ${SERVICES[*]})"
done

status=0
for name in "${targets[@]}"; do
  "${name}_${action}" || status=$?
done
exit "$status"
