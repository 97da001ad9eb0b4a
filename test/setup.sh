#!/usr/bin/env bash
# Installs what nextphone needs on Debian 12 (as root), builds it and installs
# it into PostgreSQL 15.  Sourced by test/demo.sh and test/run.sh; safe to run
# again (apt-get and make skip what is already done).
# Set PG_CONFIG to use a PostgreSQL other than Debian's 15.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "run as root: packages are installed with apt-get" >&2
	exit 1
fi

NEXTPHONE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export NEXTPHONE_ROOT

packages=(
	postgresql-15 postgresql-server-dev-15 postgresql-client-15
	libcurl4-openssl-dev libssl-dev libipc-run-perl
	make gcc clang-14 llvm-14 libclang-rt-14-dev
	python3 openssl nginx-light curl valgrind
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian starts a cluster when postgresql-15 is installed; nextphone's tests
# and demo use throwaway clusters of their own.
# PG_CONFIG may name another installation (a developer's private copy).
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PATH=$("$PG_CONFIG" --bindir):$PATH
export PATH

echo "== building and installing nextphone"
make -C "$NEXTPHONE_ROOT" -s PG_CONFIG="$PG_CONFIG" >/dev/null
make -C "$NEXTPHONE_ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null

# A copy of the tree the postgres user can write (initdb refuses root).
nextphone_workdir() {
	local dir
	dir=$(mktemp -d /tmp/nextphone.XXXXXX)
	cp -a "$NEXTPHONE_ROOT/." "$dir/"
	rm -rf "$dir/.git"
	chown -R postgres:postgres "$dir"
	echo "$dir"
}
