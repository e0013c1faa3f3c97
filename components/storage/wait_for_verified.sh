#!/bin/sh
# Serving init step: block until the preloaded copy at $1 carries the verified marker (.verified,
# written by preload.py after every sha256 matched).
set -eu
dir="$1"
until [ -f "$dir/.verified" ]; do
  echo "waiting for the verified model at $dir"
  sleep 10
done
echo "model verified at $dir"
