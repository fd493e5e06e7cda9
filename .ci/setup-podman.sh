#!/bin/sh
# Install what tests/test_image.py needs to build and run the image with podman
# (../shared/CONTAINERS.md): podman, runc (crun refuses hybrid cgroups), debootstrap
# (the local Debian base image). Idempotent and bounded: every apt step has a timeout,
# and the exit status says whether podman is usable. .ci/run calls it as
#   sh .ci/setup-podman.sh || echo "..."   so an unreachable mirror never fails CI;
# tests/test_image.py then skips and says why.
set -u
have() { command -v "$1" >/dev/null 2>&1; }
if have podman && have runc && have debootstrap; then
  echo "setup-podman: podman, runc and debootstrap already present"
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif have sudo && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "setup-podman: not root and no password-less sudo; the image tests will skip" >&2
  exit 1
fi
if ! have apt-get; then
  echo "setup-podman: no apt-get on this machine; the image tests will skip" >&2
  exit 1
fi
APT_OPTS="-q -o Acquire::Retries=1 -o Acquire::http::Timeout=20 -o Acquire::https::Timeout=20 -o DPkg::Lock::Timeout=60"
export DEBIAN_FRONTEND=noninteractive
# apt-get update exits 0 even when a mirror is unreachable; the install below is the real test.
timeout 120 $SUDO apt-get $APT_OPTS update >/dev/null 2>&1 || echo "setup-podman: apt-get update failed or timed out" >&2
# shellcheck disable=SC2086  # APT_OPTS is a word list on purpose
if ! timeout 300 $SUDO apt-get $APT_OPTS install -y podman runc debootstrap >/dev/null; then
  echo "setup-podman: apt-get install failed (mirror unreachable?); the image tests will skip" >&2
  exit 1
fi
podman --version && runc --version | head -n 1
