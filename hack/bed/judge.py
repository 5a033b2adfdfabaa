"""The independent judge: AWS CLI's `cloudtrail validate-logs` and `trailwarden verify-logs`
side by side on the same tampered digest chains.

For each row of MATRIX, a fresh account gets a logging trail with log-file validation on a
bucket of its own; the bed's CloudTrail delivery (hack/bed/delivery.py) writes ROUNDS
rounds into it (a chain of 5 signed digests, all but the third with a log file); then the
row's mutation is made straight to S3 with boto3, as an attacker with S3 access would
(hack/bed/judge_mutations.py), and both tools judge the same window. A row passes when

- both tools name the same bad objects for the same reasons: the SET of (s3://bucket/key,
  problem) pairs is compared, validate-logs' INVALID lines mapped onto trailwarden's
  problem names by REASONS (so order does not matter: validate-logs prints newest first,
  trailwarden's findings are oldest first; the table shows both oldest first), and that
  set is the row's expected one; or
- the row declares a difference (`differs`, with the reason) and each tool gives exactly
  the set declared for it. No row does today; see row 4 for the one that was expected to.

AWS docs: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html
(what validation proves); the rows cite, under https://docs.aws.amazon.com/awscloudtrail/latest/userguide/,
"validation-cli" = cloudtrail-log-file-validation-cli.html (validate-logs and its messages; it
checks only the log files digests list), "digest-file-structure" = cloudtrail-log-file-
validation-digest-file-structure.html (fields, chain) and "custom-validation" = cloudtrail-
log-file-custom-validation.html (string-to-sign, signature, public keys).

Both tools must also count the same digests and log files judged (valid/judged), and an
intact row must have judged the whole chain (5 digests, 4 log files), so "intact" is never
the vacuous answer of a window with no digests in it.

Usage: "$(hack/bed/moto-venv.sh)/bin/python" hack/bed/judge.py --trailwarden PATH [--aws PATH]
(hack/bed/judge.sh finds both). Exit 0: every row passed.
"""

import argparse
import concurrent.futures
import dataclasses
import datetime
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "tests"))
import judge_mutations as m  # noqa: E402
from bed import Moto  # noqa: E402

ROUNDS = (True, True, False, True, True)  # log files or not, per delivery round
EARLY_AFTER = 3  # a row's `early` step runs after this round, its mutation after the last
UTC = datetime.timezone.utc

# validate-logs' INVALID reasons (awscli/customizations/cloudtrail/validation.py, 1.46.3)
# as trailwarden's problems; "{kind}" is Digest or Log.
REASONS = (
    ("not found", "{kind}Missing"),
    ("hash value doesn't match", "LogHashMismatch"),
    ("unexpected data after end of compressed stream", "LogTrailingData"),
    ("invalid format", "{kind}InvalidFormat"),
    ("signature verification failed", "DigestSignatureFailed"),
    ("has been moved from its original location", "DigestMoved"),
    ("public key not found", "DigestKeyNotFound"),
)


@dataclasses.dataclass
class Difference:
    """A row where the tools differ by design: why, and what each must say (key, problem)."""
    reason: str
    validate_logs: object  # chain -> {(key, problem)}
    trailwarden: object


@dataclasses.dataclass
class Row:
    """One case of the matrix (declared with @row on its mutation)."""
    case: str
    mutate: object  # chain -> None; its docstring says what the row proves
    expect: object  # chain -> {(key, problem)}: the bad objects; empty = intact
    early: object = None
    differs: Difference = None


MATRIX = []


def row(case, expect, early=None, differs=None):
    def add(mutate):
        MATRIX.append(Row(case, mutate, expect, early, differs))
        return mutate

    return add


def digest(n, problem):
    return lambda c: {(c.digest(n), problem)}  # round n's digest, found bad for `problem`


def log(n, problem):
    return lambda c: {(c.log(n), problem)}


@row("1 intact", lambda c: set())
def intact(chain):
    """Nothing touched: both prove 5 digests and 4 log files intact (the baseline that the
    bed's chain is what CloudTrail writes, signature and links included)."""


@row("2 log deleted", log(2, "LogMissing"))
def log_deleted(chain):
    """A log file a digest lists is gone: "Log file … INVALID: not found" (validation-cli)."""
    m.delete_log(chain, 2)


@row("3 log changed", log(2, "LogHashMismatch"))
def log_changed(chain):
    """Same key, valid gzip, other records: the SHA-256 of the uncompressed file no longer
    matches the digest's hashValue (digest-file-structure: logFiles[].hashValue)."""
    m.change_log(chain, 2)


@row("4 gzip member appended", log(2, "LogTrailingData"))
def member_appended(chain):
    """A second gzip member appended to a log file. The first member still hashes to the
    digest's value; a reader inflating every member (zcat, Python's gzip, many SIEM
    collectors) would take the appended records as delivered. trailwarden says
    LogTrailingData. validate-logs 1.46.3 inflates only the first member but then checks
    `unused_data` ("INVALID: unexpected data after end of compressed stream", aws/aws-cli
    PR #10324), so the tools agree and no difference is declared. A CLI without that check
    would call the file valid: pin such a CLI and this row fails, asking for a `differs`."""
    m.append_member(chain, 2)


@row("5 digest deleted", digest(2, "DigestMissing"))
def digest_deleted(chain):
    """A middle digest gone: D3's previousDigestS3Object names it, S3 has none ("Digest
    file … INVALID: not found"); the walk resumes at D1. L2, which only D2 listed, is
    judged by neither tool: its proof went with D2."""
    m.delete_digest(chain, 2)


@row("6 two digests deleted", digest(3, "DigestMissing"))
def two_digests_deleted(chain):
    """D2 and D3 gone. Both tools name D3 only: D4 links to it, and after a missing digest
    both resume at the next older digest S3 still lists (D1), never learning D2's name; the
    chain is broken all the same. The limit is validate-logs' (DigestTraverser), copied."""
    m.delete_digest(chain, 2)
    m.delete_digest(chain, 3)


@row("7 digest edited", digest(2, "DigestSignatureFailed"))
def digest_edited(chain):
    """D2's JSON edited (its log file dropped from logFiles, to hide it), re-gzipped, the
    signature metadata kept: the signature covers the digest's SHA-256, so it fails
    (custom-validation: "verify the signature")."""
    m.rewrite_digest(chain, 2, m.drop_listed_logs)


@row("8 digest moved earlier", lambda c: {(c.digest(2), "DigestMissing"), (c.moved, "DigestMoved")})
def digest_moved_earlier(chain):
    """D2 copied (body and metadata) to the name a digest 1 s older would have, same folder,
    and deleted. D3's link finds nothing (D2: not found); the copy, listed between D1 and
    D2's old name, is read next and says it was delivered elsewhere (digestS3Object:
    "has been moved from its original location")."""
    chain.moved = m.move_digest(chain, 2, -1)


@row("8b digest moved later", digest(2, "DigestMissing"))
def digest_moved_later(chain):
    """As 8, the copy named 1 s later than D2 (still before D3). Only D2 is named: after a
    missing digest both walks resume at the next listed digest OLDER than it, so the copy
    is never read. The chain is reported broken either way."""
    chain.moved = m.move_digest(chain, 2, +1)


@row("9 previous signature edited", digest(4, "DigestSignatureFailed"))
def previous_signature_edited(chain):
    """D4's previousDigestSignature (its link to D3's signature) edited, metadata kept. The
    link is part of the string-to-sign, so D4's signature fails; neither tool compares the
    field with D3's actual signature, the signature is what binds it."""
    m.rewrite_digest(chain, 4, m.flip_previous_signature)


@row("10 re-signed by another key", digest(2, "DigestKeyNotFound"))
def resigned(chain):
    """D2 re-signed by an attacker's RSA key, its fingerprint in digestPublicKeyFingerprint:
    a valid signature by a key CloudTrail's ListPublicKeys does not list is worth nothing
    ("INVALID: public key not found in region … for fingerprint …")."""
    m.resign_with_attacker_key(chain, 2)


@row("11 log back-filled", log(2, "LogHashMismatch"), early=lambda c: m.delete_log(c, 2))
def log_backfilled(chain):
    """L2 deleted after round 3 and, two rounds later, a forged file written at its key:
    a file present again is still not the file the digest hashed."""
    m.forge_log(chain, 2)


@row("12 unlisted log planted", lambda c: set())
def log_planted(chain):
    """A forged log file, named as CloudTrail names them, in the log folder, listed by no
    digest: both say intact. Neither tool attests a file no digest lists (validation-cli:
    validate-logs checks only the log files digests reference); printed so the limit shows."""
    m.plant_log(chain)


# -- the two tools ---------------------------------------------------------------------


@dataclasses.dataclass
class Verdict:
    exit: int
    bad: list  # [(s3 URL, problem, what the tool said)], oldest first
    error: str = None  # the tool could not judge, or contradicted itself
    raw: str = ""
    counts: tuple = ()  # (digests valid, digests judged, log files valid, log files judged)

    def pairs(self):
        return {(url, problem) for url, problem, _ in self.bad}


def validate_logs(aws, env, chain, window):
    command = [aws, "cloudtrail", "validate-logs", "--trail-arn", chain.arn, "--start-time", window[0]]
    run = subprocess.run([*command, "--end-time", window[1], "--verbose"], env=env, capture_output=True, text=True, timeout=300)
    bad = []
    for kind, url, reason in re.findall(r"^(?:\(backfill\) )?(Digest|Log) file\t(s3://[^\t]+)\tINVALID: (.*)$", run.stderr, re.M):
        problem = next((p.format(kind=kind) for r, p in REASONS if reason.startswith(r)), f"? {reason}")
        bad.append((url, problem, reason))
    bad.reverse()  # printed as walked, newest first
    error = None
    if run.returncode not in (0, 1) or (run.returncode == 1) != bool(bad):
        error = f"exit {run.returncode} with {len(bad)} INVALID lines"
    ratio = lambda what: re.search(rf"^(\d+)/(\d+) {what} files valid", run.stdout, re.M)  # noqa: E731
    counts = tuple(int(n) for what in ("digest", "log") for n in (ratio(what).groups() if ratio(what) else (0, 0)))
    return Verdict(run.returncode, bad, error, run.stdout + run.stderr, counts)


def verify_logs(trailwarden, env, chain, window):
    command = [trailwarden, "verify-logs", "--trail-arn", chain.arn, "--start-time", window[0], "--end-time", window[1]]
    run = subprocess.run([*command, "-o", "json"], env=env, capture_output=True, text=True, timeout=300)
    try:
        report = json.loads(run.stdout)
        bad = [(f"s3://{f['bucket']}/{f['key']}", f["problem"], f["detail"]) for f in report["findings"]]
    except (ValueError, KeyError, TypeError):
        return Verdict(run.returncode, [], f"exit {run.returncode}, no JSON report", run.stdout + run.stderr)
    error = None
    if run.returncode not in (0, 1) or report["intact"] != (run.returncode == 0) or report["intact"] == bool(bad):
        error = f"exit {run.returncode}, intact {report['intact']}, {len(bad)} findings"
    digests, logs = report["digestsValid"], report["logsValid"]
    counts = (digests, digests + report["digestsInvalid"], logs, logs + report["logsInvalid"])
    return Verdict(run.returncode, bad, error, run.stdout + run.stderr, counts)


# -- judging and the table -------------------------------------------------------------


def judge(matrix_row, chain, vl, tw):
    """(passed, the agree? cell)."""
    if vl.error or tw.error:
        return False, "NO (could not judge: " + "; ".join(e for e in (vl.error, tw.error) if e) + ")"
    urls = lambda pairs: {(chain.url(k), p) for k, p in pairs}  # noqa: E731
    if matrix_row.differs:
        want_vl, want_tw = urls(matrix_row.differs.validate_logs(chain)), urls(matrix_row.differs.trailwarden(chain))
        ok = vl.pairs() == want_vl and tw.pairs() == want_tw
        return ok, "differs as declared" if ok else "NO (not the declared difference)"
    if vl.pairs() != tw.pairs():
        return False, "NO"
    if vl.counts != tw.counts:
        return False, "NO (same bad objects, other counts)"
    if vl.pairs() != urls(matrix_row.expect(chain)):
        return False, "yes, NOT as expected"
    whole = (len(ROUNDS),) * 2 + (sum(ROUNDS),) * 2
    if not vl.pairs() and vl.counts != whole:
        return False, f"yes, but judged {vl.counts}, not the whole chain {whole}"
    return True, "yes"


def describe(chain, pairs, words):
    """A verdict cell: the bad objects by label, oldest first."""
    return "; ".join(f"{chain.label(url)} {what}" for url, what in pairs) if pairs else words


def cells(matrix_row, chain, vl, tw, agree):
    def expected(pairs):
        pairs = sorted((chain.url(k), p) for k, p in pairs)
        return "broken: " + describe(chain, pairs, "") if pairs else "intact"

    differs = matrix_row.differs
    if differs:
        expect = f"differ: validate-logs {expected(differs.validate_logs(chain))}, trailwarden {expected(differs.trailwarden(chain))}"
    else:
        expect = expected(matrix_row.expect(chain))
    counted = lambda v: "exit {}, {}/{} digests, {}/{} logs".format(v.exit, *v.counts) if v.counts else f"exit {v.exit}"  # noqa: E731
    vl_cell = ("ERROR" if vl.error else "INVALID" if vl.bad else "valid") + f" ({counted(vl)})"
    if vl.bad:
        vl_cell += ": " + describe(chain, [(u, r) for u, _, r in vl.bad], "")
    tw_cell = ("ERROR" if tw.error else "broken" if tw.bad else "intact") + f" ({counted(tw)})"
    if tw.bad:
        tw_cell += ": " + describe(chain, [(u, p) for u, p, _ in tw.bad], "")
    return [matrix_row.case, expect, vl_cell, tw_cell, agree]


def table(rows):
    head = ["case", "expected", "validate-logs", "trailwarden verify-logs", "agree?"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trailwarden", required=True, help="the trailwarden binary")
    parser.add_argument("--aws", help="AWS CLI v1 (default: the venv of hack/bed/awscli-venv.sh)")
    args = parser.parse_args()
    venv = lambda: subprocess.run([os.path.join(HERE, "awscli-venv.sh")], check=True, capture_output=True, text=True).stdout  # noqa: E731
    aws = args.aws or os.path.join(venv().strip(), "bin", "aws")
    began = time.monotonic()
    moto = Moto()  # its delivery timer off: rounds only when asked
    try:
        start = (datetime.datetime.now(UTC) - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        chains = [m.make_chain(moto) for _ in MATRIX]
        for n, log_files in enumerate(ROUNDS, 1):
            if n > 1:
                time.sleep(2)  # digests >= 2 s apart, so a moved digest can take a name between two
            report = moto.deliver(log_files=log_files)
            for chain in chains:
                chain.record(report)
            if n == EARLY_AFTER:
                for matrix_row, chain in zip(MATRIX, chains):
                    if matrix_row.early:
                        matrix_row.early(chain)
        for matrix_row, chain in zip(MATRIX, chains):
            matrix_row.mutate(chain)
        end = (datetime.datetime.now(UTC) + datetime.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        window = (start, end)
        envs = [m.credentials(moto, chain) for chain in chains]
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            vls = [pool.submit(validate_logs, aws, env, chain, window) for env, chain in zip(envs, chains)]
            tws = [pool.submit(verify_logs, args.trailwarden, env, chain, window) for env, chain in zip(envs, chains)]
            verdicts = [(v.result(), t.result()) for v, t in zip(vls, tws)]
    finally:
        moto.stop()
    rows, failed = [], []
    for matrix_row, chain, (vl, tw) in zip(MATRIX, chains, verdicts):
        passed, agree = judge(matrix_row, chain, vl, tw)
        rows.append(cells(matrix_row, chain, vl, tw, agree))
        if not passed:
            failed.append((matrix_row, chain, vl, tw))
    print(f"Window {start} to {end}; {len(ROUNDS)} delivery rounds per trail (log files: {ROUNDS}).")
    print("Objects: Dn = round n's digest, Ln = its log file, Dn' = a moved copy of Dn; both columns oldest first.\n")
    print(table(rows))
    print()
    for matrix_row, chain in zip(MATRIX, chains):
        for note in chain.notes:
            print(f"{matrix_row.case}: {note}")
        if matrix_row.differs:
            print(f"{matrix_row.case}: differs by design: {matrix_row.differs.reason}")
    for matrix_row, chain, vl, tw in failed:
        labels = json.dumps({v: k for k, v in chain.labels.items()}, indent=1)
        print(f"\n=== {matrix_row.case} FAILED ({chain.arn}), objects: {labels}")
        print(f"--- validate-logs (exit {vl.exit}):\n{vl.raw}\n--- trailwarden (exit {tw.exit}):\n{tw.raw}")
    print(f"\n{len(MATRIX) - len(failed)}/{len(MATRIX)} rows passed in {time.monotonic() - began:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
