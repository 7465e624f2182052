#!/usr/bin/env bash
# The production supervisor unit (deploy/systemd/taxdesk.service, issue 9 finding 15) is a valid systemd unit that
# restarts a failed engine, and its command line is one the binary accepts. `systemd-analyze verify` checks the
# unit (with the binary's path put where the unit expects it); a broken copy shows that the check can fail.
set -euo pipefail
taxdesk=${1:?usage: deploy_unit.sh path/to/taxdesk}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
unit=$root/deploy/systemd/taxdesk.service
work=$(mktemp -d /tmp/taxdesk-unit.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (apt-get install systemd; scripts/test installs it)"

grep -qx 'Restart=on-failure' "$unit" || fail "the unit does not restart a failed engine"
grep -q '^StartLimitBurst=' "$unit" || fail "the unit's restarts are not bounded"
sed "s|/usr/local/bin/taxdesk|$taxdesk|" "$unit" >"$work/taxdesk.service"
# systemd-analyze exits 0 for a setting it ignores, but says so: anything it says is a failure.
verify() { systemd-analyze verify "$1" >"$work/verify.out" 2>&1 && [[ ! -s $work/verify.out ]]; }
verify "$work/taxdesk.service" || fail "systemd-analyze verify: $(cat "$work/verify.out")"
sed 's/^Restart=on-failure/Restart=sometimes/' "$work/taxdesk.service" >"$work/broken.service"
! verify "$work/broken.service" || fail "systemd-analyze accepted Restart=sometimes: the check above proves nothing"

# The unit's command line, with the documented configuration file in place of /etc/taxdesk's.
exec_start=$(sed -n 's|^ExecStart=/usr/local/bin/taxdesk ||p' "$unit")
[[ $exec_start == "--config /etc/taxdesk/taxdesk.properties serve" ]] || fail "unexpected ExecStart: $exec_start"
TAXDESK_APP_VAR_DIR=$work/var "$taxdesk" --config "$root/config/taxdesk.properties" config >/dev/null 2>"$work/config.err" ||
  fail "taxdesk --config config/taxdesk.properties config: $(cat "$work/config.err")"
echo "deploy_unit: 1 passed, 0 failed"
