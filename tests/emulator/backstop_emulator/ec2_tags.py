"""An EC2 resource's own tags, looked up by its id.

moto finds a resource's tags by running DescribeTags with a `resource-id` filter, which
matches a pattern against every tag of every resource in the region. A filter by tag
(`DescribeVolumes` with `tag:backstop:run-id`) does that for each resource it looks at, so
its time grows with the square of the resources: at 3,000 restored volumes one such call took
longer than a teardown pass's whole invocation (300 AWS seconds, 15 s at the bench's time
scale), where AWS answers in well under a second. The answer is the same: the resource's
tags, in the order they were set. Only the lookup changes. DescribeTags by literal resource
ids (how Backstop reads a restored volume's run tag, once per restore) reads those resources'
tags only.
"""

from __future__ import annotations


def install() -> None:
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    def get_tags(self):  # type: ignore[no-untyped-def]
        resource_id = getattr(self, "id", None)
        if not resource_id:
            return []
        tags = self.ec2_backend.tags.get(resource_id, {})
        resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
        return [
            {"resource_id": resource_id, "key": key, "value": value, "resource_type": resource_type}
            for key, value in list(tags.items())
        ]

    TaggedEC2Resource.get_tags = get_tags

    # DescribeTags by resource id (how Backstop reads a restored resource's run tag): moto
    # matches each filter pattern against every tag in the region; a literal id needs only
    # that resource's tags. Same answer, in the same order.
    from types import SimpleNamespace

    from moto.ec2.models.tags import TagBackend

    describe_tags = TagBackend.describe_tags

    def describe_tags_by_id(self, filters=None):  # type: ignore[no-untyped-def]
        ids = (filters or {}).get("resource-id")
        if not ids or any(c in value for value in ids for c in "*?\\"):
            return describe_tags(self, filters)
        wanted = set(ids)
        tags = {rid: tags for rid, tags in self.tags.copy().items() if rid in wanted}
        return describe_tags(SimpleNamespace(tags=tags, VALID_TAG_FILTERS=self.VALID_TAG_FILTERS), filters)

    TagBackend.describe_tags = describe_tags_by_id
