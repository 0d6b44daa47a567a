#!/usr/bin/env bash
# Puts Toxiproxy's server on PATH as `toxiproxy-server`, built from source with Go.
#
# Usage: scripts/install-toxiproxy.sh [TARGET_DIR]
#   Does nothing when `toxiproxy-server` is already on PATH. Otherwise builds
#   github.com/Shopify/toxiproxy/v2/cmd/server at the pinned version (a static binary) and
#   installs it as TARGET_DIR/toxiproxy-server. TARGET_DIR defaults to /usr/local/bin as root,
#   else ~/.local/bin. Needs Go 1.22+ and access to the Go module proxy.
set -euo pipefail

VERSION="${TOXIPROXY_VERSION:-v2.12.0}"
MODULE="github.com/Shopify/toxiproxy/v2/cmd/server"

fail() {
    echo "install-toxiproxy: $*" >&2
    exit 1
}

if existing="$(command -v toxiproxy-server)"; then
    echo "install-toxiproxy: toxiproxy-server is already on PATH at ${existing}; nothing to do"
    exit 0
fi

if [[ $# -ge 1 ]]; then
    target="$1"
elif [[ "$(id -u)" -eq 0 ]]; then
    target=/usr/local/bin
else
    target="${HOME}/.local/bin"
fi

if ! command -v go >/dev/null 2>&1; then
    for candidate in /usr/local/go/bin /usr/lib/go/bin; do
        if [[ -x "${candidate}/go" ]]; then
            PATH="${PATH}:${candidate}"
            break
        fi
    done
fi
command -v go >/dev/null 2>&1 || fail "Go is not installed (no 'go' on PATH or in /usr/local/go/bin):
  install Go 1.22+ (e.g. 'apt-get install golang-go', or from go.dev), then run this script again"

mkdir -p "${target}" || fail "cannot create ${target}: pass a writable directory as the first argument"
[[ -w "${target}" ]] || fail "cannot write to ${target}: run as root, or pass a writable directory as the first argument"

build_dir="$(mktemp -d)"
trap 'rm -rf "${build_dir}"' EXIT

echo "install-toxiproxy: building ${MODULE}@${VERSION} with $(go version)"
if ! GOBIN="${build_dir}" CGO_ENABLED=0 go install "${MODULE}@${VERSION}"; then
    fail "'go install ${MODULE}@${VERSION}' failed (see above): check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY)) and that Go is 1.22 or newer"
fi
[[ -x "${build_dir}/server" ]] || fail "go install succeeded but produced no 'server' binary in ${build_dir}"

install -m 0755 "${build_dir}/server" "${target}/toxiproxy-server"
echo "install-toxiproxy: installed ${target}/toxiproxy-server ($("${target}/toxiproxy-server" -version 2>&1 | head -n 1))"

case ":${PATH}:" in
    *":${target}:"*) ;;
    *) echo "install-toxiproxy: note: ${target} is not on PATH; add it, e.g. export PATH=\"${target}:\$PATH\"" >&2 ;;
esac
