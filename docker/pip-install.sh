#!/bin/bash
# pip install as the image build does it, in one place:
#   - wheels in /tmp/wheelhouse are preferred (--find-links);
#   - WHEELHOUSE_ONLY=1 (a build arg) makes them the only source (offline builds, CI);
#   - `--index URL` as the first arguments adds an extra index (torch's), unless offline;
#   - a build secret "ca" (CA bundle) is used for HTTPS behind an intercepting proxy.
set -euo pipefail
args=(--no-cache-dir --find-links /tmp/wheelhouse)
if [ "${1:-}" = "--index" ]; then
  if [ -n "${2:-}" ] && [ "${WHEELHOUSE_ONLY:-0}" != 1 ]; then args+=(--extra-index-url "$2"); fi
  shift 2
fi
if [ "${WHEELHOUSE_ONLY:-0}" = 1 ]; then args+=(--no-index); fi
if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi
exec pip install "${args[@]}" "$@"
