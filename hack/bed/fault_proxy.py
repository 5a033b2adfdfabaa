"""A fault-injecting HTTP/1.1 reverse proxy in front of the moto emulator.

Every request is forwarded to moto as it came (method, path and query, headers, body; a
chunked request body is de-chunked and sent with a Content-Length) and moto's answer is
sent back (status, headers, body). Faults are added on the way, as AWS would answer:
throttling, 5xx, AccessDenied, latency, connections reset. Standard library only.

Each request is named (service, operation) from its credential scope and X-Amz-Target
(JSON protocol), Action= (query protocol) or method + path + query (S3 REST), and
attributed to the emulator account it acts in:
  - the `x-moto-account-id` header, when set;
  - the account of the role an AssumeRole call (seen through this proxy) returned the
    request's access key for: AssumeRole itself counts in the role's account;
  - otherwise moto's default account 123456789012 for long-term keys (`testing`), and
    "unknown" for temporary keys (ASIA...) whose AssumeRole went elsewhere.
and to a client: the `app/<id>` token of its User-Agent (AWS_SDK_UA_APP_ID), if any.

Control API, on the same port (never faulted, never counted; nor is moto's /moto-api):
  GET    /__health                 "ok"
  GET    /__faults                 {"rules": {NAME: RULE, ...}}
  PUT    /__faults                 body RULE: sets the rule named "default"
  DELETE /__faults                 removes every rule
  GET    /__faults/NAME            RULE (404 if absent)
  PUT    /__faults/NAME            body RULE: sets (replaces) rule NAME
  DELETE /__faults/NAME            removes rule NAME
  GET    /__stats[?account=A][&client=C][&since=UNIX]   counts and the write log
  POST   /__stats/reset[?account=A][&client=C]          forgets them (all, or A's / C's)

RULE (every field optional). Every enabled rule matching a request adds its latency; the
first fault one of them draws answers the request (deny, then reset, throttle, error5xx).
The bed is shared by tests running in parallel: a rule without `accounts` or `clients`
faults everyone's requests, so tests scope theirs.
  {"enabled": true,
   "accounts": ["111122223333"],        only requests acting in these accounts
   "clients": ["ctl-a"],                only requests whose User-Agent has app/<id>
   "only_services": ["CloudTrail"],     only these services (case-insensitive)
   "only_operations": ["DescribeTrails"],  only these operations (or "Service/Operation")
   "throttle": 0.3,                     rate: answer as AWS throttles
   "error5xx": 0.1,                     rate: HTTP 500 InternalFailure / S3 InternalError
   "reset": 0.1,                        rate: close the connection without answering
   "reset_after": 0.1,                  rate: forward, then close without answering
   "latency_ms": 200 | [50, 300],       added delay (fixed or uniform in the range)
   "deny": {"DescribeKey": true, "S3/PutBucketPolicy": 0.5, "PutBucketVersioning": "msg"}
           | ["DescribeKey", ...],      AccessDenied (true = always, a number = rate,
                                        a string = always, with that message); keys are
                                        "Operation", "Service/Operation", "Service/*", "*"
   "ttl_seconds": 60,                   the rule removes itself after this long
   "seed": 7}                           draws of this rule from its own seeded generator:
                                        the same requests in the same order, the same faults

Stats: {"requests": N, "faults": {KIND: N}, "operations": {"Service/Operation":
{"requests": N, KIND: N, ...}}, "writes": [{"time", "service", "operation", "client",
"account", "status", "fault"}]} with KIND in throttle, error5xx, reset, reset_after,
deny, latency. Writes are operations not starting with Describe/Get/List/Lookup/Head,
other than AssumeRole; the last 10,000 are kept, `status` is the HTTP status the client
got (null when reset) and `fault` the fault injected (null when moto answered).

Usage: fault_proxy.py --upstream http://127.0.0.1:MOTO_PORT [--listen 127.0.0.1:0]
                      [--port-file FILE]
"""

import argparse
import collections
import http.client
import http.server
import json
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid

DEFAULT_ACCOUNT = "123456789012"
WRITE_LOG_SIZE = 10_000
FAULT_KINDS = ("throttle", "error5xx", "reset", "reset_after", "deny", "latency")
CONTROL_PREFIXES = ("/__faults", "/__stats", "/__health")
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade", "expect", "content-length",
}

SERVICE_NAMES = {
    "cloudtrail": "CloudTrail", "kms": "KMS", "s3": "S3", "sts": "STS", "sns": "SNS", "sqs": "SQS",
    "events": "EventBridge", "logs": "CloudWatchLogs", "iam": "IAM", "organizations": "Organizations",
    "config": "Config", "securityhub": "SecurityHub", "lambda": "Lambda", "ssm": "SSM",
}
TARGET_PREFIXES = {
    "CloudTrail_20131101": "CloudTrail", "TrentService": "KMS", "AWSEvents": "EventBridge",
    "AmazonSQS": "SQS", "Logs_20140328": "CloudWatchLogs", "AWSOrganizationsV20161128": "Organizations",
}
QUERY_NAMESPACES = {
    "STS": "https://sts.amazonaws.com/doc/2011-06-15/",
    "SNS": "http://sns.amazonaws.com/doc/2010-03-31/",
    "SQS": "http://queue.amazonaws.com/doc/2012-11-05/",
    "IAM": "https://iam.amazonaws.com/doc/2010-05-08/",
}

CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")
APP_ID = re.compile(r"(?:^|\s)app/([^\s]+)")
ACCESS_KEY_ID = re.compile(r"<AccessKeyId>([^<]+)</AccessKeyId>")
ROLE_ACCOUNT = re.compile(r"^arn:[^:]+:iam::(\d{12}):")

# S3 bucket sub-resources: query key -> name in Get/Put/Delete<name>.
S3_BUCKET_SUBRESOURCES = {
    "policy": "BucketPolicy", "publicAccessBlock": "PublicAccessBlock", "versioning": "BucketVersioning",
    "ownershipControls": "BucketOwnershipControls", "acl": "BucketAcl", "logging": "BucketLogging",
    "encryption": "BucketEncryption", "tagging": "BucketTagging", "lifecycle": "BucketLifecycleConfiguration",
    "cors": "BucketCors", "notification": "BucketNotificationConfiguration",
    "object-lock": "ObjectLockConfiguration", "replication": "BucketReplication", "website": "BucketWebsite",
    "accelerate": "BucketAccelerateConfiguration", "requestPayment": "BucketRequestPayment",
    "policyStatus": "BucketPolicyStatus", "location": "BucketLocation",
    "intelligent-tiering": "BucketIntelligentTieringConfiguration", "analytics": "BucketAnalyticsConfiguration",
    "metrics": "BucketMetricsConfiguration", "inventory": "BucketInventoryConfiguration",
}
S3_OBJECT_SUBRESOURCES = {
    "tagging": "ObjectTagging", "acl": "ObjectAcl", "retention": "ObjectRetention",
    "legal-hold": "ObjectLegalHold", "attributes": "ObjectAttributes",
}
S3_METHOD_VERBS = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}


def is_write(operation):
    return not (operation.startswith(("Describe", "Get", "List", "Lookup", "Head")) or operation == "AssumeRole")


def s3_operation(method, path, query, headers):
    """The S3 REST operation of a path-style request."""
    parts = [p for p in path.split("/", 2)[1:]]
    bucket = parts[0] if parts else ""
    key = parts[1] if len(parts) > 1 else ""
    verb = S3_METHOD_VERBS.get(method, "")
    if not bucket:
        return "ListBuckets" if method == "GET" else method.capitalize() + "Service"
    if not key:
        for sub, name in S3_BUCKET_SUBRESOURCES.items():
            if sub in query:
                if sub in ("location", "policyStatus"):
                    return "Get" + name
                return (verb or method.capitalize()) + name
        if method == "POST" and "delete" in query:
            return "DeleteObjects"
        if method == "GET":
            if "uploads" in query:
                return "ListMultipartUploads"
            if "versions" in query:
                return "ListObjectVersions"
            return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
        return {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(method, method + "Bucket")
    for sub, name in S3_OBJECT_SUBRESOURCES.items():
        if sub in query:
            return (verb or method.capitalize()) + name
    if "uploadId" in query:
        if method == "PUT":
            return "UploadPartCopy" if headers.get("x-amz-copy-source") else "UploadPart"
        return {"POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload", "GET": "ListParts"}.get(
            method, method + "MultipartUpload")
    if method == "POST" and "uploads" in query:
        return "CreateMultipartUpload"
    if method == "PUT":
        return "CopyObject" if headers.get("x-amz-copy-source") else "PutObject"
    return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject", "POST": "PostObject"}.get(
        method, method + "Object")


class Request:
    """What the proxy knows of one request: who sent it, to which service and operation."""

    def __init__(self, method, target, headers, body, access_keys):
        self.method = method
        self.target = target
        split = urllib.parse.urlsplit(target)
        self.path = split.path
        self.query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        auth = headers.get("authorization", "")
        cred = CREDENTIAL.search(auth) or CREDENTIAL.search(
            "Credential=" + (self.query.get("X-Amz-Credential") or [""])[0])
        self.access_key = cred.group(1) if cred else ""
        scope_service = cred.group(3) if cred else ""
        amz_target = headers.get("x-amz-target", "")
        self.form = {}
        ctype = headers.get("content-type", "")
        if body and ctype.startswith("application/x-www-form-urlencoded"):
            try:
                self.form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                self.form = {}
        action = (self.form.get("Action") or self.query.get("Action") or [""])[0]
        if amz_target:
            self.protocol = "json"
            prefix, _, self.operation = amz_target.rpartition(".")
            self.service = SERVICE_NAMES.get(scope_service) or TARGET_PREFIXES.get(prefix, prefix or scope_service)
        elif action:
            self.protocol = "query"
            self.operation = action
            self.service = SERVICE_NAMES.get(scope_service, scope_service or "Unknown")
        elif scope_service == "s3":
            self.protocol = "s3"
            self.service = "S3"
            self.operation = s3_operation(method, self.path, self.query, headers)
        else:
            self.protocol = "json"
            self.service = SERVICE_NAMES.get(scope_service, scope_service or "Unknown")
            self.operation = method + " " + self.path
        user_agent = headers.get("x-amz-user-agent", "") + " " + headers.get("user-agent", "")
        app = APP_ID.search(user_agent)
        self.client = app.group(1) if app else None
        self.account = self._account(headers, access_keys)

    def _account(self, headers, access_keys):
        if headers.get("x-moto-account-id"):
            return headers["x-moto-account-id"]
        if self.operation.startswith("AssumeRole"):
            role = ROLE_ACCOUNT.match((self.form.get("RoleArn") or self.query.get("RoleArn") or [""])[0])
            if role:
                return role.group(1)
        known = access_keys.get(self.access_key)
        if known:
            return known
        return "unknown" if self.access_key.startswith("ASIA") else DEFAULT_ACCOUNT

    @property
    def name(self):
        return f"{self.service}/{self.operation}"


class Rule:
    """One named fault rule, validated."""

    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("a fault rule is a JSON object")
        known = {"enabled", "accounts", "clients", "only_services", "only_operations", "throttle", "error5xx",
                 "reset", "reset_after", "latency_ms", "deny", "ttl_seconds", "seed"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}; known: {sorted(known)}")
        self.spec = spec
        self.enabled = bool(spec.get("enabled", True))
        self.accounts = self._strings(spec, "accounts")
        self.clients = self._strings(spec, "clients")
        services = self._strings(spec, "only_services")
        self.services = {s.lower() for s in services} if services is not None else None
        self.operations = self._strings(spec, "only_operations")
        self.rates = {kind: self._rate(spec, kind) for kind in ("throttle", "error5xx", "reset", "reset_after")}
        latency = spec.get("latency_ms", 0)
        if isinstance(latency, (int, float)):
            self.latency = (float(latency), float(latency))
        elif isinstance(latency, list) and len(latency) == 2 and all(isinstance(v, (int, float)) for v in latency):
            self.latency = (float(min(latency)), float(max(latency)))
        else:
            raise ValueError("latency_ms is a number or [min, max]")
        deny = spec.get("deny", {})
        if isinstance(deny, list):
            deny = {op: True for op in deny}
        if not isinstance(deny, dict):
            raise ValueError("deny is a list of operations or an object operation -> true | rate | message")
        self.deny = {}
        for op, how in deny.items():
            if how is True:
                self.deny[op] = (1.0, None)
            elif how is False or how is None:
                continue
            elif isinstance(how, (int, float)):
                self.deny[op] = (float(how), None)
            elif isinstance(how, str):
                self.deny[op] = (1.0, how)
            else:
                raise ValueError(f"deny[{op!r}] is true, a rate or a message")
        seed = spec.get("seed")
        if seed is not None and not isinstance(seed, int):
            raise ValueError("seed is an integer")
        self.random = random.Random(seed) if seed is not None else SHARED_RANDOM
        ttl = spec.get("ttl_seconds")
        self.expires = time.time() + float(ttl) if ttl is not None else None

    @staticmethod
    def _strings(spec, key):
        value = spec.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key} is a list of strings")
        return set(value)

    @staticmethod
    def _rate(spec, key):
        rate = spec.get(key, 0)
        if not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(f"{key} is a rate between 0 and 1")
        return float(rate)

    def matches(self, req):
        if not self.enabled:
            return False
        if self.accounts is not None and req.account not in self.accounts:
            return False
        if self.clients is not None and req.client not in self.clients:
            return False
        if self.services is not None and req.service.lower() not in self.services:
            return False
        if self.operations is not None and req.operation not in self.operations and req.name not in self.operations:
            return False
        return True

    def denial(self, req):
        for key in (req.name, req.operation, f"{req.service}/*", "*"):
            if key in self.deny:
                return self.deny[key]
        return None


class State:
    """Rules, counters, the write log and learned access keys, behind one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = {}
        self.access_keys = {}
        # (account, client, service/operation) -> Counter of "requests" and fault kinds
        self.counts = collections.defaultdict(collections.Counter)
        self.writes = collections.deque(maxlen=WRITE_LOG_SIZE)

    def live_rules(self):
        now = time.time()
        with self.lock:
            for name in [n for n, r in self.rules.items() if r.expires is not None and r.expires < now]:
                del self.rules[name]
            return list(self.rules.values())

    def count(self, req, kind):
        with self.lock:
            self.counts[(req.account, req.client, req.name)][kind] += 1

    def learn_key(self, access_key, account):
        with self.lock:
            if len(self.access_keys) > 100_000:
                self.access_keys.clear()
            self.access_keys[access_key] = account

    def log_write(self, req, status, fault):
        if not is_write(req.operation):
            return
        with self.lock:
            self.writes.append({"time": time.time(), "service": req.service, "operation": req.operation,
                                "client": req.client, "account": req.account, "status": status, "fault": fault})

    def stats(self, account=None, client=None, since=None):
        out = {"requests": 0, "faults": {k: 0 for k in FAULT_KINDS}, "operations": {}, "writes": []}
        with self.lock:
            for (acct, cli, name), counter in self.counts.items():
                if (account is not None and acct != account) or (client is not None and cli != client):
                    continue
                op = out["operations"].setdefault(name, {"requests": 0})
                for kind, n in counter.items():
                    op[kind] = op.get(kind, 0) + n
                    if kind == "requests":
                        out["requests"] += n
                    else:
                        out["faults"][kind] += n
            out["writes"] = [w for w in self.writes
                             if (account is None or w["account"] == account)
                             and (client is None or w["client"] == client)
                             and (since is None or w["time"] >= since)]
        return out

    def reset_stats(self, account=None, client=None):
        with self.lock:
            for key in [k for k in self.counts
                        if (account is None or k[0] == account) and (client is None or k[1] == client)]:
                del self.counts[key]
            kept = [w for w in self.writes
                    if not ((account is None or w["account"] == account) and (client is None or w["client"] == client))]
            self.writes.clear()
            self.writes.extend(kept)


STATE = State()
SHARED_RANDOM = random.Random()
UPSTREAM = ("127.0.0.1", 0)
_upstream = threading.local()


def error_answer(req, kind, message=None):
    """(status, headers, body) of an AWS error of `kind` in the request's protocol."""
    request_id = str(uuid.uuid4())
    if kind == "throttle":
        code, status, msg = {"s3": ("SlowDown", 503, "Please reduce your request rate."),
                             "query": ("Throttling", 400, "Rate exceeded")}.get(
            req.protocol, ("ThrottlingException", 400, "Rate exceeded"))
        sender = "Sender"
    elif kind == "error5xx":
        if req.protocol == "s3":
            code, status, msg = "InternalError", 500, "We encountered an internal error. Please try again."
        else:
            code, status, msg = "InternalFailure", 500, "The request processing has failed because of an unknown error."
        sender = "Receiver"
    else:  # deny
        prefix = req.service.lower() if req.service != "EventBridge" else "events"
        default = (f"User: arn:aws:sts::{req.account}:assumed-role/trailwarden/trailwarden is not authorized to "
                   f"perform: {prefix}:{req.operation} (denied by the trailwarden fault proxy)")
        code, status, msg = {"s3": ("AccessDenied", 403, "Access Denied"),
                             "query": ("AccessDenied", 403, default)}.get(
            req.protocol, ("AccessDeniedException", 400, default))
        msg = message or msg
        sender = "Sender"
    if req.protocol == "s3":
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>"
                "<RequestId>{}</RequestId><HostId>fault-proxy</HostId></Error>").format(code, xml_escape(msg), request_id)
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    elif req.protocol == "query":
        ns = QUERY_NAMESPACES.get(req.service)
        body = ("<ErrorResponse{}><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error>"
                "<RequestId>{}</RequestId></ErrorResponse>").format(
            f' xmlns="{ns}"' if ns else "", sender, code, xml_escape(msg), request_id)
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    else:
        body = json.dumps({"__type": code, "message": msg})
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id),
                   ("x-amzn-ErrorType", code)]
    return status, headers, body.encode()


def xml_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "trailwarden-fault-proxy"
    # Idle keep-alive connections are dropped after this long.
    timeout = 300
    # An answer goes out as two writes (the head, then the body). With Nagle's algorithm
    # on, the body waited for the client to acknowledge the head, which a client on a
    # kept-alive connection delays (Linux: 40 ms): every call through the proxy took
    # about 45 ms more than moto did, and every benchmark timed the proxy. AWS's
    # endpoints add no such wait.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # only faults and control changes are logged
        pass

    def note(self, text):
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {text}\n")
        sys.stderr.flush()

    def do_GET(self):
        self.handle_any()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    # -- reading the request ------------------------------------------------------------------

    def read_body(self):
        """The request body, de-chunked; trailer fields are returned as extra headers."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body, trailers = bytearray(), []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("client closed mid-body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                        name, _, value = t.decode("latin-1").partition(":")
                        trailers.append((name.strip(), value.strip()))
                    return bytes(body), trailers
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return (self.rfile.read(length) if length else b""), []

    # -- answering ----------------------------------------------------------------------------

    def answer(self, status, headers, body, reason=None, head_length=None):
        """Sends one answer. HEAD, 1xx, 204 and 304 answers carry no body; a HEAD answer
        keeps the Content-Length moto gave (the length GET would have)."""
        self.send_response_only(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        no_body = self.command == "HEAD" or status in (204, 304) or status < 200
        if not no_body:
            self.send_header("Content-Length", str(len(body)))
        elif self.command == "HEAD":
            self.send_header("Content-Length", head_length if head_length is not None else "0")
        self.end_headers()
        if not no_body:
            self.wfile.write(body)
        self.wfile.flush()

    def answer_json(self, status, value):
        self.answer(status, [("Content-Type", "application/json")], json.dumps(value, indent=1).encode() + b"\n")

    def reset_connection(self):
        """Ends the connection with a TCP reset, answering nothing."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True

    # -- the control API ----------------------------------------------------------------------

    def control(self, body):
        split = urllib.parse.urlsplit(self.path)
        path = split.path.rstrip("/")
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query).items()}
        method = self.command
        try:
            if path == "/__health":
                return self.answer(200, [("Content-Type", "text/plain")], b"ok\n")
            if path == "/__stats" and method in ("GET", "HEAD"):
                since = float(q["since"]) if "since" in q else None
                return self.answer_json(200, STATE.stats(q.get("account"), q.get("client"), since))
            if path == "/__stats/reset" and method == "POST":
                STATE.reset_stats(q.get("account"), q.get("client"))
                return self.answer_json(200, {"reset": True})
            if path == "/__faults" or path.startswith("/__faults/"):
                name = urllib.parse.unquote(path[len("/__faults/"):]) if path.startswith("/__faults/") else None
                if method in ("GET", "HEAD"):
                    STATE.live_rules()  # drops expired rules
                    with STATE.lock:
                        rules = {n: r.spec for n, r in STATE.rules.items()}
                    if name is None:
                        return self.answer_json(200, {"rules": rules})
                    if name not in rules:
                        return self.answer_json(404, {"error": f"no rule {name}"})
                    return self.answer_json(200, rules[name])
                if method in ("PUT", "POST"):
                    rule = Rule(json.loads(body or b"{}"))
                    with STATE.lock:
                        STATE.rules[name or "default"] = rule
                    self.note(f"rule {name or 'default'} set: {json.dumps(rule.spec)}")
                    return self.answer_json(200, {"rule": name or "default", "spec": rule.spec})
                if method == "DELETE":
                    with STATE.lock:
                        if name is None:
                            STATE.rules.clear()
                        else:
                            STATE.rules.pop(name, None)
                    self.note(f"rule {name or '*'} removed")
                    return self.answer_json(200, {"removed": name or "*"})
            return self.answer_json(404, {"error": f"no control endpoint {method} {path}"})
        except (ValueError, KeyError) as e:
            return self.answer_json(400, {"error": str(e)})

    # -- proxying -----------------------------------------------------------------------------

    def handle_any(self):
        try:
            body, trailers = self.read_body()
        except (ValueError, ConnectionError):
            self.close_connection = True
            return
        if self.path.startswith(CONTROL_PREFIXES):
            return self.control(body)
        headers = {k.lower(): v for k, v in self.headers.items()}
        for name, value in trailers:
            headers.setdefault(name.lower(), value)
        if self.path.startswith("/moto-api"):
            return self.forward(body, trailers, None)
        try:
            req = Request(self.command, self.path, headers, body, STATE.access_keys)
        except Exception as e:  # a request we cannot name is forwarded untouched
            self.note(f"cannot name {self.command} {self.path}: {e!r}")
            return self.forward(body, trailers, None)
        STATE.count(req, "requests")
        fault = None
        deny_message = None
        reset_after = False
        for rule in STATE.live_rules():
            if not rule.matches(req):
                continue
            low, high = rule.latency
            if high > 0:
                STATE.count(req, "latency")
                time.sleep(rule.random.uniform(low, high) / 1000.0)
            if fault is None:
                denial = rule.denial(req)
                if denial is not None and rule.random.random() < denial[0]:
                    fault, deny_message = "deny", denial[1]
            for kind in ("reset", "throttle", "error5xx"):
                if fault is None and rule.random.random() < rule.rates[kind]:
                    fault = kind
            if not reset_after and rule.random.random() < rule.rates["reset_after"]:
                reset_after = True
        if fault is not None:
            STATE.count(req, fault)
            self.note(f"{fault} {req.name} account={req.account} client={req.client}")
            if fault == "reset":
                STATE.log_write(req, None, fault)
                return self.reset_connection()
            status, err_headers, err_body = error_answer(req, fault, deny_message)
            STATE.log_write(req, status, fault)
            return self.answer(status, err_headers, err_body)
        status = self.forward(body, trailers, req, reset_after)
        if reset_after:
            STATE.count(req, "reset_after")
            self.note(f"reset_after {req.name} account={req.account} client={req.client}")
        STATE.log_write(req, None if reset_after else status, "reset_after" if reset_after else None)

    def upstream_request(self, body, trailers):
        """Sends the request to moto on this thread's connection; returns (response, data)."""
        for attempt in (1, 2):
            conn = getattr(_upstream, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = _upstream.conn = http.client.HTTPConnection(*UPSTREAM, timeout=120)
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        conn.putheader(name, value)
                for name, value in trailers:
                    conn.putheader(name, value)
                if body or self.command in ("POST", "PUT", "PATCH"):
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body or None)
                resp = conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    conn.close()
                    _upstream.conn = None
                return resp, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                _upstream.conn = None
                # A kept-alive connection moto closed meanwhile: the request never reached it.
                if not reused or attempt == 2:
                    raise
            except Exception:
                conn.close()
                _upstream.conn = None
                raise

    def forward(self, body, trailers, req, reset_after=False):
        try:
            resp, data = self.upstream_request(body, trailers)
        except (OSError, http.client.HTTPException) as e:
            self.note(f"upstream failed for {self.command} {self.path}: {e!r}")
            self.answer(502, [("Content-Type", "text/plain")], f"fault proxy: moto unreachable: {e}\n".encode())
            return 502
        if req is not None and req.operation.startswith("AssumeRole") and resp.status == 200:
            key = ACCESS_KEY_ID.search(data.decode("utf-8", "replace"))
            if key and req.account not in ("unknown",):
                STATE.learn_key(key.group(1), req.account)
        if reset_after:
            self.reset_connection()
            return None
        headers = [(n, v) for n, v in resp.getheaders() if n.lower() not in HOP_BY_HOP]
        self.answer(resp.status, headers, data, resp.reason, head_length=resp.getheader("Content-Length"))
        return resp.status


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client that went away mid-answer is not worth a traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, socket.timeout)):
            super().handle_error(request, client_address)


def main():
    global UPSTREAM
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True, help="moto's URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0: any free port)")
    parser.add_argument("--port-file", help="write the port listened on here once listening")
    args = parser.parse_args()
    up = urllib.parse.urlsplit(args.upstream)
    UPSTREAM = (up.hostname, up.port or 80)
    host, _, port = args.listen.rpartition(":")
    server = Server((host or "127.0.0.1", int(port)), Handler)
    actual = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{actual}\n")
        os.replace(tmp, args.port_file)
    else:
        print(actual, flush=True)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
