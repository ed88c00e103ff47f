#!/usr/bin/env bash
# Build the service image and exercise it, on a machine with no container registry.
#
#   1. install docker.io and debootstrap if missing; start a private dockerd whose data,
#      exec root and socket live in a temporary directory outside the build context;
#   2. build a base image from `debootstrap --variant=minbase` plus Debian's python3 and
#      python3-venv, from the mirror apt itself uses, with the host's CA certificates so
#      that pip inside the build can reach the package index;
#   3. build the project's Dockerfile on that base, run it with a model, wait for health,
#      call /predict and a bad request through the published port on 127.0.0.1, check the
#      answers and that the process runs as non-root; run it with no model and check it
#      reports not-ready with the reason;
#   4. remove the containers, stop the daemon by PID, and delete the iptables rules and
#      the bridge it created.
#
# Usage: tests/container/run.sh            (make test-container)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
WORK=$(mktemp -d /tmp/credit-default-container.XXXXXX)
CACHE=${CONTAINER_TEST_CACHE:-/var/cache/credit-default-container-test}
DOCKER=/usr/bin/docker          # Debian's client: the preinstalled one needs buildx
export DOCKER_HOST="unix://$WORK/docker.sock"
export DOCKER_BUILDKIT=0
BASE_IMAGE=credit-default-base:local
IMAGE=credit-default:test
BRIDGE=cdtest0
STARTED=$(date +%s)
DOCKERD_PID=""

say() { printf '[container-test %3ss] %s\n' "$(( $(date +%s) - STARTED ))" "$*"; }

cleanup() {
  set +e
  if [ -n "$DOCKERD_PID" ]; then
    "$DOCKER" rm -f cd-with-model cd-without-model >/dev/null 2>&1
    kill "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
    kill -9 "$DOCKERD_PID" 2>/dev/null
  fi
  # Rules and the bridge that this dockerd created (it was told to use $BRIDGE).
  for table in nat filter; do
    iptables-save -t "$table" 2>/dev/null | grep -q DOCKER || continue
    iptables -t "$table" -S 2>/dev/null | grep -E "DOCKER|$BRIDGE" | grep '^-A' | sed 's/^-A/-D/' \
      | while read -r rule; do eval iptables -t "$table" "$rule" 2>/dev/null; done
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N DOCKER/ {print $2}'); do
      iptables -t "$table" -F "$chain" 2>/dev/null
      iptables -t "$table" -X "$chain" 2>/dev/null
    done
  done
  ip link delete "$BRIDGE" 2>/dev/null
  umount -R "$WORK"/exec 2>/dev/null
  rm -rf "$WORK" 2>/dev/null
  say "cleaned up"
}
trap cleanup EXIT

# -- 1. tools and a private daemon ----------------------------------------------------------
need=()
[ -x /usr/sbin/dockerd ] || need+=(docker.io)
[ -x "$DOCKER" ] || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v iptables >/dev/null || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

say "starting dockerd in $WORK"
ip link add name "$BRIDGE" type bridge 2>/dev/null || true
ip addr add 172.31.250.1/24 dev "$BRIDGE" 2>/dev/null || true
ip link set "$BRIDGE" up
/usr/sbin/dockerd --data-root "$WORK/data" --exec-root "$WORK/exec" --pidfile "$WORK/docker.pid" \
  --host "$DOCKER_HOST" --bridge "$BRIDGE" >"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 1 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 1; done
"$DOCKER" info >/dev/null 2>&1 || { tail -n 30 "$WORK/dockerd.log"; exit 1; }

# -- 2. a base image from debootstrap --------------------------------------------------------
sources=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
MIRROR=$(printf '%s\n' "$sources" | awk '/^URIs:/ {print $2; exit}')
SUITE=$(printf '%s\n' "$sources" | awk '/^Suites:/ {print $2; exit}')
if [ -z "$MIRROR" ]; then
  read -r MIRROR SUITE < <(awk '$1 == "deb" && $2 !~ /^\[/ {print $2, $3; exit}' /etc/apt/sources.list)
fi
base_tar="$CACHE/base-$SUITE.tar"
if [ ! -s "$base_tar" ]; then
  say "debootstrap $SUITE from the mirror apt uses"
  mkdir -p "$CACHE"
  rootfs="$WORK/rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 30 "$WORK/debootstrap.log"; exit 1; }
  # The package index is reached through an intercepting proxy whose CA the host trusts.
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
  chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -cf "$base_tar.partial" . && mv "$base_tar.partial" "$base_tar"
  rm -rf "$rootfs"
fi
"$DOCKER" import \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["/bin/bash"]' \
  "$base_tar" "$BASE_IMAGE" >/dev/null
say "base image $BASE_IMAGE ready ($(du -m "$base_tar" | cut -f1) MB tar)"

# -- 3. build, run, check -------------------------------------------------------------------
build_started=$(date +%s)
"$DOCKER" build --quiet --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$IMAGE" "$ROOT" >/dev/null
build_seconds=$(( $(date +%s) - build_started ))
size_mb=$(( $("$DOCKER" image inspect --format '{{.Size}}' "$IMAGE") / 1000000 ))
base_mb=$(( $("$DOCKER" image inspect --format '{{.Size}}' "$BASE_IMAGE") / 1000000 ))
say "built $IMAGE in ${build_seconds}s: ${size_mb} MB, of which ${base_mb} MB base, $(( size_mb - base_mb )) MB added"

say "training a quick model to mount"
"$PYTHON" -m train --quick --sample-rows 4000 --store "$WORK/store" >/dev/null 2>&1
chmod -R a+rX "$WORK/store"

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
say "without API_KEYS the image must refuse to start"
if refusal=$("$DOCKER" run --rm "$IMAGE" 2>&1); then
  echo "the container started without API keys:"; echo "$refusal"; exit 1
fi
case "$refusal" in
  *"refusing to start"*ALLOW_ANONYMOUS*) say "refused: $(printf '%s' "$refusal" | tail -n 1)" ;;
  *) echo "unexpected refusal: $refusal"; exit 1 ;;
esac

read -r API_KEY API_DIGEST < <("$PYTHON" -c 'from service.keys import new_key; print(*new_key())')
API_KEYS="[{\"id\": \"container-test\", \"digest\": \"$API_DIGEST\", \"scopes\": [\"score\", \"models:read\", \"audit\"]}]"
PORT=$(free_port)
"$DOCKER" run -d --name cd-with-model -p "127.0.0.1:$PORT:8000" -e API_KEYS="$API_KEYS" \
  -v "$WORK/store:/models:ro" --read-only --tmpfs /tmp "$IMAGE" >/dev/null
ready=""
for _ in $(seq 1 90); do
  if curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null; then ready=yes; break; fi
  sleep 1
done
[ -n "$ready" ] || { "$DOCKER" logs cd-with-model | tail -n 30; exit 1; }
say "container ready on 127.0.0.1:$PORT"

"$PYTHON" - "$PORT" "$API_KEY" <<'PY'
import sys, httpx
from schemas import EXAMPLE_CUSTOMER
base, key = f"http://127.0.0.1:{sys.argv[1]}", sys.argv[2]
denied = httpx.post(f"{base}/predict", json=EXAMPLE_CUSTOMER, timeout=10)
assert denied.status_code == 401 and denied.headers["www-authenticate"], denied.text
print(f"no key -> {denied.status_code}")
auth = {"Authorization": f"Bearer {key}"}
ok = httpx.post(f"{base}/predict", json=EXAMPLE_CUSTOMER, headers=auth, timeout=10)
assert ok.status_code == 200, ok.text
body = ok.json()
assert 0.0 <= body["probability"] <= 1.0 and body["model_version"], body
print(f"/predict -> {ok.status_code} {ok.text}")
bad = httpx.post(f"{base}/predict", json={**EXAMPLE_CUSTOMER, "age": 150}, headers=auth, timeout=10)
assert bad.status_code == 422, bad.text
assert bad.headers["content-type"] == "application/problem+json", bad.headers
assert bad.json()["errors"][0]["field"] == "age", bad.text
print(f"bad request -> {bad.status_code} {bad.json()['errors']}")
engine = httpx.get(f"{base}/models/{body['model_version']}", headers=auth, timeout=10).json()["serving_engine"]
assert engine.startswith("onnxruntime"), engine
print(f"engine -> {engine}")
batch = {"customers": [EXAMPLE_CUSTOMER] * 5000}
scored = httpx.post(f"{base}/predict/batch", json=batch, headers=auth, timeout=60)
assert scored.status_code == 200 and scored.json()["count"] == 5000, scored.text[:300]
print("5,000-row batch -> 200")
why = httpx.post(f"{base}/predict?explain=true", json=EXAMPLE_CUSTOMER, headers=auth, timeout=10)
assert why.status_code == 200 and why.json()["probability"] == body["probability"], why.text
total = why.json()["explanation"]["base"] + sum(why.json()["explanation"]["contributions"].values())
assert abs(total - body["probability"]) <= 1e-6, why.text
print(f"reasons -> {[r['code'] for r in why.json()['reasons']]}")
report = httpx.get(f"{base}/models/production/report", headers=auth, timeout=10)
assert report.status_code == 200 and "<h1>" in report.text, report.status_code
print("report -> 200")
[record] = httpx.get(f"{base}/decisions/{ok.headers['x-request-id']}", headers=auth, timeout=10).json()
assert record["probability"] == body["probability"] and record["key_id"] == "container-test", record
reload = httpx.post(f"{base}/admin/reload", headers=auth, timeout=10)
assert reload.status_code == 403, reload.text
print(f"decision on record (key id {record['key_id']}); reload without the admin scope -> 403")
PY
rss_kib=$("$DOCKER" exec cd-with-model awk '/^VmRSS/ {print $2}' /proc/1/status)
say "resident memory of the worker after a 5,000-row batch: $(( rss_kib / 1024 )) MiB"
if "$DOCKER" exec cd-with-model python3 -c 'import sklearn' 2>/dev/null \
  || "$DOCKER" exec cd-with-model python3 -c 'import pandas' 2>/dev/null; then
  echo "the image carries a training library"; exit 1
fi
say "the image has neither scikit-learn nor pandas"

uid=$("$DOCKER" exec cd-with-model python3 -c 'import os; print(os.getuid())')
[ "$uid" != "0" ] || { echo "the service runs as root"; exit 1; }
say "process inside runs as uid $uid"
for _ in $(seq 1 40); do
  health=$("$DOCKER" inspect --format '{{.State.Health.Status}}' cd-with-model)
  [ "$health" = healthy ] && break
  sleep 1
done
[ "$health" = healthy ] || { echo "HEALTHCHECK says $health"; exit 1; }
say "HEALTHCHECK: $health"

PORT2=$(free_port)
"$DOCKER" run -d --name cd-without-model -p "127.0.0.1:$PORT2:8000" -e ALLOW_ANONYMOUS=true "$IMAGE" >/dev/null
answer=""
for _ in $(seq 1 60); do
  answer=$(curl -s "http://127.0.0.1:$PORT2/health/ready" || true)
  [ -n "$answer" ] && break
  sleep 1
done
case "$answer" in
  *'"status":503'*'no model versions'*) say "without a model: not ready, says why: $answer" ;;
  *) echo "unexpected readiness answer without a model: $answer"; exit 1 ;;
esac

mkdir -p "$ROOT/test-output"
printf '{"measured_at": "%s", "image_mb": %d, "base_mb": %d, "worker_mib": %d}\n' \
  "$(date -u +%Y-%m-%dT%H:%MZ)" "$size_mb" "$base_mb" $(( rss_kib / 1024 )) > "$ROOT/test-output/container.json"
say "container test passed (build ${build_seconds}s, image ${size_mb} MB: base ${base_mb} MB + $(( size_mb - base_mb )) MB; worker $(( rss_kib / 1024 )) MiB)"
