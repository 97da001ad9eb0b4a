#!/usr/bin/env bash
# Developer shortcut: build, install, and run chosen tests as the postgres
# user in a scratch copy of the tree, e.g.
#   bash test/check.sh REGRESS=templates TAP_TESTS=
#   bash test/check.sh REGRESS= PROVE_TESTS=test/t/002_delivery.pl
# Set PG_CONFIG to test against a private PostgreSQL installation.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
NEXTPHONE_SHARED=${NEXTPHONE_SHARED:-$(cd "$NEXTPHONE_ROOT/../shared" 2>/dev/null && pwd)}
work=$(nextphone_workdir)
echo "== make installcheck $* (in $work)"
runuser -u postgres -- env PATH="$PATH" NEXTPHONE_SHARED="$NEXTPHONE_SHARED" \
	make -C "$work" PG_CONFIG="$PG_CONFIG" installcheck "$@"
