#!/usr/bin/env bash
# Installs whatever a development checkout is missing, and nothing it already has:
# Debian/Ubuntu packages, npm dependencies (npm ci), the native recorder, the TypeScript build.
# Idempotent: a second run on a ready machine does no work beyond quick checks.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[setup] %s\033[0m\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="__none__"; fi
fi

# Packages the fleet and its tests use; extra ones can be appended by callers (e.g. the browser tests).
# The worker's own lists (infra/packages.debian*.txt) plus what the tests use.
mapfile -t PACKAGES < <(grep -hv '^\s*#' infra/packages.debian.txt infra/packages.debian-build.txt | grep -v '^\s*$')
# redis-server: every test suite starts a private one; redis-sentinel: the Sentinel failover test
# (test/fault/redis-sentinel-failover.test.ts); chromium: the dashboard tests (test/browser) drive it
# headless through playwright-core (Debian's build plays H.264/AAC through MSE).
# The tools the checks of every file in infra/ use (test/infra): shellcheck, yamllint, systemd-analyze.
# prometheus: its promtool lints every process's /metrics (test/api/metrics-promtool.test.ts).
PACKAGES+=(redis-server redis-sentinel chromium shellcheck yamllint systemd prometheus)
read -ra EXTRA <<< "${RECFLEET_EXTRA_PACKAGES:-}"
PACKAGES+=("${EXTRA[@]}")

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then missing+=("$p"); fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    [ "$SUDO" = "__none__" ] && die "missing packages (${missing[*]}) and no root or sudo to install them"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # Ubuntu ships Chromium only as a snap (no `chromium` deb): without it the browser tests skip and
    # say so, everything else runs.
    installable=()
    for p in "${missing[@]}"; do
      if [ "$p" = chromium ] && ! apt-cache show chromium >/dev/null 2>&1; then
        log "no chromium package here: the browser tests will be skipped"
      else
        installable+=("$p")
      fi
    done
    if [ "${#installable[@]}" -gt 0 ]; then
      log "installing Debian packages: ${installable[*]}"
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${installable[@]}" >/dev/null
    fi
  fi
else
  log "not a Debian/Ubuntu system: skipping package installation (see infra/README.md for RHEL-family hosts)"
  for tool in redis-server ffmpeg ffprobe pkg-config g++; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing; install it (infra/README.md lists the packages)"
  done
fi

node_ok() {
  command -v node >/dev/null 2>&1 && node -e '
    const [a, b] = process.versions.node.split(".").map(Number);
    process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'
}
if ! node_ok; then
  if command -v apt-get >/dev/null 2>&1 && [ "$SUDO" != "__none__" ]; then
    log "Node.js >= 20.19 not found; trying the distribution's nodejs package"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null || true
  fi
  node_ok || die "Node.js >= 20.19 is required (found: $(node --version 2>/dev/null || echo none)). Install it from https://nodejs.org, NodeSource or nvm, then run this again."
fi

# npm ci only when the lock file changed since the last install.
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp="node_modules/.recfleet-lock-sha256"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > "$stamp"
fi

# The native recorder: rebuilt when its sources or build file are newer than the binary.
addon="packages/engine-binding/build/Release/recfleet_recorder.node"
if [ ! -f "$addon" ] || [ -n "$(find packages/engine-binding/native packages/engine-binding/binding.gyp -newer "$addon" -print -quit)" ]; then
  log "building the native recorder"
  npm run --silent build:native
fi

log "building TypeScript"
npx tsc -b tsconfig.json
# npm links a workspace's bins (recfleet, recfleet-api, …) only when their files exist, and npm ci ran
# before the build made them: link them now, so that `npx recfleet` works in the checkout.
npm rebuild --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
log "ready"
