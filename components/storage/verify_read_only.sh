#!/bin/sh
# Verifies a read-only copy at $1 (a Fluid dataset mount) against its manifest.sha256 without
# writing to it; a mismatch lists the failed files and fails.
set -eu
dir="$1"
cd "$dir"
[ -f manifest.sha256 ] || { echo "FATAL: $dir/manifest.sha256 missing"; exit 1; }
if ! sha256sum -c manifest.sha256 > /tmp/verify.log 2>&1; then
  grep -v ': OK$' /tmp/verify.log
  echo "FATAL: sha256 verification failed"
  exit 1
fi
echo "verified $(wc -l < manifest.sha256) files in $dir"
