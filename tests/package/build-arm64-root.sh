#!/bin/sh
# Build (once) the arm64 Debian 12 root in which tests/package runs the packaged worker under
# qemu user-mode emulation, and make sure this host can run arm64 binaries (binfmt_misc).
#
#   ROOT=${CONFLINK_ARM64_ROOT:-/var/cache/conflink/arm64-root}
#
# Debian 12 has Python 3.11, like MikoPBX. The root is kept between runs and rebuilt only when
# its marker file is missing. The binfmt registration does not survive a reboot, so every run
# checks it (that part is cheap). Needs root (debootstrap, chroot, binfmt_misc).
set -eu

ROOT=${CONFLINK_ARM64_ROOT:-/var/cache/conflink/arm64-root}
MARKER="$ROOT/.conflink-root-ready"
SUITE=bookworm
# python3 is 3.11 in bookworm; libstdc++6 (needed by the bundled libzmq) comes with minbase.
PACKAGES=python3
BINFMT=/proc/sys/fs/binfmt_misc

say() { printf 'build-arm64-root: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot and binfmt_misc need it)"
command -v qemu-aarch64-static >/dev/null 2>&1 && command -v update-binfmts >/dev/null 2>&1 \
    && command -v debootstrap >/dev/null 2>&1 \
    || die "qemu-user-static, binfmt-support and debootstrap are needed: run tools/install-system-deps.sh"

# The kernel runs arm64 ELF files through qemu-aarch64-static once its binfmt_misc entry is
# registered and enabled. The Debian entry has the F flag (the interpreter is opened at
# registration), so nothing needs to be copied into the root.
ensure_binfmt() {
    if [ ! -e "$BINFMT/register" ]; then
        mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null \
            || die "cannot mount binfmt_misc on $BINFMT (this kernel or container does not allow it)"
    fi
    if [ ! -e "$BINFMT/qemu-aarch64" ]; then
        update-binfmts --import qemu-aarch64 >/dev/null 2>&1 || true
        update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    fi
    [ -e "$BINFMT/qemu-aarch64" ] || die "update-binfmts could not register qemu-aarch64 in $BINFMT"
    if [ "$(head -n 1 "$BINFMT/qemu-aarch64")" != enabled ]; then
        echo 1 >"$BINFMT/qemu-aarch64" || die "cannot enable $BINFMT/qemu-aarch64"
    fi
    grep -q '^flags: .*F' "$BINFMT/qemu-aarch64" \
        || die "$BINFMT/qemu-aarch64 lacks the F flag: the chroot would need its own qemu binary"
}

# The root works when its python3 runs (as an arm64 process) and is 3.11.
check_root() {
    chroot "$ROOT" /usr/bin/python3 -c \
        'import os, sys; assert os.uname().machine == "aarch64", os.uname().machine; assert sys.version_info[:2] == (3, 11), sys.version' \
        >/dev/null 2>&1
}

describe() {
    chroot "$ROOT" /usr/bin/python3 -c 'import os, sys; print(os.uname().machine, "Python", sys.version.split()[0])'
}

ensure_binfmt

if [ -f "$MARKER" ]; then
    check_root || die "$ROOT has a marker but its arm64 python3 does not run; delete $ROOT and run again"
    say "root already built: $ROOT ($(describe))"
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
    say "root was built by a concurrent run: $ROOT"
    exit 0
fi

if [ -e "$ROOT" ] && [ -n "$(ls -A "$ROOT" 2>/dev/null)" ]; then
    die "$ROOT exists without the marker $MARKER (an unfinished build?); delete it and run again"
fi

say "building Debian $SUITE arm64 root with $PACKAGES in $ROOT (several minutes: dpkg runs emulated)"
# debootstrap's default archive; no archive host is named here on purpose. Two stages: the
# first only unpacks (no arm64 code runs), the second configures the packages inside the root,
# emulated; this split works whatever debootstrap decides about foreign architectures.
debootstrap --arch=arm64 --foreign --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" >&2
chroot "$ROOT" /debootstrap/debootstrap --second-stage >&2
# asyncio resolves "localhost" (the worker's AMI host may be a name): the root needs /etc/hosts.
grep -qs '^127\.0\.0\.1[[:space:]].*localhost' "$ROOT/etc/hosts" \
    || printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >>"$ROOT/etc/hosts"
check_root || die "debootstrap finished but the arm64 python3 3.11 does not run in $ROOT"
describe >"$MARKER"
say "root ready: $ROOT ($(cat "$MARKER"))"
