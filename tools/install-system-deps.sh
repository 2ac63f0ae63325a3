#!/bin/sh
# Host packages the build and the tests need on Debian 12. Installs only what is missing,
# so a prepared machine pays nothing.
set -eu
need=""
have() { command -v "$1" >/dev/null 2>&1; }
have python3 || need="$need python3"
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need="$need python3-venv"
have php || need="$need php-cli"
php -m 2>/dev/null | grep -qi '^dom$' || need="$need php-xml"
php -m 2>/dev/null | grep -qi '^mbstring$' || need="$need php-mbstring"
have phpunit || need="$need phpunit"
have node || need="$need nodejs"
have sipp || need="$need sip-tester"
have debootstrap || need="$need debootstrap"
have zip || need="$need zip"
have unzip || need="$need unzip"
# The admin-page tests drive Debian's Chromium through Playwright (never a downloaded browser);
# DejaVu gives the screenshots real glyphs for Latin and Cyrillic.
[ -x /usr/bin/chromium ] || need="$need chromium"
[ -d /usr/share/fonts/truetype/dejavu ] || need="$need fonts-dejavu-core"
if [ -n "$need" ]; then
    [ "$(id -u)" = 0 ] || { echo "install-system-deps: need root to install:$need" >&2; exit 1; }
    echo "install-system-deps: installing$need" >&2
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
