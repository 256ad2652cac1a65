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


# --- the stack lifecycle, as AWS takes it ---------------------------------------------------
#
# moto creates and deletes a stack's resources during the call and answers CREATE_COMPLETE at
# once. AWS takes minutes: DescribeStacks answers CREATE_IN_PROGRESS without outputs, and the
# stack's CREATE_COMPLETE event appears when it is done. The resources themselves exist from the
# start here (nothing can find them without the outputs). A DeleteStack whose subnets still hold
# instances, or whose DB subnet group a database uses, ends DELETE_FAILED as on AWS, and deletes
# nothing. A resource AWS refuses during creation ends the stack ROLLBACK_COMPLETE (moto raised
# from CreateStack instead).


def _phase_status(stack, raw: str) -> str:  # type: ignore[no-untyped-def]
    import time

    from . import aws_time

    created = stack.__dict__.get("_backstop_created")
    if raw in ("CREATE_COMPLETE", "ROLLBACK_COMPLETE") and created is not None:
        if time.time() - created < aws_time.lifecycle_seconds("cloudformation.create"):
            return "CREATE_IN_PROGRESS"
    deleted = stack.__dict__.get("_backstop_deleted")
    if raw == "DELETE_COMPLETE" and deleted is not None:
        if time.time() - deleted < aws_time.lifecycle_seconds("cloudformation.delete"):
            return "DELETE_IN_PROGRESS"
    return raw


def _dependents(stack) -> str | None:  # type: ignore[no-untyped-def]
    """Why AWS could not delete the stack's resources now, if it could not."""
    from moto.ec2.models import ec2_backends
    from moto.rds.models import rds_backends

    ec2 = ec2_backends[stack.account_id][stack.region_name]
    rds = rds_backends[stack.account_id][stack.region_name]
    # only what was created: iterating the resource map itself would create what is missing
    for resource in list(stack.resource_map._parsed_resources.values()):
        kind = type(resource).__name__
        if kind == "Subnet":
            for reservation in ec2.reservations.values():
                for instance in reservation.instances:
                    if instance.subnet_id == resource.id and instance.state != "terminated":
                        return f"The subnet '{resource.id}' has dependencies and cannot be deleted."
        if kind == "DBSubnetGroup":
            for database in rds.databases.values():
                group = getattr(database, "db_subnet_group", None)
                if getattr(group, "subnet_name", None) == resource.subnet_name:
                    return "Cannot delete the subnet group because at least one database instance is still using it."
    return None


def install_lifecycle() -> None:
    import time
    from datetime import timedelta

    from moto.cloudformation.models import CloudFormationBackend, Stack

    from . import aws_time

    def get_status(self):  # type: ignore[no-untyped-def]
        return _phase_status(self, self.__dict__.get("_status"))

    def set_status(self, value):  # type: ignore[no-untyped-def]
        self.__dict__["_status"] = value

    Stack.status = property(get_status, set_status)

    original_outputs = Stack.outputs

    def outputs(self):  # type: ignore[no-untyped-def]
        # a stack being created, rolled back or deleted has no outputs to show
        if self.status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"):
            return None
        return original_outputs.fget(self)

    Stack.outputs = property(outputs)

    original_add_event = Stack._add_stack_event

    def add_stack_event(self, resource_status, *args, **kwargs):  # type: ignore[no-untyped-def]
        original_add_event(self, resource_status, *args, **kwargs)
        event = self.events[-1]
        # the stack's own CREATE_COMPLETE / DELETE_COMPLETE happen when the lifecycle ends
        ends_creation = ("CREATE_COMPLETE", "CREATE_FAILED", "ROLLBACK_COMPLETE")
        if resource_status in ends_creation and "_backstop_created" in self.__dict__:
            event.timestamp += timedelta(seconds=aws_time.lifecycle_seconds("cloudformation.create"))
        if resource_status == "DELETE_COMPLETE" and "_backstop_deleted" in self.__dict__:
            event.timestamp += timedelta(seconds=aws_time.lifecycle_seconds("cloudformation.delete"))

    Stack._add_stack_event = add_stack_event

    original_create_resources = Stack.create_resources

    def create_resources(self):  # type: ignore[no-untyped-def]
        self.__dict__["_backstop_created"] = time.time()
        try:
            original_create_resources(self)
        except Exception as error:  # noqa: BLE001 - any resource AWS would refuse
            # AWS accepts the CreateStack call; the resource fails later and the stack rolls
            # back (the default OnFailure): CREATE_FAILED, then ROLLBACK_COMPLETE, no resources
            reason = getattr(error, "message", None) or str(error)
            self._add_stack_event("CREATE_FAILED", resource_status_reason=reason)
            try:
                self.resource_map.delete()
            except Exception:  # noqa: BLE001 - best effort, as a rollback
                pass
            self.status = "ROLLBACK_COMPLETE"
            self._add_stack_event("ROLLBACK_COMPLETE")

    Stack.create_resources = create_resources

    original_describe_events = CloudFormationBackend.describe_stack_events

    def describe_stack_events(self, stack_name):  # type: ignore[no-untyped-def]
        from moto.core.utils import utcnow

        now = utcnow()
        return [event for event in original_describe_events(self, stack_name) if event.timestamp <= now]

    CloudFormationBackend.describe_stack_events = describe_stack_events

    original_delete = CloudFormationBackend.delete_stack

    def delete_stack(self, name_or_stack_id):  # type: ignore[no-untyped-def]
        stack = next(
            (s for s in self.stacks.values() if name_or_stack_id in (s.stack_id, s.name)),
            None,
        )
        if stack is None:
            return original_delete(self, name_or_stack_id)
        if stack.status == "CREATE_IN_PROGRESS":
            # AWS cancels the creation and deletes; here the resources are all there already
            stack.__dict__.pop("_backstop_created", None)
        why = _dependents(stack)
        if why is not None:
            stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
            stack.status = "DELETE_FAILED"
            stack._add_stack_event("DELETE_FAILED", resource_status_reason=why)
            return None
        stack.__dict__["_backstop_deleted"] = time.time()
        if stack.__dict__.get("_status") == "ROLLBACK_COMPLETE":
            # the rollback removed the resources already: only the stack itself goes
            stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
            stack._add_stack_event("DELETE_COMPLETE")
            stack.status = "DELETE_COMPLETE"
            self.deleted_stacks[stack.stack_id] = self.stacks.pop(stack.stack_id)
            return None
        try:
            return original_delete(self, name_or_stack_id)
        except Exception as error:  # noqa: BLE001 - AWS reports it on the stack, not the call
            stack.__dict__.pop("_backstop_deleted", None)
            stack.status = "DELETE_FAILED"
            stack._add_stack_event("DELETE_FAILED", resource_status_reason=getattr(error, "message", None) or str(error))
            return None

    CloudFormationBackend.delete_stack = delete_stack

    def resolve_update_parameters(self, instance, incoming_params):  # type: ignore[no-untyped-def]
        # AWS: UsePreviousValue takes the value the stack has, also one it took from the
        # template's Default (DescribeStacks lists those too); moto knew only those passed in
        known = dict(getattr(instance, "stack_parameters", None) or {})
        known.update(instance.parameters or {})
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in incoming_params if "ParameterValue" in p}
        for parameter in incoming_params:
            if parameter.get("UsePreviousValue", False):
                key = parameter["ParameterKey"]
                if key not in known:
                    from moto.cloudformation.exceptions import ValidationError

                    raise ValidationError(message=f"Invalid input for parameter key {key}. Cannot specify usePreviousValue as true for a parameter key not in the previous template")
                parameters[key] = known[key]
        return parameters

    CloudFormationBackend._resolve_update_parameters = resolve_update_parameters

    from moto.cloudformation.parsing import ResourceMap

    original_diff = ResourceMap.build_resource_diff

    def build_resource_diff(self, other_template, parameters=None):  # type: ignore[no-untyped-def]
        # a parameter is changed only if its value changes: one that kept its template Default
        # (never passed in) is not changed by passing the same value
        previous = {key: str(value) for key, value in (getattr(self, "resolved_parameters", None) or {}).items()}
        previous.update({key: str(value) for key, value in (self.input_parameters or {}).items()})
        saved, self.input_parameters = self.input_parameters, previous
        try:
            compared = {key: str(value) for key, value in parameters.items()} if parameters else parameters
            return original_diff(self, other_template, compared)
        finally:
            self.input_parameters = saved

    ResourceMap.build_resource_diff = build_resource_diff
