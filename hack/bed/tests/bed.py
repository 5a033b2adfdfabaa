"""What every bed-rule test needs: a moto server of its own (hack/bed/moto_server.py, so
every rule is installed), boto3 clients acting in any emulator account and region, and
fresh account ids. Run with the bed's venv: `$venv/bin/python -m unittest discover -s hack/bed/tests`.
"""

import itertools
import json
import os
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

import boto3
import botocore.config
import botocore.exceptions

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "..", "moto_server.py")
_accounts = itertools.count(int(time.time() * 1000) % 10**8 * 1000)


def fresh_account():
    """A 12-digit account id no other test of this run uses."""
    return f"{100_000_000_000 + next(_accounts) % 800_000_000_000:012d}"


class Moto:
    """A moto server with the bed's rules, on a free loopback port, for one test class.

    Its CloudTrail delivery timer (hack/bed/delivery.py) is off unless `env` turns it on
    (TRAILWARDEN_BED_DELIVERY_SECONDS): tests deliver when they choose, with `deliver()`."""

    def __init__(self, env=None):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "TZ": "UTC", "TRAILWARDEN_BED_DELIVERY_SECONDS": "0", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "127.0.0.1", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2)
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto did not start within 60 s")

    def deliver(self, log_files=True, trails=None):
        """One CloudTrail delivery round now (POST /moto-api/bed/deliver), for every logging
        trail or only `trails` (ARNs): {trail ARN: what it got (logFile, digestFile, final,
        deliveryError, digestDeliveryError)}."""
        options = {"logFiles": log_files} if trails is None else {"logFiles": log_files, "trails": trails}
        body = json.dumps(options).encode()
        request = urllib.request.Request(
            f"{self.url}/moto-api/bed/deliver", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return {t["trailArn"]: t for t in json.load(answer)["trails"]}

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def client(self, service, account, region="us-east-1"):
        """A boto3 client acting in `account` (moto's x-moto-account-id) from `region`,
        S3 path-style as the product sends it, no retries so each refusal shows at once."""
        client = boto3.client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=botocore.config.Config(
                retries={"max_attempts": 1, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        )

        def add_account(request, **_):
            request.headers["x-moto-account-id"] = account

        client.meta.events.register("before-send", add_account)
        return client


class BedTest(unittest.TestCase):
    """A test class with its own moto server (`self.moto`), started with MOTO_ENV."""

    MOTO_ENV = {}

    @classmethod
    def setUpClass(cls):
        cls.moto = Moto(cls.MOTO_ENV)

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()

    def assertRefused(self, call, code, status=None):
        """`call()` fails with AWS error `code` (and HTTP `status`, when given)."""
        with self.assertRaises(botocore.exceptions.ClientError) as refused:
            call()
        error = refused.exception.response
        self.assertEqual(error["Error"]["Code"], code, error)
        if status is not None:
            self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], status, error)
        return error
