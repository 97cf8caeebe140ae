#!/usr/bin/env bash
# A key rotation on the embedded backend, end to end, from a fresh clone:
#
#   1. build the provider into a temporary directory and point a private
#      Terraform CLI configuration at it (dev_overrides: no registry, no init);
#   2. apply examples/rotation: two API key accounts (expose_secret = false),
#      three apps, two of them on the same key, each with an app secret bound
#      to its key and no value (the backend fills it);
#   3. change the rotation trigger of that key and apply again: one in-place
#      update of the key, which the backend carries out as one transaction
#      (undeploy its apps, regenerate, seal the new secret into their app
#      secrets, deploy them again);
#   4. print the audit log of the rotation, each app's downtime (downtime_ms
#      of its app.deploy event), the key inventory, and check that no login
#      failed and that the Terraform state holds no secret.
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
cleanup() {
	if [[ "${KEEP:-}" == 1 ]]; then
		echo "demo: kept $work"
	else
		rm -rf "$work"
	fi
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
unset TF_WORKSPACE TF_DATA_DIR APPHOST_ENDPOINT APPHOST_API_KEY_ID APPHOST_API_KEY_SECRET APPHOST_STORE_PATH

cp -R examples/rotation "$work/rotation"
cd "$work/rotation"
db="$work/rotation/.apphost/apphost.db"
store="sqlite:$db"
tfvars=(-var "store_path=$db")

step "terraform apply: two keys, three apps (two on the siem key), their app secrets"
"$tf" apply "${color[@]}" -auto-approve -compact-warnings "${tfvars[@]}" -var quarter=2026-Q4

# Where the rotation starts in the audit log.
last_seq="$("$bin" audit --store "$store" --json | tail -n 1 | sed -E 's/.*"seq":([0-9]+).*/\1/')"
[[ "$last_seq" =~ ^[0-9]+$ ]] || last_seq=0

step "Rotating the siem key: terraform apply -var quarter=2027-Q1"
echo "The plan is one in-place update of the key (secret_version + 1) and a warning"
echo "naming the apps the rotation redeploys; the app secrets plan no change."
"$tf" apply "${color[@]}" -auto-approve "${tfvars[@]}" -var quarter=2027-Q1

step "The rotation in the audit log (events after seq $last_seq, oldest first)"
"$bin" audit --store "$store" --after "$last_seq"

rotation="$("$bin" audit --store "$store" --json --after "$last_seq")"

step "Each app's downtime (downtime_ms of its app.deploy event)"
# One JSON object per line; the app's name is target_name and the detail of
# app.deploy ends in downtime_ms=N. Plain sed, no jq needed.
downtimes="$(grep '"action":"app.deploy"' <<<"$rotation" |
	sed -nE 's/.*"target_name":"([^"]*)".*downtime_ms=([0-9.]+).*/\1 \2/p' || true)"
if [[ -z "$downtimes" ]]; then
	echo "demo: FAILED: the rotation's app.deploy events carry no downtime_ms." >&2
	exit 1
fi
while read -r app ms; do
	printf '  %-22s down for %s ms\n' "$app" "$ms"
done <<<"$downtimes"

step "The key inventory"
"$bin" accounts --store "$store"

# The point of the ordering: no app ever logged in with a stale secret.
if grep -q -e '"action":"login.failure"' -e '"action":"api_key_account.lock"' <<<"$rotation"; then
	echo
	echo "demo: FAILED: the rotation caused failed logins (see login.failure above)." >&2
	exit 1
fi
if ! grep -q '"action":"api_key_account.regenerate"' <<<"$rotation"; then
	echo
	echo "demo: FAILED: the second apply did not regenerate the siem key." >&2
	exit 1
fi
logins="$(grep -c '"action":"login.success"' <<<"$rotation" || true)"

step "No secret in the Terraform state"
# Every key secret starts with ahk_. With expose_secret = false and bound app
# secrets with no value, neither the state nor its backup holds one.
if grep -l 'ahk_' terraform.tfstate terraform.tfstate.backup 2>/dev/null; then
	echo "demo: FAILED: the files above hold a key secret (ahk_...)." >&2
	exit 1
fi
echo "grep ahk_ terraform.tfstate terraform.tfstate.backup: no match"
echo "the keys' secret in state: $(grep -c '"secret": null' terraform.tfstate) x null"

echo
echo "demo: the siem key was rotated in one backend transaction: its two apps were"
echo "      undeployed, the secret regenerated and sealed into their app secrets, and the"
echo "      apps deployed again, each down for milliseconds ($logins logins with the new"
echo "      secret, no failed login, no lock). The backup key and its app were not touched,"
echo "      and the secret never passed through Terraform."
