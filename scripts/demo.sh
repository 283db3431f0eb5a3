#!/usr/bin/env bash
# Runs StreamForge on embedded defaults, all on this machine:
#   - the simulated PLCs (bin/streamforge-sim: Modbus TCP and OPC UA),
#   - a Kafka-protocol broker (bin/kfake-broker, data under ./data/demo/kafka),
#   - the agent (bin/streamforge-agent) with a generated config, reading the
#     simulators and forwarding to the broker, and prints the first readings
#     that arrive in Kafka,
#   - the control plane (bin/streamforge-cloud serve) on SQLite under ./data,
#     with its dashboard: on first start it prints the first admin's one-time
#     password; the demo then creates an enrollment token with it, the agent
#     enrolls (software identity key: a laptop has no TPM) and the demo
#     approves it, so the dashboard shows a gateway with live heartbeats.
# Ctrl-C stops everything. Logs: ./data/demo/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
export STREAMFORGE_DATA_DIR=${STREAMFORGE_DATA_DIR:-./data}
BIN=${STREAMFORGE_BIN_DIR:-bin} # the programs `make build` made (tests/demo builds its own)
DEMO=$STREAMFORGE_DATA_DIR/demo
mkdir -p "$DEMO"

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listening() { (echo >"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; }
# bindable: the address can be listened on now (as Go listens: SO_REUSEADDR);
# false also when an outgoing connection holds the port, which no
# listener would show.
bindable() {
  python3 -c 'import socket,sys; h,p=sys.argv[1].rsplit(":",1); s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind((h,int(p)))' "$1" 2>/dev/null
}
printed() { grep -q "$2" "$1" 2>/dev/null; } # file, text
wait_until() { # name, log, pid, condition...: up to 30 s while pid runs
  local name=$1 log=$2 pid=$3
  shift 3
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    "$@" && return 0
    sleep 0.1
  done
  echo "demo: $name did not start; see $log" >&2; tail -n 20 "$log" >&2; exit 1
}

# The same addresses on every run (kept in $DEMO/ports), so that a pipeline
# written against them in the demo still reaches them after a restart; one
# that another program took meanwhile is replaced.
port_of() { # name: its saved address if that is free, else a new one
  local saved
  saved=$(sed -n "s/^$1=//p" "$DEMO/ports" 2>/dev/null)
  if [ -n "$saved" ] && bindable "$saved"; then echo "$saved"; else echo "127.0.0.1:$(free_port)"; fi
}
MODBUS=$(port_of modbus)
OPCUA=$(port_of opcua)
KAFKA=$(port_of kafka)
METRICS=$(port_of metrics)
printf 'modbus=%s\nopcua=%s\nkafka=%s\nmetrics=%s\n' "$MODBUS" "$OPCUA" "$KAFKA" "$METRICS" >"$DEMO/ports"
CLOUD=${STREAMFORGE_LISTEN:-127.0.0.1:8080}
export STREAMFORGE_LISTEN=$CLOUD
GATEWAY=gw-demo-1

# api METHOD PATH [JSON]: the control plane's API as the demo's admin.
api() {
  curl -fsS -X "$1" "http://$CLOUD$2" -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' ${3:+-d "$3"}
}
json() { python3 -c 'import json,sys; print(json.load(sys.stdin)'"$1"')'; }

# Another program on the control plane's port would answer in its stead.
if listening "$CLOUD"; then
  echo "demo: $CLOUD is taken by another program; choose another address: STREAMFORGE_LISTEN=127.0.0.1:8081 make demo" >&2
  exit 1
fi
# The demo's gateway uses a software key: allowed here, never by default.
STREAMFORGE_ALLOW_KEY_IDENTITY=${STREAMFORGE_ALLOW_KEY_IDENTITY:-true} \
  "$BIN"/streamforge-cloud serve >"$DEMO/cloud.out" 2>"$DEMO/cloud.log" &
pids+=($!)
# Ready once it says so: it takes its address first, and creates the first
# admin (printing the password) last before serving.
wait_until "the control plane" "$DEMO/cloud.log" "${pids[-1]}" printed "$DEMO/cloud.out" "listening on"
ADMIN_EMAIL=$(sed -n 's/^  email: *//p' "$DEMO/cloud.out")
ADMIN_PASSWORD=$(sed -n 's/^  password: *//p' "$DEMO/cloud.out")
CP_ENV=(CONTROL_PLANE_URL="http://$CLOUD" CONTROL_PLANE_GATEWAY_ID="$GATEWAY")
if [ -n "$ADMIN_PASSWORD" ] && [ ! -d "$DEMO/agent/identity" ]; then
  ADMIN_TOKEN=$(curl -fsS "http://$CLOUD/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" | json '["token"]')
  ENROLL=$(api POST /api/v1/enrollment-tokens '{"expires_in":"1h","max_uses":1,"site":"Demo plant"}' | json '["token"]')
  CP_ENV+=(CONTROL_PLANE_ENROLLMENT_TOKEN="$ENROLL")
fi

"$BIN"/streamforge-sim -modbus-listen "$MODBUS" -opcua-listen "$OPCUA" -opcua-cert "$DEMO/opcua-sim.pem" \
  -tags 8 -rate 2 >"$DEMO/sim.log" 2>&1 &
pids+=($!)
sim=$!
"$BIN"/kfake-broker -port "${KAFKA#*:}" -data-dir "$DEMO/kafka" >"$DEMO/kafka.log" 2>&1 &
pids+=($!)
wait_until "the Modbus simulator" "$DEMO/sim.log" "$sim" listening "$MODBUS"
wait_until "the OPC UA simulator" "$DEMO/sim.log" "$sim" listening "$OPCUA"
wait_until "the Kafka broker" "$DEMO/kafka.log" "${pids[-1]}" listening "$KAFKA"

cat >"$DEMO/agent.yaml" <<YAML
# Generated by scripts/demo.sh: the simulated PLCs to the demo broker.
gateway_id: gw-demo-1
data_dir: $DEMO/agent
log_level: info
buffer:
  max_bytes: 64MiB
  default_policy: block
kafka:
  brokers: $KAFKA
  compression: lz4
  linger: 20ms
  drain_rate: 50000
adapters:
  - type: modbus
    name: line1
    devices:
      - name: plc1
        tcp: $MODBUS
        unit_id: 1
        timeout: 1s
        retries: 1
        poll_groups:
          - {name: fast, interval: 200ms, max_silence: 10s}
          - {name: slow, interval: 1s, always: true}
        tags:
          - {name: temperature, register: holding_register, address: 0, type: float32, poll_group: fast, deadband: 0.05}
          - {name: counter, register: holding_register, address: 2, type: uint32, poll_group: slow}
          - {name: pressure, register: input_register, address: 4, type: float32, poll_group: fast}
          - {name: alarm, register: coil, address: 3, type: bool, poll_group: fast}
  - type: opcua
    name: opcua
    servers:
      - name: opcua-sim
        endpoint: opc.tcp://$OPCUA
        security_policy: None
        insecure: true
        subscriptions:
          - {name: sub, publishing_interval: 500ms, sampling_interval: 100ms}
        nodes:
          - {name: temperature, node_id: "ns=1;s=temperature_0", subscription: sub}
          - {name: pressure, node_id: "ns=1;s=pressure_2", subscription: sub}
metrics:
  listen: $METRICS
control_plane:
  heartbeat_interval: 5s
YAML
env "${CP_ENV[@]}" "$BIN"/streamforge-agent run --config "$DEMO/agent.yaml" --insecure-software-identity >"$DEMO/agent.log" 2>&1 &
pids+=($!)
if [ -n "${ADMIN_TOKEN:-}" ]; then
  approved=
  for _ in $(seq 1 300); do
    if [ "$(api GET /api/v1/gateways/$GATEWAY 2>/dev/null | json '["status"]' 2>/dev/null)" = pending ]; then
      api POST /api/v1/gateways/$GATEWAY/approve >/dev/null && approved=1
      break
    fi
    sleep 0.1
  done
  if [ -n "$approved" ]; then
    echo "demo: gateway $GATEWAY enrolled and approved"
  else
    echo "demo: gateway $GATEWAY was not approved (did it enroll within 30 s? see $DEMO/agent.log)" >&2
  fi
fi

echo "demo: simulated PLCs on modbus $MODBUS and opc.tcp://$OPCUA, broker $KAFKA, agent metrics http://$METRICS/metrics"
echo "demo: first readings in Kafka ($BIN/streamforge-consume -brokers $KAFKA -topic telemetry.raw,events.raw):"
if ! timeout 30 "$BIN"/streamforge-consume -brokers "$KAFKA" -topic telemetry.raw,events.raw -latest=false -n 12; then
  echo "demo: no readings arrived within 30 s; see $DEMO/agent.log" >&2
  tail -n 20 "$DEMO/agent.log" >&2
fi
echo "demo: the agent keeps forwarding; follow it with: $BIN/streamforge-consume -brokers $KAFKA"
echo
echo "demo: dashboard: http://$CLOUD/"
if [ -n "$ADMIN_PASSWORD" ]; then
  echo "demo: log in as $ADMIN_EMAIL with the password: $ADMIN_PASSWORD (shown this once: store it, or change it on the Account page)"
else
  echo "demo: log in with the first admin's password printed on the first run (to start afresh: rm -rf $STREAMFORGE_DATA_DIR)"
fi
echo "demo: Ctrl-C stops everything"
wait "${pids[0]}"
