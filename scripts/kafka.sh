#!/usr/bin/env bash
# Apache Kafka (KRaft) for the integration tests and the demo, from Maven Central.
#   jars        fetch the broker's classpath into the cache (once) and print its directory
#   start DIR   format DIR and run a single-node broker+controller on random loopback
#               ports in the foreground; prints "bootstrap=HOST:PORT" once it listens
# KAFKA_VERSION (default 4.4.0) and STREAMFORGE_CACHE (default ~/.cache/streamforge) choose
# the jars; the JVM heap is kept small (KAFKA_HEAP, default 256m) so it starts fast.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KAFKA_VERSION=${KAFKA_VERSION:-4.4.0}
CACHE=${STREAMFORGE_CACHE:-$HOME/.cache/streamforge}
HOME_DIR=$CACHE/kafka-$KAFKA_VERSION

jars() {
  if [ ! -f "$HOME_DIR/libs/kafka_2.13-$KAFKA_VERSION.jar" ]; then
    command -v mvn >/dev/null || { echo "kafka.sh: mvn not found (apt-get install maven)" >&2; exit 1; }
    rm -rf "$HOME_DIR.tmp"
    mvn -q -B -f "$ROOT/tests/kafka/pom.xml" dependency:copy-dependencies \
      -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime \
      -DoutputDirectory="$HOME_DIR.tmp/libs" >&2
    rm -rf "$HOME_DIR" && mv "$HOME_DIR.tmp" "$HOME_DIR"
  fi
  echo "$HOME_DIR"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() {
  local dir=$1; jars >/dev/null
  mkdir -p "$dir"
  local bport cport; bport=$(free_port); cport=$(free_port)
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
  local java=(java -Xms${KAFKA_HEAP:-256m} -Xmx${KAFKA_HEAP:-256m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$HOME_DIR/libs/*")
  if [ ! -f "$dir/data/meta.properties" ]; then
    "${java[@]}" kafka.tools.StorageTool format -t "$(python3 -c 'import base64,uuid;print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')" -c "$dir/server.properties" >&2
  fi
  echo "bootstrap=127.0.0.1:$bport"
  exec "${java[@]}" kafka.Kafka "$dir/server.properties"
}

case "${1:-}" in
  jars) jars ;;
  start) start "${2:?usage: kafka.sh start DIR}" ;;
  *) echo "usage: $0 jars|start DIR" >&2; exit 2 ;;
esac
