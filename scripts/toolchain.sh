#!/usr/bin/env bash
# Builds the tools that CI and the integration tests need from the Go module proxy, once per
# version, into a cache OUTSIDE the repo; prints the directory to put on PATH.
#
#   scripts/toolchain.sh lint      actionlint
#   scripts/toolchain.sh cluster   kube-apiserver + etcd (a real API server for integration tests)
#   scripts/toolchain.sh bench     s5cmd (the preload Jobs' copier) + versitygw (S3 server) + awscli
#   scripts/toolchain.sh pulumi    the Pulumi CLI (runs `npm run local`'s inline program; it still
#                                  needs the kubernetes and random provider plugins, which the
#                                  module proxy does not serve: see README, Development)
#
# The binaries land in $LLM_SERVING_CACHE/toolchain/bin (default ~/.cache/llm-serving), named with
# their versions and linked to plain names; a second run reuses them.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${LLM_SERVING_CACHE:-$HOME/.cache/llm-serving}/toolchain"
BIN="$CACHE/bin"
mkdir -p "$BIN"
export GOFLAGS="${GOFLAGS:-} -trimpath" CGO_ENABLED=0 GOTOOLCHAIN=local

command -v go >/dev/null || { echo "toolchain: Go is required (the machine image ships it; or apt-get install golang)" >&2; exit 1; }

# module_version DIR MODULE: the version a wrapper module under toolchain/ pins.
module_version() { (cd "toolchain/$1" && go list -m -f '{{.Version}}' "$2"); }
KUBERNETES_VERSION=$(module_version kubernetes k8s.io/kubernetes)
ETCD_VERSION=$(module_version etcd go.etcd.io/etcd/server/v3)
PULUMI_VERSION=$(module_version pulumi github.com/pulumi/pulumi/pkg/v3)
ACTIONLINT_VERSION=$(module_version lint github.com/rhysd/actionlint)
S5CMD_VERSION=$(module_version bench github.com/peak/s5cmd/v2)
VERSITYGW_VERSION=$(module_version bench github.com/versity/versitygw)

# build NAME VERSION COMMAND...: runs COMMAND (which writes $out) unless NAME-VERSION exists.
build() {
  local name=$1 version=$2
  shift 2
  out="$BIN/$name-$version"
  if [ ! -x "$out" ]; then
    local start=$SECONDS
    echo "toolchain: building $name $version" >&2
    "$@"
    echo "toolchain: built $name $version in $((SECONDS - start)) s" >&2
  fi
  ln -sf "$(basename "$out")" "$BIN/$name"
}

lint() {
  build actionlint "$ACTIONLINT_VERSION" sh -c "cd toolchain/lint && go build -o '$BIN/actionlint-$ACTIONLINT_VERSION' github.com/rhysd/actionlint/cmd/actionlint"
}

cluster() {
  build etcd "$ETCD_VERSION" sh -c "cd toolchain/etcd && go build -o '$BIN/etcd-$ETCD_VERSION' go.etcd.io/etcd/server/v3"
  build kube-apiserver "$KUBERNETES_VERSION" sh -c "cd toolchain/kubernetes && go build -o '$BIN/kube-apiserver-$KUBERNETES_VERSION' k8s.io/kubernetes/cmd/kube-apiserver"
}

bench() {
  build s5cmd "$S5CMD_VERSION" sh -c "cd toolchain/bench && go build -ldflags '-X github.com/peak/s5cmd/v2/version.Version=$S5CMD_VERSION' -o '$BIN/s5cmd-$S5CMD_VERSION' github.com/peak/s5cmd/v2"
  build versitygw "$VERSITYGW_VERSION" sh -c "cd toolchain/bench && go build -o '$BIN/versitygw-$VERSITYGW_VERSION' github.com/versity/versitygw/cmd/versitygw"
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
  local ldflags="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
  build pulumi "$PULUMI_VERSION" sh -c "cd toolchain/pulumi && go build -tags osusergo,grpcnotrace -ldflags '$ldflags' -o '$BIN/pulumi-$PULUMI_VERSION' github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
}

for target in "${@:-lint}"; do
  case "$target" in
    lint) lint ;;
    cluster) cluster ;;
    bench) bench ;;
    pulumi) pulumi_cli ;;
    *) echo "toolchain: unknown target \"$target\" (expected lint, cluster, bench or pulumi)" >&2; exit 2 ;;
  esac
done
echo "$BIN"
