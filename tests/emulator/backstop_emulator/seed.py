"""A realistic workload to recover, and our handler binaries deployed as Lambda functions.

Everything is created through the public APIs of the emulator itself, as an
operator's CloudFormation stacks would create it.
"""

from __future__ import annotations

import json
from typing import Any

from . import aws_time, internal, storage_gateway
from .deploy import bootstrap_zip
from .internal import client

ACCOUNT = "123456789012"
LAMBDA_ROLE = "backstop-lambda"


def _network(ec2, region: str, cidr: str, name: str) -> dict[str, Any]:
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": name}])
    prefix = cidr.rsplit(".", 2)[0]
    subnets = []
    for index, zone in enumerate(("a", "b")):
        subnet = ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"{prefix}.{index}.0/24", AvailabilityZone=f"{region}{zone}"
        )["Subnet"]
        subnets.append({"id": subnet["SubnetId"], "availabilityZone": subnet["AvailabilityZone"]})
    app_sg = ec2.create_security_group(GroupName=f"{name}-app", Description="app", VpcId=vpc)["GroupId"]
    db_sg = ec2.create_security_group(GroupName=f"{name}-db", Description="db", VpcId=vpc)["GroupId"]
    return {"vpcId": vpc, "subnets": subnets, "appSecurityGroupId": app_sg, "dbSecurityGroupId": db_sg}


def seed_workload(primary_region: str, dr_region: str) -> dict[str, Any]:
    ec2 = client("ec2", primary_region)
    dr_ec2 = client("ec2", dr_region)
    primary = _network(ec2, primary_region, "10.0.0.0/16", "primary")
    dr = _network(dr_ec2, dr_region, "10.1.0.0/16", "dr")

    # golden AMI, built in the primary region and copied to the DR region ahead of time
    base_image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    builder = ec2.run_instances(ImageId=base_image, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    builder_id = builder["Instances"][0]["InstanceId"]
    golden = ec2.create_image(InstanceId=builder_id, Name="shop-golden-app")["ImageId"]
    ec2.terminate_instances(InstanceIds=[builder_id])
    dr_golden = dr_ec2.copy_image(SourceImageId=golden, SourceRegion=primary_region, Name="shop-golden-app")[
        "ImageId"
    ]
    client("ssm", dr_region).put_parameter(
        Name="/backstop/shop/golden-ami", Value=dr_golden, Type="String", Overwrite=True
    )
    # the app's instance profile: its role lets the SSM agent register (AmazonSSMManagedInstanceCore)
    iam = client("iam", dr_region)
    iam.create_role(
        RoleName="shop-app",
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
    )
    iam.put_role_policy(
        RoleName="shop-app",
        PolicyName="ssm-agent",
        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:UpdateInstanceInformation","ssmmessages:*","ec2messages:*"],"Resource":"*"}]}',
    )
    iam.create_instance_profile(InstanceProfileName="shop-app")
    iam.add_role_to_instance_profile(InstanceProfileName="shop-app", RoleName="shop-app")

    # the app server: a root volume (from the AMI) and two data volumes
    zone = primary["subnets"][0]["availabilityZone"]
    app = ec2.run_instances(
        ImageId=golden,
        InstanceType="m6i.large",
        MinCount=1,
        MaxCount=1,
        SubnetId=primary["subnets"][0]["id"],
        SecurityGroupIds=[primary["appSecurityGroupId"]],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "shop-app"}]}],
    )["Instances"][0]
    aws_time.settle()  # the app server has been running for a long time
    volumes = {}
    for name, size, volume_type, device in (("app-data", 50, "gp3", "/dev/sdf"), ("app-logs", 20, "gp2", "/dev/sdg")):
        volume = ec2.create_volume(
            AvailabilityZone=zone,
            Size=size,
            VolumeType=volume_type,
            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": name}]}],
        )["VolumeId"]
        ec2.attach_volume(VolumeId=volume, InstanceId=app["InstanceId"], Device=device)
        volumes[name] = {
            "volumeId": volume,
            "arn": f"arn:aws:ec2:{primary_region}:{ACCOUNT}:volume/{volume}",
            "size": size,
            "volumeType": volume_type,
        }

    # an on-premises file server's iSCSI volume on a Volume Gateway (cached), protected by AWS Backup
    archive = storage_gateway.create_volume(primary_region, "sgw-12A3456B", "archive", 150, zone)

    rds = client("rds", primary_region)
    db = rds.create_db_instance(
        DBInstanceIdentifier="orders",
        DBInstanceClass="db.t3.medium",
        Engine="postgres",
        AllocatedStorage=100,
        MasterUsername="shop",
        MasterUserPassword="not-a-real-secret",
        VpcSecurityGroupIds=[primary["dbSecurityGroupId"]],
    )["DBInstance"]
    # the primary's subnet group: where a failback restores the database
    rds.create_db_subnet_group(
        DBSubnetGroupName="primary-db-subnets",
        DBSubnetGroupDescription="Primary database subnets",
        SubnetIds=[s["id"] for s in primary["subnets"]],
    )
    client("rds", dr_region).create_db_subnet_group(
        DBSubnetGroupName="dr-db-subnets",
        DBSubnetGroupDescription="DR database subnets",
        SubnetIds=[s["id"] for s in dr["subnets"]],
    )

    efs = client("efs", primary_region)
    file_system = efs.create_file_system(
        CreationToken="shop-media", PerformanceMode="generalPurpose", Encrypted=True
    )["FileSystemId"]

    # each vault encrypts with a customer managed key of its own region (AWS: a vault always
    # has a key; copies of encrypted backups are re-encrypted with the destination vault's)
    vault_keys = {
        region: client("kms", region).create_key(Description=f"backup vault key ({region})")["KeyMetadata"]["Arn"]
        for region in (primary_region, dr_region)
    }
    backup = client("backup", primary_region)
    primary_vault = backup.create_backup_vault(
        BackupVaultName="backstop-primary", EncryptionKeyArn=vault_keys[primary_region]
    )["BackupVaultArn"]
    dr_backup = client("backup", dr_region)
    dr_vault = dr_backup.create_backup_vault(BackupVaultName="backstop-dr", EncryptionKeyArn=vault_keys[dr_region])[
        "BackupVaultArn"
    ]
    # kept as the DR copies should be: locked (governance mode) and no one may delete them
    dr_backup.put_backup_vault_lock_configuration(BackupVaultName="backstop-dr", MinRetentionDays=7)
    dr_backup.put_backup_vault_access_policy(
        BackupVaultName="backstop-dr",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "KeepRecoveryPoints",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": ["backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle"],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )

    route53 = client("route53", primary_region)
    zone_id = route53.create_hosted_zone(Name="shop.example.com", CallerReference="backstop-seed")["HostedZone"][
        "Id"
    ].split("/")[-1]
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": "app.shop.example.com",
                        "Type": "A",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": app["PrivateIpAddress"]}],
                    },
                },
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": "db.shop.example.com",
                        "Type": "CNAME",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": db["Endpoint"]["Address"]}],
                    },
                },
            ]
        },
    )

    aws_time.settle()
    return {
        "account": ACCOUNT,
        "primaryRegion": primary_region,
        "drRegion": dr_region,
        "backupRoleArn": f"arn:aws:iam::{ACCOUNT}:role/backstop-backup",
        "primary": {
            **primary,
            "goldenAmiId": golden,
            "appInstanceId": app["InstanceId"],
            "appPrivateIp": app["PrivateIpAddress"],
            "volumes": volumes,
            "gatewayVolume": {"arn": archive.arn, "size": archive.size_gib, "targetName": archive.target_name},
            "db": {
                "identifier": "orders",
                "arn": db["DBInstanceArn"],
                "engine": db["Engine"],
                "allocatedStorage": db["AllocatedStorage"],
                "address": db["Endpoint"]["Address"],
            },
            "fileSystem": {
                "id": file_system,
                "arn": f"arn:aws:elasticfilesystem:{primary_region}:{ACCOUNT}:file-system/{file_system}",
            },
            "backupVault": {"name": "backstop-primary", "arn": primary_vault},
            "dbSubnetGroup": "primary-db-subnets",
        },
        "dr": {
            **dr,
            "goldenAmiId": dr_golden,
            "goldenAmiParameter": "/backstop/shop/golden-ami",
            "instanceProfile": "shop-app",
            "dbSubnetGroup": "dr-db-subnets",
            "backupVault": {"name": "backstop-dr", "arn": dr_vault, "keyArn": vault_keys[dr_region]},
        },
        "dns": {"hostedZoneId": zone_id, "zoneName": "shop.example.com"},
    }


def seed_production_account(account: str, primary_region: str, dr_region: str) -> dict[str, Any]:
    """A production account beside the recovery account Backstop runs in: one data volume, its
    own backup vault and backup role, and an access key whose requests moto serves as that
    account (so a test acts in it with the account's own credentials)."""
    ec2 = internal.client("ec2", primary_region, account)
    volume = ec2.create_volume(
        AvailabilityZone=f"{primary_region}a",
        Size=20,
        VolumeType="gp3",
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "ledger-data"}]}],
    )["VolumeId"]
    vault = internal.client("backup", primary_region, account).create_backup_vault(BackupVaultName="production")[
        "BackupVaultArn"
    ]
    # a key of the production account in the DR region, not shared with the recovery account
    dr_key = internal.client("kms", dr_region, account).create_key(Description="production ledger key")["KeyMetadata"][
        "Arn"
    ]
    iam = internal.client("iam", primary_region, account)
    iam.create_user(UserName="backup-operator")
    key = iam.create_access_key(UserName="backup-operator")["AccessKey"]
    return {
        "account": account,
        "volumeArn": f"arn:aws:ec2:{primary_region}:{account}:volume/{volume}",
        "backupVault": {"name": "production", "arn": vault},
        "backupRoleArn": f"arn:aws:iam::{account}:role/backup",
        "drKeyArn": dr_key,
        "accessKeyId": key["AccessKeyId"],
        "secretAccessKey": key["SecretAccessKey"],
    }


def deploy_functions(functions: list[dict[str, Any]]) -> dict[str, Any]:
    deployed = {}
    for spec in functions:
        region = spec.get("region", "us-west-2")
        iam = client("iam", region)
        try:
            role_arn = iam.get_role(RoleName=LAMBDA_ROLE)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            role_arn = iam.create_role(
                RoleName=LAMBDA_ROLE,
                AssumeRolePolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                        ],
                    }
                ),
            )["Role"]["Arn"]
        lam = client("lambda", region)
        name = spec["name"]
        code = bootstrap_zip(spec["binary"])
        settings = {
            "Timeout": int(spec.get("timeout", 30)),
            "MemorySize": int(spec.get("memory", 256)),
            "Environment": {"Variables": spec.get("environment", {})},
        }
        try:
            lam.get_function(FunctionName=name)
            lam.update_function_code(FunctionName=name, ZipFile=code)
            arn = lam.update_function_configuration(FunctionName=name, **settings)["FunctionArn"]
        except lam.exceptions.ResourceNotFoundException:
            arn = lam.create_function(
                FunctionName=name,
                Runtime="provided.al2023",
                Role=role_arn,
                Handler="bootstrap",
                Code={"ZipFile": code},
                Architectures=["x86_64"],
                **settings,
            )["FunctionArn"]
        deployed[name] = arn
    return deployed
