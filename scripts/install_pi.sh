#!/usr/bin/env bash
# Install the bot as a systemd service on a Raspberry Pi (Raspberry Pi OS / Debian).
#
#   sudo scripts/install_pi.sh [--start]
#
# Creates the system user ibkr-bot, a venv in /opt/ibkr-bot/venv with the bot installed from
# this checkout, /etc/ibkr-bot/settings.yaml (the annotated sample, only if absent: your
# settings are never overwritten), and the unit /etc/systemd/system/ibkr-bot.service; then
# validates the settings and enables the service. --start also (re)starts it now.
# Idempotent: run it again after a `git pull` to upgrade. Prints each thing it did or kept.
set -euo pipefail

BOT_USER=ibkr-bot
PREFIX=/opt/ibkr-bot
CONF_DIR=/etc/ibkr-bot
STATE_DIR=/var/lib/ibkr-bot
UNIT=/etc/systemd/system/ibkr-bot.service
PYTHON=${PYTHON:-python3}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
START=no

say() { echo "install_pi: $*"; }
die() { echo "install_pi: $*" >&2; exit 1; }

for arg in "$@"; do
  case "$arg" in
    --start) START=yes ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (see --help)" ;;
  esac
done

[[ $(id -u) -eq 0 ]] || die "must run as root (sudo $0); nothing was changed"
command -v systemctl >/dev/null || die "systemctl not found: this installs a systemd service"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$PYTHON is older than 3.11 (set PYTHON=/path/to/python3.11)"
"$PYTHON" -m venv --help >/dev/null 2>&1 || die "no venv module: apt install python3-venv"

# 1. the user: a system account without a login shell or home of its own
if id -u "$BOT_USER" >/dev/null 2>&1; then
  say "user $BOT_USER exists (kept)"
else
  useradd --system --home-dir "$STATE_DIR" --no-create-home --shell /usr/sbin/nologin "$BOT_USER"
  say "created system user $BOT_USER"
fi

# 2. the venv and the bot in it (upgraded from this checkout on every run)
if [[ -x $PREFIX/venv/bin/python ]]; then
  say "venv $PREFIX/venv exists (kept)"
else
  install -d -m 0755 "$PREFIX"
  "$PYTHON" -m venv "$PREFIX/venv"
  say "created venv $PREFIX/venv"
fi
"$PREFIX/venv/bin/pip" install --quiet --disable-pip-version-check --upgrade "$SRC"
install -m 0644 "$SRC/README.md" "$PREFIX/README.md"
say "installed the bot from $SRC into $PREFIX/venv ($(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo 'no git'))"

# 3. settings (root-owned, readable by the bot's group) and the state directory
install -d -m 0750 -o root -g "$BOT_USER" "$CONF_DIR"
if [[ -f $CONF_DIR/settings.yaml ]]; then
  say "settings $CONF_DIR/settings.yaml exist (kept)"
else
  install -m 0640 -o root -g "$BOT_USER" "$SRC/configs/settings.yaml" "$CONF_DIR/settings.yaml"
  say "installed the sample settings as $CONF_DIR/settings.yaml (edit them)"
fi
install -d -m 0750 -o "$BOT_USER" -g "$BOT_USER" "$STATE_DIR"
say "state directory $STATE_DIR (logs and the kill switch: $STATE_DIR/logs/KILL)"

# 4. the unit
if cmp -s "$SRC/scripts/ibkr-bot.service" "$UNIT"; then
  say "unit $UNIT unchanged"
else
  install -m 0644 "$SRC/scripts/ibkr-bot.service" "$UNIT"
  systemctl daemon-reload
  say "installed $UNIT and reloaded systemd"
fi

# 5. check the settings as the bot's user, then enable (and maybe start)
if ! (cd "$STATE_DIR" && runuser -u "$BOT_USER" -- "$PREFIX/venv/bin/python" -m bot check-config \
      --config "$CONF_DIR/settings.yaml" >/dev/null); then
  die "the settings in $CONF_DIR/settings.yaml are invalid (see above); the service is not enabled"
fi
say "settings are valid"
systemctl enable --quiet ibkr-bot.service
say "enabled ibkr-bot.service (starts at boot)"
if [[ $START == yes ]]; then
  systemctl restart ibkr-bot.service
  say "(re)started ibkr-bot.service"
else
  say "start it with: sudo systemctl start ibkr-bot"
fi
say "follow it with: journalctl -u ibkr-bot -f    status: systemctl status ibkr-bot"
