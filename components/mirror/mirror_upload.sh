#!/bin/sh
# Mirror step 3 (s5cmd image): upload the downloaded files, then manifest.json LAST, so a prefix
# without manifest.json is never taken for a complete model.
# Arguments: the s5cmd flags (global flags, `cp`, its flags). Environment: BUCKET, PREFIX, AWS_*,
# MIRROR_WORK (default /work).
set -eu
S5CMD="$(command -v s5cmd || echo /s5cmd)"
work="${MIRROR_WORK:-/work}"
if [ -f "$work/skip" ]; then echo "already mirrored"; exit 0; fi
"$S5CMD" --endpoint-url "$AWS_ENDPOINT_URL" "$@" --exclude ".cache/*" "$work/model/*" "s3://$BUCKET/$PREFIX/"
"$S5CMD" --endpoint-url "$AWS_ENDPOINT_URL" cp "$work/manifest.json" "s3://$BUCKET/$PREFIX/manifest.json"
echo "mirrored to s3://$BUCKET/$PREFIX/"
