#!/usr/bin/env python3
"""Compares Prowler's verdicts on one CloudTrail trail with trailwarden's posture findings.

Usage:
  hack/prowler_compare.py PROWLER_OCSF COMPLIANCE --trail NAME|ARN [--ignore CHECK]...

  PROWLER_OCSF  Prowler's json-ocsf output (hack/prowler.sh writes OUTPUT_DIR/prowler.ocsf.json),
                or a directory holding it.
  COMPLIANCE    trailwarden's findings for that trail, '-' for stdin: the list that
                `kubectl get tp NAME -o jsonpath='{.status.compliance}'` prints
                ([{id, status: Pass|Fail|Unknown, controls, message}, ...]); a whole
                TrailPolicy object or its status is accepted too.
  --trail       the trail the compliance list belongs to (its name, or its ARN when
                several trails share the name).
  --ignore      a Prowler check whose disagreement is known and accepted (repeatable),
                e.g. cloudtrail_cloudwatch_logging_enabled against the emulator.

Only trail-level checks that look at the same thing are compared (MAPPING below). Exit
status: 0 when no compared pair disagrees, 1 on a disagreement, 2 on bad input.

How a trail's Prowler verdict is read from findings depends on the check's shape (scope):
  trail   one finding per trail, naming it: its status, or "not evaluated" when absent.
  region  one finding per region: PASS names the first qualifying trail found there, FAIL
          names no trail. PASS if the trail is named in a region other than its home
          region (only a multi-region trail can be); FAIL if any region has no qualifying
          trail (so this trail cannot be one covering every region); otherwise
          "not evaluated" (another trail was named wherever this one might have been).
  listed  one PASS finding per qualifying trail, or a single account-wide FAIL: PASS if the
          trail is listed, FAIL if the check produced findings without listing it.
"""

import argparse
import json
import os
import re
import sys

# Prowler check id -> our check ids (all must Pass for our side to Pass), how to read the
# trail's verdict from Prowler's findings, and what differs between the two.
MAPPING = [
    {
        "prowler": "cloudtrail_multi_region_enabled",
        "ours": ["CT-MULTI-REGION", "CT-LOGGING"],
        "scope": "region",
        "note": "Prowler asks that every region have a logging trail; ours judges the trail's "
                "multi-region setting and its logging separately.",
    },
    {
        "prowler": "cloudtrail_multi_region_enabled_logging_management_events",
        "ours": ["CT-MULTI-REGION", "CT-LOGGING", "CT-MANAGEMENT-EVENTS"],
        "scope": "region",
        "note": "Prowler accepts a basic selector with ReadWriteType All and management events, "
                "or an advanced selector named 'Management events selector' without readOnly; "
                "ours also fails excluded management event sources.",
    },
    {
        "prowler": "cloudtrail_log_file_validation_enabled",
        "ours": ["CT-LOG-VALIDATION"],
        "scope": "trail",
        "note": "Both read LogFileValidationEnabled.",
    },
    {
        "prowler": "cloudtrail_kms_encryption_enabled",
        "ours": ["CT-KMS-ENCRYPTION"],
        "scope": "trail",
        "note": "Both read KmsKeyId.",
    },
    {
        "prowler": "cloudtrail_cloudwatch_logging_enabled",
        "ours": ["CT-CLOUDWATCH-LOGS"],
        "scope": "trail",
        "note": "Prowler needs a CloudWatch Logs delivery in the last 24h "
                "(GetTrailStatus LatestCloudWatchLogsDeliveryTime); ours needs the log group and "
                "role configured. The emulator never delivers, so Prowler fails every trail there.",
    },
    {
        "prowler": "cloudtrail_s3_dataevents_write_enabled",
        "ours": ["CT-S3-DATA-EVENTS-WRITE"],
        "scope": "listed",
        "note": "Prowler wants object-level writes of all buckets (arn:aws:s3 / arn:aws:s3::: / "
                "arn:aws:s3:::*/*) in a basic selector; ours accepts any AWS::S3::Object selector.",
    },
    {
        "prowler": "cloudtrail_s3_dataevents_read_enabled",
        "ours": ["CT-S3-DATA-EVENTS-READ"],
        "scope": "listed",
        "note": "As for writes, with ReadWriteType All or ReadOnly.",
    },
    {
        "prowler": "cloudtrail_insights_exist",
        "ours": ["CT-INSIGHTS"],
        "scope": "trail",
        "note": "Prowler judges only logging trails and passes any Insights selector; ours passes "
                "when the declared Insights are enabled and there is at least one.",
    },
]

def fail(message):
    print(f"prowler_compare: {message}", file=sys.stderr)
    sys.exit(2)


TRAIL_ARN = re.compile(r"^arn:[^:]+:cloudtrail:([^:]+):(\d+):trail/(.+)$")


def load_prowler(path):
    if os.path.isdir(path):
        named = os.path.join(path, "prowler.ocsf.json")
        candidates = [named] if os.path.exists(named) else sorted(
            os.path.join(path, f) for f in os.listdir(path) if f.endswith(".ocsf.json"))
        if len(candidates) != 1:
            fail(f"expected one *.ocsf.json in {path}, found {len(candidates)}")
        path = candidates[0]
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, list):
        fail(f"{path} is not Prowler's json-ocsf output (a list of findings)")
    findings = []
    for item in data:
        res = (item.get("resources") or [{}])[0]
        findings.append({
            "check": item["metadata"]["event_code"],
            "status": item["status_code"],
            "resource": res.get("uid") or "",
            "region": res.get("region") or "",
            "message": item.get("status_detail") or item.get("message") or "",
        })
    return findings


def load_compliance(path):
    text = sys.stdin.read() if path == "-" else open(path).read()
    data = json.loads(text)
    if isinstance(data, dict):
        data = data.get("status", data).get("compliance")
    if not isinstance(data, list):
        fail("the compliance input holds no list of findings")
    return {f["id"]: f for f in data}


def resolve_trail(findings, trail):
    arns = {f["resource"] for f in findings if TRAIL_ARN.match(f["resource"])}
    if trail in arns:
        return trail
    matches = sorted(a for a in arns if TRAIL_ARN.match(a).group(3) == trail)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(sorted(TRAIL_ARN.match(a).group(3) for a in arns)) or "none"
        fail(f"Prowler's findings name no trail '{trail}' (trails named: {known})")
    fail(f"several trails are named '{trail}'; pass one ARN: {', '.join(matches)}")


def prowler_verdict(findings, check, scope, arn):
    """(PASS|FAIL|None, explanation) for the trail `arn` under `check`."""
    mine = [f for f in findings if f["check"] == check]
    if not mine:
        return None, "no findings (check not run, or nothing to judge)"
    named = [f for f in mine if f["resource"] == arn]
    if scope == "trail":
        if not named:
            return None, "the trail is not judged by this check"
        failing = [f for f in named if f["status"] == "FAIL"]
        chosen = failing[0] if failing else named[0]
        return chosen["status"], chosen["message"]
    if scope == "region":
        home = TRAIL_ARN.match(arn).group(1)
        credited = sorted({f["region"] for f in named if f["status"] == "PASS"})
        uncovered = sorted({f["region"] for f in mine if f["status"] == "FAIL"})
        regions = {f["region"] for f in mine}
        if set(credited) - {home}:
            return "PASS", f"credited in {len(credited)}/{len(regions)} regions"
        if uncovered:
            return "FAIL", f"{len(uncovered)}/{len(regions)} regions have no qualifying trail: {uncovered[0]}, ..."
        return None, "every region credited to another trail"
    if scope == "listed":
        passing = [f for f in named if f["status"] == "PASS"]
        if passing:
            return "PASS", passing[0]["message"]
        fails = [f for f in mine if f["status"] == "FAIL"]
        why = fails[0]["message"] if fails else "other trails qualify, this one does not"
        return "FAIL", f"not listed: {why}"
    raise ValueError(scope)


def our_verdict(compliance, ids):
    statuses = [compliance[i]["status"] if i in compliance else "Missing" for i in ids]
    if "Fail" in statuses:
        combined = "FAIL"
    elif all(s == "Pass" for s in statuses):
        combined = "PASS"
    else:
        combined = None
    detail = " ".join(f"{i}={s}" for i, s in zip(ids, statuses))
    messages = "; ".join(compliance[i]["message"] for i in ids if i in compliance and compliance[i]["status"] != "Pass")
    return combined, detail, messages


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prowler")
    parser.add_argument("compliance")
    parser.add_argument("--trail", required=True)
    parser.add_argument("--ignore", action="append", default=[], metavar="CHECK")
    args = parser.parse_args(argv)

    known = {m["prowler"] for m in MAPPING}
    unknown = [c for c in args.ignore if c not in known]
    if unknown:
        fail(f"--ignore names checks not in the mapping: {', '.join(unknown)}")

    findings = load_prowler(args.prowler)
    compliance = load_compliance(args.compliance)
    arn = resolve_trail(findings, args.trail)

    rows, disagreements = [], []
    for m in MAPPING:
        theirs, why = prowler_verdict(findings, m["prowler"], m["scope"], arn)
        ours, detail, our_messages = our_verdict(compliance, m["ours"])
        if theirs is None or ours is None:
            result = "skipped"
        elif theirs == ours:
            result = "agree"
        elif m["prowler"] in args.ignore:
            result = "ignored"
        else:
            result = "DISAGREE"
            disagreements.append((m, theirs, why, ours, our_messages))
        rows.append((m["prowler"], theirs or "-", why, ours or "-", detail, result))

    print(f"trail {arn}")
    w = max(len(r[0]) for r in rows)
    print(f"{'PROWLER CHECK':<{w}}  {'PROWLER':<7}  {'OURS':<4}  {'RESULT':<8}  OUR CHECKS  |  PROWLER SAYS")
    for check, theirs, why, ours, detail, result in rows:
        print(f"{check:<{w}}  {theirs:<7}  {ours:<4}  {result:<8}  {detail}  |  {why}")
    for m, theirs, why, ours, our_messages in disagreements:
        print(f"\nDISAGREE {m['prowler']}: Prowler {theirs} ({why}); trailwarden {ours} ({our_messages or 'all pass'})")
        print(f"  mapping note: {m['note']}")
    counts = {r: sum(1 for row in rows if row[5] == r) for r in ("agree", "DISAGREE", "ignored", "skipped")}
    print("\n" + ", ".join(f"{n} {r.lower()}" for r, n in counts.items()))
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
