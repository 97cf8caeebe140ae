#!/usr/bin/env bash
# A key rotation whose apps run as real processes, end to end, from a fresh
# clone, on one local SQLite file:
#
#   1. build the provider into a temporary directory and point a private
#      Terraform CLI configuration at it (dev_overrides: no registry, no init);
#   2. give the App Host an identity (examples/real-apps/host: an API key
#      account with app_host = "demo-host"), start `serve` on the SQLite file
#      (loopback, a free port) and the App Host (`host`, exec driver) that
#      signs in with it;
#   3. apply examples/real-apps with the embedded provider on the same file:
#      two API key accounts (expose_secret = false), three apps running the
#      reference app (`example-app`) as processes, each with an app secret
#      bound to its key (secrets/api-key on disk), two of them on one key;
#   4. change that key's rotation trigger and apply again: the App Host stops
#      the key's two apps and confirms, the backend regenerates the secret and
#      seals it into their app secrets, the App Host starts them again and the
#      rotation ends when each has logged in with the new secret;
#   5. print the rotation (terraform-provider-apphost rotations), each app's
#      measured downtime (stop to first login with the new secret) and its PID
#      before and after, and check: no failed login, no lock, no secret in the
#      apps' Terraform state;
#   6. stop the App Host (its apps stop with it) and serve: no process left.
#
# Set KEEP=1 to keep the temporary directory. TERRAFORM=tofu to use OpenTofu.
# Colour only when stdout is a terminal and NO_COLOR is unset.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tf="${TERRAFORM:-}"
if [[ -z "$tf" ]]; then
	tf="$(command -v terraform || command -v tofu || true)"
fi
if [[ -z "$tf" ]]; then
	echo "demo: neither terraform nor tofu is on PATH; install Terraform >= 1.11 or OpenTofu." >&2
	exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/apphost-demo.XXXXXX")"
serve_pid="" host_pid=""

# stop_pid sends SIGTERM to pid and waits (at most 20 s) for it to exit.
stop_pid() {
	local pid="$1"
	[[ -n "$pid" ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# leftover_apps lists the PIDs of processes that an App Host of this demo
# started (their environment names an app directory under $work).
leftover_apps() {
	local f pid
	for f in /proc/[0-9]*/environ; do
		pid="${f#/proc/}" pid="${pid%/environ}"
		if tr '\0' '\n' 2>/dev/null <"$f" | grep -q "^APPHOST_APP_DIR=$work/"; then
			echo "$pid"
		fi
	done
}

cleanup() {
	local rc=$?
	# The App Host first: SIGTERM stops its apps, each within its stop_timeout.
	stop_pid "$host_pid"
	stop_pid "$serve_pid"
	local left
	left="$(leftover_apps)"
	if [[ -n "$left" ]]; then
		echo "demo: stopping app processes left behind: $left" >&2
		kill -KILL $left 2>/dev/null || true
		rc=1
	fi
	if [[ "${KEEP:-}" == 1 || $rc -ne 0 ]]; then
		echo "demo: kept $work (serve.log, host.log, the App Host's apps/*/log)"
	else
		rm -rf "$work"
	fi
	exit $rc
}
trap cleanup EXIT

# Colour only on a terminal (and never under NO_COLOR): make demo > FILE
# writes plain text, Terraform's output included.
if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
	bold=$'\033[1m' plain=$'\033[0m' color=()
else
	bold='' plain='' color=(-no-color)
fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
fail() {
	echo "demo: FAILED: $*" >&2
	exit 1
}

step "Building the provider into $work/bin"
mkdir -p "$work/bin"
go build -ldflags "-X main.version=demo" -o "$work/bin/terraform-provider-apphost" .
bin="$work/bin/terraform-provider-apphost"

# A private CLI configuration: the provider comes from the directory above,
# every other provider (none here) from its registry as usual.
cat >"$work/terraformrc" <<HCL
provider_installation {
  dev_overrides {
    "apphost/apphost" = "$work/bin"
  }
  direct {}
}
HCL
export TF_CLI_CONFIG_FILE="$work/terraformrc"
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
unset TF_WORKSPACE TF_DATA_DIR APPHOST_ENDPOINT APPHOST_API_KEY_ID APPHOST_API_KEY_SECRET APPHOST_STORE_PATH \
	APPHOST_ADMIN_KEY_ID APPHOST_ADMIN_KEY_SECRET

cp -R examples/real-apps "$work/real-apps"
db="$work/apphost.db"
store="sqlite:$db"
host_name="demo-host"

step "The App Host's identity: an API key account with app_host = \"$host_name\" (examples/real-apps/host)"
(cd "$work/real-apps/host" && "$tf" apply "${color[@]}" -auto-approve -compact-warnings -var "store_path=$db" -var "app_host=$host_name")
host_id="$(cd "$work/real-apps/host" && "$tf" output -raw host_key_id)"
(umask 077 && cd "$work/real-apps/host" && "$tf" output -raw host_secret >"$work/host.secret")

step "Starting serve on $store (loopback) and the App Host \"$host_name\""
"$bin" serve --listen 127.0.0.1:0 --store "$store" --app-host-offline-after 6s >"$work/serve.out" 2>"$work/serve.log" &
serve_pid=$!
url=""
for _ in $(seq 300); do
	url="$(sed -nE 's/^listening on (http[^ ]*)$/\1/p' "$work/serve.out" | head -n 1)"
	[[ -n "$url" ]] && break
	kill -0 "$serve_pid" 2>/dev/null || fail "serve exited: $(tail -n 5 "$work/serve.log")"
	sleep 0.1
done
[[ -n "$url" ]] || fail "serve did not start in 30 s"
echo "serve: $url (pid $serve_pid)"
APPHOST_API_KEY_ID="$host_id" "$bin" host --name "$host_name" --endpoint "$url" \
	--secret-file "$work/host.secret" --dir "$work/host" 2>"$work/host.log" &
host_pid=$!
for _ in $(seq 300); do
	"$bin" app-hosts --store "$store" --json | grep -q "\"name\":\"$host_name\",.*\"state\":\"online\"" && break
	kill -0 "$host_pid" 2>/dev/null || fail "the App Host exited: $(tail -n 5 "$work/host.log")"
	sleep 0.1
done
"$bin" app-hosts --store "$store"

cd "$work/real-apps"
tfvars=(-var "store_path=$db" -var "app_host=$host_name" -var "binary=$bin")

step "terraform apply: two keys, three apps running example-app as processes on $host_name"
"$tf" apply "${color[@]}" -auto-approve -compact-warnings "${tfvars[@]}" -var quarter=2026-Q4

# The apps' PIDs, from the exec driver's record of each app's process.
pids() {
	local f
	for f in "$work/host/apps"/*/pid; do
		printf '%s %s\n' "$(basename "$(dirname "$f")")" "$(sed -nE 's/.*"pid": *([0-9]+).*/\1/p' "$f")"
	done
}
# The apply waited for each app to run healthy (its first login with its
# secret), which the App Host's app.deploy event records.
healthy="$("$bin" audit --store "$store" --json | grep -c '"action":"app.deploy"' || true)"
[[ "$healthy" -ge 3 ]] || fail "the apply ended before its apps ran healthy ($healthy app.deploy events)"
before="$(pids)"
echo "the apps' processes:"
sed 's/^/  /' <<<"$before"

# Where the rotation starts in the audit log.
last_seq="$("$bin" audit --store "$store" --json | tail -n 1 | sed -E 's/.*"seq":([0-9]+).*/\1/')"
[[ "$last_seq" =~ ^[0-9]+$ ]] || last_seq=0

step "Rotating the siem key: terraform apply -var quarter=2027-Q1"
echo "The plan is one in-place update of the key (secret_version + 1) and a warning naming the"
echo "apps the rotation redeploys; the App Host stops them, the backend regenerates and seals, the"
echo "App Host starts them with the new secret files, and the apply waits for their logins."
"$tf" apply "${color[@]}" -auto-approve "${tfvars[@]}" -var quarter=2027-Q1

step "The rotation (terraform-provider-apphost rotations)"
"$bin" rotations --store "$store" --limit 1

rotation="$("$bin" audit --store "$store" --json --after "$last_seq")"
after="$(pids)"

step "Each app's downtime (stop to first login with the new secret) and its process"
downtimes="$(grep '"action":"app.deploy"' <<<"$rotation" |
	sed -nE 's/.*"target_name":"([^"]*)".*downtime_ms=([0-9.]+).*/\1 \2/p' || true)"
[[ -n "$downtimes" ]] || fail "the rotation's app.deploy events carry no downtime_ms"
while read -r app ms; do
	old="$(awk -v a="$app" '$1 == a {print $2}' <<<"$before")"
	new="$(awk -v a="$app" '$1 == a {print $2}' <<<"$after")"
	printf '  %-22s down for %9s ms   pid %s -> %s\n' "$app" "$ms" "$old" "$new"
	[[ -n "$old" && -n "$new" && "$old" != "$new" ]] || fail "$app did not restart as a new process ($old -> $new)"
done <<<"$downtimes"
untouched="$(awk '$1 == "backup-agent" {print $2}' <<<"$before")"
[[ "$untouched" == "$(awk '$1 == "backup-agent" {print $2}' <<<"$after")" ]] || fail "backup-agent was restarted"
echo "  backup-agent (another key) kept its process: pid $untouched"

# The point of the ordering: no app ever logged in with a stale secret.
if grep -q -e '"action":"login.failure"' -e '"action":"api_key_account.lock"' <<<"$rotation"; then
	fail "the rotation caused failed logins (terraform-provider-apphost audit --store $store)"
fi
grep -q '"action":"api_key_account.regenerate"' <<<"$rotation" || fail "the second apply did not regenerate the siem key"
logins="$(grep '"action":"login.success"' <<<"$rotation" | grep -c '"actor":"siem-forwarder-' || true)"

step "No secret in the apps' Terraform state"
# Every key secret starts with ahk_. With expose_secret = false and bound app
# secrets with no value, neither the state nor its backup holds one. (The
# App Host's own identity is in ./host's state, by that configuration's
# design.)
if grep -l 'ahk_' terraform.tfstate terraform.tfstate.backup 2>/dev/null; then
	fail "the files above hold a key secret (ahk_...)"
fi
echo "grep ahk_ terraform.tfstate terraform.tfstate.backup: no match"

step "Stopping the App Host (SIGTERM: its apps stop with it) and serve"
stop_pid "$host_pid"
host_pid=""
stop_pid "$serve_pid"
serve_pid=""
[[ -z "$(leftover_apps)" ]] || fail "app processes are left after the App Host stopped"
echo "no app process left"

echo
echo "demo: the siem key was rotated across a real App Host: its two apps (processes) were"
echo "      stopped and confirmed stopped, the secret regenerated and sealed into their app"
echo "      secrets, and the apps started again with the new secret files, each down only for"
echo "      its own restart ($logins logins with the new secret, no failed login, no lock)."
echo "      The backup key's app kept running, and the secret never passed through Terraform."
