#!/bin/sh
# Serving init step (s3Streaming): the bucket prefix is complete (manifest.json present, written
# last by the mirror) before the engine streams from it. Environment: BUCKET, PREFIX, AWS_*.
set -eu
S5CMD="$(command -v s5cmd || echo /s5cmd)"
if ! "$S5CMD" --endpoint-url "$AWS_ENDPOINT_URL" cat "s3://$BUCKET/$PREFIX/manifest.json" > /dev/null; then
  echo "FATAL: s3://$BUCKET/$PREFIX/manifest.json is missing: the mirror has not completed"
  exit 1
fi
echo "s3://$BUCKET/$PREFIX is complete"
