#!/bin/sh
# PHP checks of the module: `php -l` on every PHP file, then PHPUnit (tests/php/phpunit.xml).
# Exits non-zero on any failure.
#
# Optional second syntax check with PHP 8.4 (MikoPBX runs 8.4; this machine may have 8.2):
# set CONFLINK_PHP84_ROOT to a root folder with php-cli 8.4 (the project's Asterisk lab root,
# /var/cache/conflink/asterisk-root, has one); the files are copied into it and linted there
# with chroot. Needs root. CONFLINK_PHP84_ROOT unset = that step is not run.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
php=${PHP:-php}
phpunit=${PHPUNIT:-phpunit}

cd "$top"
files=$(find . \( -path ./.git -o -path ./.venv -o -path ./node_modules -o -path '*/node_modules' \
    -o -path ./python-worker -o -path ./tests/.artifacts -o -path ./dist -o -path ./build \) -prune \
    -o -type f -name '*.php' -print | sort)
[ -n "$files" ] || { echo "run.sh: no PHP files found under $top" >&2; exit 1; }

failed=0
count=0
for f in $files; do
    count=$((count + 1))
    if ! out=$("$php" -l "$f" 2>&1); then
        echo "$out" >&2
        failed=1
    fi
done
echo "php -l ($("$php" -r 'echo PHP_VERSION;')): $count files checked"
[ "$failed" -eq 0 ] || { echo "run.sh: syntax errors (see above)" >&2; exit 1; }

if [ -n "${CONFLINK_PHP84_ROOT:-}" ]; then
    root=$CONFLINK_PHP84_ROOT
    [ -x "$root/usr/bin/php" ] || { echo "run.sh: no php in $root (CONFLINK_PHP84_ROOT)" >&2; exit 1; }
    dest="/tmp/conflink-phplint-$$"
    mkdir -p "$root$dest"
    trap 'rm -rf "$root$dest"' EXIT INT TERM
    for f in $files; do
        mkdir -p "$root$dest/$(dirname "$f")"
        cp "$f" "$root$dest/$f"
    done
    ver=$(chroot "$root" php -r 'echo PHP_VERSION;')
    for f in $files; do
        if ! out=$(chroot "$root" php -l "$dest/$f" 2>&1); then
            echo "$out" >&2
            failed=1
        fi
    done
    echo "php -l ($ver, $root): $count files checked"
    rm -rf "$root$dest"
    trap - EXIT INT TERM
    [ "$failed" -eq 0 ] || { echo "run.sh: syntax errors with PHP $ver (see above)" >&2; exit 1; }
fi

"$phpunit" -c "$here/phpunit.xml"
