#!/usr/bin/env bash
# A PostgreSQL 15 with symbols, for profiles that name PostgreSQL's own
# functions: Debian's postgres binary is stripped, so callgrind shows "???"
# for everything the server does.  Run as root:
#
#   bash test/bench/debug_postgres.sh [PREFIX]
#
# Fetches the source of Debian's postgresql-15 package (apt-get source; adds a
# deb-src entry for the Debian archive if there is none), builds it with -O2
# -g and OpenSSL (as Debian's, whose HMAC and SHA-256 then come from OpenSSL)
# into PREFIX (default /opt/pg-dbg), then builds and installs nextphone for it
# from a copy of this tree, leaving the tree's own objects, built for the
# system's PostgreSQL, alone.  Then, for instance:
#
#   PG_CONFIG=/opt/pg-dbg/bin/pg_config KEEP=/tmp/cg bash test/bench/instructions.sh
#   callgrind_annotate --inclusive=yes /tmp/cg/cg.PID.out
#
# Rebuild nextphone for it after a change with the last step alone
# (NEXTPHONE_ONLY=1).  The source is the newest the archive serves, which can
# be a minor release older than the installed server: close enough to see
# where the time goes, not a build to run anything else on.
set -euo pipefail
PREFIX=${1:-/opt/pg-dbg}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=/tmp/nextphone-pgsrc

if [ "${NEXTPHONE_ONLY:-0}" != 1 ]; then
	if ! grep -rqs '^Types: deb-src' /etc/apt/sources.list.d/ &&
		! grep -qs '^deb-src' /etc/apt/sources.list; then
		cat > /etc/apt/sources.list.d/nextphone-src.sources <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
		apt-get update -qq
	fi
	apt-get install -y -qq build-essential bison flex libssl-dev >/dev/null
	rm -rf "$work" && mkdir -p "$work" && cd "$work"
	# the newest version whose files the archive has (a security update's
	# source can be listed and missing from the mirror)
	for v in $(apt-cache showsrc postgresql-15 | sed -n 's/^Version: //p' | sort -rV); do
		apt-get source --download-only "postgresql-15=$v" >/dev/null 2>&1 && break
	done
	tar xjf postgresql-15_*.orig.tar.bz2
	cd postgresql-15.*/
	# with OpenSSL, as Debian's: PostgreSQL's HMAC and SHA-256 use it then
	./configure --prefix="$PREFIX" CFLAGS="-O2 -g -fno-omit-frame-pointer" \
		--with-openssl --without-icu --without-readline --without-zlib >configure.log
	make -j"$(nproc)" -s >make.log 2>&1
	make -s install >install.log 2>&1
	echo "PostgreSQL $(basename "$PWD") with symbols in $PREFIX"
fi

copy=$(mktemp -d /tmp/nextphone-dbg.XXXXXX)
trap 'rm -rf "$copy"' EXIT
git -C "$repo" ls-files -z | (cd "$repo" && xargs -0 cp --parents -t "$copy")
make -s -C "$copy" PG_CONFIG="$PREFIX/bin/pg_config" install >/dev/null
echo "nextphone installed for $PREFIX/bin/pg_config"
