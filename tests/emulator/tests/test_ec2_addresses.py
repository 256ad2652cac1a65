"""AssociateAddress as EC2 answers it (API reference, AssociateAddress): an Elastic IP reaches an
instance only through its VPC's internet gateway; without one attached, EC2 refuses with
Gateway.NotAttached. A subnet without a route to the gateway is not EC2's to refuse."""

import pytest
from botocore.exceptions import ClientError

from conftest import DR


def test_an_elastic_ip_is_refused_for_an_instance_in_a_vpc_without_an_internet_gateway(emulator, world):
    ec2 = emulator.client("ec2", DR)
    vpc = world["dr"]["vpcId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=world["dr"]["subnets"][0]["id"]
    )["Instances"][0]["InstanceId"]
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]

    with pytest.raises(ClientError) as refused:
        ec2.associate_address(AllocationId=allocation, InstanceId=instance)
    assert refused.value.response["Error"]["Code"] == "Gateway.NotAttached"
    assert vpc in refused.value.response["Error"]["Message"]
    assert not ec2.describe_addresses(AllocationIds=[allocation])["Addresses"][0].get("InstanceId")

    # a gateway attached to the VPC is enough for EC2 (no route needed)
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    ec2.associate_address(AllocationId=allocation, InstanceId=instance)
    assert ec2.describe_addresses(AllocationIds=[allocation])["Addresses"][0]["InstanceId"] == instance
