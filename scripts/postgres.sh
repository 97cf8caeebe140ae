#!/bin/sh
# Throwaway PostgreSQL 15 cluster for the store tests.
#
#   eval "$(scripts/postgres.sh start DIR)"   # prints: export APPHOST_TEST_POSTGRES_DSN=...
#   scripts/postgres.sh stop DIR               # safe when not running
#
# Trust auth on 127.0.0.1 only, a free loopback port, the socket inside DIR.
# PostgreSQL refuses to run as root, so as root the cluster runs as the
# postgres user, which must be able to reach DIR (use one under /tmp).
# Everything but the export line goes to stderr.
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

usage() {
	echo "usage: $0 start|stop DIR" >&2
	exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

# as runs a command as the cluster owner.
if [ "$(id -u)" -eq 0 ]; then
	as() { runuser -u postgres -- "$@"; }
else
	as() { "$@"; }
fi

# port_free reports whether nothing listens on port $1 (ss is in iproute2).
port_free() {
	! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

case $cmd in
start)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	data=$dir/data
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir"
		chmod 0700 "$dir"
	fi
	if [ -f "$data/postmaster.pid" ] && as "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		port=$(sed -n 4p "$data/postmaster.pid")
	else
		if [ ! -f "$data/PG_VERSION" ]; then
			as "$PGBIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --no-locale >&2
			# Loopback TCP only; no local socket access beyond DIR.
			cat >"$data/pg_hba.conf" <<-HBA
				local all all trust
				host  all all 127.0.0.1/32 trust
			HBA
		fi
		port=
		p=$((20000 + $$ % 20000))
		for _ in $(seq 1 200); do
			if port_free "$p"; then
				port=$p
				break
			fi
			p=$((p + 1))
		done
		[ -n "$port" ] || { echo "no free port found" >&2; exit 1; }
		as "$PGBIN/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=off" start >&2
	fi
	for _ in $(seq 1 60); do
		if as "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port"; then
			break
		fi
		sleep 1
	done
	if ! as "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'apphost_test'" postgres | grep -q 1; then
		as "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres apphost_test
	fi
	echo "export APPHOST_TEST_POSTGRES_DSN=postgres://postgres@127.0.0.1:$port/apphost_test?sslmode=disable"
	;;
stop)
	data=$dir/data
	if [ -f "$data/postmaster.pid" ]; then
		as "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >&2 || true
	fi
	;;
*)
	usage
	;;
esac
