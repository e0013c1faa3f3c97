#!/bin/sh
# MinIO setup Job (mc image): the bucket, private, and one user per role with its policy, each step
# idempotent so a re-run (a new role, a changed policy) is safe.
# Runs from the scripts ConfigMap (/scripts/minio-setup.sh), never inline: the kubelet would expand
# `$$` in a container's command.
# Usage: minio_setup.sh BUCKET ROLE...   Environment: MINIO_URL, MINIO_ROOT_USER, MINIO_ROOT_PASSWORD,
# <role>_ACCESS_KEY and <role>_SECRET_KEY per role (from Secrets), /policies/<role>.json per role.
set -eu
bucket="$1"
shift
# Bounded: applied without Pulumi's ordering the Job may start before MinIO, but not wait forever.
deadline="${MINIO_WAIT_SECONDS:-600}"
waited=0
until mc alias set local "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" > /dev/null; do
  if [ "$waited" -ge "$deadline" ]; then
    echo "FATAL: waited $waited s (MINIO_WAIT_SECONDS) for MinIO at $MINIO_URL; see the minio StatefulSet's pod"
    exit 1
  fi
  echo "waiting for minio ($waited of $deadline s)"
  sleep 3
  waited=$((waited + 3))
done
mc mb --ignore-existing "local/$bucket"
mc anonymous set none "local/$bucket"
# policy_attached POLICY INFO: whether mc's `admin user info` text lists POLICY on its PolicyName line
# (only that line: the AccessKey line above it names llm-<role> too). Shell built-ins only: the mc
# image (ubi-micro) has no grep, sed or awk.
policy_attached() {
  rest="$2"
  while [ -n "$rest" ]; do
    line="${rest%%"$newline"*}"
    case "$rest" in *"$newline"*) rest="${rest#*"$newline"}" ;; *) rest="" ;; esac
    case "$line" in
      "PolicyName: "*) case ",${line#PolicyName: }," in *",$1,"*) return 0 ;; esac ;;
    esac
  done
  return 1
}
newline='
'
for role in "$@"; do
  eval "key=\$${role}_ACCESS_KEY; secret=\$${role}_SECRET_KEY"
  # shellcheck disable=SC2154 # key and secret are set by the eval above
  {
    mc admin policy create local "llm-$role" "${POLICIES_DIR:-/policies}/$role.json"
    mc admin user add local "$key" "$secret"
    info="$(mc admin user info local "$key")"
    if ! policy_attached "llm-$role" "$info"; then
      mc admin policy attach local "llm-$role" --user "$key"
    fi
  }
done
echo "bucket and users ready"
