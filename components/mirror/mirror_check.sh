#!/bin/sh
# Mirror step 1 (s5cmd image), before anything is downloaded:
#  1. the setup check: prove both credential sets on the real bucket. The writer puts a probe
#     object and reads it back; the reader lists and gets it and must be REFUSED a put (least
#     privilege enforced, not only declared). The probe lives beside the models, never in one.
#  2. fetch the existing manifest, if any, for the idempotency check. Only "no such object" means
#     "mirror it"; `ls`, not `cat`: a HEAD answers 404 with no error code, for a missing bucket or
#     key alike.
# Any other answer (AccessDenied, a bad key, NoSuchBucket, an unreachable endpoint) stops the mirror
# here, naming the Secret, the endpoint, the operation and the answer. In the Job (MIRROR_FAILED_FILE
# set) the failure is written there and the step exits 0: Pulumi reports only a Job pod's main
# container, so the upload step fails with it (an init step's exit is a bare "incomplete status").
# Environment: BUCKET, PREFIX, PROBE_OBJECT, AWS_* (from Secret S3_ACCESS_FROM), READER_ACCESS_KEY_ID
# and READER_SECRET_ACCESS_KEY (from Secret READER_FROM), MIRROR_WORK (default /work),
# MIRROR_FAILED_FILE (optional).
set -eu
S5CMD="$(command -v s5cmd || echo /s5cmd)"
work="${MIRROR_WORK:-/work}"
manifest="s3://$BUCKET/$PREFIX/manifest.json"
probe="s3://$BUCKET/$PROBE_OBJECT"

# 6 retries of a refused call take ~2 s, s5cmd's default 10 ~40 s: the Job's own retries (backoffLimit,
# back-off from 10 s) already wait out a longer outage, and a store that is down is reported sooner.
s5() { "$S5CMD" --retry-count 6 --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }
as_reader() { AWS_ACCESS_KEY_ID="$READER_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$READER_SECRET_ACCESS_KEY" s5 "$@"; }

# answer: what the last failed s5cmd call (its stderr in /tmp/check.err) was told.
answer() {
  # s5cmd says: ERROR "<op> s3://...": <Code>: <message>
  code="$(sed -n 's/^ERROR "[^"]*": \([A-Za-z]*\).*/\1/p' /tmp/check.err | head -n 1)"
  case "$(cat /tmp/check.err)" in
    *"send request failed"* | *"dial tcp"* | *"no such host"*) echo "endpoint unreachable" ;;
    *AccessDenied* | *Forbidden* | *"status code: 403"*) echo "access denied ($code)" ;;
    *NoSuchBucket*) echo "bucket $BUCKET does not exist (NoSuchBucket)" ;;
    *) echo "$code" ;;
  esac
}
# fail SECRET OPERATION ANSWER
fail() {
  echo "FATAL: $2 failed with the credentials of Secret $1 at $AWS_ENDPOINT_URL: $3"
  sed 's/^/  s5cmd: /' /tmp/check.err
  if [ -n "${MIRROR_FAILED_FILE:-}" ]; then
    {
      echo "FATAL: the mirror's bucket check: $2 failed with the credentials of Secret $1 at $AWS_ENDPOINT_URL: $3"
      sed 's/^/  s5cmd: /' /tmp/check.err
    } > "$MIRROR_FAILED_FILE"
    exit 0
  fi
  exit 1
}
mirror_it() {
  rm -f "$work/remote-manifest.json"
  echo "no manifest yet at s3://$BUCKET/$PREFIX/: mirroring"
  exit 0
}

# 1. The setup check.
nonce="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s' "$nonce" > /tmp/probe
: > /tmp/check.err
s5 cp /tmp/probe "$probe" > /dev/null 2> /tmp/check.err || fail "$S3_ACCESS_FROM" "put $probe" "$(answer)"
got="$(s5 cat "$probe" 2> /tmp/check.err)" || fail "$S3_ACCESS_FROM" "get $probe" "$(answer)"
[ "$got" = "$nonce" ] || fail "$S3_ACCESS_FROM" "get $probe" "read back something other than what was put"
as_reader ls "$probe" > /dev/null 2> /tmp/check.err || fail "$READER_FROM" "ls $probe" "$(answer)"
got="$(as_reader cat "$probe" 2> /tmp/check.err)" || fail "$READER_FROM" "get $probe" "$(answer)"
[ "$got" = "$nonce" ] || fail "$READER_FROM" "get $probe" "read something other than the writer put"
if as_reader cp /tmp/probe "$probe.reader" > /dev/null 2> /tmp/check.err; then
  : > /tmp/check.err
  fail "$READER_FROM" "the refusal of put $probe.reader" "the put SUCCEEDED: the reader may write (least privilege not enforced)"
fi
case "$(answer)" in
  "access denied"*) ;;
  *) fail "$READER_FROM" "put $probe.reader (expected AccessDenied)" "$(answer)" ;;
esac
echo "credentials checked: $S3_ACCESS_FROM can put and read back, $READER_FROM can list and get and is refused a put"

# 2. The idempotency check.
if ! s5 ls "$manifest" > /tmp/check.out 2> /tmp/check.err; then
  if grep -q "no object found" /tmp/check.err; then mirror_it; fi
  fail "$S3_ACCESS_FROM" "ls $manifest" "$(answer)"
fi
# ls matches by prefix: only the exact key counts.
if ! awk -v key="$PREFIX/manifest.json" '$NF == key { found = 1 } END { exit !found }' /tmp/check.out; then mirror_it; fi
s5 cat "$manifest" > "$work/remote-manifest.json" 2> /tmp/check.err || fail "$S3_ACCESS_FROM" "cat $manifest" "$(answer)"
echo "found $manifest"
