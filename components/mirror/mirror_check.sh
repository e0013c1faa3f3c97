#!/bin/sh
# Mirror step 1 (s5cmd image): fetch the existing manifest, if any, for the idempotency check.
# Only "no such object" means "mirror it"; any other answer (AccessDenied, a bad key, NoSuchBucket,
# an unreachable endpoint) stops the Job here, naming the Secret, the endpoint and the operation,
# instead of downloading the whole model to fail at the upload. `ls`, not `cat`: a HEAD answers
# 404 with no error code, for a missing bucket or key alike.
# Environment: BUCKET, PREFIX, AWS_* (from Secret S3_ACCESS_FROM), MIRROR_WORK (default /work).
set -eu
S5CMD="$(command -v s5cmd || echo /s5cmd)"
work="${MIRROR_WORK:-/work}"
manifest="s3://$BUCKET/$PREFIX/manifest.json"
fail() {
  echo "FATAL: $1 with the credentials of Secret $S3_ACCESS_FROM at $AWS_ENDPOINT_URL: $2"
  sed 's/^/  s5cmd: /' /tmp/check.err
  exit 1
}
mirror_it() {
  rm -f "$work/remote-manifest.json"
  echo "no manifest yet at s3://$BUCKET/$PREFIX/: mirroring"
  exit 0
}
if ! "$S5CMD" --endpoint-url "$AWS_ENDPOINT_URL" ls "$manifest" > /tmp/check.out 2> /tmp/check.err; then
  if grep -q "no object found" /tmp/check.err; then mirror_it; fi
  # s5cmd says: ERROR "ls s3://...": <Code>: <message>
  code="$(sed -n 's/^ERROR "[^"]*": \([A-Za-z]*\).*/\1/p' /tmp/check.err | head -n 1)"
  case "$(cat /tmp/check.err)" in
    *"send request failed"* | *"dial tcp"* | *"no such host"*) answer="endpoint unreachable" ;;
    *AccessDenied* | *Forbidden* | *"status code: 403"*) answer="access denied ($code)" ;;
    *NoSuchBucket*) answer="bucket $BUCKET does not exist (NoSuchBucket)" ;;
    *) answer="$code" ;;
  esac
  fail "ls $manifest failed" "$answer"
fi
# ls matches by prefix: only the exact key counts.
if ! awk -v key="$PREFIX/manifest.json" '$NF == key { found = 1 } END { exit !found }' /tmp/check.out; then mirror_it; fi
"$S5CMD" --endpoint-url "$AWS_ENDPOINT_URL" cat "$manifest" > "$work/remote-manifest.json" 2> /tmp/check.err || fail "cat $manifest failed" "see below"
echo "found $manifest"
