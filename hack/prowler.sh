#!/usr/bin/env bash
# Runs Prowler's CloudTrail checks against the test bed's AWS emulator (moto), as an
# independent second opinion on trail posture.
#
# Usage: hack/prowler.sh OUTPUT_DIR [ACCOUNT_ID]
#   Needs the bed's env (source DIR/env after hack/bed/up.sh DIR): TRAILWARDEN_AWS_ENDPOINT,
#   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_REGION.
#   ACCOUNT_ID: scan that emulator account. Prowler assumes
#   arn:aws:iam::ACCOUNT_ID:role/$PROWLER_ROLE_NAME (moto gives credentials from AssumeRole
#   the role's account and does not require the role to exist). Without it Prowler scans
#   the account the bed's static keys belong to (moto's default, 123456789012).
# Writes OUTPUT_DIR/prowler.ocsf.json (OCSF JSON, a list of findings) and
# OUTPUT_DIR/prowler.log, then prints one line per check, status and resource.
#
# Knobs (environment):
#   PROWLER_CHECKS     space-separated check ids (default: the CloudTrail checks below)
#   PROWLER_REGIONS    space-separated regions to scan (default: every region Prowler knows
#                      and the emulator's DescribeRegions lists; the multi-region checks
#                      are judged per region, so narrowing this weakens them)
#   PROWLER_ROLE_NAME  role assumed in ACCOUNT_ID (default: prowler-audit)
#   PROWLER_RESOURCE_ARN  judge only this trail (Prowler's --resource-arn): region-level
#                      verdicts are then about it, and prowler_compare.py compares them
#   PROWLER_MOTO_SHIM  1 (default) or 0, see "Emulator shim" below
#   PROWLER_PYTHON     interpreter for the venv (default: python3; Prowler wants 3.10-3.13)
#
# How Prowler reaches the emulator: boto3/botocore read AWS_ENDPOINT_URL for every client
# of every session, including the botocore session Prowler builds for assumed-role
# credentials; Prowler itself also passes it to its STS client. That alone is enough:
# STS GetCallerIdentity/AssumeRole, Organizations DescribeAccount, EC2 DescribeRegions,
# CloudTrail, S3 and the rest are all answered by moto.
#
# Emulator shim: for a multi-region trail Prowler records, as the trail's region, whichever
# region's DescribeTrails answered first (the regions are read in parallel), then calls
# GetEventSelectors / GetInsightSelectors there with the trail's ARN. AWS answers that
# from any region; moto only from the trail's home region (TrailNotFoundException
# elsewhere), so the selectors come back empty and the management-event and S3 data-event
# checks fail at random. The shim points those per-trail calls at the trail's home region
# (which AWS answers the same way) before Prowler makes them; nothing else changes.
set -euo pipefail

PROWLER_VERSION=5.46.0
DEFAULT_CHECKS="cloudtrail_multi_region_enabled
cloudtrail_multi_region_enabled_logging_management_events
cloudtrail_log_file_validation_enabled
cloudtrail_kms_encryption_enabled
cloudtrail_cloudwatch_logging_enabled
cloudtrail_s3_dataevents_write_enabled
cloudtrail_s3_dataevents_read_enabled
cloudtrail_insights_exist
cloudtrail_logs_s3_bucket_is_not_publicly_accessible
cloudtrail_logs_s3_bucket_access_logging_enabled
cloudtrail_bucket_requires_mfa_delete"

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
out=$1
account=${2:-}
if [ -n "$account" ] && ! [[ $account =~ ^[0-9]{12}$ ]]; then
  echo "prowler.sh: ACCOUNT_ID must be 12 digits, got '$account'" >&2; exit 2
fi
: "${TRAILWARDEN_AWS_ENDPOINT:?prowler.sh: source the bed env first (hack/bed/up.sh DIR; source DIR/env)}"
# This script is for the emulator only: refuse anything that is not on loopback.
host=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).hostname or "")' "$TRAILWARDEN_AWS_ENDPOINT")
case "$host" in
  localhost|::1|127.*) ;;
  *) echo "prowler.sh: TRAILWARDEN_AWS_ENDPOINT=$TRAILWARDEN_AWS_ENDPOINT is not on loopback; refusing" >&2; exit 2 ;;
esac

# --- Install (once per version) -------------------------------------------------------
cache=${TRAILWARDEN_CACHE:-$HOME/.cache/trailwarden}
venv="$cache/venv/prowler-$PROWLER_VERSION"
if [ ! -f "$venv/.installed" ]; then
  py=${PROWLER_PYTHON:-python3}
  if ! "$py" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 13)))'; then
    echo "prowler.sh: Prowler $PROWLER_VERSION needs Python 3.10-3.13; $py is $("$py" --version 2>&1). Set PROWLER_PYTHON." >&2
    exit 1
  fi
  echo "prowler.sh: installing Prowler $PROWLER_VERSION into $venv (takes several minutes, once)" >&2
  started=$(date +%s)
  rm -rf "$venv"
  "$py" -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "prowler==$PROWLER_VERSION" >&2
  touch "$venv/.installed"
  echo "prowler.sh: installed in $(( $(date +%s) - started ))s" >&2
fi

# --- Scan -------------------------------------------------------------------------------
mkdir -p "$out"; out=$(cd "$out" && pwd)
rm -f "$out/prowler.ocsf.json" "$out/prowler.log"

export AWS_ENDPOINT_URL=$TRAILWARDEN_AWS_ENDPOINT
export AWS_DEFAULT_REGION=${AWS_REGION:-us-east-1}
export AWS_REGION=$AWS_DEFAULT_REGION
export AWS_EC2_METADATA_DISABLED=true
# No profile, config or credentials file of the user's may leak into the scan.
export AWS_CONFIG_FILE=/nonexistent/prowler-bed-config AWS_SHARED_CREDENTIALS_FILE=/nonexistent/prowler-bed-credentials
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN

# shellcheck disable=SC2206
checks=(${PROWLER_CHECKS:-$DEFAULT_CHECKS})
args=(aws --check "${checks[@]}"
  --output-formats json-ocsf --output-directory "$out" --output-filename prowler
  --no-banner --no-color --ignore-exit-code-3 --log-level ERROR --log-file "$out/prowler.log")
if [ -n "$account" ]; then
  args+=(--role "arn:aws:iam::$account:role/${PROWLER_ROLE_NAME:-prowler-audit}")
fi
if [ -n "${PROWLER_RESOURCE_ARN:-}" ]; then
  args+=(--resource-arn "$PROWLER_RESOURCE_ARN")
fi
if [ -n "${PROWLER_REGIONS:-}" ]; then
  # shellcheck disable=SC2206
  args+=(--region ${PROWLER_REGIONS})
fi

launcher='
import os, sys
if os.environ.get("PROWLER_MOTO_SHIM", "1") == "1":
    from prowler.providers.aws.services.cloudtrail import cloudtrail_service as _cs
    _per_trail_calls = _cs.Cloudtrail._get_trail_status  # first of the per-trail calls

    def _from_home_region(self):
        for trail in (self.trails or {}).values():
            if trail.name and trail.home_region in self.regional_clients:
                trail.region = trail.home_region
        _per_trail_calls(self)

    _cs.Cloudtrail._get_trail_status = _from_home_region
from prowler.__main__ import prowler
sys.argv[0] = "prowler"
sys.exit(prowler())
'
started=$(date +%s)
if ! "$venv/bin/python" -c "$launcher" "${args[@]}" > "$out/prowler.stdout" 2>&1; then
  echo "prowler.sh: prowler failed; last lines of its output:" >&2
  tail -n 30 "$out/prowler.stdout" >&2
  exit 1
fi
report=$out/prowler.ocsf.json
if [ ! -f "$report" ]; then
  echo "prowler.sh: prowler wrote no $report; last lines of its output:" >&2
  tail -n 30 "$out/prowler.stdout" >&2
  exit 1
fi
scanned=${account:-"the bed credentials' own account"}
echo "prowler.sh: Prowler $PROWLER_VERSION scanned $scanned in $(( $(date +%s) - started ))s -> $report" >&2
if grep -q 'ERROR' "$out/prowler.log" 2>/dev/null; then
  echo "prowler.sh: Prowler logged $(grep -c 'ERROR' "$out/prowler.log") error(s), see $out/prowler.log" >&2
fi

# --- Compact table: one line per (check, status, resource); regions folded ------------------
"$venv/bin/python" - "$report" <<'PY'
import json
import re
import sys

# Region- and account-level checks that found no qualifying trail name a placeholder ARN
# (arn:aws:cloudtrail:REGION:ACCOUNT:trail), one per region: fold those into one line.
PLACEHOLDER = re.compile(r"^arn:[^:]+:cloudtrail:[^:]*:(\d+):trail$")
findings = json.load(open(sys.argv[1]))
rows = {}
for f in findings:
    res = (f.get("resources") or [{}])[0]
    resource = res.get("uid") or res.get("name") or "-"
    placeholder = PLACEHOLDER.match(resource)
    if placeholder:
        resource = f"account {placeholder.group(1)}: no qualifying trail"
    key = (f["metadata"]["event_code"], f["status_code"], resource)
    rows.setdefault(key, set()).add(res.get("region") or f.get("cloud", {}).get("region") or "-")
width = max([len(k[0]) for k in rows] + [5])
print(f"{'CHECK':<{width}}  STATUS  RESOURCE (REGIONS)")
for (check, status, resource), regions in sorted(rows.items()):
    where = next(iter(regions)) if len(regions) == 1 else f"{len(regions)} regions"
    print(f"{check:<{width}}  {status:<6}  {resource} ({where})")
PY
