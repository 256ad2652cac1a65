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
    # the same parameters, as a drill's copy of the failover network has them
    for name in (f"dr-net-{uuid.uuid4().hex[:6]}", f"dr-net-drill-{uuid.uuid4().hex[:6]}"):
        cloudformation.create_stack(StackName=name, TemplateBody=body, Parameters=[{"ParameterKey": "Name", "ParameterValue": "shop-dr"}])
        # as on AWS, the stack takes (scaled) minutes and has no outputs until it is complete
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_IN_PROGRESS" and not stack.get("Outputs"), stack
        cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1})
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


def test_a_stack_whose_subnet_still_holds_an_instance_fails_to_delete_then_deletes_once_it_is_gone(emulator):
    cloudformation, ec2 = emulator.client("cloudformation", DR), emulator.client("ec2", DR)
    with open(TEMPLATE) as handle:
        body = handle.read()
    name = f"dr-net-{uuid.uuid4().hex[:6]}"
    cloudformation.create_stack(StackName=name, TemplateBody=body)
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1})
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    subnet = next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "PrivateSubnetA")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]["InstanceId"]

    cloudformation.delete_stack(StackName=stack["StackId"])
    failed = cloudformation.describe_stacks(StackName=stack["StackId"])["Stacks"][0]
    assert failed["StackStatus"] == "DELETE_FAILED"
    assert ec2.describe_subnets(SubnetIds=[subnet])["Subnets"], "nothing is deleted when the stack cannot be"
    reasons = [e.get("ResourceStatusReason", "") for e in cloudformation.describe_stack_events(StackName=stack["StackId"])["StackEvents"]]
    assert any("has dependencies" in r for r in reasons), reasons

    ec2.terminate_instances(InstanceIds=[instance])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance], WaiterConfig={"Delay": 1})
    cloudformation.delete_stack(StackName=stack["StackId"])
    assert cloudformation.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_IN_PROGRESS"
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=stack["StackId"], WaiterConfig={"Delay": 1})
    assert not ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["Subnets"]
