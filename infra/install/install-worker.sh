#!/usr/bin/env bash
# Installs a recfleet worker (and optionally the producer API) on a host:
#   Ubuntu 22.04/24.04, Debian 12 (apt) and CentOS Stream / Rocky / Alma / RHEL 8–9 (dnf).
# Idempotent: run it again to upgrade or repair; it keeps existing config files.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: install-worker.sh [options]

Installs packages (FFmpeg runtime and dev libraries, compiler, pkg-config), a system user `recfleet`,
the application under the prefix (npm ci + native build + TypeScript build), directories
(/var/lib/recfleet/spool, /var/lib/recfleet/recordings, /var/log/recfleet), a default config
(/etc/recfleet/worker.json, /etc/recfleet/recfleet.env) and the systemd units; then enables the worker.
With --with-api also the API's config (/etc/recfleet/api.yaml, the commented reference) and a generated
API key (/etc/recfleet/api-key, readable by the service only), which the API unit runs with.

Options:
  --source DIR     checkout to install from (default: the one holding this script)
  --prefix DIR     where the application goes (default: /opt/recfleet)
  --root DIR       install into DIR instead of / (a throwaway root for checks: no packages, no user,
                   no systemctl; paths are created under DIR)
  --os ID          override the detected distribution (debian, ubuntu, rhel, centos, rocky, almalinux)
  --with-api       also install the producer API: its config, an API key and its unit
  --config-only    install the directories, configs and units, not the application (repairs a config)
  --no-packages    skip the distribution packages
  --no-enable      install the units but do not enable/start them
  --dry-run        print what would be done, change nothing
  -h, --help       this help
USAGE
}

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PREFIX=/opt/recfleet
ROOT=/
OS_ID=""
WITH_API=0
APP=1
PACKAGES=1
ENABLE=1
DRY=0

while [ $# -gt 0 ]; do
  case "$1" in
    --source) SOURCE="$2"; shift 2 ;;
    --prefix) PREFIX="$2"; shift 2 ;;
    --root) ROOT="$2"; shift 2 ;;
    --os) OS_ID="$2"; shift 2 ;;
    --with-api) WITH_API=1; shift ;;
    --config-only) APP=0; PACKAGES=0; shift ;;
    --no-packages) PACKAGES=0; shift ;;
    --no-enable) ENABLE=0; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-worker.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[install] %s\n' "$*" >&2; }
run() {
  if [ "$DRY" -eq 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}
# Paths on the target system, under --root.
target() { if [ "$ROOT" = "/" ]; then printf '%s' "$1"; else printf '%s%s' "${ROOT%/}" "$1"; fi; }
THROWAWAY=0
[ "$ROOT" != "/" ] && THROWAWAY=1

if [ -z "$OS_ID" ] && [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091
  . /etc/os-release
  OS_ID="${ID:-}"
fi
case "$OS_ID" in
  debian|ubuntu) FAMILY=deb ;;
  rhel|centos|rocky|almalinux|fedora) FAMILY=rpm ;;
  *) FAMILY=unknown ;;
esac

read_list() { grep -v '^\s*#' "$1" | grep -v '^\s*$'; }

install_packages() {
  if [ "$PACKAGES" -eq 0 ] || [ "$THROWAWAY" -eq 1 ]; then
    log "skipping distribution packages"
    return
  fi
  case "$FAMILY" in
    deb)
      mapfile -t pkgs < <(read_list "$SOURCE/infra/packages.debian.txt"; read_list "$SOURCE/infra/packages.debian-build.txt")
      run env DEBIAN_FRONTEND=noninteractive apt-get update -qq
      run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
      ;;
    rpm)
      # FFmpeg is not in the RHEL-family base repositories: EPEL (+ CRB/PowerTools) and RPM Fusion
      # free carry ffmpeg and ffmpeg-devel.
      local major
      major="$(rpm -E '%rhel' 2>/dev/null || echo 9)"
      run dnf install -y epel-release || run dnf install -y "https://dl.fedoraproject.org/pub/epel/epel-release-latest-${major}.noarch.rpm"
      if [ "$major" = "8" ]; then run dnf config-manager --set-enabled powertools; else run dnf config-manager --set-enabled crb; fi
      run dnf install -y "https://mirrors.rpmfusion.org/free/el/rpmfusion-free-release-${major}.noarch.rpm"
      mapfile -t pkgs < <(read_list "$SOURCE/infra/packages.rpm.txt")
      run dnf install -y "${pkgs[@]}"
      ;;
    *)
      echo "install-worker.sh: unsupported distribution '${OS_ID:-unknown}'; use --os or --no-packages" >&2
      exit 1
      ;;
  esac
}

check_node() {
  if ! command -v node >/dev/null 2>&1 || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)'; then
    echo "install-worker.sh: Node.js >= 20.19 is required (NodeSource, nvm or the distribution's module streams)" >&2
    exit 1
  fi
}

create_user() {
  if [ "$THROWAWAY" -eq 1 ]; then return; fi
  if ! id recfleet >/dev/null 2>&1; then
    run useradd --system --home-dir /var/lib/recfleet --shell /usr/sbin/nologin recfleet
  fi
}

owner_args() { if [ "$THROWAWAY" -eq 1 ]; then printf ''; else printf -- '-o recfleet -g recfleet'; fi; }

create_dirs() {
  for d in /var/lib/recfleet/spool /var/lib/recfleet/recordings /var/log/recfleet; do
    # shellcheck disable=SC2046
    run install -d -m 0750 $(owner_args) "$(target "$d")"
  done
  run install -d -m 0755 "$(target /etc/recfleet)"
}

install_app() {
  local dest
  dest="$(target "$PREFIX")"
  log "installing the application into $dest"
  run mkdir -p "$dest"
  # A clean copy of the checkout: no build outputs, dependencies, recordings or VCS data.
  run tar -C "$SOURCE" --exclude=./node_modules --exclude='./*/*/node_modules' --exclude=./.git \
    --exclude='*/dist' --exclude='*/build' --exclude=./recordings --exclude=./test-artifacts \
    -cf "$dest/.src.tar" .
  run tar -C "$dest" -xf "$dest/.src.tar"
  run rm -f "$dest/.src.tar"
  if [ "$DRY" -eq 1 ]; then
    printf '+ (cd %s && npm ci && npm run build)\n' "$dest"
  else
    (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
  fi
}

# A config file is installed once: an existing one is the operator's, kept on every later run.
install_once() {
  if [ -e "$2" ]; then
    log "keeping existing $2"
  else
    run install -m 0640 "$1" "$2"
  fi
}

install_config() {
  local conf env
  conf="$(target /etc/recfleet/worker.json)"
  env="$(target /etc/recfleet/recfleet.env)"
  install_once "$SOURCE/infra/config/worker.example.json" "$conf"
  install_once "$SOURCE/infra/config/recfleet.example.env" "$env"
  if [ "$THROWAWAY" -eq 0 ]; then run chgrp recfleet "$conf" "$env"; fi
  if [ "$WITH_API" -eq 1 ]; then install_api_config; fi
}

# The API refuses to start without a key: the reference config names /etc/recfleet/api-key, generated
# here once (48 hex digits) and kept on later runs, like every config file.
install_api_config() {
  local conf key
  conf="$(target /etc/recfleet/api.yaml)"
  key="$(target /etc/recfleet/api-key)"
  install_once "$SOURCE/infra/config/api.yaml" "$conf"
  if [ -e "$key" ]; then
    log "keeping existing $key"
  elif [ "$DRY" -eq 1 ]; then
    printf '+ generate an API key into %s\n' "$key"
  else
    (umask 0137 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' > "$key")
    log "generated an API key in $key (send it as Authorization: Bearer <key>)"
  fi
  if [ "$THROWAWAY" -eq 0 ]; then run chgrp recfleet "$conf" "$key"; fi
}

install_units() {
  local dir units=(recfleet-worker.service)
  [ "$WITH_API" -eq 1 ] && units+=(recfleet-api.service)
  dir="$(target /etc/systemd/system)"
  run mkdir -p "$dir"
  for u in "${units[@]}"; do
    run sh -c "sed 's#/opt/recfleet#$PREFIX#g' '$SOURCE/infra/systemd/$u' > '$dir/$u'"
  done
  if [ "$THROWAWAY" -eq 1 ] || [ "$ENABLE" -eq 0 ]; then return; fi
  if [ -d /run/systemd/system ]; then
    run systemctl daemon-reload
    run systemctl enable --now "${units[@]}"
  else
    log "systemd is not running here: units installed, not started"
  fi
}

log "distribution: ${OS_ID:-unknown} ($FAMILY); prefix $PREFIX; root $ROOT"
install_packages
check_node
create_user
create_dirs
if [ "$APP" -eq 1 ]; then install_app; else log "skipping the application (--config-only)"; fi
install_config
install_units
log "done"
