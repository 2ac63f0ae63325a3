#!/bin/sh
# Admin UI checks: php -l on every PHP file the UI owns, then the PHPUnit suite.
# Usage: tests/php/ui/run.sh [phpunit args…]   (PHP binary: $PHP, default php)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
php=${PHP:-php}
status=0
for f in $(find "$root/App" "$root/Messages" "$here" -name '*.php' | sort); do
    "$php" -l "$f" >/dev/null || { echo "php -l failed: $f" >&2; status=1; }
done
[ "$status" -eq 0 ] || exit "$status"
exec "$php" "$(command -v phpunit)" -c "$here/phpunit.xml" "$@"
