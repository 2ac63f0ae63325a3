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
php -m 2>/dev/null | grep -qi '^pdo_sqlite$' || need="$need php-sqlite3"
have phpunit || need="$need phpunit"
have node || need="$need nodejs"
have sipp || need="$need sip-tester"
# the lab's far ends speak their prompts (tests/lab/farend.py)
have espeak-ng || need="$need espeak-ng"
have sox || need="$need sox"
have debootstrap || need="$need debootstrap"
have zip || need="$need zip"
have unzip || need="$need unzip"
# The MikoPBX rig: patch applies its phalcon fix; unshare/nsenter (util-linux) and python3.11 run it.
have patch || need="$need patch"
have nsenter || need="$need util-linux"
have python3.11 || need="$need python3.11"
# The aarch64 package test runs the arm64 worker under user-mode emulation (binfmt_misc).
have qemu-aarch64-static || need="$need qemu-user-static"
have update-binfmts || need="$need binfmt-support"
# The admin-page tests drive Debian's Chromium through Playwright (never a downloaded browser);
# DejaVu gives the screenshots real glyphs for Latin and Cyrillic.
[ -x /usr/bin/chromium ] || need="$need chromium"
[ -d /usr/share/fonts/truetype/dejavu ] || need="$need fonts-dejavu-core"
if [ -n "$need" ]; then
    [ "$(id -u)" = 0 ] || { echo "install-system-deps: need root to install:$need" >&2; exit 1; }
    echo "install-system-deps: installing$need" >&2
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq $need >/dev/null
fi
