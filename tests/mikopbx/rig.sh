#!/bin/sh
# Run PHP inside the MikoPBX Core rig (see tests/mikopbx/rig.py and docs/testing.md):
#   tests/mikopbx/rig.sh setup             build the cached sources and the PHP 8.4 root
#   tests/mikopbx/rig.sh php FILE [ARGS]   run FILE in a fresh PBX session (start it with
#                                          `require_once 'Globals.php';` as Core's workers do)
exec python3 "$(dirname "$0")/rig.py" "$@"
