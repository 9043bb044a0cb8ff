#!/usr/bin/env bash
# Local Apache Cassandra for development and tests, without Docker.
#
#   node.sh up [N]          start nodes 1..N (default 1) and wait until each answers CQL
#   node.sh down            stop every node this checkout started (SIGTERM, then SIGKILL)
#   node.sh status          one line per node: running/frozen/stopped and its release_version
#   node.sh stop N          stop node N gracefully (SIGTERM)
#   node.sh kill N          kill node N at once (SIGKILL), as a crash would
#   node.sh freeze N        suspend node N (SIGSTOP): it holds its sockets but answers nothing
#   node.sh thaw N          resume a frozen node (SIGCONT)
#   node.sh restart N       stop node N if it runs, start it again and wait for CQL
#   node.sh wait N          wait until node N answers CQL
#   node.sh log N [lines]   the tail of node N's log
#   node.sh hosts [N]       the CQL addresses of nodes 1..N, comma separated
#   node.sh up-secure       start the secure node (below) and wait until the test role logs in
#   node.sh down-secure     stop the secure node
#
# Node n listens on 127.0.0.n (CQL 9042, storage 7000). Jars come from Maven
# (org.apache.cassandra:cassandra-all, see pom.xml beside this script) into a
# git-ignored cache; config, data and logs live under $CASSANDRA_WORKDIR
# (default <repo>/.local/cassandra). Node 1 alone is the development node;
# nodes 2 and 3 join it to form the fault-test cluster.
#
# The secure node is a fourth, separate one-node cluster on 127.0.0.4 (CQL
# 9042, storage 7004) that may run beside either of the others: it requires
# TLS from clients (a keystore the set-up makes with keytool, its certificate
# naming 127.0.0.4) and a password (PasswordAuthenticator). The set-up
# creates the role async_test with a random password and leaves what a
# client needs under $CASSANDRA_WORKDIR/secure/client: ca.pem (the CA that
# signed the node's certificate), username and password. It is always a
# local JVM node, whatever CASSANDRA_HOSTS or Docker say; `down` stops it too.
#
# Environment:
# Where the cluster comes from, in this order (up, down and status honour it):
#   1. CASSANDRA_HOSTS, if set: an existing cluster; `up` only checks that it
#      answers CQL and `down` leaves it alone.
#   2. A Docker engine, if `docker info` answers (and CASSANDRA_DOCKER is not
#      "never"): one cassandra:5.0 container via testcontainers-go
#      (test/docker), CQL bound to 127.0.0.1:9042.
#   3. Otherwise the local JVM node(s) below. The 3-node fault-test cluster
#      and the per-node faults always use local JVM nodes.
#
#   CASSANDRA_WORKDIR       where jars, config, data and logs go
#   CASSANDRA_JAVA          a java binary to use (must be Java 17 or 11)
#   CASSANDRA_HEAP          heap per node (default 1g for one node, 768m for a cluster)
#   CASSANDRA_START_TIMEOUT seconds to wait for CQL per node (default 240)
#   CASSANDRA_SECURE_HEAP   heap of the secure node (default 512m)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${CASSANDRA_WORKDIR:-$repo/.local/cassandra}
lib=$work/lib
timeout_s=${CASSANDRA_START_TIMEOUT:-240}
max_nodes=3

die() { printf 'cassandra: %s\n' "$*" >&2; exit 1; }
say() { printf 'cassandra: %s\n' "$*" >&2; }

node_ip() { echo "127.0.0.$1"; }
# Node 1 alone (mode "single") and the 3-node cluster (mode "cluster") keep
# separate data: a node that once had peers would otherwise wait for them
# when it runs alone, and writes to their token ranges would time out.
mode=single
node_dir() { echo "$work/$mode/n$1"; }
pid_file() { echo "$(node_dir "$1")/pid"; }

check_node_number() {
  [[ "$1" =~ ^[1-9][0-9]*$ ]] && (( $1 <= max_nodes )) || die "node number must be 1..$max_nodes, got '$1'"
}

# java_major prints the major version of the java binary $1, or nothing.
java_major() {
  local v
  v=$("$1" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}') || true
  echo "${v%%.*}"
}

# find_java picks Java 17 (preferred) or 11; Cassandra 5.0 cannot run on 24+
# (it calls System.setSecurityManager), so those are never chosen.
find_java() {
  local candidates=() c m
  [[ -n "${CASSANDRA_JAVA:-}" ]] && candidates+=("$CASSANDRA_JAVA")
  [[ -n "${JAVA_HOME:-}" ]] && candidates+=("$JAVA_HOME/bin/java")
  command -v java >/dev/null 2>&1 && candidates+=("$(command -v java)")
  for c in /usr/lib/jvm/*/bin/java; do [[ -x "$c" ]] && candidates+=("$c"); done
  for want in 17 11; do
    for c in "${candidates[@]}"; do
      [[ -x "$c" ]] || continue
      m=$(java_major "$c")
      if [[ "$m" == "$want" ]]; then echo "$c"; return 0; fi
    done
  done
  local seen=""
  for c in "${candidates[@]}"; do [[ -x "$c" ]] && seen+=" $c (Java $(java_major "$c"))"; done
  die "no Java 17 or 11 found (Cassandra 5.0 needs one; Java 24+ cannot run it). Seen:${seen:- none}. Install OpenJDK 17 or set CASSANDRA_JAVA."
}

# fetch_jars resolves cassandra-all and its runtime dependencies once; later
# starts use the cache and need no network.
fetch_jars() {
  if [[ -f "$lib/.complete" ]] && ls "$lib"/cassandra-all-*.jar >/dev/null 2>&1; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found: Maven is needed once to download Cassandra's jars (or set CASSANDRA_HOSTS to use an existing cluster)"
  say "resolving cassandra-all and its dependencies into $lib (first start only)"
  rm -rf "$lib.tmp"
  mkdir -p "$lib.tmp"
  if ! mvn -B -q -f "$here/pom.xml" \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$lib.tmp" >"$work/mvn.log" 2>&1; then
    tail -n 30 "$work/mvn.log" >&2
    die "Maven could not resolve Cassandra's jars (full log: $work/mvn.log)"
  fi
  rm -rf "$lib"
  mv "$lib.tmp" "$lib"
  touch "$lib/.complete"
}

# probe builds (once) and runs the Go CQL probe: it succeeds only when a
# client can really run SELECT release_version FROM system.local.
probe_bin=$work/bin/cqlprobe
build_probe() {
  if [[ ! -x "$probe_bin" || "$here/../cmd/cqlprobe/main.go" -nt "$probe_bin" ]]; then
    mkdir -p "$work/bin"
    (cd "$repo/test" && go build -o "$probe_bin" ./cmd/cqlprobe) || die "could not build the CQL probe (test/cmd/cqlprobe)"
  fi
}
probe() { # probe HOST TIMEOUT_SECONDS -> prints release_version
  "$probe_bin" -hosts "$1" -timeout "${2}s"
}
# probe_node N TIMEOUT_SECONDS: probe node N as its clients must reach it (the
# secure node with TLS, as the default superuser).
probe_node() {
  if [[ $mode == secure ]]; then
    CQLPROBE_PASSWORD=cassandra "$probe_bin" -hosts "$(node_ip "$1")" -timeout "${2}s" \
      -ca "$(node_dir "$1")/conf/tls/ca.pem" -username cassandra
  else
    probe "$(node_ip "$1")" "$2"
  fi
}

pid_of() { # prints the pid of node N if its process is alive
  local f
  f=$(pid_file "$1")
  [[ -f "$f" ]] || return 1
  local p
  p=$(<"$f")
  [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null || return 1
  # A recycled pid must not be mistaken for our node.
  tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "cassandra.storagedir=$(node_dir "$1")" || return 1
  echo "$p"
}

proc_state() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null; }

# The secure node (mode "secure") is node 4: a cluster of its own, on a
# storage port of its own, so that it can never gossip with nodes 1-3.
secure_node=4
storage_port() { if [[ $mode == secure ]]; then echo 7004; else echo 7000; fi; }
seed() { if [[ $mode == secure ]]; then echo "$(node_ip $secure_node):7004"; else echo "127.0.0.1:7000"; fi; }

write_config() { # write_config N
  local n=$1 d ip token
  d=$(node_dir "$n")
  ip=$(node_ip "$n")
  case $n in
    1 | 4) token=-9223372036854775808 ;;
    2) token=-3074457345618258603 ;;
    3) token=3074457345618258602 ;;
  esac
  mkdir -p "$d/conf" "$d/logs"
  cat >"$d/conf/cassandra.yaml" <<EOF
# Generated by test/cassandra/node.sh for a local test node; not for production.
cluster_name: async-cassandra-$mode
num_tokens: 1
initial_token: $token
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
commitlog_sync: periodic
commitlog_sync_period: 10000ms
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$(seed)"
listen_address: $ip
rpc_address: $ip
storage_port: $(storage_port)
native_transport_port: 9042
start_native_transport: true
auto_bootstrap: false
auto_snapshot: false
concurrent_compactors: 1
# Tests create and drop many tables; keep schema work light.
snapshot_before_compaction: false
# The node shares two cores with the tests, and the load tests keep hundreds
# of requests in flight on it, from a cold start: Cassandra's default 2 s for
# a write once timed out an insert there ("Operation timed out - received
# only 0 responses") while the JVM stalled. These stay below the tests' 10 s
# client timeout, so a real stall still surfaces as the server's typed error.
read_request_timeout: 8000ms
write_request_timeout: 8000ms
range_request_timeout: 10000ms
request_timeout: 10000ms
EOF
  if [[ $mode == secure ]]; then
    cat >>"$d/conf/cassandra.yaml" <<EOF
# The secure node: clients must log in (roles in system_auth, default
# superuser cassandra/cassandra) and must speak TLS on 9042 (optional: false
# refuses plain connections). Client certificates are not required.
authenticator: PasswordAuthenticator
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
client_encryption_options:
  enabled: true
  optional: false
  keystore: $d/conf/tls/keystore.p12
  keystore_password: $store_pass
  truststore: $d/conf/tls/truststore.p12
  truststore_password: $store_pass
  store_type: PKCS12
  require_client_auth: false
EOF
  fi
  cat >"$d/conf/logback.xml" <<EOF
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$d/logs/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <filter class="ch.qos.logback.classic.filter.ThresholdFilter"><level>WARN</level></filter>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="FILE"/>
    <appender-ref ref="STDOUT"/>
  </root>
</configuration>
EOF
}

start_node() { # start_node N HEAP (does not wait)
  local n=$1 heap=$2 d java
  d=$(node_dir "$n")
  java=$(find_java)
  write_config "$n"
  local jamm
  jamm=$(ls "$lib"/jamm-*.jar 2>/dev/null | head -n 1 || true)
  local opts=(
    -Xms"$heap" -Xmx"$heap" -Xss256k -XX:+UseG1GC -XX:MaxGCPauseMillis=300
    -ea -da:net.openhft...
    -XX:+HeapDumpOnOutOfMemoryError -XX:HeapDumpPath="$d/logs" -XX:+ExitOnOutOfMemoryError
    -XX:+PerfDisableSharedMem
    -Djava.net.preferIPv4Stack=true -Dchronicle.analytics.disable=true
    -Djdk.attach.allowAttachSelf=true
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
    --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
    --add-exports java.management/com.sun.jmx.remote.security=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
    --add-exports java.sql/java.sql=ALL-UNNAMED
    --add-exports java.base/java.lang.ref=ALL-UNNAMED
    --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
    --add-opens java.base/java.lang.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
    --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED
    --add-opens java.base/jdk.internal.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED
    --add-opens java.base/java.io=ALL-UNNAMED
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED
    --add-opens java.base/java.lang=ALL-UNNAMED
    --add-opens java.base/java.util=ALL-UNNAMED
    --add-opens java.base/java.nio=ALL-UNNAMED
    -Dio.netty.tryReflectionSetAccessible=true
    -Dio.netty.allocator.useCacheForAllThreads=true
    -Dio.netty.allocator.maxOrder=11
    -Dcassandra.config="file://$d/conf/cassandra.yaml"
    -Dcassandra.storagedir="$d"
    -Dcassandra.logdir="$d/logs"
    -Dlogback.configurationFile="$d/conf/logback.xml"
    -Dcassandra-foreground=yes
    -Dcassandra.skip_wait_for_gossip_to_settle=0
    -Dcassandra.skip_sync=true
    -Dcassandra.ring_delay_ms=1000
    -Dcassandra.superuser_setup_delay_ms=0
    -Djna.tmpdir="$work/tmp"
  )
  # unsafesystem keeps system keyspace writes, the schema among them, out of
  # the commit log: a killed node would come back without them (a node of
  # the fault-test cluster once restarted without a keyspace created 2 s
  # before it was killed, and the cluster never agreed on the schema
  # again). Only the development node, which no test kills, gets it.
  # skip_sync stays everywhere: it skips fsync, and a killed process loses
  # nothing the kernel already has.
  [[ $mode == single ]] && opts+=(-Dcassandra.unsafesystem=true)
  [[ -n "$jamm" ]] && opts+=(-javaagent:"$jamm")
  mkdir -p "$work/tmp"
  say "starting node $n on $(node_ip "$n"):9042 (heap $heap, $java)"
  # setsid: the node must outlive the make/shell that started it, and a
  # Ctrl-C in that terminal must not reach it.
  setsid "$java" "${opts[@]}" -cp "$lib/*" org.apache.cassandra.service.CassandraDaemon \
    >"$d/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$(pid_file "$n")"
}

wait_node() { # wait_node N: until CQL answers, or fail with the log's tail
  local n=$1 ip version start
  ip=$(node_ip "$n")
  start=$SECONDS
  while :; do
    if version=$(probe_node "$n" 5 2>/dev/null); then
      say "node $n ready: release_version $version after $((SECONDS - start))s"
      return 0
    fi
    # Right after start the pid may still be setsid's, before it execs the
    # JVM (its command line does not name the node yet): only a pid that is
    # gone means the node exited.
    if ! pid_of "$n" >/dev/null && ! kill -0 "$(cat "$(pid_file "$n")" 2>/dev/null)" 2>/dev/null; then
      say "node $n exited before it answered CQL; last lines of its log:"
      tail -n 40 "$(node_dir "$n")/logs/stdout.log" >&2 || true
      exit 1
    fi
    if (( SECONDS - start >= timeout_s )); then
      say "node $n did not answer CQL within ${timeout_s}s; last lines of its log:"
      tail -n 40 "$(node_dir "$n")/logs/system.log" >&2 2>/dev/null || tail -n 40 "$(node_dir "$n")/logs/stdout.log" >&2 || true
      exit 1
    fi
    sleep 1
  done
}

ensure_node() { # ensure_node N HEAP: reuse a healthy node, else start one and wait
  local n=$1 heap=$2 p
  if p=$(pid_of "$n"); then
    if [[ "$(proc_state "$p")" == T ]]; then
      say "node $n (pid $p) was frozen; resuming it"
      kill -CONT "$p"
    fi
    wait_node "$n"
    return 0
  fi
  # Something else (another checkout, a packaged server) may already serve CQL here.
  local v
  if v=$(probe "$(node_ip "$n")" 3 2>/dev/null); then
    say "node $n: a Cassandra not started by this checkout already answers on $(node_ip "$n"):9042 (release_version $v); reusing it"
    return 0
  fi
  start_node "$n" "$heap"
  wait_node "$n"
}

stop_node() { # stop_node N SIGNAL
  local n=$1 sig=$2 p i
  if ! p=$(pid_of "$n"); then
    rm -f "$(pid_file "$n")"
    return 0
  fi
  [[ "$(proc_state "$p")" == T ]] && kill -CONT "$p" 2>/dev/null || true
  kill -"$sig" "$p" 2>/dev/null || true
  for ((i = 0; i < 600; i++)); do
    kill -0 "$p" 2>/dev/null || break
    # A process that has exited but not yet been reaped shows state Z.
    [[ "$(proc_state "$p")" == Z ]] && break
    sleep 0.1
  done
  if kill -0 "$p" 2>/dev/null && [[ "$(proc_state "$p")" != Z ]]; then
    say "node $n did not stop within 60s of SIG$sig; killing it"
    kill -KILL "$p" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$n")"
  say "node $n stopped (SIG$sig)"
}

# ---- the secure node ---------------------------------------------------------

# store_pass guards the secure node's key and trust stores. They hold a test
# key for a loopback address only, so the password is no secret.
store_pass=async-cassandra-test
secure_user=async_test
secure_client_dir() { echo "$work/secure/client"; }

# make_tls DIR: once, with keytool, a CA and the node's key pair with a
# certificate the CA signed for the node's address (an IP SAN, so that
# clients can verify it), in PKCS12 stores: keystore.p12 (the node's key and
# chain), truststore.p12 (the CA) and ca.pem (the CA for clients).
make_tls() {
  local d=$1 keytool t
  [[ -f $d/keystore.p12 && -f $d/truststore.p12 && -f $d/ca.pem ]] && return 0
  keytool=$(dirname "$(readlink -f "$(find_java)")")/keytool
  [[ -x $keytool ]] || die "keytool not found beside $(find_java): the secure node's keystore is made with it"
  say "making the secure node's CA and certificate with $keytool"
  t=$d.tmp
  rm -rf "$t"
  mkdir -p "$t"
  local kt=("$keytool" -storetype PKCS12 -storepass "$store_pass")
  {
    "${kt[@]}" -genkeypair -keystore "$t/ca.p12" -alias ca -keyalg RSA -keysize 2048 -validity 3650 \
      -dname "CN=async-cassandra test CA" -ext bc:c &&
    "${kt[@]}" -exportcert -keystore "$t/ca.p12" -alias ca -rfc -file "$t/ca.pem" &&
    "${kt[@]}" -genkeypair -keystore "$t/keystore.p12" -alias node -keyalg RSA -keysize 2048 -validity 3650 \
      -dname "CN=$(node_ip $secure_node)" &&
    "${kt[@]}" -certreq -keystore "$t/keystore.p12" -alias node -file "$t/node.csr" &&
    "${kt[@]}" -gencert -keystore "$t/ca.p12" -alias ca -infile "$t/node.csr" -outfile "$t/node.pem" -rfc \
      -validity 3650 -ext "san=ip:$(node_ip $secure_node)" -ext ku:c=digitalSignature,keyEncipherment -ext eku=serverAuth &&
    # The reply is accepted once its issuer is trusted; the node's entry then
    # holds the whole chain and the CA entry is no longer needed.
    "${kt[@]}" -importcert -noprompt -keystore "$t/keystore.p12" -alias ca -file "$t/ca.pem" &&
    "${kt[@]}" -importcert -keystore "$t/keystore.p12" -alias node -file "$t/node.pem" &&
    "${kt[@]}" -delete -keystore "$t/keystore.p12" -alias ca &&
    "${kt[@]}" -importcert -noprompt -keystore "$t/truststore.p12" -alias ca -file "$t/ca.pem"
  } >"$t/keytool.log" 2>&1 || { cat "$t/keytool.log" >&2; die "keytool failed (log above)"; }
  rm -f "$t/ca.p12" "$t/node.csr" # the CA's key signs nothing more
  rm -rf "$d"
  mv "$t" "$d"
}

# secure_up starts the secure node if it is not running, waits until the
# default superuser logs in over TLS, creates (or resets) the test role and
# waits until it logs in too. The client files are written last, so a test
# that finds them finds a node that accepts them.
secure_up() {
  mode=secure
  local n=$secure_node d c p pw start=$SECONDS
  d=$(node_dir $n)
  c=$(secure_client_dir)
  find_java >/dev/null
  mkdir -p "$work"
  fetch_jars
  build_probe
  make_tls "$d/conf/tls"
  if p=$(pid_of $n); then
    if [[ "$(proc_state "$p")" == T ]]; then
      say "the secure node (pid $p) was frozen; resuming it"
      kill -CONT "$p"
    fi
  else
    start_node $n "${CASSANDRA_SECURE_HEAP:-512m}"
  fi
  wait_node $n
  mkdir -p "$c"
  chmod 700 "$c"
  if [[ -s $c/password ]]; then
    pw=$(<"$c/password")
  else
    pw=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
  fi
  # The probe reads the password from its environment, out of sight of ps,
  # and statements from a pipe, never the command line: they hold it.
  as_super() { CQLPROBE_PASSWORD=cassandra "$probe_bin" -hosts "$(node_ip $n)" -ca "$d/conf/tls/ca.pem" -username cassandra "$@"; }
  as_test() { CQLPROBE_PASSWORD=$pw "$probe_bin" -hosts "$(node_ip $n)" -ca "$d/conf/tls/ca.pem" -username "$secure_user" "$@"; }
  if ! as_test -timeout 10s >/dev/null 2>&1; then
    printf '%s\n' "CREATE ROLE IF NOT EXISTS $secure_user WITH PASSWORD = '$pw' AND LOGIN = true" |
      as_super -exec - -wait -timeout 60s >/dev/null ||
      die "could not create the role $secure_user on the secure node"
    # A role that existed keeps its password: set the one on file (Cassandra
    # refuses a second change within 5 s, so only when it is needed).
    if ! as_test -timeout 10s >/dev/null 2>&1; then
      printf '%s\n' "ALTER ROLE $secure_user WITH PASSWORD = '$pw' AND LOGIN = true" |
        as_super -exec - -wait -timeout 60s >/dev/null ||
        die "could not set the password of the role $secure_user"
      # The node caches credentials for a while: wait until the new password works.
      as_test -wait -timeout 60s >/dev/null ||
        die "the role $secure_user cannot log in to the secure node"
    fi
  fi
  cp "$d/conf/tls/ca.pem" "$c/ca.pem"
  echo "$secure_user" >"$c/username"
  (umask 077 && echo "$pw" >"$c/password")
  say "secure node ready after $((SECONDS - start))s: $(node_ip $n):9042, TLS and a password required; client files in $c"
}

# stop_secure stops the secure node if it runs, whatever the current mode.
stop_secure() {
  local saved=$mode
  mode=secure
  stop_node $secure_node TERM
  mode=$saved
}

# source_kind says where the cluster comes from: hosts, docker or jvm.
source_kind() {
  if [[ -n "${CASSANDRA_HOSTS:-}" ]]; then
    echo hosts
  elif [[ "${CASSANDRA_DOCKER:-auto}" != never ]] && command -v docker >/dev/null 2>&1 &&
      timeout 10 docker info >/dev/null 2>&1; then
    echo docker
  else
    echo jvm
  fi
}

docker_launcher() {
  (cd "$repo/test/docker" && go run . "$@")
}

cmd=${1:-status}
shift || true
# The secure node is always a local JVM node: every way down stops it, so
# that no JVM outlives a test run.
[[ $cmd == down ]] && stop_secure
kind=jvm
case $cmd in
  up | down | status) kind=$(source_kind) ;;
esac
if [[ $kind == hosts ]]; then
  build_probe
  case $cmd in
    up)
      say "using the existing cluster at CASSANDRA_HOSTS=$CASSANDRA_HOSTS"
      v=$("$probe_bin" -hosts "$CASSANDRA_HOSTS" -wait -timeout "${timeout_s}s") ||
        die "CASSANDRA_HOSTS=$CASSANDRA_HOSTS does not answer CQL"
      say "release_version $v"
      ;;
    down) say "CASSANDRA_HOSTS is set: leaving that cluster alone" ;;
    status) echo "hosts $CASSANDRA_HOSTS release_version $("$probe_bin" -hosts "$CASSANDRA_HOSTS" -timeout 5s 2>&1)" ;;
  esac
  exit 0
fi
if [[ $kind == docker ]] && ! [[ $cmd == up && ${1:-1} != 1 ]]; then
  docker_launcher "$cmd"
  exit 0
fi

# running_nodes MODE prints how many of that mode's nodes are alive.
running_nodes() {
  local saved=$mode count=0 n
  mode=$1
  for ((n = 1; n <= max_nodes; n++)); do pid_of "$n" >/dev/null && count=$((count + 1)); done
  mode=$saved
  echo "$count"
}

stop_mode() { # stop_mode MODE: stop every node of that mode
  local saved=$mode n
  mode=$1
  for ((n = max_nodes; n >= 1; n--)); do stop_node "$n" TERM; done
  mode=$saved
}

# The per-node commands act on whichever mode is running (the cluster first).
if (( $(running_nodes cluster) > 0 )); then mode=cluster; fi

case $cmd in
  up)
    nodes=${1:-1}
    check_node_number "$nodes"
    if (( nodes == 1 )); then
      mode=single
      if (( $(running_nodes cluster) == max_nodes )); then
        say "the $max_nodes-node cluster is running; reusing it"
        mode=cluster
      elif (( $(running_nodes cluster) > 0 )); then
        say "stopping the incomplete local cluster to start the single node"
        stop_mode cluster
      fi
    else
      mode=cluster
      if (( $(running_nodes single) > 0 )); then
        say "stopping the single node to start the $nodes-node cluster"
        stop_mode single
      fi
    fi
    heap=${CASSANDRA_HEAP:-}
    if [[ -z "$heap" ]]; then
      if (( nodes == 1 )); then heap=1g; else heap=768m; fi
    fi
    find_java >/dev/null
    mkdir -p "$work"
    fetch_jars
    build_probe
    ensure_node 1 "$heap"
    if (( nodes > 1 )); then
      # The seed is up; the others join it and may start together.
      for ((n = 2; n <= nodes; n++)); do
        pid_of "$n" >/dev/null || probe "$(node_ip "$n")" 2 >/dev/null 2>&1 || start_node "$n" "$heap"
      done
      for ((n = 2; n <= nodes; n++)); do ensure_node "$n" "$heap"; done
    fi
    ;;
  down)
    stop_mode cluster
    stop_mode single
    ;;
  up-secure) secure_up ;;
  down-secure) stop_secure ;;
  status)
    build_probe
    echo "local nodes (mode $mode):"
    for ((n = 1; n <= max_nodes; n++)); do
      if p=$(pid_of "$n"); then
        if [[ "$(proc_state "$p")" == T ]]; then
          echo "node $n $(node_ip "$n"):9042 frozen (pid $p)"
        elif v=$(probe "$(node_ip "$n")" 3 2>/dev/null); then
          echo "node $n $(node_ip "$n"):9042 up (pid $p) release_version $v"
        else
          echo "node $n $(node_ip "$n"):9042 starting or unresponsive (pid $p)"
        fi
      elif v=$(probe "$(node_ip "$n")" 2 2>/dev/null); then
        echo "node $n $(node_ip "$n"):9042 up (not started by this checkout) release_version $v"
      else
        echo "node $n $(node_ip "$n"):9042 stopped"
      fi
    done
    mode=secure
    if p=$(pid_of $secure_node); then
      if v=$(probe_node $secure_node 3 2>/dev/null); then
        echo "secure node $(node_ip $secure_node):9042 up (pid $p) release_version $v"
      else
        echo "secure node $(node_ip $secure_node):9042 starting or unresponsive (pid $p)"
      fi
    else
      echo "secure node $(node_ip $secure_node):9042 stopped"
    fi
    ;;
  stop) check_node_number "${1:-}"; stop_node "$1" TERM ;;
  kill) check_node_number "${1:-}"; stop_node "$1" KILL ;;
  freeze)
    check_node_number "${1:-}"
    p=$(pid_of "$1") || die "node $1 is not running"
    kill -STOP "$p"; say "node $1 frozen (SIGSTOP)"
    ;;
  thaw)
    check_node_number "${1:-}"
    p=$(pid_of "$1") || die "node $1 is not running"
    kill -CONT "$p"; say "node $1 resumed (SIGCONT)"
    ;;
  restart)
    check_node_number "${1:-}"
    stop_node "$1" TERM
    fetch_jars
    build_probe
    start_node "$1" "${CASSANDRA_HEAP:-768m}"
    wait_node "$1"
    ;;
  wait) check_node_number "${1:-}"; build_probe; wait_node "$1" ;;
  log) check_node_number "${1:-}"; tail -n "${2:-50}" "$(node_dir "$1")/logs/system.log" ;;
  hosts)
    nodes=${1:-1}
    check_node_number "$nodes"
    out=""
    for ((n = 1; n <= nodes; n++)); do out+="${out:+,}$(node_ip "$n")"; done
    echo "$out"
    ;;
  *) die "unknown command '$cmd' (up, down, status, stop, kill, freeze, thaw, restart, wait, log, hosts, up-secure, down-secure)" ;;
esac
