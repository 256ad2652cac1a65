"""The example DR network template (dr-region/network.yaml) deploys into the emulator's
CloudFormation and its outputs name real resources in the DR region: what a plan can
reference, and what a drill's own copy of the network would be."""

import os
import subprocess
import sys
import uuid

from conftest import DR

TEMPLATE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "dr-region", "network.yaml")


def test_the_template_passes_cfn_lint():
    lint = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "cfn-lint"), TEMPLATE],
        capture_output=True, text=True, env={**os.environ, "AWS_DEFAULT_REGION": DR},
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_two_copies_of_the_network_deploy_side_by_side_with_outputs_naming_real_resources(emulator):
    cloudformation = emulator.client("cloudformation", DR)
    with open(TEMPLATE) as handle:
        body = handle.read()
    outputs = {}
    for name in (f"dr-net-{uuid.uuid4().hex[:6]}", f"drill-net-{uuid.uuid4().hex[:6]}"):
        cloudformation.create_stack(StackName=name, TemplateBody=body, Parameters=[{"ParameterKey": "Name", "ParameterValue": name}])
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
        outputs[name] = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    ec2, rds = emulator.client("ec2", DR), emulator.client("rds", DR)
    for name, out in outputs.items():
        subnets = ec2.describe_subnets(SubnetIds=[out["PrivateSubnetA"], out["PrivateSubnetB"]])["Subnets"]
        assert {s["VpcId"] for s in subnets} == {out["VpcId"]}
        zones = [s["AvailabilityZone"] for s in subnets]
        assert len(set(zones)) == 2 and zones[0].startswith(DR), zones
        assert {out["AvailabilityZoneA"], out["AvailabilityZoneB"]} == set(zones)
        groups = ec2.describe_security_groups(GroupIds=[out["AppSecurityGroup"], out["DbSecurityGroup"]])["SecurityGroups"]
        assert {g["VpcId"] for g in groups} == {out["VpcId"]}
        group = rds.describe_db_subnet_groups(DBSubnetGroupName=out["DbSubnetGroupName"])["DBSubnetGroups"][0]
        assert {s["SubnetIdentifier"] for s in group["Subnets"]} == {out["PrivateSubnetA"], out["PrivateSubnetB"]}
    # each copy is its own network: nothing shared between the two stacks
    first, second = outputs.values()
    assert not set(first.values()) & set(second.values()) - {first["AvailabilityZoneA"], first["AvailabilityZoneB"]}
