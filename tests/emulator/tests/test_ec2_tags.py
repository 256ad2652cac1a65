"""An EC2 resource's tags as EC2 answers them (API reference, DescribeVolumes and DescribeTags):
a filter by tag, tag key or tag value matches each resource by its own tags only, a tag
deleted stops matching, and the tags come back with the resource. The emulator looks a
resource's tags up by its id (moto matched a pattern against every tag in the region for
each resource: a filter over thousands of volumes took longer than a Lambda invocation)."""

from conftest import DR


def test_a_filter_by_tag_matches_each_volume_by_its_own_tags(emulator, world):
    ec2 = emulator.client("ec2", DR)
    zone = world["dr"]["subnets"][0]["availabilityZone"]

    def volume(tags: dict[str, str]) -> str:
        spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []
        return ec2.create_volume(AvailabilityZone=zone, Size=8, TagSpecifications=spec)["VolumeId"]

    ours = [volume({"backstop:run-id": "drill-1", "backstop:resource": f"data-{i}"}) for i in range(3)]
    # a run id that the filter's value is a prefix of, and a volume without tags
    other = volume({"backstop:run-id": "drill-10"})
    untagged = volume({})

    def found(**filters: str) -> set[str]:
        pages = ec2.get_paginator("describe_volumes").paginate(Filters=[{"Name": k, "Values": [v]} for k, v in filters.items()])
        return {v["VolumeId"] for page in pages for v in page["Volumes"]}

    assert found(**{"tag:backstop:run-id": "drill-1"}) == set(ours)
    assert found(**{"tag:backstop:run-id": "drill-1*"}) == set(ours) | {other}
    assert found(**{"tag-key": "backstop:resource"}) == set(ours)
    assert untagged not in found(**{"tag-key": "backstop:run-id"})
    described = ec2.describe_volumes(VolumeIds=[ours[1]])["Volumes"][0]
    assert {t["Key"]: t["Value"] for t in described["Tags"]} == {"backstop:run-id": "drill-1", "backstop:resource": "data-1"}

    ec2.delete_tags(Resources=[ours[0]], Tags=[{"Key": "backstop:run-id"}])
    assert found(**{"tag:backstop:run-id": "drill-1"}) == {ours[1], ours[2]}
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [ours[0]]}])["Tags"]
    assert [(t["Key"], t["Value"]) for t in tags] == [("backstop:resource", "data-0")]
