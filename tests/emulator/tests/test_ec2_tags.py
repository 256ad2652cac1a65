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


def test_describe_tags_by_resource_id_finds_only_those_resources_and_patterns_still_match(emulator, world):
    ec2 = emulator.client("ec2", DR)
    zone = world["dr"]["subnets"][0]["availabilityZone"]
    volumes = [
        ec2.create_volume(
            AvailabilityZone=zone, Size=8,
            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "backstop:run-id", "Value": f"drill-{i}"}, {"Key": "app", "Value": "shop"}]}],
        )["VolumeId"]
        for i in range(3)
    ]

    def tags(*filters: tuple[str, list[str]]) -> list[tuple[str, str, str]]:
        answer = ec2.describe_tags(Filters=[{"Name": name, "Values": values} for name, values in filters])["Tags"]
        return [(t["ResourceId"], t["Key"], t["Value"]) for t in answer]

    # ids as given (in any order): those resources' tags, in the order they were set, with the key filter applied
    assert tags(("resource-id", [volumes[2], volumes[0]]), ("key", ["backstop:run-id"])) == [
        (volumes[0], "backstop:run-id", "drill-0"),
        (volumes[2], "backstop:run-id", "drill-2"),
    ]
    assert tags(("resource-id", [volumes[1]])) == [(volumes[1], "backstop:run-id", "drill-1"), (volumes[1], "app", "shop")]
    assert tags(("resource-id", ["vol-0123456789abcdef0"])) == []
    # a pattern is still a pattern: every volume's run tag
    assert {rid for rid, _, _ in tags(("resource-id", ["vol-*"]), ("key", ["backstop:run-id"]))} >= set(volumes)
