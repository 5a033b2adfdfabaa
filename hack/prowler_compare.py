#!/usr/bin/env python3
"""Compares Prowler's verdicts on one CloudTrail trail with trailwarden's posture findings, check by check.

Usage:
  hack/prowler_compare.py PROWLER_OCSF COMPLIANCE --trail-arn ARN [--ignore CHECK]...
  hack/prowler_compare.py PROWLER_OCSF COMPLIANCE --trail NAME|ARN [--ignore CHECK]...
  hack/prowler_compare.py --self-test

  PROWLER_OCSF  Prowler's json-ocsf output (hack/prowler.sh writes OUTPUT_DIR/prowler.ocsf.json),
                or a directory holding it. Best from a scan isolated to the trail
                (`prowler aws --resource-arn ARN ...`): Prowler then loads no other trail,
                so its per-region verdicts are about this one.
  COMPLIANCE    trailwarden's findings for that trail, '-' for stdin: the list that
                `kubectl get tp NAME -o jsonpath='{.status.compliance}'` prints
                ([{id, status: Pass|Fail|Unknown, controls, message}, ...]); a whole
                TrailPolicy object or its status is accepted too.
  --trail-arn   the trail the compliance list belongs to; Prowler's findings are filtered
                by this resource ARN.
  --trail       the same by name, looked up among the trails Prowler's findings name.
  --ignore      a check whose disagreement is known and accepted (repeatable): ours
                (CT-CLOUDWATCH-LOGS) or Prowler's (cloudtrail_cloudwatch_logging_enabled).
  --self-test   compare inline fixtures (findings and compliance lists) and check the
                results this script should give; needs no Prowler.

Each trailwarden check is compared ON ITS OWN with the Prowler check that judges the
same thing (MAPPING below): one row per trailwarden check, never one verdict folded from
several. Exit status: 0 when no compared pair disagrees, 1 on a disagreement, 2 on bad input.

Prowler's findings come in three shapes, and what they tell about one trail depends on
whether the scan was isolated to it (no finding names another trail):
  trail   one finding per trail, naming it (resource = the trail ARN): its status.
  region  one finding per region: PASS names the first qualifying trail there, FAIL names
          no trail (an account or placeholder ARN). Prowler names only LOGGING trails, so:
            logging     PASS if the trail is named anywhere; FAIL if the scan is isolated,
                        Prowler loaded the trail (some check names it) and no region names it.
            multiRegion read from the PASS message ("is multiregion" / "is multi-region" vs
                        "is not multiregion" / "in region"), or a PASS in a region other than
                        home; not evaluated when the trail is named nowhere (not logging).
            management  PASS if named; FAIL if isolated and Prowler's logging reading is PASS
                        (it judged the selectors of a logging trail and found them wanting);
                        otherwise not evaluated.
  listed  one PASS per qualifying trail, or one account-wide FAIL: PASS if listed, FAIL if
          the check produced findings without listing it.
"""

import argparse
import json
import os
import re
import sys

# One row per trailwarden check: the Prowler check that judges the same thing, how to
# read this trail's verdict from its findings, and what differs between the two.
MAPPING = [
    {
        "ours": "CT-LOGGING",
        "prowler": "cloudtrail_multi_region_enabled",
        "read": "logging",
        "note": "Prowler's per-region check names a trail only if it is logging; ours reads "
                "IsLogging of this trail.",
    },
    {
        "ours": "CT-MULTI-REGION",
        "prowler": "cloudtrail_multi_region_enabled",
        "read": "multi_region",
        "note": "Read from the message of Prowler's PASS ('is multiregion' or not); Prowler says "
                "nothing about a trail that is not logging.",
    },
    {
        "ours": "CT-MANAGEMENT-EVENTS",
        "prowler": "cloudtrail_multi_region_enabled_logging_management_events",
        "read": "management",
        "note": "Prowler accepts a basic selector with ReadWriteType All and management events "
                "(ignoring ExcludeManagementEventSources), or an advanced selector NAMED "
                "'Management events selector' without readOnly, whatever else it narrows "
                "(eventName, eventSource, resources.ARN...). Ours passes only selectors proven "
                "to record every management event, and names each narrowing.",
    },
    {
        "ours": "CT-LOG-VALIDATION",
        "prowler": "cloudtrail_log_file_validation_enabled",
        "read": "trail",
        "note": "Both read LogFileValidationEnabled.",
    },
    {
        "ours": "CT-KMS-ENCRYPTION",
        "prowler": "cloudtrail_kms_encryption_enabled",
        "read": "trail",
        "note": "Both read KmsKeyId.",
    },
    {
        "ours": "CT-CLOUDWATCH-LOGS",
        "prowler": "cloudtrail_cloudwatch_logging_enabled",
        "read": "trail",
        "note": "Prowler needs a CloudWatch Logs delivery in the last 24h "
                "(GetTrailStatus LatestCloudWatchLogsDeliveryTime); ours too, and is Unknown "
                "until the first delivery. The emulator never delivers.",
    },
    {
        "ours": "CT-S3-DATA-EVENTS-WRITE",
        "prowler": "cloudtrail_s3_dataevents_write_enabled",
        "read": "listed",
        "note": "Prowler wants object-level writes of all buckets (arn:aws:s3 / arn:aws:s3::: / "
                "arn:aws:s3:::*/*) in a basic selector, or any advanced selector whose first "
                "resources.type is AWS::S3::Object, however narrowed. Ours wants every bucket "
                "proven (arn:<partition>:s3[:::]; no narrowing field in an advanced selector).",
    },
    {
        "ours": "CT-S3-DATA-EVENTS-READ",
        "prowler": "cloudtrail_s3_dataevents_read_enabled",
        "read": "listed",
        "note": "As for writes, with ReadWriteType All or ReadOnly.",
    },
    {
        "ours": "CT-INSIGHTS",
        "prowler": "cloudtrail_insights_exist",
        "read": "trail",
        "note": "Prowler judges only logging trails and passes any Insights selector; ours passes "
                "when the declared Insights are enabled and there is at least one.",
    },
    {
        "ours": "BKT-NOT-PUBLIC",
        "prowler": "cloudtrail_logs_s3_bucket_is_not_publicly_accessible",
        "read": "trail",
        "note": "Prowler looks only for an AllUsers ACL grant; ours also for AuthenticatedUsers "
                "and for bucket policy statements open to anyone.",
    },
    {
        "ours": "BKT-ACCESS-LOGGING",
        "prowler": "cloudtrail_logs_s3_bucket_access_logging_enabled",
        "read": "trail",
        "note": "Both read the log bucket's server access logging; ours also fails a bucket "
                "that logs into itself.",
    },
    {
        "ours": "BKT-MFA-DELETE",
        "prowler": "cloudtrail_bucket_requires_mfa_delete",
        "read": "trail",
        "note": "Both read the log bucket's MFA delete setting.",
    },
]

TRAIL_ARN = re.compile(r"^arn:[^:]+:cloudtrail:([^:]+):(\d+):trail/(.+)$")


class BadInput(Exception):
    pass


def fail(message):
    print(f"prowler_compare: {message}", file=sys.stderr)
    sys.exit(2)


# --- Reading the inputs ---------------------------------------------------------------------

def parse_findings(data, where="the Prowler findings"):
    if not isinstance(data, list):
        raise BadInput(f"{where} is not Prowler's json-ocsf output (a list of findings)")
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


def load_prowler(path):
    if os.path.isdir(path):
        named = os.path.join(path, "prowler.ocsf.json")
        candidates = [named] if os.path.exists(named) else sorted(
            os.path.join(path, f) for f in os.listdir(path) if f.endswith(".ocsf.json"))
        if len(candidates) != 1:
            raise BadInput(f"expected one *.ocsf.json in {path}, found {len(candidates)}")
        path = candidates[0]
    with open(path) as f:
        return parse_findings(json.load(f), path)


def parse_compliance(data):
    if isinstance(data, dict):
        data = data.get("status", data).get("compliance")
    if not isinstance(data, list):
        raise BadInput("the compliance input holds no list of findings")
    return {f["id"]: f for f in data}


def load_compliance(path):
    text = sys.stdin.read() if path == "-" else open(path).read()
    return parse_compliance(json.loads(text))


def trails_named(findings):
    return {f["resource"] for f in findings if TRAIL_ARN.match(f["resource"])}


def resolve_trail(findings, trail):
    """The ARN of the trail named `trail` (a name or an ARN) in Prowler's findings."""
    if TRAIL_ARN.match(trail):
        return trail
    arns = trails_named(findings)
    matches = sorted(a for a in arns if TRAIL_ARN.match(a).group(3) == trail)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(sorted(TRAIL_ARN.match(a).group(3) for a in arns)) or "none"
        raise BadInput(f"Prowler's findings name no trail '{trail}' (trails named: {known})")
    raise BadInput(f"several trails are named '{trail}'; pass one ARN with --trail-arn: {', '.join(matches)}")


# --- Prowler's verdict on one trail ---------------------------------------------------------

class Scan:
    """Prowler's findings as they bear on the trail `arn`."""

    def __init__(self, findings, arn):
        self.arn = arn
        self.home = TRAIL_ARN.match(arn).group(1)
        self.findings = findings
        self.others = sorted(trails_named(findings) - {arn})
        # Isolated: Prowler loaded no other trail (a --resource-arn scan), so its
        # trail-less FAILs are about this one.
        self.isolated = not self.others
        # Whether Prowler loaded this trail at all (some finding names it).
        self.seen = any(f["resource"] == arn for f in findings)

    def of(self, check):
        """The findings of `check` that are about this trail: those naming it, and (in an
        isolated scan) those naming no trail."""
        mine = [f for f in self.findings if f["check"] == check]
        return [f for f in mine if f["resource"] == self.arn or (self.isolated and not TRAIL_ARN.match(f["resource"]))]

    def ran(self, check):
        return any(f["check"] == check for f in self.findings)

    def named(self, check, status=None):
        return [f for f in self.findings
                if f["check"] == check and f["resource"] == self.arn and (status is None or f["status"] == status)]

    def verdict(self, row):
        """(PASS|FAIL|None, explanation) for this trail under the mapping row."""
        check, read = row["prowler"], row["read"]
        if not self.ran(check):
            return None, "no findings (check not run, or nothing to judge)"
        return getattr(self, "read_" + read)(check)

    def read_trail(self, check):
        named = self.named(check)
        if not named:
            return None, "the trail is not judged by this check"
        failing = [f for f in named if f["status"] == "FAIL"]
        chosen = failing[0] if failing else named[0]
        if chosen["status"] not in ("PASS", "FAIL"):
            return None, f"{chosen['status']}: {chosen['message']}"
        return chosen["status"], chosen["message"]

    def read_logging(self, check):
        passing = self.named(check, "PASS")
        if passing:
            return "PASS", passing[0]["message"]
        if not self.isolated:
            return None, f"named nowhere, but Prowler also scanned {len(self.others)} other trail(s): run it with --resource-arn"
        if not self.seen:
            return None, "Prowler did not load this trail (no finding names it)"
        fails = [f for f in self.of(check) if f["status"] == "FAIL"]
        if not fails:
            return None, "no verdict for this trail"
        return "FAIL", f"{len(fails)} region(s): {fails[0]['message']}"

    def read_multi_region(self, check):
        passing = self.named(check, "PASS") + self.named(
            "cloudtrail_multi_region_enabled_logging_management_events", "PASS")
        for f in passing:
            m = f["message"]
            if "is not multiregion" in m or " in region " in m:
                return "FAIL", m
            if "is multiregion" in m or "is multi-region" in m:
                return "PASS", m
        elsewhere = sorted({f["region"] for f in passing if f["region"] and f["region"] != self.home})
        if elsewhere:
            return "PASS", f"credited in {', '.join(elsewhere)} besides its home region {self.home}"
        return None, "Prowler names only logging trails, and names this one nowhere"

    def read_management(self, check):
        passing = self.named(check, "PASS")
        if passing:
            return "PASS", passing[0]["message"]
        if not self.isolated:
            return None, f"named nowhere, but Prowler also scanned {len(self.others)} other trail(s): run it with --resource-arn"
        logging, _ = self.read_logging("cloudtrail_multi_region_enabled")
        if logging != "PASS":
            return None, "Prowler judges management events only on a trail it sees logging"
        fails = [f for f in self.of(check) if f["status"] == "FAIL"]
        if not fails:
            return None, "no verdict for this trail"
        return "FAIL", fails[0]["message"]

    def read_listed(self, check):
        passing = self.named(check, "PASS")
        if passing:
            return "PASS", passing[0]["message"]
        fails = [f for f in self.findings if f["check"] == check and f["status"] == "FAIL"]
        why = fails[0]["message"] if fails else "other trails qualify, this one does not"
        return "FAIL", f"not listed: {why}"


def our_verdict(compliance, check_id):
    finding = compliance.get(check_id)
    if finding is None:
        return None, "not reported"
    status = finding.get("status")
    verdict = {"Pass": "PASS", "Fail": "FAIL"}.get(status)
    return verdict, f"{status}: {finding.get('message', '')}"


# --- The comparison -------------------------------------------------------------------------

def compare(findings, compliance, arn, ignore=()):
    """One row per mapped trailwarden check: (row, ours, our why, theirs, their why, result)."""
    scan = Scan(findings, arn)
    rows = []
    for m in MAPPING:
        theirs, their_why = scan.verdict(m)
        ours, our_why = our_verdict(compliance, m["ours"])
        if theirs is None or ours is None:
            result = "skipped"
        elif theirs == ours:
            result = "agree"
        elif m["ours"] in ignore or m["prowler"] in ignore:
            result = "ignored"
        else:
            result = "DISAGREE"
        rows.append({"map": m, "ours": ours, "our_why": our_why, "theirs": theirs, "their_why": their_why, "result": result})
    unmatched = sorted(set(compliance) - {m["ours"] for m in MAPPING})
    return scan, rows, unmatched


def clipped(text, width=110):
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def report(scan, rows, unmatched, out=sys.stdout):
    scope = "isolated to this trail" if scan.isolated else f"also naming {len(scan.others)} other trail(s)"
    print(f"trail {scan.arn} (Prowler findings {scope})", file=out)
    w1 = max(len(r["map"]["ours"]) for r in rows)
    w2 = max(len(r["map"]["prowler"]) for r in rows)
    print(f"{'OUR CHECK':<{w1}}  {'OURS':<4}  {'PROWLER CHECK':<{w2}}  {'PROWLER':<7}  {'RESULT':<8}  PROWLER SAYS", file=out)
    for r in rows:
        print(f"{r['map']['ours']:<{w1}}  {r['ours'] or '-':<4}  {r['map']['prowler']:<{w2}}  {r['theirs'] or '-':<7}  "
              f"{r['result']:<8}  {clipped(r['their_why'])}", file=out)
    for r in rows:
        if r["result"] == "DISAGREE":
            print(f"\nDISAGREE {r['map']['ours']} vs {r['map']['prowler']}:", file=out)
            print(f"  trailwarden {r['ours']}: {clipped(r['our_why'], 400)}", file=out)
            print(f"  Prowler {r['theirs']}: {clipped(r['their_why'], 400)}", file=out)
            print(f"  mapping note: {r['map']['note']}", file=out)
    if unmatched:
        print(f"\nno Prowler counterpart: {', '.join(unmatched)}", file=out)
    counts = {k: sum(1 for r in rows if r["result"] == k) for k in ("agree", "DISAGREE", "ignored", "skipped")}
    print("\n" + ", ".join(f"{n} {k.lower()}" for k, n in counts.items()), file=out)
    return counts["DISAGREE"]


# --- Self-test --------------------------------------------------------------------------------

ACCOUNT = "123456789012"
AUDIT = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/audit"
OTHER = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/other"
REGIONS = ["us-east-1", "eu-west-1"]


def ocsf(check, status, resource, region, message):
    """A Prowler json-ocsf finding, cut down to the fields this script reads."""
    return {
        "metadata": {"event_code": check, "product": {"name": "Prowler"}},
        "status_code": status,
        "status_detail": message,
        "resources": [{"uid": resource, "region": region, "type": "AwsCloudTrailTrail"}],
    }


def per_trail(arn, **statuses):
    """Trail-shaped findings for `arn`: check=status."""
    name = TRAIL_ARN.match(arn).group(3)
    return [ocsf(check, status, arn, "us-east-1", f"Trail {name}: {check} {status}") for check, status in statuses.items()]


def compliance_list(**statuses):
    return [{"id": k.replace("_", "-"), "status": v, "controls": [], "message": f"{k} {v}"} for k, v in statuses.items()]


def fixture_blind_but_logging():
    """An isolated scan of a multi-region, logging trail whose advanced selector is named
    'Management events selector' but narrows eventName: Prowler passes it, we do not."""
    findings = []
    for region in REGIONS:
        findings.append(ocsf("cloudtrail_multi_region_enabled", "PASS", AUDIT, region, "Trail audit is multiregion and it is logging."))
        findings.append(ocsf("cloudtrail_multi_region_enabled_logging_management_events", "PASS", AUDIT, region,
                             "Trail audit from home region us-east-1 is multi-region, is logging and have management events enabled."))
    findings += per_trail(AUDIT, cloudtrail_log_file_validation_enabled="PASS", cloudtrail_kms_encryption_enabled="PASS",
                          cloudtrail_cloudwatch_logging_enabled="FAIL", cloudtrail_insights_exist="FAIL",
                          cloudtrail_logs_s3_bucket_is_not_publicly_accessible="PASS",
                          cloudtrail_logs_s3_bucket_access_logging_enabled="PASS", cloudtrail_bucket_requires_mfa_delete="FAIL")
    for check in ("cloudtrail_s3_dataevents_write_enabled", "cloudtrail_s3_dataevents_read_enabled"):
        findings.append(ocsf(check, "FAIL", f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail", "us-east-1",
                             "No CloudTrail trails have a data event to record all S3 object-level API operations."))
    compliance = compliance_list(
        CT_EXISTS="Pass", CT_LOGGING="Pass", CT_MULTI_REGION="Pass", CT_GLOBAL_SERVICE_EVENTS="Pass",
        CT_MANAGEMENT_EVENTS="Fail", CT_LOG_VALIDATION="Pass", CT_KMS_ENCRYPTION="Pass", CT_CLOUDWATCH_LOGS="Unknown",
        CT_INSIGHTS="Fail", CT_S3_DATA_EVENTS_WRITE="Fail", CT_S3_DATA_EVENTS_READ="Fail", CT_DELIVERY_HEALTH="Pass",
        BKT_NOT_PUBLIC="Pass", BKT_ACCESS_LOGGING="Pass", BKT_MFA_DELETE="Fail", BKT_VERSIONING="Pass")
    compliance[4]["message"] = ("does not record all management events: selector 'Management events selector' narrows "
                                "management events by eventName (NotStartsWith [Get]); no selector records every management event")
    expected = {"CT-LOGGING": "agree", "CT-MULTI-REGION": "agree", "CT-MANAGEMENT-EVENTS": "DISAGREE",
                "CT-LOG-VALIDATION": "agree", "CT-KMS-ENCRYPTION": "agree", "CT-CLOUDWATCH-LOGS": "skipped",
                "CT-S3-DATA-EVENTS-WRITE": "agree", "CT-S3-DATA-EVENTS-READ": "agree", "CT-INSIGHTS": "agree",
                "BKT-NOT-PUBLIC": "agree", "BKT-ACCESS-LOGGING": "agree", "BKT-MFA-DELETE": "agree"}
    return "blind but logging (isolated scan)", findings, compliance, AUDIT, expected, 1


def fixture_stopped_isolated():
    """An isolated scan of a stopped single-region trail: Prowler's region checks name no
    trail, so logging is FAIL and multi-region / management events cannot be read."""
    findings = []
    for region in REGIONS:
        findings.append(ocsf("cloudtrail_multi_region_enabled", "FAIL", f"arn:aws:iam::{ACCOUNT}:root", region,
                             "No CloudTrail trails enabled and logging were found."))
        findings.append(ocsf("cloudtrail_multi_region_enabled_logging_management_events", "FAIL",
                             f"arn:aws:cloudtrail:{region}:{ACCOUNT}:trail", region,
                             "No CloudTrail trails enabled and logging management events were found."))
    findings += per_trail(AUDIT, cloudtrail_log_file_validation_enabled="FAIL", cloudtrail_kms_encryption_enabled="FAIL")
    compliance = compliance_list(CT_LOGGING="Fail", CT_MULTI_REGION="Fail", CT_MANAGEMENT_EVENTS="Pass",
                                 CT_LOG_VALIDATION="Fail", CT_KMS_ENCRYPTION="Pass")
    expected = {"CT-LOGGING": "agree", "CT-MULTI-REGION": "skipped", "CT-MANAGEMENT-EVENTS": "skipped",
                "CT-LOG-VALIDATION": "agree", "CT-KMS-ENCRYPTION": "DISAGREE", "CT-CLOUDWATCH-LOGS": "skipped",
                "CT-S3-DATA-EVENTS-WRITE": "skipped", "CT-S3-DATA-EVENTS-READ": "skipped", "CT-INSIGHTS": "skipped",
                "BKT-NOT-PUBLIC": "skipped", "BKT-ACCESS-LOGGING": "skipped", "BKT-MFA-DELETE": "skipped"}
    return "stopped trail (isolated scan; a planted KMS disagreement)", findings, compliance, AUDIT, expected, 1


def fixture_account_scan():
    """A whole-account scan where another trail answers the region checks: this trail's
    FAILs cannot be told from the other's, so they are not read; its own findings are."""
    findings = []
    for region in REGIONS:
        findings.append(ocsf("cloudtrail_multi_region_enabled", "PASS", OTHER, region, "Trail other is multiregion and it is logging."))
        findings.append(ocsf("cloudtrail_multi_region_enabled_logging_management_events", "PASS", OTHER, region,
                             "Trail other from home region us-east-1 is multi-region, is logging and have management events enabled."))
    findings += per_trail(AUDIT, cloudtrail_log_file_validation_enabled="PASS", cloudtrail_cloudwatch_logging_enabled="FAIL")
    findings += per_trail(OTHER, cloudtrail_log_file_validation_enabled="FAIL")
    findings.append(ocsf("cloudtrail_s3_dataevents_write_enabled", "PASS", OTHER, "us-east-1", "Trail other has a classic data event selector..."))
    compliance = compliance_list(CT_LOGGING="Fail", CT_MULTI_REGION="Pass", CT_MANAGEMENT_EVENTS="Pass",
                                 CT_LOG_VALIDATION="Pass", CT_CLOUDWATCH_LOGS="Pass", CT_S3_DATA_EVENTS_WRITE="Fail")
    expected = {"CT-LOGGING": "skipped", "CT-MULTI-REGION": "skipped", "CT-MANAGEMENT-EVENTS": "skipped",
                "CT-LOG-VALIDATION": "agree", "CT-KMS-ENCRYPTION": "skipped", "CT-CLOUDWATCH-LOGS": "ignored",
                "CT-S3-DATA-EVENTS-WRITE": "agree", "CT-S3-DATA-EVENTS-READ": "skipped", "CT-INSIGHTS": "skipped",
                "BKT-NOT-PUBLIC": "skipped", "BKT-ACCESS-LOGGING": "skipped", "BKT-MFA-DELETE": "skipped"}
    return "whole-account scan (another trail answers the region checks)", findings, compliance, "audit", expected, 0


def self_test():
    problems = []
    for fixture in (fixture_blind_but_logging, fixture_stopped_isolated, fixture_account_scan):
        title, raw, compliance_raw, trail, expected, expected_disagreements = fixture()
        print(f"=== self-test: {title}")
        findings = parse_findings(json.loads(json.dumps(raw)))
        compliance = parse_compliance(json.loads(json.dumps({"status": {"compliance": compliance_raw}})))
        arn = resolve_trail(findings, trail)
        scan, rows, unmatched = compare(findings, compliance, arn, ignore=("cloudtrail_cloudwatch_logging_enabled",))
        disagreements = report(scan, rows, unmatched)
        got = {r["map"]["ours"]: r["result"] for r in rows}
        for check, want in expected.items():
            if got.get(check) != want:
                problems.append(f"{title}: {check} gave {got.get(check)}, expected {want}")
        if disagreements != expected_disagreements:
            problems.append(f"{title}: {disagreements} disagreement(s), expected {expected_disagreements}")
        print()
    try:
        resolve_trail(parse_findings([]), "audit")
        problems.append("a trail name no finding names was accepted")
    except BadInput:
        pass
    if problems:
        print("self-test FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("self-test passed: every fixture compared as expected")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prowler", nargs="?")
    parser.add_argument("compliance", nargs="?")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--trail-arn", metavar="ARN")
    which.add_argument("--trail", metavar="NAME|ARN")
    parser.add_argument("--ignore", action="append", default=[], metavar="CHECK")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args(argv)

    if args.self_test:
        return self_test()
    if not args.prowler or not args.compliance or not (args.trail_arn or args.trail):
        parser.error("PROWLER_OCSF, COMPLIANCE and --trail-arn (or --trail) are required")
    if args.trail_arn and not TRAIL_ARN.match(args.trail_arn):
        fail(f"--trail-arn {args.trail_arn} is not a trail ARN (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME)")
    known = {m["prowler"] for m in MAPPING} | {m["ours"] for m in MAPPING}
    unknown = [c for c in args.ignore if c not in known]
    if unknown:
        fail(f"--ignore names checks not in the mapping: {', '.join(unknown)}")
    try:
        findings = load_prowler(args.prowler)
        compliance = load_compliance(args.compliance)
        arn = args.trail_arn or resolve_trail(findings, args.trail)
    except (BadInput, OSError, ValueError, KeyError) as e:
        fail(str(e))
    scan, rows, unmatched = compare(findings, compliance, arn, ignore=args.ignore)
    if not scan.seen:
        print(f"prowler_compare: note: no Prowler finding names {arn}", file=sys.stderr)
    return 1 if report(scan, rows, unmatched) else 0


if __name__ == "__main__":
    sys.exit(main())
