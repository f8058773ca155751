#!/usr/bin/env bash
# deploy/kafka.sh — run a real single-node Apache Kafka broker (KRaft, combined
# broker+controller mode) on 127.0.0.1 for local development, tests and CI.
#
# Kafka is not downloaded as a tarball: the broker is assembled from the
# org.apache.kafka:kafka_2.13 jars (plus kafka-tools and a log4j2 backend) on
# Maven Central, fetched once with the ordinary `mvn` client and cached.
#
# Usage:
#   bash deploy/kafka.sh start       fetch jars (first time), format storage
#                                    (first time), start the broker, wait until
#                                    it answers metadata requests. Idempotent.
#   bash deploy/kafka.sh stop        stop the broker (SIGTERM, then SIGKILL). Idempotent.
#   bash deploy/kafka.sh restart     stop, then start.
#   bash deploy/kafka.sh status      print whether it runs (exit 0 running, 3 not).
#   bash deploy/kafka.sh reset       stop, then wipe the run dir (all topics/data).
#   bash deploy/kafka.sh fetch       only fetch the jars into the cache.
#   bash deploy/kafka.sh classpath   print the java classpath (fetches jars if needed).
#   bash deploy/kafka.sh run-class CLASS [ARGS...]
#                                    run a Kafka CLI class from the same jars, e.g.
#                                    run-class org.apache.kafka.tools.TopicCommand \
#                                      --bootstrap-server 127.0.0.1:9092 --list
#
# Environment (all optional):
#   KAFKA_VERSION          Kafka release to fetch from Maven Central (default below)
#   KAFKA_PORT             client (PLAINTEXT) port           (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port             (default 9093)
#   KAFKA_SASL_PORT        also open a SASL_PLAINTEXT listener here (PLAIN, SCRAM-SHA-256,
#                          SCRAM-SHA-512), to test clients' security settings (default: none)
#   KAFKA_SASL_USER, KAFKA_SASL_PASSWORD
#                          the one user of that listener, for every mechanism
#                                                            (default dg / dg-secret)
#   KAFKA_HEAP_OPTS        JVM heap flags                    (default -Xmx512m)
#   KAFKA_START_TIMEOUT    seconds to wait for readiness     (default 60)
#   KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM     (default 30)
#   DISTILLGUARD_CACHE     jar cache root    (default $HOME/.cache/distillguard)
#   DISTILLGUARD_RUN_DIR   runtime root      (default /tmp/distillguard)
#   JAVA, MVN              java / maven executables (default: from PATH)
set -euo pipefail

# ---------------------------------------------------------------- settings --
KAFKA_VERSION="${KAFKA_VERSION:-4.0.2}"   # newest 4.0.x served by Maven Central
LOG4J_VERSION="${LOG4J_VERSION:-2.24.3}"  # the log4j2 release Kafka 4.0 ships with
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

KAFKA_HOST="127.0.0.1"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-}"
KAFKA_SASL_USER="${KAFKA_SASL_USER:-dg}"
KAFKA_SASL_PASSWORD="${KAFKA_SASL_PASSWORD:-dg-secret}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
JAVA="${JAVA:-java}"
MVN="${MVN:-mvn}"

CACHE_DIR="${DISTILLGUARD_CACHE:-$HOME/.cache/distillguard}/kafka-${KAFKA_VERSION}"
LIBS_DIR="$CACHE_DIR/libs"
RUN_DIR="${DISTILLGUARD_RUN_DIR:-/tmp/distillguard}/kafka"
DATA_DIR="$RUN_DIR/data"                  # log.dirs (topic partitions + KRaft metadata log)
CONFIG="$RUN_DIR/server.properties"
LOG4J_CONFIG="$RUN_DIR/log4j2.properties"           # broker logging -> server.log
TOOLS_LOG4J_CONFIG="$RUN_DIR/tools-log4j2.properties" # CLI tools: warnings to stderr
SERVER_LOG="$RUN_DIR/server.log"          # broker log (log4j2, rolled at 20 MB)
STDOUT_LOG="$RUN_DIR/kafka.out"           # JVM stdout/stderr (crashes, early errors)
PID_FILE="$RUN_DIR/kafka.pid"

BROKER_MAIN="kafka.Kafka"
STORAGE_TOOL_MAIN="kafka.tools.StorageTool"
TOPIC_TOOL_MAIN="org.apache.kafka.tools.TopicCommand"

log() { echo "kafka: $*"; }
die() { echo "kafka: ERROR: $*" >&2; exit 1; }

# ------------------------------------------------------------------- jars ---
# Resolve kafka_2.13 + everything it needs at runtime into $LIBS_DIR, once.
# The libs dir only appears (atomic rename) after a complete, successful copy,
# so its presence means "cache is good" and later runs touch no network.
fetch_jars() {
  if [[ -f "$LIBS_DIR/kafka_2.13-${KAFKA_VERSION}.jar" ]]; then
    return 0
  fi
  command -v "$MVN" >/dev/null 2>&1 || die "'$MVN' (Apache Maven) not found; needed once to fetch Kafka jars"
  mkdir -p "$CACHE_DIR"
  log "fetching org.apache.kafka:kafka_2.13:${KAFKA_VERSION} and its dependencies with maven (one time)"

  # A throw-away pom listing what a broker + its CLI tools need:
  #  - kafka_2.13: the broker (kafka.Kafka), StorageTool, and transitively the
  #    server/metadata/raft/storage/coordinator modules and kafka-clients;
  #  - kafka-tools: TopicCommand, ConsoleProducer/Consumer, ... (its Connect
  #    plugin-path tool drags in connect-runtime + Jetty/Jersey; excluded);
  #  - log4j-core + log4j-slf4j-impl: Kafka 4.0 logs via slf4j 1.7 and ships
  #    with log4j2; without a backend slf4j would log nothing at all.
  cat > "$CACHE_DIR/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.distillguard</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>${KAFKA_VERSION}</version>
      <exclusions>
        <exclusion>
          <groupId>org.apache.kafka</groupId>
          <artifactId>connect-runtime</artifactId>
        </exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
EOF

  local tmp="$CACHE_DIR/libs.tmp.$$"
  rm -rf "$tmp"
  if ! "$MVN" -B -q -f "$CACHE_DIR/pom.xml" "${DEP_PLUGIN}:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$CACHE_DIR/mvn.log" 2>&1; then
    tail -n 30 "$CACHE_DIR/mvn.log" >&2
    rm -rf "$tmp"
    die "maven could not resolve kafka_2.13:${KAFKA_VERSION} (full log: $CACHE_DIR/mvn.log)"
  fi
  [[ -f "$tmp/kafka_2.13-${KAFKA_VERSION}.jar" ]] || { rm -rf "$tmp"; die "maven ran but kafka_2.13-${KAFKA_VERSION}.jar is missing"; }
  rm -rf "$LIBS_DIR"
  mv "$tmp" "$LIBS_DIR"
  log "cached $(find "$LIBS_DIR" -name "*.jar" | wc -l) jars in $LIBS_DIR"
}

# Java expands the "dir/*" wildcard itself (all .jar files in dir).
classpath() { echo "$LIBS_DIR/*"; }

# Run a Kafka CLI class (tools log only warnings, to stderr).
run_class() {
  local main="$1"; shift
  write_tools_log4j
  "$JAVA" -Xmx256m -Dlog4j2.configurationFile="$TOOLS_LOG4J_CONFIG" \
    -cp "$(classpath)" "$main" "$@"
}

# ----------------------------------------------------------------- config ---
write_config() {
  mkdir -p "$RUN_DIR" "$DATA_DIR"
  # Rewritten on every start so port changes via env take effect. The voter
  # set is static (controller.quorum.voters), so it is not baked into the
  # formatted metadata log and changing KAFKA_CONTROLLER_PORT later is safe.
  local sasl_listener="" sasl_map=""
  if [[ -n "$KAFKA_SASL_PORT" ]]; then
    sasl_listener=",SASL_PLAINTEXT://${KAFKA_HOST}:${KAFKA_SASL_PORT}"
    sasl_map=",SASL_PLAINTEXT:SASL_PLAINTEXT"
  fi
  cat > "$CONFIG" <<EOF
# Generated by deploy/kafka.sh — edits are overwritten on the next start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${KAFKA_HOST}:${KAFKA_CONTROLLER_PORT}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://${KAFKA_HOST}:${KAFKA_PORT},CONTROLLER://${KAFKA_HOST}:${KAFKA_CONTROLLER_PORT}${sasl_listener}
advertised.listeners=PLAINTEXT://${KAFKA_HOST}:${KAFKA_PORT}${sasl_listener}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${sasl_map}

log.dirs=${DATA_DIR}
num.partitions=4
auto.create.topics.enable=true
default.replication.factor=1
min.insync.replicas=1

# Single node: internal topics cannot have more than one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Consumer groups start immediately instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0
# The contract allows events up to 1 MiB; larger ones must reach the dead-letter topic, not be
# refused by the broker, so the broker accepts somewhat larger messages.
message.max.bytes=4194304

# After a restart the controller keeps the previous run's broker registration
# until its session expires, and the new broker cannot register before that
# (DuplicateBrokerRegistrationException). The 9 s default made every restart
# ~10 s slower; a shorter session is plenty for a loopback single node.
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000

# Modest local retention.
log.retention.hours=168
log.segment.bytes=104857600
EOF
  if [[ -n "$KAFKA_SASL_PORT" ]]; then
    # Optional SASL listener (KAFKA_SASL_PORT): one user for PLAIN (from this JAAS line) and for
    # SCRAM (its credentials are added after start, see add_scram_users). No authorizer: any
    # authenticated user may do anything, as on the PLAINTEXT listener.
    cat >> "$CONFIG" <<EOF

sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${KAFKA_SASL_USER}="${KAFKA_SASL_PASSWORD}";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  fi

  # Broker logging: everything INFO+ into server.log (size-rolled), noisy
  # request/state-change loggers quieted.
  cat > "$LOG4J_CONFIG" <<EOF
# Generated by deploy/kafka.sh
status = warn
name = distillguard-kafka
# Kafka flushes/closes on its own shutdown path; log4j's own JVM shutdown hook
# only produced "Unable to register Log4j shutdown hook" noise in kafka.out.
shutdownHook = disable
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = ${SERVER_LOG}
appender.file.filePattern = ${SERVER_LOG}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 5
rootLogger.level = info
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.statechange.name = state.change.logger
logger.statechange.level = warn
EOF
}

write_tools_log4j() {
  mkdir -p "$RUN_DIR"
  [[ -f "$TOOLS_LOG4J_CONFIG" ]] && return 0
  cat > "$TOOLS_LOG4J_CONFIG" <<'EOF'
# Generated by deploy/kafka.sh
status = error
name = distillguard-kafka-tools
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = STDERR
EOF
}

# Format the storage dir once (KRaft needs a cluster id + meta.properties).
format_storage() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    return 0
  fi
  # A cluster id is 16 random bytes, URL-safe base64 without padding (22
  # chars). Avoid a leading '-' so the CLI parser doesn't read it as a flag.
  local cluster_id
  while :; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$cluster_id" != -* ]] && break
  done
  log "formatting $DATA_DIR (cluster id $cluster_id)"
  run_class "$STORAGE_TOOL_MAIN" format -t "$cluster_id" -c "$CONFIG" --ignore-formatted \
    >>"$STDOUT_LOG" 2>&1 || { tail -n 20 "$STDOUT_LOG" >&2; die "storage format failed"; }
}

# ---------------------------------------------------------------- process ---
# Is TCP port $1 on 127.0.0.1 accepting connections?
port_open() {
  (exec 3<>"/dev/tcp/${KAFKA_HOST}/$1") 2>/dev/null
}

# Is pid $1 alive and really our broker (guards against pid reuse)?
is_our_broker() {
  local pid="$1"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  local cmd
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == *" $BROKER_MAIN $CONFIG"* ]]
}

# Print the pid of our running broker (from the pid file, else by scanning
# /proc for a java process running kafka.Kafka with exactly our config).
broker_pid() {
  local pid=""
  if [[ -f "$PID_FILE" ]]; then
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    if is_our_broker "$pid"; then echo "$pid"; return 0; fi
  fi
  local d
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    if is_our_broker "$pid"; then echo "$pid" >"$PID_FILE"; echo "$pid"; return 0; fi
  done
  return 1
}

# Does the broker answer a metadata request (list topics)?
metadata_ok() {
  timeout 20 "$JAVA" -Xmx128m -Dlog4j2.configurationFile="$TOOLS_LOG4J_CONFIG" \
    -cp "$(classpath)" "$TOPIC_TOOL_MAIN" \
    --bootstrap-server "${KAFKA_HOST}:${KAFKA_PORT}" --list >/dev/null 2>&1
}

# Byte offsets of the two log files when this start launched the JVM, so a
# failure shows only what this attempt logged (the files are appended to).
STDOUT_LOG_OFFSET=0
SERVER_LOG_OFFSET=0
file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

show_logs() {
  local f off
  for f in "$STDOUT_LOG" "$SERVER_LOG"; do
    off=$STDOUT_LOG_OFFSET; [[ "$f" == "$SERVER_LOG" ]] && off=$SERVER_LOG_OFFSET
    # A rolled server.log restarts from 0; then show its plain tail.
    (( $(file_size "$f") < off )) && off=0
    echo "---- $f (this start, last 40 lines) ----" >&2
    tail -c +"$((off + 1))" "$f" 2>/dev/null | tail -n 40 >&2 || true
  done
}

cmd_start() {
  local pid
  if pid="$(broker_pid)"; then
    if port_open "$KAFKA_PORT"; then
      log "already running on ${KAFKA_HOST}:${KAFKA_PORT} (pid $pid, logs $SERVER_LOG)"
      return 0
    fi
    # Process exists but port is not open yet: probably still starting, so
    # fall through to the readiness wait below.
    log "broker process $pid exists but port ${KAFKA_PORT} is not open yet; waiting"
  else
    if port_open "$KAFKA_PORT"; then
      die "port ${KAFKA_HOST}:${KAFKA_PORT} is already in use by another process (not started by this script)"
    fi
    if port_open "$KAFKA_CONTROLLER_PORT"; then
      die "controller port ${KAFKA_HOST}:${KAFKA_CONTROLLER_PORT} is already in use by another process"
    fi
    command -v "$JAVA" >/dev/null 2>&1 || die "'$JAVA' not found (Java 17+ required)"
    fetch_jars
    write_config
    write_tools_log4j
    format_storage

    # Start detached (own session) so the broker outlives this shell; all
    # JVM output goes to kafka.out, the broker log itself to server.log.
    # Flags mirror Kafka's kafka-run-class.sh / kafka-server-start.sh.
    echo "=== $(date '+%F %T') starting kafka ${KAFKA_VERSION} ===" >>"$STDOUT_LOG"
    STDOUT_LOG_OFFSET=$(file_size "$STDOUT_LOG")
    SERVER_LOG_OFFSET=$(file_size "$SERVER_LOG")
    # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS is a list of flags
    setsid nohup "$JAVA" $KAFKA_HEAP_OPTS \
      -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
      -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
      -Dkafka.logs.dir="$RUN_DIR" -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
      -cp "$(classpath)" "$BROKER_MAIN" "$CONFIG" \
      </dev/null >>"$STDOUT_LOG" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_FILE"
  fi

  # Wait (bounded) until the port accepts connections and metadata answers.
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_logs
      rm -f "$PID_FILE"
      die "broker process $pid exited during startup"
    fi
    if port_open "$KAFKA_PORT" && metadata_ok; then
      break
    fi
    if ((SECONDS >= deadline)); then
      show_logs
      die "broker (pid $pid) not ready after ${KAFKA_START_TIMEOUT}s; left running, see logs above (stop with: bash $0 stop)"
    fi
    sleep 0.5
  done
  log "listening on ${KAFKA_HOST}:${KAFKA_PORT} (pid $pid, logs $SERVER_LOG)"
  add_scram_users
}

# SCRAM credentials live in the cluster metadata: add them (idempotent) through the PLAINTEXT port.
add_scram_users() {
  [[ -n "$KAFKA_SASL_PORT" ]] || return 0
  local mech
  for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
    run_class kafka.admin.ConfigCommand --bootstrap-server "${KAFKA_HOST}:${KAFKA_PORT}" --alter \
      --add-config "${mech}=[iterations=4096,password=${KAFKA_SASL_PASSWORD}]" \
      --entity-type users --entity-name "$KAFKA_SASL_USER" >>"$STDOUT_LOG" 2>&1 \
      || die "could not add the ${mech} user ${KAFKA_SASL_USER} (see $STDOUT_LOG)"
  done
  log "SASL_PLAINTEXT on ${KAFKA_HOST}:${KAFKA_SASL_PORT} (PLAIN, SCRAM-SHA-256/512; user ${KAFKA_SASL_USER})"
}

cmd_stop() {
  local pid
  if ! pid="$(broker_pid)"; then
    rm -f "$PID_FILE"
    log "not running (nothing to stop)"
    return 0
  fi
  log "stopping broker pid $pid (SIGTERM)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after ${KAFKA_STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  rm -f "$PID_FILE"
  log "stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid="$(broker_pid)"; then
    if port_open "$KAFKA_PORT"; then
      log "running on ${KAFKA_HOST}:${KAFKA_PORT} (pid $pid, logs $SERVER_LOG)"
    else
      log "process $pid alive but port ${KAFKA_PORT} not open (starting or stopping)"
    fi
    return 0
  fi
  log "not running"
  return 3
}

cmd_reset() {
  cmd_stop
  rm -rf "$RUN_DIR"
  log "wiped $RUN_DIR"
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    start)     cmd_start ;;
    stop)      cmd_stop ;;
    restart)   cmd_stop; cmd_start ;;
    status)    cmd_status ;;
    reset)     cmd_reset ;;
    fetch)     fetch_jars ;;
    classpath) fetch_jars >&2; classpath ;;
    run-class)
      [[ $# -ge 1 ]] || die "usage: $0 run-class CLASS [ARGS...]"
      fetch_jars >&2
      run_class "$@" ;;
    *)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      [[ -z "$cmd" || "$cmd" == -h || "$cmd" == --help || "$cmd" == help ]] || exit 2 ;;
  esac
}

main "$@"
