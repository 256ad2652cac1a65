"""CloudFormation as AWS evaluates a network template:

- `Fn::GetAZs` with `""` (or `{"Ref": "AWS::Region"}`) is the stack's own region's zones; moto
  answers us-east-1's whatever the stack's region, so a DR-region network template put its
  subnets in another region's AZs;
- `Fn::GetAtt [Subnet, AvailabilityZone]` is a documented return value of AWS::EC2::Subnet;
  moto leaves it unevaluated;
- `Ref` of an AWS::RDS::DBSubnetGroup is its name; moto gave the Python object's repr.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    from moto.cloudformation import parsing

    original = parsing.clean_json

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict) and "Fn::GetAZs" in resource_json:
            region = resource_json["Fn::GetAZs"]
            if region in ("", None) or region == {"Ref": "AWS::Region"}:
                resource_json = {"Fn::GetAZs": getattr(resources_map, "_region_name", "")}
        return original(resource_json, resources_map)

    parsing.clean_json = clean_json

    from moto.ec2.models.subnets import Subnet

    original_attribute = Subnet.get_cfn_attribute

    def get_cfn_attribute(self, attribute_name: str):  # type: ignore[no-untyped-def]
        if attribute_name == "AvailabilityZone":
            return self.availability_zone
        return original_attribute(self, attribute_name)

    Subnet.get_cfn_attribute = get_cfn_attribute

    from moto.rds.models import DBSubnetGroup

    DBSubnetGroup.physical_resource_id = property(lambda self: self.name)
