#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, built from Debian's packages alone, for flow's cluster
# backend and its e2e tests.
#
#   scripts/local-cluster-up.sh            build (once), start what is not running, apply flow's objects
#   scripts/local-cluster-up.sh --check    also run the smoke check when the build was already cached
#   scripts/local-cluster-up.sh --rebuild  rebuild the binaries even when the cache is current
#
# Idempotent. Built for a fresh Debian 12 machine run as root where only the Debian mirror and PyPI are
# reachable (no container registry, so no kind; see shared/ENVIRONMENT.md). With internet and Docker,
# scripts/kind-up.sh is the simpler route.
#
# What it does, each step skipped when already done:
#   1. the Docker engine (scripts/docker-up.sh);
#   2. kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kubectl built from Debian's
#      `kubernetes` source package (Kubernetes 1.20, dockershim), and a pause image built from its
#      pause.c, cached in /var/cache/flow-ci/k8s (a stamp file names the source version; 10 to 20 min on
#      2 cores the first time, about 17 CPU-minutes, longer on a busy machine; nothing afterwards);
#   3. certificates (openssl) in /var/lib/flow-cluster/pki, kept between runs;
#   4. etcd, the control plane and the kubelet as background processes, every listener on 127.0.0.1:
#        pidfiles /run/flow-cluster/<name>.pid, logs /var/log/flow-cluster/<name>.log
#      A process running with other flags or certificates than these is restarted;
#   5. namespace `flow`, deploy/rbac.yaml (ServiceAccount flow-runner), and a hostPath PersistentVolume
#      reserved for the claim flow/flow-root (the claim itself is flow's to create); pods reach the API
#      at the `kubernetes` Service's address (an iptables DNAT to 127.0.0.1:6443, as kube-proxy would);
#   6. kubeconfigs: /var/lib/flow-cluster/admin.kubeconfig (cluster admin) and
#      /var/lib/flow-cluster/flow.kubeconfig (ServiceAccount flow/flow-runner, namespace flow);
#   7. a smoke check as flow-runner (a PVC, a pod writing into a hostPath volume, its logs) after a
#      build, or with --check.
# Stop with scripts/local-cluster-down.sh (--purge also drops the cluster's state).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")

CACHE=/var/cache/flow-ci/k8s          # build cache: bin/ (binaries + STAMP), src/ (downloaded source)
BIN=$CACHE/bin
STATE=/var/lib/flow-cluster           # pki/, etcd/, kubelet/, config/, volumes/, kubeconfigs
PKI=$STATE/pki
CONF=$STATE/config
RUN_DIR=/run/flow-cluster
LOG_DIR=/var/log/flow-cluster
LOCK=$RUN_DIR/lock

# Bump when a build step below changes in a way the source version does not show.
RECIPE_VERSION=2
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)

API_URL=https://127.0.0.1:6443
# Only allocated, never routed (no kube-proxy): Services get addresses, nothing forwards to them.
SERVICE_CIDR=10.96.0.0/16
SERVICE_IP=10.96.0.1
NODE_NAME=localhost
NAMESPACE=flow
RUNNER_SA=flow-runner
ROOT_CLAIM=flow-root
ROOT_PV=flow-root
VOLUMES=$STATE/volumes
SMOKE_IMAGE=flow-test/busybox:latest

die() { echo "local-cluster-up: error: $*" >&2; exit 1; }
say() { echo "local-cluster-up: $*"; }

now() { echo "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
T0=$(now)

check=0
rebuild=0
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    --rebuild) rebuild=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument '$arg' (usage: local-cluster-up.sh [--check] [--rebuild])" ;;
  esac
done

[ "$(id -u)" = 0 ] || die "run as root (it installs packages, starts the kubelet and writes under /var/lib)"
[ "$(uname -s)" = Linux ] || die "Linux only; on a laptop use scripts/kind-up.sh"

mkdir -p "$RUN_DIR" "$LOG_DIR" "$STATE" "$CONF"
exec 9>"$LOCK"
flock -w 1800 9 || die "timed out waiting for $LOCK (another local-cluster-up.sh or -down.sh running?)"

# ---------------------------------------------------------------------------------------------------
# Packages
apt_updated=0
apt_update() {
  [ "$apt_updated" = 1 ] && return 0
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt_updated=1
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  local pkg missing=()
  for pkg in "$@"; do
    dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} = 0 ] && return 0
  say "installing from apt: ${missing[*]}"
  for pkg in "${missing[@]}"; do
    apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]' || { apt_update; break; }
  done
  # Stale lists can name files the mirror no longer has: update once and retry.
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$LOG_DIR/apt-install.log" 2>&1; then
    apt_update
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$LOG_DIR/apt-install.log" 2>&1 \
      || die "apt-get install ${missing[*]} failed; see $LOG_DIR/apt-install.log"
  fi
}

# etcd and openssl to run; curl for health probes; util-linux for setsid/flock; iproute2 for ss;
# conntrack for the kubelet's hostport cleanup.
apt_install etcd-server openssl curl util-linux iproute2 conntrack ca-certificates
ETCD=$(command -v etcd || true)
[ -x "$ETCD" ] || ETCD=/usr/bin/etcd
[ -x "$ETCD" ] || die "etcd not found after installing etcd-server"

# ---------------------------------------------------------------------------------------------------
# 1. Docker engine (the kubelet's container runtime, through dockershim)
bash "$HERE/docker-up.sh" || die "scripts/docker-up.sh failed"
cgroup_driver=$(docker info --format '{{.CgroupDriver}}' 2>/dev/null || echo cgroupfs)
[ -n "$cgroup_driver" ] || cgroup_driver=cgroupfs

# ---------------------------------------------------------------------------------------------------
# 2. Build (cached)
stamp_value() { sed -n "s/^$1=//p" "$BIN/STAMP" 2>/dev/null | head -1; }

build_is_current() {
  [ -s "$BIN/STAMP" ] || return 1
  [ "$(stamp_value recipe)" = "$RECIPE_VERSION" ] || return 1
  local c
  for c in "${COMPONENTS[@]}" pause; do [ -x "$BIN/$c" ] || return 1; done
}

# The Debian mirror apt already uses for this release: the deb-src entry must point at the same place.
debian_mirror() {
  local codename=$1
  local found
  # deb822 .sources files: the first stanza of Types deb for our suite.
  found=$(awk -v suite="$codename" '
    function flush() { if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uris != "") { print uris " " signed; found = 1; exit } types = suites = uris = signed = "" }
    /^[[:space:]]*$/ { flush(); next }
    /^Types:/ { sub(/^Types:[[:space:]]*/, ""); types = $0 }
    /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
    /^URIs:/ { sub(/^URIs:[[:space:]]*/, ""); split($0, u, " "); uris = u[1] }
    /^Signed-By:/ { sub(/^Signed-By:[[:space:]]*/, ""); signed = $0 }
    END { if (!found) flush() }
  ' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 || true)
  if [ -n "$found" ]; then echo "$found"; return 0; fi
  # One-line sources.list format: "deb [opts] URI suite components".
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk -v suite="$codename" '
    $1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ } if ($(i + 1) == suite) { print $i; exit } }'
}

ensure_deb_src() {
  if apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes'; then
    return 0
  fi
  local codename line uri signed list=/etc/apt/sources.list.d/flow-deb-src.sources
  # shellcheck disable=SC1091
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || die "cannot tell the Debian release from /etc/os-release"
  line=$(debian_mirror "$codename")
  uri=${line%% *}
  signed=""
  [ "$line" != "$uri" ] && signed=${line#* }
  [ -n "$uri" ] || die "no 'deb' entry for $codename in /etc/apt; cannot add the matching deb-src entry"
  say "adding deb-src for $uri $codename main ($list)"
  {
    echo "# Written by flow's scripts/local-cluster-up.sh: Debian's kubernetes source package."
    echo "Types: deb-src"
    echo "URIs: $uri"
    echo "Suites: $codename"
    echo "Components: main"
    [ -n "$signed" ] && echo "Signed-By: $signed"
  } >"$list"
  apt_updated=0
  apt_update
  apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes' \
    || die "Debian's kubernetes source package is not found even with $list"
}

build_kubernetes() {
  local t0 work src gopath version dsc
  t0=$(now)
  apt_install golang-go gcc libc6-dev dpkg-dev
  ensure_deb_src
  version=$(apt-cache showsrc --only-source kubernetes | awk '/^Version:/ { print $2 }' | sort -V | tail -1)
  [ -n "$version" ] || die "no version of the kubernetes source package found"
  say "building Kubernetes from Debian's source package kubernetes $version (10 to 20 min on 2 cores)"

  # Download once into src/; a rebuild of the same version reuses it.
  mkdir -p "$CACHE/src"
  dsc=$CACHE/src/kubernetes_${version#*:}.dsc
  if [ ! -s "$dsc" ]; then
    (cd "$CACHE/src" && apt-get source --download-only -qq -o APT::Sandbox::User=root "kubernetes=$version") \
      >"$LOG_DIR/build-source.log" 2>&1 || die "apt-get source kubernetes failed; see $LOG_DIR/build-source.log"
  fi
  [ -s "$dsc" ] || die "apt-get source did not leave $dsc"

  # GOPATH mode: the source unpacked straight at GOPATH/src/k8s.io/kubernetes (its vendor/ holds every
  # dependency; vendor/k8s.io/* are symlinks into staging/).
  work=$CACHE/work
  rm -rf "$work"
  gopath=$work/gopath
  src=$gopath/src/k8s.io/kubernetes
  mkdir -p "$(dirname "$src")"
  dpkg-source -x "$dsc" "$src" >"$LOG_DIR/build-unpack.log" 2>&1 \
    || die "dpkg-source -x $dsc failed; see $LOG_DIR/build-unpack.log"

  export GOPATH=$gopath GO111MODULE=off CGO_ENABLED=0 GOFLAGS='' GOCACHE=$work/go-cache GOTMPDIR=''
  export PATH="/usr/lib/go/bin:$PATH"
  cd "$src"

  # The version the binaries report: a `git archive` export records its tag and commit in version.sh.
  local git_version git_commit major minor
  git_version=$(grep -o "'tag: v[0-9][0-9.]*" hack/lib/version.sh | head -1 | sed "s/^'tag: //" || true)
  [ -n "$git_version" ] || git_version="v$(echo "$version" | sed -e 's/^[0-9]*://' -e 's/.*really//' -e 's/-.*//')"
  git_commit=$(sed -n "s/^ *KUBE_GIT_COMMIT='\([0-9a-f]\{40\}\)'.*/\1/p" hack/lib/version.sh | head -1)
  major=${git_version#v}; major=${major%%.*}
  minor=${git_version#v*.}; minor=${minor%%.*}
  local ldflags="-s -w" key val pkg
  for pkg in client-go/pkg/version component-base/version; do
    for key in gitVersion gitMajor gitMinor gitCommit gitTreeState buildDate; do
      case $key in
        gitVersion) val=$git_version ;;
        gitMajor) val=$major ;;
        gitMinor) val=$minor ;;
        gitCommit) val=$git_commit ;;
        gitTreeState) val=archive ;;
        buildDate) val=$(date -u +%Y-%m-%dT%H:%M:%SZ) ;;
      esac
      ldflags+=" -X k8s.io/kubernetes/vendor/k8s.io/$pkg.$key=$val"
    done
  done

  # The one generated file the source lacks: pkg/generated/openapi/zz_generated.openapi.go. `make` cannot
  # build its generators here, so build openapi-gen directly and feed it every package that asks for
  # OpenAPI definitions (a `// +k8s:openapi-gen=` tag), as Makefile.generated_files would.
  local t1 inputs
  t1=$(now)
  go build -o "$work/openapi-gen" k8s.io/kubernetes/vendor/k8s.io/kube-openapi/cmd/openapi-gen \
    >"$LOG_DIR/build-openapi.log" 2>&1 || die "building openapi-gen failed; see $LOG_DIR/build-openapi.log"
  # (grep -l exits 1 for a batch of files without the tag, hence the "|| true").
  inputs=$(find -L pkg cmd plugin vendor -name '*.go' -type f \
             -not -path '*/testdata/*' -not -path 'vendor/k8s.io/code-generator/*' \
             -not -path 'vendor/k8s.io/sample-apiserver/*' -print0 \
           | { xargs -0 grep -l '^// *+k8s:openapi-gen=' || true; } \
           | xargs -r -n1 dirname | sort -u | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
  [ -n "$inputs" ] || die "found no package tagged +k8s:openapi-gen in the source"
  "$work/openapi-gen" --logtostderr -i "$inputs" \
    -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
    -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt -r "$work/openapi-violations.report" \
    >>"$LOG_DIR/build-openapi.log" 2>&1 || die "openapi-gen failed; see $LOG_DIR/build-openapi.log"
  [ -s pkg/generated/openapi/zz_generated.openapi.go ] || die "openapi-gen wrote no zz_generated.openapi.go"
  say "generated pkg/generated/openapi/zz_generated.openapi.go ($(echo "$inputs" | tr , '\n' | wc -l) packages, $(since "$t1"))"

  # All five in one `go build`, so the shared packages compile once and both cores stay busy.
  local out=$work/bin c targets=()
  mkdir -p "$out"
  for c in "${COMPONENTS[@]}"; do targets+=("k8s.io/kubernetes/cmd/$c"); done
  t1=$(now)
  # No DWARF: the binaries are stripped anyway (-s -w), and the compiler does less work.
  go build -o "$out/" -gcflags=all=-dwarf=false -ldflags "$ldflags" "${targets[@]}" >"$LOG_DIR/build-go.log" 2>&1 \
    || { tail -n 20 "$LOG_DIR/build-go.log" >&2; die "go build failed; see $LOG_DIR/build-go.log"; }
  for c in "${COMPONENTS[@]}"; do [ -x "$out/$c" ] || die "go build left no $c"; done
  say "built ${COMPONENTS[*]} ($(since "$t1"))"

  # The pod sandbox ("pause") binary: static, so the image needs nothing else.
  local pause_tag
  pause_tag=$(sed -n 's/^TAG *?*= *\([0-9.]*\).*/\1/p' build/pause/Makefile | head -1)
  [ -n "$pause_tag" ] || pause_tag=3.4
  gcc -Os -Wall -static -DVERSION="v$pause_tag-flow" -o "$out/pause" build/pause/linux/pause.c \
    >"$LOG_DIR/build-pause.log" 2>&1 || die "gcc -static pause.c failed; see $LOG_DIR/build-pause.log"

  {
    echo "source=kubernetes $version"
    echo "version=$git_version"
    echo "pause_tag=$pause_tag"
    echo "recipe=$RECIPE_VERSION"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ) in $(since "$t0")"
  } >"$out/STAMP"
  cd /
  rm -rf "$BIN.new"
  mv "$out" "$BIN.new"
  rm -rf "$BIN"
  mv "$BIN.new" "$BIN"
  # The unpacked tree and Go's build cache are 2+ GB; the downloaded source stays in src/.
  rm -rf "$work"
  unset GOPATH GO111MODULE CGO_ENABLED GOFLAGS GOCACHE GOTMPDIR
  say "build cached in $BIN ($(since "$t0"))"
}

built_now=0
if [ "$rebuild" = 1 ] || ! build_is_current; then
  build_kubernetes
  built_now=1
fi
K8S_VERSION=$(stamp_value version)
PAUSE_IMAGE=flow-local/pause:$(stamp_value pause_tag)
KUBECTL=$BIN/kubectl

# The pause image, imported from the cached binary; labelled with its digest so a rebuild re-imports.
pause_sum=$(sha256sum "$BIN/pause" | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "flow.pause"}}' "$PAUSE_IMAGE" 2>/dev/null)" != "$pause_sum" ]; then
  tmp=$(mktemp -d)
  cp "$BIN/pause" "$tmp/pause"
  tar -C "$tmp" -c pause | docker import \
    --change 'ENTRYPOINT ["/pause"]' --change "LABEL flow.pause=$pause_sum" - "$PAUSE_IMAGE" >/dev/null \
    || die "docker import of $PAUSE_IMAGE failed"
  rm -rf "$tmp"
  say "imported $PAUSE_IMAGE"
fi

# ---------------------------------------------------------------------------------------------------
# 3. Certificates
mkdir -p "$PKI"
chmod 0700 "$PKI"

OPENSSL_CA_CONF=$PKI/.ca.cnf
cat >"$OPENSSL_CA_CONF" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = flow-local-ca
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
EOF

cert_fresh() {  # CRT: signed by our CA and valid for at least another day
  openssl verify -CAfile "$PKI/ca.crt" "$1" >/dev/null 2>&1 && openssl x509 -checkend 86400 -noout -in "$1" >/dev/null 2>&1
}

if ! { [ -s "$PKI/ca.key" ] && [ -s "$PKI/ca.crt" ] && openssl x509 -checkend 2592000 -noout -in "$PKI/ca.crt" >/dev/null 2>&1; }; then
  say "creating the cluster CA in $PKI"
  (umask 077 && openssl genrsa -out "$PKI/ca.key" 2048 2>/dev/null)
  openssl req -x509 -new -config "$OPENSSL_CA_CONF" -extensions v3_ca -key "$PKI/ca.key" -days 3650 \
    -out "$PKI/ca.crt" 2>/dev/null || die "openssl could not create the CA"
fi

# issue NAME SUBJECT EXTENSIONS: a key and a certificate signed by the CA. Remade when missing, not signed
# by the current CA, expiring within a day, or asked for with another subject or other extensions.
issue() {
  local name=$1 subject=$2 ext=$3
  local key=$PKI/$name.key crt=$PKI/$name.crt spec=$PKI/$name.spec want
  want=$(printf '%s\n%s\n' "$subject" "$ext")
  if [ -s "$key" ] && [ -s "$crt" ] && [ "$(cat "$spec" 2>/dev/null)" = "$want" ] && cert_fresh "$crt"; then
    return 0
  fi
  [ -s "$key" ] || (umask 077 && openssl genrsa -out "$key" 2048 2>/dev/null)
  printf 'basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\n%s\n' \
    "$ext" >"$PKI/.$name.ext"
  openssl req -new -key "$key" -subj "$subject" -out "$PKI/.$name.csr" 2>/dev/null \
    || die "openssl could not make a request for the $name certificate"
  openssl x509 -req -in "$PKI/.$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -extfile "$PKI/.$name.ext" -out "$crt" 2>/dev/null \
    || die "openssl could not issue the $name certificate"
  rm -f "$PKI/.$name.csr" "$PKI/.$name.ext"
  printf '%s\n' "$want" >"$spec"
  say "issued certificate $name ($subject)"
}

server_ext() { echo "extendedKeyUsage = serverAuth"; echo "subjectAltName = $1"; }
client_ext="extendedKeyUsage = clientAuth"

issue apiserver "/CN=kube-apiserver" "$(server_ext "DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, IP:127.0.0.1, IP:$SERVICE_IP")"
issue admin "/O=system:masters/CN=flow-admin" "$client_ext"
issue controller-manager "/CN=system:kube-controller-manager" "$client_ext"
issue scheduler "/CN=system:kube-scheduler" "$client_ext"
# The kubelet's own identity: the Node authorizer and NodeRestriction limit it to its node's objects.
issue kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" "$client_ext"
# Its serving certificate, so the apiserver can verify it when it proxies logs, exec and stats.
issue kubelet-server "/CN=$NODE_NAME" "$(server_ext "DNS:$NODE_NAME, IP:127.0.0.1")"
if [ ! -s "$PKI/sa.key" ] || [ ! -s "$PKI/sa.pub" ]; then
  # Kept for good: changing it would invalidate every ServiceAccount token already handed out.
  (umask 077 && openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null)
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null || die "openssl could not write sa.pub"
  say "created the service-account key pair"
fi

# ---------------------------------------------------------------------------------------------------
# Configuration files for the components
write_if_changed() {  # PATH: stdin to PATH, leaving the file (and its mtime) alone when equal
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else chmod 0600 "$tmp"; mv -f "$tmp" "$1"; fi
}

# kubeconfig_files NAME USER: a kubeconfig that points at the PKI files (for the components).
kubeconfig_files() {
  write_if_changed "$CONF/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: flow-local
  cluster:
    server: $API_URL
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$1.crt
    client-key: $PKI/$1.key
contexts:
- name: $2@flow-local
  context: {cluster: flow-local, user: $2}
current-context: $2@flow-local
EOF
}
kubeconfig_files admin flow-admin
kubeconfig_files controller-manager system:kube-controller-manager
kubeconfig_files scheduler system:kube-scheduler
kubeconfig_files kubelet-client "system:node:$NODE_NAME"

mkdir -p "$STATE/kubelet" "$STATE/etcd"
chmod 0700 "$STATE/etcd"
# The kubelet. Everything it serves stays on loopback; eviction and image GC are relaxed so that a
# mostly-full disk on a developer machine neither evicts flow's pods nor deletes the test images.
write_if_changed "$CONF/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $PKI/kubelet-server.crt
tlsPrivateKeyFile: $PKI/kubelet-server.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: Webhook
cgroupDriver: $cgroup_driver
failSwapOn: false
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
evictionPressureTransitionPeriod: 30s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 110
EOF

# ---------------------------------------------------------------------------------------------------
# 4. Processes
# Running components are recorded as <name>.pid and <name>.cmd (the command line plus a digest of the
# certificates and configuration). A live process whose record differs is restarted.
config_digest=$(cat "$PKI"/*.crt "$PKI"/*.key "$PKI"/sa.pub "$CONF"/* 2>/dev/null | sha256sum | cut -c1-16)

alive() {  # PID: running (a zombie is not)
  local state
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
  state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$state" != Z ] && [ "$state" != X ]
}

pid_of() { cat "$RUN_DIR/$1.pid" 2>/dev/null || true; }

running_ours() {  # NAME BINARY: its pidfile names a live process of that binary
  local pid exe
  pid=$(pid_of "$1")
  alive "$pid" || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [ "$exe" = "$2" ]  # a rebuilt binary shows as "... (deleted)" and counts as outdated
}

running_stale() {  # NAME BINARY: its pidfile names a live process of an older build of that binary
  local pid exe
  pid=$(pid_of "$1")
  alive "$pid" || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [ "$exe" = "$2 (deleted)" ]
}

stop_pid() {  # NAME: TERM, then KILL after 15 s
  local pid n=0
  pid=$(pid_of "$1")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    while alive "$pid" && [ "$n" -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$RUN_DIR/$1.pid" "$RUN_DIR/$1.cmd"
}

STARTED=()
declare -A LAUNCHED_AT=()  # NAME -> epoch seconds, for what this run (re)started
fail_component() {  # NAME MESSAGE
  echo "--- last lines of $LOG_DIR/$1.log:" >&2
  tail -n 25 "$LOG_DIR/$1.log" >&2 2>/dev/null || true
  die "$1: $2 (log $LOG_DIR/$1.log)"
}

check_alive() {
  local name
  for name in "${STARTED[@]}"; do
    alive "$(pid_of "$name")" || fail_component "$name" "exited"
  done
}

# The environment of every component. The kubelet's built-in ECR credential provider asks the AWS SDK for
# credentials at start-up, and the SDK's chain ends with the EC2 metadata service (169.254.169.254):
# traffic off this machine, which must not happen here.
COMPONENT_ENV=(AWS_EC2_METADATA_DISABLED=true)

# start NAME BINARY ARGS...: keep the running one when it matches, else (re)start it.
start() {
  local name=$1 bin=$2 record
  shift 2
  record="$(printf '%q ' "$bin" "$@") env=${COMPONENT_ENV[*]} config=$config_digest"
  STARTED+=("$name")
  if running_ours "$name" "$bin" && [ "$(cat "$RUN_DIR/$name.cmd" 2>/dev/null)" = "$record" ]; then
    return 0
  fi
  # Stop only what is provably ours: a pidfile outliving a reboot may name someone else's process.
  if running_ours "$name" "$bin" || running_stale "$name" "$bin"; then
    say "restarting $name (its flags, binary or certificates changed)"
    stop_pid "$name"
  fi
  # A process we did not start must not hold our ports; say who it is rather than fail obscurely.
  local port holder
  for port in $(port_of "$name"); do
    holder=$(ss -Htlnp "sport = :$port" 2>/dev/null | head -1 | sed 's/.*users:((\(.*\)))/\1/')
    [ -z "$holder" ] || die "$name: port $port is already in use by $holder (not started by this script; stop it first)"
  done
  echo "=== $(date -Is) local-cluster-up.sh: $record" >>"$LOG_DIR/$name.log"
  LAUNCHED_AT[$name]=$(date +%s)
  # setsid + nohup: the process outlives this script; fd 9 (our lock) is not inherited.
  # A simple command put in the background, so that $! is the component itself (setsid, nohup and env
  # each exec the next); the subshell keeps `cd /` from holding the caller's directory.
  (cd / || exit 1
   setsid nohup env "${COMPONENT_ENV[@]}" "$bin" "$@" >>"$LOG_DIR/$name.log" 2>&1 9>&- </dev/null &
   echo $! >"$RUN_DIR/$name.pid")
  local n=0
  until running_ours "$name" "$bin"; do
    [ "$n" -lt 30 ] || fail_component "$name" "did not start (pid $(pid_of "$name") is not $bin)"
    sleep 0.1; n=$((n + 1))
  done
  printf '%s\n' "$record" >"$RUN_DIR/$name.cmd"
  say "started $name (pid $(pid_of "$name"), log $LOG_DIR/$name.log)"
}

port_of() {
  case $1 in
    etcd) echo 2379 2380 ;;
    kube-apiserver) echo 6443 ;;
    kube-controller-manager) echo 10257 ;;
    kube-scheduler) echo 10259 ;;
    kubelet) echo 10250 10248 ;;
  esac
}

# wait_until NAME SECONDS WHAT CMD...: poll CMD; fail naming NAME, with its log, at the deadline or as
# soon as any component started so far has died.
wait_until() {
  local name=$1 secs=$2 what=$3 deadline
  shift 3
  deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    check_alive
    [ "$(date +%s)" -lt "$deadline" ] || fail_component "$name" "$what not reached within ${secs}s"
    sleep 0.5
  done
}

kubectl_admin() { "$KUBECTL" --kubeconfig "$CONF/admin.kubeconfig" --request-timeout=10s "$@"; }

t_start=$(now)
start etcd "$ETCD" \
  --name flow-local --data-dir "$STATE/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster flow-local=http://127.0.0.1:2380 --initial-cluster-state new \
  --snapshot-count 10000
wait_until etcd 30 "health on 127.0.0.1:2379" curl -sf --max-time 2 http://127.0.0.1:2379/health

start kube-apiserver "$BIN/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:2379 \
  --bind-address=127.0.0.1 --secure-port=6443 --insecure-port=0 --advertise-address=127.0.0.1 \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key" \
  --kubelet-certificate-authority="$PKI/ca.crt" \
  --kubelet-preferred-address-types=Hostname \
  --endpoint-reconciler-type=none \
  --allow-privileged=false --profiling=false --event-ttl=1h --v=1
wait_until kube-apiserver 120 "/readyz" kubectl_admin get --raw=/readyz

start kube-controller-manager "$BIN/kube-controller-manager" \
  --kubeconfig="$CONF/controller-manager.kubeconfig" --leader-elect=false \
  --authentication-kubeconfig="$CONF/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$CONF/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10257 --port=0 \
  --use-service-account-credentials=true \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --profiling=false --v=1

start kube-scheduler "$BIN/kube-scheduler" \
  --kubeconfig="$CONF/scheduler.kubeconfig" --leader-elect=false \
  --authentication-kubeconfig="$CONF/scheduler.kubeconfig" \
  --authorization-kubeconfig="$CONF/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10259 --port=0 \
  --profiling=false --v=1

# Their secure ports serve /healthz to anyone (the default always-allowed path); self-signed certs.
healthz() { [ "$(curl -sk --max-time 2 "https://127.0.0.1:$1/healthz")" = ok ]; }
wait_until kube-controller-manager 60 "/healthz on 127.0.0.1:10257" healthz 10257
wait_until kube-scheduler 60 "/healthz on 127.0.0.1:10259" healthz 10259

start kubelet "$BIN/kubelet" \
  --config="$CONF/kubelet.yaml" --kubeconfig="$CONF/kubelet-client.kubeconfig" \
  --hostname-override="$NODE_NAME" --root-dir="$STATE/kubelet" --cert-dir="$STATE/kubelet/pki" \
  --container-runtime=docker --docker-endpoint=unix:///var/run/docker.sock \
  --pod-infra-container-image="$PAUSE_IMAGE" --v=1

# Ready as reported by THIS kubelet: a node object outlives its kubelet and says Ready for another 40 s,
# so after a (re)start the heartbeat must be newer than the start (a kubelet posts its status at once).
kubelet_since=$(( ${LAUNCHED_AT[kubelet]:-0} - 1 ))
node_ready() {
  local out beat
  out=$(kubectl_admin get node "$NODE_NAME" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}') \
    || return 1
  [ "${out%% *}" = True ] || return 1
  beat=$(date -d "${out#* }" +%s 2>/dev/null) || return 1
  [ "$beat" -ge "$kubelet_since" ]
}
kubelet_healthz() { [ "$(curl -s --max-time 2 http://127.0.0.1:10248/healthz)" = ok ]; }
wait_until kubelet 120 "/healthz on 127.0.0.1:10248" kubelet_healthz
wait_until kubelet 180 "node $NODE_NAME Ready" node_ready
say "node $NODE_NAME Ready (Kubernetes $K8S_VERSION; $(since "$t_start") since the first start step)"

# ---------------------------------------------------------------------------------------------------
# 5. Cluster objects
mkdir -p "$VOLUMES/$ROOT_PV"
chmod 0777 "$VOLUMES/$ROOT_PV"

# The pipeline root volume: a hostPath PV reserved (claimRef) for flow's claim flow/flow-root. There is
# no provisioner; flow creates the claim when missing and the PV controller binds it to this volume.
pv_manifest() {  # NAME CLAIM DIR
  cat <<EOF
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $1
  labels: {app.kubernetes.io/managed-by: flow-local-cluster}
spec:
  capacity: {storage: 20Gi}
  accessModes: [ReadWriteOnce, ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {apiVersion: v1, kind: PersistentVolumeClaim, namespace: $NAMESPACE, name: $2}
  hostPath: {path: $3, type: Directory}
EOF
}

# One apply, in order (the namespace before what lives in it); no client-side validation, which would
# fetch the whole OpenAPI schema first.
{
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n---\n' "$NAMESPACE"
  cat "$REPO/deploy/rbac.yaml"
  printf '\n---\n'
  pv_manifest "$ROOT_PV" "$ROOT_CLAIM" "$VOLUMES/$ROOT_PV"
} | kubectl_admin apply --validate=false -f - >"$LOG_DIR/apply.log" 2>&1 \
  || { cat "$LOG_DIR/apply.log" >&2; die "could not apply namespace $NAMESPACE, deploy/rbac.yaml and PV $ROOT_PV"; }
# A claim deleted since leaves the PV Released, bound to the old claim's uid, so that a new flow-root
# would never bind. Retain kept the data; make the volume available to the next flow-root again.
if [ "$(kubectl_admin get pv "$ROOT_PV" -o 'jsonpath={.status.phase}')" = Released ]; then
  kubectl_admin patch pv "$ROOT_PV" --type=merge -p '{"spec": {"claimRef": {"uid": null, "resourceVersion": null}}}' \
    >/dev/null || die "could not make the Released PersistentVolume $ROOT_PV available again"
  say "PersistentVolume $ROOT_PV was Released; made it available to a new claim $NAMESPACE/$ROOT_CLAIM"
fi

# The `kubernetes` Service for pods (a detached run's driver talks to the API in-cluster): with no
# kube-proxy here, forward its address to the API server on loopback as kube-proxy would. The DNAT mark
# is what lets those connections past KUBE-FIREWALL's drop of other packets to 127.0.0.0/8.
sysctl -qw "net.ipv4.conf.docker0.route_localnet=1" || die "could not set route_localnet on docker0"
service_rule=(-i docker0 -d "$SERVICE_IP/32" -p tcp --dport 443 -m comment --comment "flow local cluster: the kubernetes Service" -j DNAT --to-destination "127.0.0.1:${API_URL##*:}")
iptables -t nat -C PREROUTING "${service_rule[@]}" 2>/dev/null \
  || iptables -t nat -I PREROUTING 1 "${service_rule[@]}" || die "could not forward $SERVICE_IP:443 to the API server"

default_sa() { kubectl_admin -n "$NAMESPACE" get serviceaccount default; }
wait_until kube-controller-manager 60 "ServiceAccount $NAMESPACE/default" default_sa

# ---------------------------------------------------------------------------------------------------
# 6. Kubeconfigs. In 1.20 the token controller puts a ServiceAccount's token in a Secret of its own.
runner_token() {
  local secret
  secret=$(kubectl_admin -n "$NAMESPACE" get serviceaccount "$RUNNER_SA" -o 'jsonpath={.secrets[0].name}') || return 1
  [ -n "$secret" ] || return 1
  kubectl_admin -n "$NAMESPACE" get secret "$secret" -o 'jsonpath={.data.token}' | base64 -d
}
wait_until kube-controller-manager 60 "a token Secret for ServiceAccount $NAMESPACE/$RUNNER_SA" runner_token
token=$(runner_token)
ca_data=$(base64 -w0 <"$PKI/ca.crt")

write_if_changed "$STATE/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: flow-local
  cluster:
    server: $API_URL
    certificate-authority-data: $ca_data
users:
- name: flow-admin
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/admin.crt")
    client-key-data: $(base64 -w0 <"$PKI/admin.key")
contexts:
- name: flow-admin@flow-local
  context: {cluster: flow-local, user: flow-admin}
current-context: flow-admin@flow-local
EOF
write_if_changed "$STATE/flow.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: flow-local
  cluster:
    server: $API_URL
    certificate-authority-data: $ca_data
users:
- name: $RUNNER_SA
  user:
    token: $token
contexts:
- name: $RUNNER_SA@flow-local
  context: {cluster: flow-local, user: $RUNNER_SA, namespace: $NAMESPACE}
current-context: $RUNNER_SA@flow-local
EOF
# Readable by the user that runs the tests, who may not be root; the token only reaches namespace flow.
chmod 0644 "$STATE/flow.kubeconfig"

kubectl_runner() { "$KUBECTL" --kubeconfig "$STATE/flow.kubeconfig" --request-timeout=10s "$@"; }
[ "$(kubectl_runner auth can-i create pods)" = yes ] \
  || die "flow.kubeconfig does not authenticate as $NAMESPACE/$RUNNER_SA with pod rights"

# ---------------------------------------------------------------------------------------------------
# 7. Smoke check: what flow's backend does, as flow-runner. A claim bound to a temporary pre-bound
# hostPath volume (flow-root stays unclaimed), a pod on a local image writing into it, its logs.
smoke_check() {
  local t0 name=flow-smoke-check dir=$VOLUMES/flow-smoke-check out phase=""
  t0=$(now)
  docker image inspect "$SMOKE_IMAGE" >/dev/null 2>&1 || bash "$HERE/build-test-images.sh" busybox \
    || die "smoke check: could not build $SMOKE_IMAGE"
  kubectl_runner delete pod "$name" --ignore-not-found --wait=true >/dev/null 2>&1 || true
  kubectl_admin -n "$NAMESPACE" delete pvc "$name" --ignore-not-found --wait=true >/dev/null 2>&1 || true
  kubectl_admin delete pv "$name" --ignore-not-found --wait=true >/dev/null 2>&1 || true
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 0777 "$dir"
  pv_manifest "$name" "$name" "$dir" | kubectl_admin apply --validate=false -f - >/dev/null || die "smoke check: PV failed"
  kubectl_runner create --validate=false -f - >/dev/null <<EOF || die "smoke check: flow-runner could not create a PVC and a pod"
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: $name
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata:
  name: $name
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: $SMOKE_IMAGE
    imagePullPolicy: Never
    command: [sh, -c, 'echo "flow smoke check" > /flow/hello.txt && cat /flow/hello.txt']
    volumeMounts: [{name: root, mountPath: /flow}]
  volumes:
  - name: root
    persistentVolumeClaim: {claimName: $name}
EOF
  local deadline=$(( $(date +%s) + 120 ))
  while :; do
    phase=$(kubectl_runner get pod "$name" -o 'jsonpath={.status.phase}' 2>/dev/null || true)
    [ "$phase" = Succeeded ] && break
    if [ "$phase" = Failed ] || [ "$(date +%s)" -ge "$deadline" ]; then
      kubectl_admin -n "$NAMESPACE" describe pod "$name" >&2 || true
      fail_component kubelet "smoke check: pod $name is '$phase', not Succeeded"
    fi
    check_alive
    sleep 0.5
  done
  out=$(kubectl_runner logs "$name") || fail_component kubelet "smoke check: kubectl logs failed"
  [ "$out" = "flow smoke check" ] || die "smoke check: unexpected logs '$out'"
  [ "$(cat "$dir/hello.txt" 2>/dev/null)" = "flow smoke check" ] || die "smoke check: $dir/hello.txt not written"
  kubectl_runner delete pod "$name" --wait=true >/dev/null || die "smoke check: could not delete the pod"
  kubectl_admin -n "$NAMESPACE" delete pvc "$name" --wait=true >/dev/null || true
  kubectl_admin delete pv "$name" --wait=true >/dev/null || true
  rm -rf "$dir"
  say "smoke check passed as $NAMESPACE/$RUNNER_SA: PVC bound, pod Succeeded, logs read, file on the host ($(since "$t0"))"
}
if [ "$built_now" = 1 ] || [ "$check" = 1 ]; then
  smoke_check
fi

say "ready in $(since "$T0"): Kubernetes $K8S_VERSION at $API_URL, node $NODE_NAME, namespace $NAMESPACE"
say "admin: KUBECONFIG=$STATE/admin.kubeconfig; kubectl $K8S_VERSION (matches the server): $KUBECTL"
echo "export KUBECONFIG=$STATE/flow.kubeconfig"
