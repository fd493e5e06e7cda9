#!/bin/sh
# Run tests/attacks as an ordinary user, the second of the three CI settings (root, a user, the
# image). The user gets a copy of the checkout (the clone's parent folders may be closed to other
# uids) and the harness's Python through a read-only bind mount (pyenv installs live under /root,
# mode 0700). Needs root to create the user and the mount; otherwise it says so and exits 0.
set -u
if [ "$(id -u)" != 0 ]; then
  echo "attacks-as-user: not root; the unprivileged setting is not run here" >&2
  exit 0
fi
PY=$(python3 -c 'import sys; print(sys.prefix)')
USER_NAME=pgolf-ci
id "$USER_NAME" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
WORK=$(mktemp -d /tmp/pgolf-ci-user.XXXXXX)
chmod 755 "$WORK"
cp -a . "$WORK/repo"
rm -rf "$WORK/repo/.git"
chown -R "$USER_NAME:" "$WORK/repo"
mkdir -p "$WORK/python"
cleanup() { umount "$WORK/python" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
mount --bind -o ro "$PY" "$WORK/python" 2>/dev/null || mount --bind "$PY" "$WORK/python"
cd "$WORK/repo" || exit 1
# setpriv drops every privilege: a plain uid/gid, no supplementary groups, no capabilities.
setpriv --reuid="$USER_NAME" --regid="$USER_NAME" --clear-groups --inh-caps=-all \
  env -i PATH=/usr/bin:/bin HOME="$WORK/repo" PYTHONPATH="$WORK/repo" PYTHONDONTWRITEBYTECODE=1 \
  LD_LIBRARY_PATH="$WORK/python/lib" \
  "$WORK/python/bin/python3" -m pytest -q -p no:cacheprovider tests/attacks
