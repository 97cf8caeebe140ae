#!/usr/bin/env bash
# make bench: the provider against its floors, apps on a real App Host, and the
# server's login path.
#
# The configuration is the recommended one: N keys with expose_secret = false,
# N apps, N app secrets bound with no value; the rotation changes every key's
# rotation trigger in one apply. Besides plan and rotation times and ratios it
# reports each app's downtime (audit log) and each rotation transaction's time
# with its wait for the write lock (rotation_ms in the provider's INFO log,
# TF_LOG_PROVIDER=INFO to N*/BACKEND/logs/*.provider.log).
#
# Then the real App Host row (bench/hostbench): serve on SQLite and App Hosts
# on loopback; BENCH_HOST_N example apps as processes of one App Host (exec
# driver), each bound to its own key, all rotated in one apply: each app's
# downtime (the rotation steps: stop to first login with the new
# secret_version) against the example app's cold start (BENCH_HOST_WAVE apps
# started at once, in the same run), failed logins, the App Host's memory per
# app, and the rotation time with the App Host round trips (virtual driver)
# against the built-in App Host; overlap rotations of N apps, 5 per key, with
# reload_signal (no app may stop) and without (each app's own restart, never
# two of one key at once); and the store watcher's latency (how long a
# wait takes to see another process's commit: SQLite's data_version, and
# PostgreSQL's LISTEN/NOTIFY with APPHOST_TEST_POSTGRES_DSN).
#
#   scripts/bench.sh                       # everything (long: N=1000 takes a while)
#   BENCH_N="100 300" BENCH_RUNS=3 scripts/bench.sh
#   BENCH_TF=0 BENCH_LOGIN=0 scripts/bench.sh       # the real App Host row only
#   BENCH_BASE_REF=1e3b682 BENCH_BACKENDS="embedded embedded-base" BENCH_N=300 \
#     BENCH_HOST=0 BENCH_LOGIN=0 scripts/bench.sh   # this tree against a commit
#
# Environment:
#   BENCH_N            sizes (keys = apps = app secrets), default "100 300 1000"
#   BENCH_RUNS         rounds per size (plan + rotation apply), default 3; medians
#   BENCH_PARALLELISM  terraform -parallelism, default 10 (the App Host row too)
#   BENCH_BACKENDS     default "terraform_data no-io embedded server-sqlite
#                      server-sqlite-virtual-host server-postgres";
#                      server-sqlite-virtual-host: the apps on a real App Host
#                      (terraform-provider-apphost host --driver virtual);
#                      embedded-base: the embedded backend of the provider
#                      built at BENCH_BASE_REF
#   BENCH_BASE_REF     a commit to build the embedded-base provider from
#                      (git archive into a temporary directory)
#   BENCH_CMD_TIMEOUT  bound on one terraform command, default 20m
#   BENCH_TF=0         skip the Terraform part;  BENCH_LOGIN=0 skip the login part
#   BENCH_HOST=0       skip the real App Host row
#   BENCH_HOST_N       its apps per set (exec, virtual, built-in), default 50
#   BENCH_HOST_RUNS    its rounds (cold start wave + one rotation apply per set), default 3
#   BENCH_HOST_WAVE    apps started at once for the cold start, default BENCH_PARALLELISM
#   BENCH_HOST_OVERLAP_PER_KEY  apps per key of the two overlap sets (rotation_strategy =
#                      "overlap", with and without reload_signal, on an App Host of their
#                      own), default 5;  BENCH_HOST_OVERLAP=0 skips them
#   BENCH_HOST_LOGIN_INTERVAL  the example apps' login_interval, default 5s
#   BENCH_LOGIN_DURATION  per login target, default 10s; BENCH_LOGIN_CLIENTS default 50
#   BENCH_KEEP=1       keep the work directory (logs, configurations, stores)
#   BENCH_DIR          work directory (default: a new one under $TMPDIR; the
#                      App Host row uses BENCH_DIR/host)
#   BENCH_JSON         also write the Terraform results as JSON to this file
#   APPHOST_TEST_POSTGRES_DSN  adds the PostgreSQL rows
#                      (eval "$(scripts/postgres.sh start /tmp/apphost-pg)")
#   TF_ACC_TERRAFORM_PATH / terraform or tofu on PATH: the CLI to drive
#
# Everything runs on loopback, in temporary directories, with a private
# TF_CLI_CONFIG_FILE (dev_overrides); nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(mktemp -d "${TMPDIR:-/tmp}/apphost-bench-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT

echo "bench: building into $bin" >&2
go build -o "$bin/terraform-provider-apphost" .
go build -o "$bin/nullprovider" ./bench/nullprovider
go build -o "$bin/rsswrap" ./bench/rsswrap
go build -o "$bin/tfbench" ./bench/tfbench
go build -o "$bin/loginload" ./bench/loginload
go build -o "$bin/hostbench" ./bench/hostbench

base=()
if [ -n "${BENCH_BASE_REF:-}" ]; then
	echo "bench: building the provider at $BENCH_BASE_REF into $bin/base" >&2
	mkdir -p "$bin/base/src"
	git archive "$BENCH_BASE_REF" | tar -x -C "$bin/base/src"
	(cd "$bin/base/src" && go build -o "$bin/base/terraform-provider-apphost" .)
	base=(-provider-base "$bin/base/terraform-provider-apphost")
fi

status=0
if [ "${BENCH_TF:-1}" != 0 ]; then
	# tfbench finds the CLI as the tests do (internal/tfcli.Find).
	"$bin/tfbench" \
		-provider "$bin/terraform-provider-apphost" \
		-noio "$bin/nullprovider" \
		-rsswrap "$bin/rsswrap" "${base[@]}" || status=$?
fi

if [ "${BENCH_HOST:-1}" != 0 ]; then
	echo
	"$bin/hostbench" -provider "$bin/terraform-provider-apphost" || status=$?
	echo
	echo "== store watcher: how long a wait (a rotation's, for an App Host's report) takes to see another process's commit =="
	go test -run '^$' -bench 'BenchmarkWatchLatency' -benchtime 200x ./internal/store/sqlite ./internal/store/postgres || status=$?
fi

if [ "${BENCH_LOGIN:-1}" != 0 ]; then
	echo
	echo "== login path: go test -bench BenchmarkLogin ./bench/login (in-process, httptest) =="
	go test -run '^$' -bench 'BenchmarkLogin' -benchtime "${BENCH_LOGIN_BENCHTIME:-2s}" ./bench/login || status=$?
	echo
	echo "== login path: loopback load test =="
	"$bin/loginload" -provider "$bin/terraform-provider-apphost" \
		-clients "${BENCH_LOGIN_CLIENTS:-50}" \
		-duration "${BENCH_LOGIN_DURATION:-10s}" || status=$?
fi
exit $status
