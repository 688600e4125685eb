"""Runs moto_server on 127.0.0.1 with signature checking on, for the Swift tests (MotoServer.swift).

The first BOOTSTRAP_CALLS requests are free (INITIAL_NO_AUTH_ACTION_COUNT); in them this script creates
an IAM user with an access key and two roles, all with an allow-all policy attached: one trusting a web
identity provider, one that any principal may assume with sts:AssumeRole (moto checks trust policies). Then it prints one JSON
line (port, keys, role ARN) and serves until its parent goes away: stdin reaching EOF, or the parent
process changing, ends it, so no server outlives the tests.

Usage: python3 moto_harness.py
"""
import json
import os
import socket
import time

BOOTSTRAP_CALLS = 8
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(BOOTSTRAP_CALLS)

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto.core.authorization import ActionAuthenticatorMixin  # noqa: E402
from moto.core.responses import BaseResponse  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from local_http import exit_with_parent  # noqa: E402

# AWS accepts AssumeRoleWithWebIdentity unsigned (the token is the proof); moto would check a signature
# that is not there, so let that one call through when it carries no Authorization header.
_check = ActionAuthenticatorMixin._authenticate_and_authorize_action


def _check_unless_web_identity(self, iam_request_cls, resource="*"):
    if "Authorization" not in self.headers and self._get_action() == "AssumeRoleWithWebIdentity":
        return
    return _check(self, iam_request_cls, resource)


ActionAuthenticatorMixin._authenticate_and_authorize_action = _check_unless_web_identity

# moto checks a signature against the URL as werkzeug decoded it, so a query value holding `/` (an S3
# ListMultipartUploads prefix such as `layerpack/name/…`) fails every client's signature, botocore's
# too. AWS checks the request as it was sent: give moto the URL as it came over the wire.
_setup = BaseResponse.setup_class


def _setup_keeping_wire_url(self, request, full_url, headers, *args, **kwargs):
    result = _setup(self, request, full_url, headers, *args, **kwargs)
    raw = getattr(request, "environ", {}).get("RAW_URI") or getattr(request, "environ", {}).get("REQUEST_URI")
    if raw and "?" in raw and "?" in self.uri:
        self.uri = self.uri.split("?", 1)[0] + "?" + raw.split("?", 1)[1]
    return result


BaseResponse.setup_class = _setup_keeping_wire_url


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bootstrap(endpoint):
    """Exactly BOOTSTRAP_CALLS requests, all within the free ones."""
    config = Config(retries={"max_attempts": 1})
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bootstrap",
                       aws_secret_access_key="bootstrap", config=config)
    allow_all = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Federated": "token.actions.example.com"}, "Action": "sts:AssumeRoleWithWebIdentity"}]})
    iam.create_user(UserName="layerpack-tests")
    key = iam.create_access_key(UserName="layerpack-tests")["AccessKey"]
    policy = iam.create_policy(PolicyName="allow-all", PolicyDocument=allow_all)["Policy"]["Arn"]
    iam.attach_user_policy(UserName="layerpack-tests", PolicyArn=policy)
    role = iam.create_role(RoleName="layerpack-web-identity", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.attach_role_policy(RoleName="layerpack-web-identity", PolicyArn=policy)
    anyone = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
    assumable = iam.create_role(RoleName="layerpack-deploy", AssumeRolePolicyDocument=anyone)["Role"]["Arn"]
    iam.attach_role_policy(RoleName="layerpack-deploy", PolicyArn=policy)

    # Prove that signatures are now checked: a wrong secret must be refused, the real one accepted.
    wrong = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                         aws_secret_access_key="wrong", config=config)
    try:
        wrong.list_users()
        raise SystemExit("moto accepted a wrong secret: signature checking is not on")
    except ClientError as error:
        if error.response["Error"]["Code"] != "SignatureDoesNotMatch":
            raise
    boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                 aws_secret_access_key=key["SecretAccessKey"], config=config).list_users()
    return key, role, assumable


def main():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        key, role, assumable = bootstrap(endpoint)
    except BaseException as error:  # noqa: BLE001 - any failure is reported to the Swift side
        print(json.dumps({"error": f"bootstrapping IAM in moto failed: {error!r}"}), flush=True)
        os._exit(1)
    print(json.dumps({"port": port, "accessKeyID": key["AccessKeyId"], "secretAccessKey": key["SecretAccessKey"],
                      "webIdentityRoleARN": role, "assumableRoleARN": assumable}), flush=True)
    exit_with_parent()


if __name__ == "__main__":
    main()
