#!/usr/bin/env bash
# A fleet plan through SkyPilot's own Slurm support on this machine: the single-node Slurm of
# .ci/setup-slurm.sh, reached over SSH as SkyPilot requires (~/.slurm/config names a login node).
#
#   bash bench/fleet_skypilot_slurm.sh run [SEEDS]     # default seeds 1,2; prints the merged figures
#   bash bench/fleet_skypilot_slurm.sh stop            # the API server, the clusters, sshd
#
# What it sets up, all under $WORK (default /tmp/pgolf-sky), nothing in the real home:
#   - SkyPilot 0.14.1 in its own venv ($WORK/venv: it pins click below what the harness needs);
#   - sshd on 127.0.0.1:2222 with a key of its own (authorized_keys under $WORK);
#   - HOME=$WORK/home for SkyPilot, with .slurm/config naming that login node as cluster `local`.
# Three steps only this sandboxed machine needs (a node with internet access does not): SkyPilot
# installs uv with curl from astral.sh and a Python 3.10 with uv from GitHub, both out of reach here,
# so uv comes from its PyPI wheel into each cluster's home, uv uses the system CA store (PyPI goes
# through an intercepting proxy), and a Python 3.10 is put on PATH.
# The tasks run the harness of this checkout (--image host: the node shares the file system).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/pgolf-sky}
SKY_VERSION=0.14.1
PY=${PYTHON:-$(command -v python3)}
export HOME_SKY=$WORK/home
sky_() { HOME=$HOME_SKY SKYPILOT_DISABLE_USAGE_COLLECTION=1 "$WORK/venv/bin/sky" "$@"; }

setup() {
  sh "$REPO/.ci/setup-slurm.sh"
  command -v sshd >/dev/null || apt-get install -y -q openssh-server >/dev/null
  command -v rsync >/dev/null || apt-get install -y -q rsync >/dev/null   # SkyPilot provisions with rsync
  [ -x "$WORK/venv/bin/sky" ] || { python3 -m venv "$WORK/venv" && "$WORK/venv/bin/pip" install -q "skypilot==$SKY_VERSION"; }
  mkdir -p "$WORK/ssh" "$HOME_SKY/.slurm" /run/sshd
  [ -f "$WORK/ssh/key" ] || ssh-keygen -q -t ed25519 -N "" -f "$WORK/ssh/key"
  [ -f "$WORK/ssh/host_key" ] || ssh-keygen -q -t ed25519 -N "" -f "$WORK/ssh/host_key"
  cp "$WORK/ssh/key.pub" "$WORK/ssh/authorized_keys"
  cat > "$WORK/ssh/sshd_config" <<EOF
Port 2222
ListenAddress 127.0.0.1
HostKey $WORK/ssh/host_key
PidFile $WORK/ssh/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
AuthorizedKeysFile $WORK/ssh/authorized_keys
StrictModes no
UsePAM no
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
  if ! { [ -f "$WORK/ssh/sshd.pid" ] && kill -0 "$(cat "$WORK/ssh/sshd.pid")" 2>/dev/null; }; then
    /usr/sbin/sshd -f "$WORK/ssh/sshd_config"
  fi
  cat > "$HOME_SKY/.slurm/config" <<EOF
Host local
  HostName 127.0.0.1
  Port 2222
  User $(id -un)
  IdentityFile $WORK/ssh/key
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
EOF
  # uv from its PyPI wheel (SkyPilot would curl astral.sh).
  if [ ! -x "$WORK/uv" ]; then
    (cd "$WORK" && pip download -q --no-deps uv -d wheels && python3 - <<'PYEOF'
import glob, zipfile
wheel = zipfile.ZipFile(glob.glob("wheels/uv-*.whl")[0])
name = next(n for n in wheel.namelist() if n.endswith("/scripts/uv"))
open("uv", "wb").write(wheel.read(name))
PYEOF
    chmod +x "$WORK/uv")
  fi
  # A Python 3.10 for SkyPilot's runtime venv (uv would download one from GitHub).
  # Looked for where SkyPilot's non-login SSH shell looks (its PATH has no pyenv shims).
  if [ ! -x /usr/local/bin/python3.10 ] && [ ! -x /usr/bin/python3.10 ]; then
    p310=$(ls -d "$HOME"/.pyenv/versions/3.10*/bin/python3.10 2>/dev/null | head -n 1 || true)
    [ -n "$p310" ] || { echo "no Python 3.10 here; SkyPilot's runtime needs one" >&2; exit 3; }
    ln -s "$p310" /usr/local/bin/python3.10 && echo /usr/local/bin/python3.10 > "$WORK/made-links"
  fi
  sky_ check slurm >/dev/null
}

# What SkyPilot expects to find in a cluster's home before it provisions it ($HOME/.local/bin/uv).
prime_cluster_home() {
  local hash home
  hash=$(HOME=$HOME_SKY "$WORK/venv/bin/python" -c "from sky.utils import common_utils; print(common_utils.get_user_hash())")
  home=$HOME/.sky_clusters/$1-$hash
  mkdir -p "$home/.local/bin" "$home/.config/uv"
  cp "$WORK/uv" "$home/.local/bin/uv"
  printf 'system-certs = true\n' > "$home/.config/uv/uv.toml"
}

run() {
  local seeds=${1:-1,2} plan=$WORK/plan store=$WORK/store t0
  setup
  rm -rf "$plan" "$store"
  PYTHONPATH=$REPO "$PY" -m harness fleet plan submissions/reference --mode smoke --seeds "$seeds" \
    --accelerators none --cpus 1+ --image host --infra slurm/local --store "$store" --out "$plan" \
    --harness-cmd "env PYTHONPATH=$REPO $PY -m harness" --train-seconds 120 --env ITERATIONS=3
  for f in "$plan"/tasks/*.yaml; do
    prime_cluster_home "pgolf-plan-$(basename "$f" .yaml)"
  done
  t0=$(date +%s)
  PATH=$WORK/venv/bin:$PATH HOME=$HOME_SKY SKYPILOT_DISABLE_USAGE_COLLECTION=1 \
    PYTHONPATH=$REPO "$PY" -m harness fleet launch "$plan" --engine skypilot --unmanaged
  for _ in $(seq 1 120); do
    n=$(find "$store" -name submission.json 2>/dev/null | wc -l)
    [ "$n" -ge "$(echo "$seeds" | tr ',' '\n' | wc -l)" ] && break
    sleep 5
  done
  echo "launch to last record: $(( $(date +%s) - t0 )) s"
  PYTHONPATH=$REPO "$PY" -m harness fleet status "$plan"
  PYTHONPATH=$REPO "$PY" -m harness fleet collect "$plan"
}

stop() {
  [ -x "$WORK/venv/bin/sky" ] && { sky_ down -a -y >/dev/null 2>&1 || true; sky_ api stop >/dev/null 2>&1 || true; }
  [ -f "$WORK/ssh/sshd.pid" ] && kill "$(cat "$WORK/ssh/sshd.pid")" 2>/dev/null || true
  [ -f "$WORK/made-links" ] && rm -f "$(cat "$WORK/made-links")" "$WORK/made-links"
  true
}

case "${1:-}" in
  run) run "${2:-}" ;;
  stop) stop ;;
  *) sed -n '2,17p' "$0"; exit 2 ;;
esac
