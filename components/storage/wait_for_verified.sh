#!/bin/sh
# Serving init step: block until the preloaded copy at $1 carries the verified marker (.verified,
# written by preload.py after every sha256 matched), for at most $2 seconds (a deadline: without
# Pulumi's ordering, as in GitOps, nothing else bounds the wait).
set -eu
dir="$1"
deadline="$2"
waited=0
until [ -f "$dir/.verified" ]; do
  if [ "$waited" -ge "$deadline" ]; then
    echo "FATAL: waited $waited s (the mirror's and the preload's time budgets) for the verified model at $dir, which the model's preload Job publishes; it is still missing: see the mirror and preload Jobs"
    exit 1
  fi
  echo "waiting for the verified model at $dir ($waited of $deadline s)"
  sleep 10
  waited=$((waited + 10))
done
echo "model verified at $dir"
