#!/bin/sh
# Debian tools the tests and capture scripts call: tshark (parity engine), tcpdump and
# iproute2 (capture scripts, network namespaces), curl (a real HTTP client), chromium and a
# CJK font (the HTML report's browser test renders it headless).
set -eu
missing=""
command -v tshark  >/dev/null || missing="$missing tshark"
command -v tcpdump >/dev/null || missing="$missing tcpdump"
command -v ip      >/dev/null || missing="$missing iproute2"
command -v curl    >/dev/null || missing="$missing curl"
command -v chromium >/dev/null || missing="$missing chromium"
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing="$missing fonts-wqy-zenhei"
if [ -n "$missing" ]; then
    echo "installing Debian packages:$missing" >&2
    sh "$(dirname "$0")/apt-install.sh" $missing
fi
