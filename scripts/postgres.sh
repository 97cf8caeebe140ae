#!/bin/sh
# Throwaway PostgreSQL cluster for the store tests.
#
#   eval "$(scripts/postgres.sh start DIR)"   # prints: export APPHOST_TEST_POSTGRES_DSN=...
#   scripts/postgres.sh stop DIR               # safe when not running
#   scripts/postgres.sh bindir                 # prints the directory of initdb and pg_ctl
#
# Trust auth on 127.0.0.1 only, a free loopback port, the socket inside DIR.
# PostgreSQL refuses to run as root, so as root the cluster runs as the
# postgres user, which must be able to reach DIR (use one under /tmp).
# Everything but the export line goes to stderr.
#
# The binaries are those of $PGBIN when set, else of the newest version
# Debian's packages installed (/usr/lib/postgresql/VERSION/bin; apt-get
# install postgresql), else of pg_config --bindir, else initdb on PATH.
set -eu

# pg_lib is where Debian installs each PostgreSQL version (a test points it
# elsewhere).
pg_lib=${APPHOST_PG_LIB:-/usr/lib/postgresql}

# find_bindir prints the directory of the PostgreSQL binaries, or fails
# saying how to install them.
find_bindir() {
	if [ -n "${PGBIN:-}" ]; then
		if [ ! -x "$PGBIN/initdb" ]; then
			echo "postgres.sh: PGBIN=$PGBIN has no initdb" >&2
			return 1
		fi
		echo "$PGBIN"
		return 0
	fi
	# The newest version first: sort -V puts 9.6 before 15.
	newest=$(ls -1 "$pg_lib" 2>/dev/null | sort -V -r | while read -r v; do
		if [ -x "$pg_lib/$v/bin/initdb" ]; then
			echo "$pg_lib/$v/bin"
			break
		fi
	done)
	if [ -n "$newest" ]; then
		echo "$newest"
		return 0
	fi
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir)
		if [ -x "$d/initdb" ]; then
			echo "$d"
			return 0
		fi
	fi
	if d=$(command -v initdb 2>/dev/null); then
		dirname "$d"
		return 0
	fi
	echo "postgres.sh: no PostgreSQL server binaries (initdb) in $pg_lib/*/bin, pg_config --bindir or PATH;" \
		"install them (Debian: apt-get install postgresql) or set PGBIN to their directory" >&2
	return 1
}

usage() {
	echo "usage: $0 start|stop DIR | bindir" >&2
	exit 2
}
if [ $# -eq 1 ] && [ "$1" = bindir ]; then
	find_bindir
	exit
fi
[ $# -eq 2 ] || usage
cmd=$1
dir=$2
PGBIN=$(find_bindir)

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
