#!/usr/bin/env bash
# make bench: the provider against its floors, and the server's login path.
#
# The configuration is the recommended one: N keys with expose_secret = false,
# N apps, N app secrets bound with no value; the rotation changes every key's
# rotation trigger in one apply. Besides plan and rotation times and ratios it
# reports each app's downtime (audit log) and each rotation transaction's time
# with its wait for the write lock (rotation_ms in the provider's INFO log,
# TF_LOG_PROVIDER=INFO to N*/BACKEND/logs/*.provider.log).
#
#   scripts/bench.sh                       # everything (long: N=1000 takes a while)
#   BENCH_N="100 300" BENCH_RUNS=3 scripts/bench.sh
#
# Environment:
#   BENCH_N            sizes (keys = apps = app secrets), default "100 300 1000"
#   BENCH_RUNS         rounds per size (plan + rotation apply), default 3; medians
#   BENCH_PARALLELISM  terraform -parallelism, default 10
#   BENCH_BACKENDS     default "terraform_data no-io embedded server-sqlite server-postgres"
#   BENCH_CMD_TIMEOUT  bound on one terraform command, default 20m
#   BENCH_TF=0         skip the Terraform part;  BENCH_LOGIN=0 skip the login part
#   BENCH_LOGIN_DURATION  per login target, default 10s; BENCH_LOGIN_CLIENTS default 50
#   BENCH_KEEP=1       keep the work directory (logs, configurations, stores)
#   BENCH_DIR          work directory (default: a new one under $TMPDIR)
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

status=0
if [ "${BENCH_TF:-1}" != 0 ]; then
	# tfbench finds the CLI as the tests do (internal/tfcli.Find).
	"$bin/tfbench" \
		-provider "$bin/terraform-provider-apphost" \
		-noio "$bin/nullprovider" \
		-rsswrap "$bin/rsswrap" || status=$?
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
