#!/usr/bin/env bash
# A key rotation on the embedded backend, end to end, from a fresh clone:
#
#   1. build the provider into a temporary directory and point a private
#      Terraform CLI configuration at it (dev_overrides: no registry, no init);
#   2. apply examples/rotation: two API key accounts, three apps, two of them
#      on the same key, each with an app secret holding its key's secret;
#   3. change the rotation trigger of that key and apply again;
#   4. print the audit log of the rotation (undeploy, regenerate, secret put,
#      deploy, the apps' logins) and the key inventory.
#
# Set KEEP=1 to keep the temporary directory. TERRAFORM=tofu to use OpenTofu.
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

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

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
"$tf" apply -auto-approve -compact-warnings "${tfvars[@]}" -var quarter=2026-Q4

# Where the rotation starts in the audit log.
last_seq="$("$bin" audit --store "$store" --json | tail -n 1 | sed -E 's/.*"seq":([0-9]+).*/\1/')"
[[ "$last_seq" =~ ^[0-9]+$ ]] || last_seq=0

step "Rotating the siem key: terraform apply -var quarter=2027-Q1"
"$tf" apply -auto-approve -compact-warnings "${tfvars[@]}" -var quarter=2027-Q1

step "The rotation in the audit log (events after seq $last_seq, oldest first)"
"$bin" audit --store "$store" --after "$last_seq"

step "The key inventory"
"$bin" accounts --store "$store"

# The point of the ordering: no app ever logged in with a stale secret.
rotation="$("$bin" audit --store "$store" --json --after "$last_seq")"
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
echo
echo "demo: the siem key was regenerated with its two apps undeployed first and deployed"
echo "      after their new secret was stored: no failed login, no lock. The backup key and"
echo "      its app were not touched."
