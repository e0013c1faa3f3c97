#!/usr/bin/env bash
# Builds the tools that CI and the integration tests need from the Go module proxy, once per
# version, into a cache OUTSIDE the repo; prints the directory to put on PATH.
#
#   scripts/toolchain.sh lint      actionlint
#   scripts/toolchain.sh cluster   etcd + kube-apiserver + kube-controller-manager (a real control plane
#                                  for integration tests: no scheduler, no kubelet)
#   scripts/toolchain.sh s3        s5cmd (the preload Jobs' copier) + versitygw (an S3 server)
#   scripts/toolchain.sh bench     s3 + Debian's awscli and busybox (the transfer benchmark)
#   scripts/toolchain.sh node      what the one-node cluster adds (scripts/node-cluster.sh): kubelet,
#                                  kube-scheduler, kube-proxy, kubectl, CoreDNS, a pause binary, and
#                                  the MinIO server and client for the local images
#   scripts/toolchain.sh pulumi    the Pulumi CLI + its kubernetes and random provider plugins (the
#                                  engine of `npm run local` and the engine tests), built concurrently
#
# The binaries land in $LLM_SERVING_CACHE/toolchain/bin (default ~/.cache/llm-serving), named with
# their versions (plugins: also a digest of their wrapper module) and linked to plain names; a
# second run reuses them. Build logs: $LLM_SERVING_CACHE/toolchain/logs.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${LLM_SERVING_CACHE:-$HOME/.cache/llm-serving}/toolchain"
BIN="$CACHE/bin"
LOGS="$CACHE/logs"
mkdir -p "$BIN" "$LOGS"
export GOFLAGS="${GOFLAGS:-} -trimpath" CGO_ENABLED=0 GOTOOLCHAIN=local

command -v go >/dev/null || { echo "toolchain: Go is required (the machine image ships it; or apt-get install golang)" >&2; exit 1; }

# module_version DIR MODULE: the version a wrapper module under toolchain/ pins.
module_version() { (cd "toolchain/$1" && go list -m -f '{{.Version}}' "$2"); }
KUBERNETES_VERSION=$(module_version kubernetes k8s.io/kubernetes)
ETCD_VERSION=$(module_version etcd go.etcd.io/etcd/server/v3)
PULUMI_VERSION=$(module_version pulumi github.com/pulumi/pulumi/pkg/v3)
# The proxy serves the provider only as a pseudo-version right after v4.25.0: the plugin reports that.
KUBERNETES_PLUGIN_VERSION=4.25.0
# The random plugin serves @pulumi/random's tokens; it reports the SDK version the program pins.
RANDOM_PLUGIN_VERSION=$(node -p 'require("./package-lock.json").packages["node_modules/@pulumi/random"].version')
ACTIONLINT_VERSION=$(module_version lint github.com/rhysd/actionlint)
COREDNS_VERSION=$(module_version coredns github.com/coredns/coredns)
LOCAL_PATH_VERSION=$(module_version local-path github.com/rancher/local-path-provisioner)
MINIO_VERSION=$(module_version minio github.com/minio/minio)
MC_VERSION=$(module_version mc github.com/minio/mc)
S5CMD_VERSION=$(module_version bench github.com/peak/s5cmd/v2)
VERSITYGW_VERSION=$(module_version bench github.com/versity/versitygw)

# build NAME VERSION COMMAND...: runs COMMAND (which writes $out) unless NAME-VERSION exists; the
# binary appears under its name only once complete.
build() {
  local name=$1 version=$2
  shift 2
  local final="$BIN/$name-$version"
  out="$BIN/.$name-$version.partial"
  if [ ! -x "$final" ]; then
    local start=$SECONDS
    echo "toolchain: building $name $version" >&2
    # Explicit checks: `piece` runs this inside a condition, where bash ignores `set -e`.
    "$@" || return 1
    mv -f "$out" "$final" || return 1
    echo "toolchain: built $name $version in $((SECONDS - start)) s" >&2
  fi
  ln -sf "$(basename "$final")" "$BIN/$name"
}

# digest DIR: a short digest of the wrapper module toolchain/DIR (its go.mod, go.sum and sources).
digest() { (cd "toolchain/$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-10); }

# piece NAME VERSION MINUTES WHAT COMMAND...: `build` with its output in a log; one line when it
# starts (with the minutes it takes alone, cold, on 2 cores) and one when it ends; on failure the
# piece, WHAT (module@version) and the end of the log.
piece() {
  local name=$1 version=$2 minutes=$3 what=$4
  shift 4
  local log="$LOGS/$name-$version.log"
  if [ -x "$BIN/$name-$version" ]; then
    ln -sf "$name-$version" "$BIN/$name"
    return 0
  fi
  echo "toolchain: building $name $version from $what (about $minutes min alone, cold)" >&2
  if ! (build "$name" "$version" "$@") >"$log" 2>&1; then
    echo "toolchain: FAILED $name $version from $what; the end of $log:" >&2
    tail -n 25 "$log" | sed 's/^/  | /' >&2
    return 1
  fi
  tail -n 1 "$log" >&2
}

# go_build DIR PACKAGE [LDFLAGS]: builds PACKAGE of the wrapper module toolchain/DIR into $out.
go_build() { (cd "toolchain/$1" && go build -ldflags "${3:-}" -o "$out" "$2"); }

lint() {
  build actionlint "$ACTIONLINT_VERSION" go_build lint github.com/rhysd/actionlint/cmd/actionlint
}

cluster() {
  build etcd "$ETCD_VERSION" go_build etcd go.etcd.io/etcd/server/v3
  build kube-apiserver "$KUBERNETES_VERSION" go_build kubernetes k8s.io/kubernetes/cmd/kube-apiserver
  build kube-controller-manager "$KUBERNETES_VERSION" go_build kubernetes k8s.io/kubernetes/cmd/kube-controller-manager
}

# kube_build NAME: a k8s.io/kubernetes command with the version stamps `hack/lib/version.sh` sets
# (without them `/version` says v0.0.0-master and `kubectl version` refuses the skew).
kube_build() {
  local minor=${KUBERNETES_VERSION#v1.} ldflags="-s -w" pkg
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  go_build kubernetes "k8s.io/kubernetes/cmd/$1" "$ldflags"
}

# The pause binary every pod sandbox runs: the project's own (toolchain/pause), as no registry is reachable.
pause_build() { (cd toolchain/pause && go build -ldflags "-s -w" -o "$out" .); }

node() {
  build kubelet "$KUBERNETES_VERSION" kube_build kubelet
  build kube-scheduler "$KUBERNETES_VERSION" kube_build kube-scheduler
  build kube-proxy "$KUBERNETES_VERSION" kube_build kube-proxy
  build kubectl "$KUBERNETES_VERSION" kube_build kubectl
  build coredns "$COREDNS_VERSION" go_build coredns github.com/coredns/coredns
  build local-path-provisioner "$LOCAL_PATH_VERSION" go_build local-path github.com/rancher/local-path-provisioner "-s -w"
  build pause "$(digest pause)" pause_build
  build minio "$MINIO_VERSION" go_build minio github.com/minio/minio
  build mc "$MC_VERSION" go_build mc github.com/minio/mc
}

s3() {
  build s5cmd "$S5CMD_VERSION" go_build bench github.com/peak/s5cmd/v2 "-X github.com/peak/s5cmd/v2/version.Version=$S5CMD_VERSION"
  build versitygw "$VERSITYGW_VERSION" go_build bench github.com/versity/versitygw/cmd/versitygw
}

bench() {
  s3
  # The baseline is the aws-cli users get from their distribution; busybox stands in for the
  # userland of the Alpine-based s5cmd image.
  if [ ! -x /usr/bin/aws ] || [ ! -x /usr/bin/busybox ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "toolchain: installing Debian's awscli and busybox-static" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli busybox-static) >&2
    else
      echo "toolchain: /usr/bin/aws or /usr/bin/busybox is missing: apt-get install awscli busybox-static (as root)" >&2
      exit 1
    fi
  fi
}

pulumi_cli() {
  local ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
  (cd toolchain/pulumi && go build -tags osusergo,grpcnotrace -ldflags "$ldflags" -o "$out" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
}

# staged DIR: a copy of the wrapper module toolchain/DIR in a build directory outside the repo,
# where generated files (schemas) can be written next to it; prints its path.
staged() {
  local dir="$CACHE/build/$1"
  rm -rf "$dir" && mkdir -p "$dir" && cp -R "toolchain/$1/." "$dir/" && echo "$dir"
}

# The kubernetes plugin embeds the schema and terraform mapping that its module ships.
kubernetes_plugin() {
  local module=github.com/pulumi/pulumi-kubernetes/provider/v4 dir src
  dir=$(staged pulumi-kubernetes) || return 1
  src=$(cd "$dir" && go mod download -json "$module" >/dev/null && go list -m -f '{{.Dir}}' "$module") || return 1
  install -m 0644 "$src/cmd/pulumi-resource-kubernetes/schema.json" "$src/cmd/pulumi-resource-kubernetes/terraform-mapping.json" "$dir/" || return 1
  (cd "$dir" && go build -ldflags "-s -w -X $module/pkg/version.Version=$KUBERNETES_PLUGIN_VERSION" -o "$out" .)
}

# The random plugin bridges the upstream Terraform provider: tfgen writes the schema and the bridge
# metadata that the plugin then embeds.
random_plugin() {
  local module=github.com/terraform-providers/terraform-provider-random/llmserving dir
  local ldflags="-s -w -X $module.Version=$RANDOM_PLUGIN_VERSION"
  dir=$(staged pulumi-random) || return 1
  (
    cd "$dir" &&
      go build -ldflags "$ldflags" -o tfgen ./cmd/pulumi-tfgen-random &&
      { ./tfgen schema --out cmd/pulumi-resource-random >tfgen.log 2>&1 || { cat tfgen.log >&2 && false; }; } &&
      go build -ldflags "$ldflags" -o "$out" ./cmd/pulumi-resource-random
  )
}

# The three pieces at once: on 2 cores they share the CPU, but downloads and links overlap.
pulumi_toolchain() {
  local failed=0 pids=()
  piece pulumi "$PULUMI_VERSION" 8 "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION" pulumi_cli &
  pids+=($!)
  piece pulumi-resource-kubernetes "$KUBERNETES_PLUGIN_VERSION-$(digest pulumi-kubernetes)" 14 \
    "$(module_version pulumi-kubernetes github.com/pulumi/pulumi-kubernetes/provider/v4 | sed 's|^|github.com/pulumi/pulumi-kubernetes/provider/v4@|')" kubernetes_plugin &
  pids+=($!)
  piece pulumi-resource-random "$RANDOM_PLUGIN_VERSION-$(digest pulumi-random)" 5 \
    "$(module_version pulumi-random github.com/terraform-providers/terraform-provider-random | sed 's|^|github.com/terraform-providers/terraform-provider-random@|') + github.com/pulumi/pulumi-terraform-bridge/v3@$(module_version pulumi-random github.com/pulumi/pulumi-terraform-bridge/v3)" random_plugin &
  pids+=($!)
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  return "$failed"
}

for target in "${@:-lint}"; do
  case "$target" in
    lint) lint ;;
    cluster) cluster ;;
    s3) s3 ;;
    bench) bench ;;
    pulumi) pulumi_toolchain ;;
    node) node ;;
    *) echo "toolchain: unknown target \"$target\" (expected lint, cluster, s3, bench, pulumi or node)" >&2; exit 2 ;;
  esac
done
echo "$BIN"
