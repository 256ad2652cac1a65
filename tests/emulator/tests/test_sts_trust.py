"""AssumeRole into another account only as the role's trust policy allows, as STS decides it:
a role that does not exist, or does not trust the caller, is refused; a trusted caller gets
credentials that act in the role's account."""

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import DR, PRIMARY
from test_cross_account_copy import PRODUCTION, production_client


def trust(principal, condition=None, effect="Allow"):
    statement = {"Effect": effect, "Principal": principal, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_a_role_is_assumed_only_by_a_caller_its_trust_policy_names(emulator, world):
    seeded = emulator.control("POST", "seed/production-account", {"account": PRODUCTION, "primaryRegion": PRIMARY})
    iam = production_client(emulator, seeded, "iam")
    recovery = world["account"]
    sts = emulator.client("sts", DR)

    def refused(role_arn, **kwargs):
        with pytest.raises(ClientError) as denied:
            sts.assume_role(RoleArn=role_arn, RoleSessionName="backstop", **kwargs)
        error = denied.value.response["Error"]
        assert error["Code"] == "AccessDenied", error
        assert f"sts:AssumeRole on resource: {role_arn}" in error["Message"], error

    # a role that does not exist
    refused(f"arn:aws:iam::{PRODUCTION}:role/nobody")
    # a role trusting only a service, or another account
    services = iam.create_role(RoleName="for-lambda", AssumeRolePolicyDocument=trust({"Service": "lambda.amazonaws.com"}))
    refused(services["Role"]["Arn"])
    other = iam.create_role(RoleName="for-other", AssumeRolePolicyDocument=trust({"AWS": "arn:aws:iam::999999999999:root"}))
    refused(other["Role"]["Arn"])
    # an external id the caller does not give
    fenced = iam.create_role(
        RoleName="fenced",
        AssumeRolePolicyDocument=trust(
            {"AWS": f"arn:aws:iam::{recovery}:root"}, {"StringEquals": {"sts:ExternalId": "backstop-shop"}}
        ),
    )
    refused(fenced["Role"]["Arn"])
    refused(fenced["Role"]["Arn"], ExternalId="guess")
    assert sts.assume_role(RoleArn=fenced["Role"]["Arn"], RoleSessionName="backstop", ExternalId="backstop-shop")["Credentials"]

    # trusted: the credentials act in the production account
    trusted = iam.create_role(RoleName="backstop-recovery", AssumeRolePolicyDocument=trust({"AWS": recovery}))
    credentials = sts.assume_role(RoleArn=trusted["Role"]["Arn"], RoleSessionName="backstop")["Credentials"]
    assumed = boto3.client(
        "sts",
        region_name=DR,
        endpoint_url=emulator.endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    assert assumed.get_caller_identity()["Account"] == PRODUCTION
    # the assumed role is the caller now: a role trusting only the recovery account refuses it
    with pytest.raises(ClientError) as denied:
        assumed.assume_role(RoleArn=fenced["Role"]["Arn"], RoleSessionName="backstop", ExternalId="backstop-shop")
    assert f"User: {trusted['Role']['Arn']}" in denied.value.response["Error"]["Message"]
