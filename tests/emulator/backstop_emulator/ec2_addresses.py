"""AssociateAddress as EC2 refuses it (moto associates any address with any instance).

EC2 API reference, AssociateAddress: an Elastic IP is a public address, reachable only through
an internet gateway; for an instance or network interface in a VPC without one attached, EC2
fails with `Gateway.NotAttached` ("Network vpc-... is not attached to any internet gateway").
A missing route in the subnet is not checked by EC2 (the address is then simply unreachable).
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.elastic_ip_addresses import ElasticAddressBackend

    original = ElasticAddressBackend.associate_address

    def associate_address(self, instance: Any = None, eni: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        vpc_id = instance.vpc_id if instance is not None else getattr(getattr(eni, "subnet", None), "vpc_id", None)
        if vpc_id:
            attached = any(
                igw.vpc is not None and igw.vpc.id == vpc_id for igw in self.internet_gateways.values()
            )
            if not attached:
                raise EC2ClientError(
                    "Gateway.NotAttached", f"Network {vpc_id} is not attached to any internet gateway."
                )
        return original(self, instance=instance, eni=eni, **kwargs)

    ElasticAddressBackend.associate_address = associate_address
