#!/bin/sh
# Build (once) the Debian sid root folder that holds the lab's Asterisk 22.
#
#   ROOT=${CONFLINK_ASTERISK_ROOT:-/var/cache/conflink/asterisk-root}
#
# Debian stable has no asterisk package; sid has Asterisk 22. The root is kept between runs
# and rebuilt only when its marker file is missing. Needs root (debootstrap, chroot).
# Idempotent: running it again on a built root only checks the host tools and the chown fix.
set -eu

ROOT=${CONFLINK_ASTERISK_ROOT:-/var/cache/conflink/asterisk-root}
MARKER="$ROOT/.conflink-root-ready"
SUITE=sid
PACKAGES=asterisk,asterisk-modules,php-cli

say() { printf 'build-root: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot need it)"

# Host tools: debootstrap builds the root, sip-tester (sipp) plays the provider in the tests.
missing=""
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
command -v sipp >/dev/null 2>&1 || missing="$missing sip-tester"
if [ -n "$missing" ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing host packages:$missing (and no apt-get to install them)"
    say "installing host packages:$missing"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# The chroot's Asterisk drops capabilities, so as root it cannot write into folders owned
# by the package's `asterisk` user (astdb.sqlite3 fails): hand them to root.
chown_fix() {
    for d in etc/asterisk var/lib/asterisk var/spool/asterisk var/log/asterisk; do
        [ -e "$ROOT/$d" ] && chown -R root:root "$ROOT/$d"
    done
    # var/run is an absolute link to /run inside the root; the package's /run/asterisk lives there.
    [ -e "$ROOT/run/asterisk" ] && chown -R root:root "$ROOT/run/asterisk"
    return 0
}

check_root() {
    chroot "$ROOT" asterisk -V >/dev/null 2>&1 || return 1
    chroot "$ROOT" php -v >/dev/null 2>&1 || return 1
    return 0
}

# Packages added after the root's first build: installed into an existing root too.
EXTRAS=asterisk-core-sounds-ru-gsm
ensure_extras() {
    (
        flock 8
        # shellcheck disable=SC2086
        if ! chroot "$ROOT" dpkg -s $EXTRAS >/dev/null 2>&1; then
            say "installing $EXTRAS into $ROOT"
            install="chroot $ROOT env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $EXTRAS"
            $install >/dev/null 2>&1 || { chroot "$ROOT" apt-get update -qq >/dev/null && $install >/dev/null; }
        fi
    ) 8>"$ROOT.extras.lock"
    # MikoPBX names a language's sound folder as its PBX language setting (en-en, ru-ru).
    sounds="$ROOT/usr/share/asterisk/sounds"
    [ -e "$sounds/ru-ru" ] || ln -s ru_RU_f_IvrvoiceRU "$sounds/ru-ru"
    [ -e "$sounds/en-en" ] || ln -s en_US_f_Allison "$sounds/en-en"
}

if [ -f "$MARKER" ]; then
    check_root || die "$ROOT has a marker but its asterisk/php do not run; delete $ROOT and run again"
    chown_fix
    ensure_extras
    say "root already built: $ROOT ($(chroot "$ROOT" asterisk -V))"
    exit 0
fi

LOCK="$ROOT.lock"
mkdir -p "$(dirname "$ROOT")"
# One builder at a time: a second caller waits for the first instead of racing it.
exec 9>"$LOCK"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi
if [ -f "$MARKER" ]; then
    chown_fix
    ensure_extras
    say "root was built by a concurrent run: $ROOT"
    exit 0
fi

if [ -x "$ROOT/usr/sbin/asterisk" ] && [ -f "$ROOT/debootstrap/debootstrap.log" ] ; then
    die "$ROOT holds an unfinished debootstrap; delete it and run again"
fi

if [ -x "$ROOT/usr/sbin/asterisk" ] && check_root; then
    # A complete root made by the same debootstrap command, without our marker (built by hand).
    say "reusing the existing root at $ROOT"
else
    if [ -e "$ROOT" ] && [ -n "$(ls -A "$ROOT" 2>/dev/null)" ]; then
        die "$ROOT exists, is not empty and has no working asterisk; delete it and run again"
    fi
    say "building Debian $SUITE root with $PACKAGES in $ROOT (about a minute)"
    # debootstrap's default archive; no archive host is named here on purpose.
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" >&2
    check_root || die "debootstrap finished but asterisk/php do not run in $ROOT"
fi

chown_fix
ensure_extras
chroot "$ROOT" asterisk -V >"$MARKER"
say "root ready: $ROOT ($(cat "$MARKER"))"
