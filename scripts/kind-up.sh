#!/usr/bin/env bash
# A kind cluster ready for `flow run --cluster`, for users with internet and Docker.
#
#   scripts/kind-up.sh [--name NAME] [--node-image IMAGE] [IMAGE ...]
#
#   --name NAME          kind cluster to create or reuse (default: flow; kubectl context kind-NAME)
#   --node-image IMAGE   kindest/node image for a new cluster (default: kind's own default)
#   IMAGE ...            local Docker images to load into the cluster's node(s) with
#                        `kind load docker-image`, e.g. the images your pipelines use
#
# Idempotent: reuses the cluster when it exists, re-applies the objects, reloads the images. Then:
#   - namespace `flow` and deploy/rbac.yaml (ServiceAccount flow-runner and its Role);
#   - a default StorageClass (kind ships `standard`, backed by its local-path provisioner), so that
#     the pipeline-root claim flow creates gets a volume;
#   - a kubeconfig that authenticates as flow/flow-runner:
#       ${XDG_CONFIG_HOME:-~/.config}/flow/kind-NAME.kubeconfig
#     (a long-lived token from a Secret of type kubernetes.io/service-account-token).
# Needs kind, kubectl and a Docker engine that can pull kind's node image. Without internet (no
# registry), use scripts/local-cluster-up.sh instead.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
NAMESPACE=flow
RUNNER_SA=flow-runner
TOKEN_SECRET=flow-runner-token

die() { echo "kind-up: error: $*" >&2; exit 1; }
say() { echo "kind-up: $*"; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

name=flow
node_image=""
images=()
while [ $# -gt 0 ]; do
  case "$1" in
    --name) [ $# -ge 2 ] || die "--name needs a value"; name=$2; shift 2 ;;
    --name=*) name=${1#--name=}; shift ;;
    --node-image) [ $# -ge 2 ] || die "--node-image needs a value"; node_image=$2; shift 2 ;;
    --node-image=*) node_image=${1#--node-image=}; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; images+=("$@"); break ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) images+=("$1"); shift ;;
  esac
done
[ -n "$name" ] || die "--name must not be empty"

for tool in kind kubectl docker; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on PATH (kind: https://kind.sigs.k8s.io/docs/user/quick-start/)"
done
timeout 20 docker info >/dev/null 2>&1 || die "the Docker engine does not answer ('docker info' failed)"

# Fail early, before a slow cluster start, on an image that is not there to load.
for image in "${images[@]}"; do
  docker image inspect "$image" >/dev/null 2>&1 || die "image '$image' is not in the local Docker engine (build or pull it first)"
done

# ---------------------------------------------------------------------------------------------------
# The cluster
if kind get clusters 2>/dev/null | grep -qx -- "$name"; then
  say "reusing kind cluster '$name'"
else
  args=(create cluster --name "$name" --wait 5m)
  [ -z "$node_image" ] || args+=(--image "$node_image")
  say "creating kind cluster '$name' (pulls kind's node image the first time; a few minutes)"
  kind "${args[@]}" || die "kind create cluster --name $name failed"
fi

# Our own copy of the admin kubeconfig, so nothing below depends on (or changes) the user's current
# context; `kind create cluster` has already added the context kind-NAME to the user's kubeconfig.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
admin=$work/admin.kubeconfig
kind get kubeconfig --name "$name" >"$admin" 2>/dev/null || die "kind get kubeconfig --name $name failed"
k() { kubectl --kubeconfig "$admin" --request-timeout=30s "$@"; }

k wait --for=condition=Ready node --all --timeout=300s >/dev/null \
  || die "the nodes of kind cluster '$name' did not turn Ready within 5 min"

# ---------------------------------------------------------------------------------------------------
# flow's namespace and least-privilege identity
k create namespace "$NAMESPACE" --dry-run=client -o yaml | k apply -f - >/dev/null \
  || die "could not create namespace $NAMESPACE"
k apply -f "$REPO/deploy/rbac.yaml" >/dev/null || die "could not apply deploy/rbac.yaml"

# ---------------------------------------------------------------------------------------------------
# A default StorageClass: flow's pipeline-root claim names no class, so it needs the default one.
default_class() {
  k get storageclass -o jsonpath='{range .items[?(@.metadata.annotations.storageclass\.kubernetes\.io/is-default-class=="true")]}{.metadata.name}{"\n"}{end}' \
    | head -1
}
class=$(default_class)
if [ -z "$class" ]; then
  if k get storageclass standard >/dev/null 2>&1; then
    k annotate storageclass standard --overwrite storageclass.kubernetes.io/is-default-class=true >/dev/null \
      || die "could not mark StorageClass standard as the default"
    class=standard
    say "marked StorageClass standard as the default"
  else
    die "no default StorageClass in kind cluster '$name' and no 'standard' one to mark (kind normally ships it)"
  fi
fi

# ---------------------------------------------------------------------------------------------------
# Images the pods will use (imagePullPolicy IfNotPresent or Never; a :latest tag means Always).
if [ ${#images[@]} -gt 0 ]; then
  say "loading ${#images[@]} image(s) into kind cluster '$name'"
  kind load docker-image --name "$name" "${images[@]}" || die "kind load docker-image failed"
fi

# ---------------------------------------------------------------------------------------------------
# A kubeconfig for flow as flow/flow-runner. Since Kubernetes 1.24 no token Secret is made on its own;
# asking for one (type kubernetes.io/service-account-token) gives a token that does not expire.
k apply -f - >/dev/null <<EOF || die "could not create the token Secret for $RUNNER_SA"
apiVersion: v1
kind: Secret
metadata:
  name: $TOKEN_SECRET
  namespace: $NAMESPACE
  annotations:
    kubernetes.io/service-account.name: $RUNNER_SA
type: kubernetes.io/service-account-token
EOF
token=""
for _ in $(seq 1 60); do
  token=$(k -n "$NAMESPACE" get secret "$TOKEN_SECRET" -o jsonpath='{.data.token}' 2>/dev/null | base64 -d 2>/dev/null || true)
  [ -n "$token" ] && break
  sleep 1
done
[ -n "$token" ] || die "the token controller did not fill Secret $NAMESPACE/$TOKEN_SECRET within 60s"

server=$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
ca_data=$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
if [ -z "$server" ] || [ -z "$ca_data" ]; then
  die "could not read the server and CA from kind's kubeconfig"
fi

out_dir=${XDG_CONFIG_HOME:-$HOME/.config}/flow
out=$out_dir/kind-$name.kubeconfig
mkdir -p "$out_dir"
(umask 077 && cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kind-$name
  cluster:
    server: $server
    certificate-authority-data: $ca_data
users:
- name: $RUNNER_SA
  user:
    token: $token
contexts:
- name: $RUNNER_SA@kind-$name
  context: {cluster: kind-$name, user: $RUNNER_SA, namespace: $NAMESPACE}
current-context: $RUNNER_SA@kind-$name
EOF
)
[ "$(kubectl --kubeconfig "$out" auth can-i create pods -n "$NAMESPACE" 2>/dev/null)" = yes ] \
  || die "$out does not let $RUNNER_SA create pods in $NAMESPACE"

say "kind cluster '$name' ready: namespace $NAMESPACE, ServiceAccount $RUNNER_SA, default StorageClass $class"
say "admin access: kubectl --context kind-$name ...; delete with: kind delete cluster --name $name"
say "point flow at it (flow runs as $NAMESPACE/$RUNNER_SA) and run with: flow run PIPELINE --cluster"
echo "export KUBECONFIG=$out"
