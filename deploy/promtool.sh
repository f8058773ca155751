#!/usr/bin/env bash
# Ensure Prometheus' `promtool` (and the `prometheus` binary) from Debian's
# `prometheus` package are installed, without leaving a Prometheus service
# running. Idempotent: installs only if `promtool` is not on PATH.
#
# Usage: bash deploy/promtool.sh
set -euo pipefail

say() { echo "promtool: $*"; }
die() { echo "promtool: error: $*" >&2; exit 1; }

POLICY=/usr/sbin/policy-rc.d
POLICY_BACKUP=""

# Put back whatever policy-rc.d existed before (or remove ours).
restore_policy() {
  if [[ -n "$POLICY_BACKUP" ]]; then
    mv -f -- "$POLICY_BACKUP" "$POLICY"
  else
    rm -f -- "$POLICY"
  fi
}

install_prometheus() {
  [[ $EUID -eq 0 ]] || die "promtool not found and not root (apt-get install prometheus)"
  echo "promtool: installing Debian prometheus package" >&2

  # The postinst would enable + start prometheus.service (or /etc/init.d
  # script without systemd). Deny all service starts during the install.
  if [[ -e "$POLICY" ]]; then
    POLICY_BACKUP=$(mktemp "$POLICY.distillguard.XXXXXX")
    cp -p -- "$POLICY" "$POLICY_BACKUP"
  fi
  trap restore_policy EXIT
  printf '#!/bin/sh\n# deploy/promtool.sh: no service starts during install\nexit 101\n' >"$POLICY"
  chmod 755 "$POLICY"

  local before; before=$(pgrep -x prometheus || true)
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus)
  "${apt[@]}" || { apt-get update && "${apt[@]}"; }

  restore_policy
  trap - EXIT

  # With systemd, the unit is still enabled for the next boot: disable it.
  if [[ -d /run/systemd/system ]]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
  # Belt and braces: stop any prometheus that appeared during the install.
  local pid
  for pid in $(pgrep -x prometheus || true); do
    grep -qx "$pid" <<<"$before" && continue
    echo "promtool: stopping prometheus pid $pid started by the package" >&2
    kill "$pid" || true
  done
}

command -v promtool >/dev/null 2>&1 || install_prometheus
path=$(command -v promtool) || die "promtool still not on PATH after install"
version=$(promtool --version 2>&1 | head -n1)
say "$path ($version)"
