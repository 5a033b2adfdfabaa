"""Small AWS helper for the demo, run with the emulator venv's python (boto3 comes with moto).

Usage: aws.py setup BUCKET ALIAS | status TRAIL | stop-logging TRAIL |
       disable-validation TRAIL | delete TRAIL | events-setup NAME | publish EVENT TRAIL
Reads TRAILWARDEN_AWS_ENDPOINT and the AWS_* variables the bed's env file sets.
"""

import json
import os
import sys

import boto3

endpoint = os.environ["TRAILWARDEN_AWS_ENDPOINT"]
region = os.environ.get("AWS_REGION", "us-east-1")


def client(service):
    return boto3.client(service, endpoint_url=endpoint, region_name=region)


def main(command, arg, extra=None):
    ct = client("cloudtrail")
    if command == "setup":
        s3 = client("s3")
        s3.create_bucket(Bucket=arg)
        s3.create_bucket(Bucket=f"{arg}-access", ACL="log-delivery-write")
        s3.put_bucket_logging(
            Bucket=arg,
            BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": f"{arg}-access", "TargetPrefix": f"{arg}/"}},
        )
        kms = client("kms")
        key = kms.create_key(Description="trailwarden demo")["KeyMetadata"]["Arn"]
        kms.create_alias(AliasName=extra, TargetKeyId=key)
        print(f"bucket {arg} (access logs to {arg}-access), key {key} ({extra})")
    elif command == "status":
        trails = [t for t in ct.describe_trails()["trailList"] if t["Name"] == arg]
        if not trails:
            print(json.dumps({"exists": False}))
            return
        trail = trails[0]
        status = ct.get_trail_status(Name=trail["TrailARN"])
        print(json.dumps({
            "exists": True,
            "logging": status["IsLogging"],
            "validation": trail.get("LogFileValidationEnabled"),
            "kms": trail.get("KmsKeyId"),
        }))
    elif command == "events-setup":
        # The queue and the EventBridge rule a user provisions for the event path.
        sqs = client("sqs")
        url = sqs.create_queue(QueueName=arg)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = client("events")
        pattern = {"detail-type": ["AWS API Call via CloudTrail"], "source": ["aws.cloudtrail", "aws.s3", "aws.kms"]}
        events.put_rule(Name=arg, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=arg, Targets=[{"Id": "queue", "Arn": arn}])
        print(url)
    elif command == "publish":
        # What CloudTrail puts on the default bus right after a call (the emulator does not).
        account = client("sts").get_caller_identity()["Account"]
        detail = {"eventSource": "cloudtrail.amazonaws.com", "eventName": arg, "awsRegion": region,
                  "recipientAccountId": account, "requestParameters": {"name": extra}}
        client("events").put_events(Entries=[{"Source": "aws.cloudtrail", "DetailType": "AWS API Call via CloudTrail",
                                              "Detail": json.dumps(detail)}])
    elif command == "stop-logging":
        ct.stop_logging(Name=arg)
    elif command == "disable-validation":
        ct.update_trail(Name=arg, EnableLogFileValidation=False)
    elif command == "delete":
        ct.delete_trail(Name=arg)
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(*sys.argv[1:])
