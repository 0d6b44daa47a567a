#!/usr/bin/env bash
# Everything splitbrain needs on a fresh machine: a virtual environment with the package and its
# test extras, and the Toxiproxy server. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($python --version)"
    "$python" -m venv .venv
fi
# --network ip: nftables (cuts, loss, duplication), iptables-legacy (NFQUEUE: delays on kernels
# without netem) and what the NetfilterQueue package builds against (its headers, a C compiler,
# Python's headers); installed only when missing, and before pip needs them.
ip_packages=()
command -v nft >/dev/null || ip_packages+=(nftables)
command -v iptables-legacy >/dev/null || ip_packages+=(iptables)
[ -e /usr/include/libnetfilter_queue/libnetfilter_queue.h ] || ip_packages+=(libnetfilter-queue-dev)
command -v gcc >/dev/null || ip_packages+=(gcc)
.venv/bin/python -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' ||
    ip_packages+=(python3-dev)
if [ ${#ip_packages[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing ${ip_packages[*]} for --network ip"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            "${ip_packages[@]}" >/dev/null
    else
        echo "setup: --network ip needs ${ip_packages[*]}: run 'apt-get install" \
            "${ip_packages[*]}' as root (NetfilterQueue will not build without them)" >&2
    fi
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
bash scripts/install-toxiproxy.sh
# headless Chromium for the test of compare's HTML page; installed only when absent
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing chromium (apt-get)"
        apt-get update -q && apt-get install -y -q chromium
    else
        echo "setup: chromium missing; as root run: apt-get install chromium" >&2
    fi
fi
# lazyfs (the power-loss fault) needs libfuse3 and fusermount3; install them only when missing.
if ! command -v fusermount3 >/dev/null || ! ldconfig -p | grep 'libfuse3\.so\.3' >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing fuse3 (libfuse3 and fusermount3) for the power-loss fault"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 >/dev/null
    else
        echo "setup: the power-loss fault needs fuse3: run 'apt-get install fuse3' as root" >&2
    fi
fi
bash scripts/install-nats.sh
echo "setup: done (.venv/bin/splitbrain, $(command -v toxiproxy-server || echo "$HOME/.local/bin/toxiproxy-server"))"
