#!/bin/sh
# The browser tests drive Debian's Chromium (Playwright with the system browser, no download of
# Playwright's own). Installed here so the README's test command works on a fresh machine.
set -e
if command -v chromium >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
