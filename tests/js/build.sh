#!/bin/sh
# Ships the admin UI scripts: public/assets/js/src/*.js are written in plain ES2017 that
# browsers run as is (no transpiler needed), so "building" is a syntax check and a copy
# into public/assets/js/, where the module serves them from.
#   tests/js/build.sh          copy src → shipped
#   tests/js/build.sh --check  fail if a shipped file differs from its source
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
src="$root/public/assets/js/src"
out="$root/public/assets/js"
mode=${1:-build}
status=0
for f in "$src"/*.js; do
    name=$(basename "$f")
    node --check "$f"
    if [ "$mode" = "--check" ]; then
        if ! cmp -s "$f" "$out/$name"; then
            echo "out of date: public/assets/js/$name (run tests/js/build.sh)" >&2
            status=1
        fi
    else
        cp "$f" "$out/$name"
    fi
done
exit "$status"
