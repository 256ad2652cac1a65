"""Deploys the real SAM `template.yaml` into the emulator, as `sam deploy` would into AWS.

The SAM transform is expanded offline by `aws-sam-translator` (pinned) into plain CloudFormation;
then every resource is created through the emulator's public APIs in dependency order, with the
template's own settings (Timeout, MemorySize, Environment, DefinitionSubstitutions, rules and
targets, ...). Each function's code is the locally built handler binary its
`Metadata.BuildProperties.Binary` names. A resource type this deployer does not know is refused by
name rather than skipped: a template that deploys here deploys everything it declares.
"""

from __future__ import annotations

import io
import json
import os
import re
import uuid
import zipfile
from typing import Any

from . import lambda_runner
from .internal import ClientError, client

ACCOUNT = "123456789012"
CODE_BUCKET = "backstop-emulator-code"


class TemplateError(ValueError):
    pass


def expand_sam(template_path: str, region: str) -> dict[str, Any]:
    """The template as CloudFormation: SAM resources expanded, local code and definitions inlined."""
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    base = os.path.dirname(os.path.abspath(template_path))
    with open(template_path) as source:
        template = yaml_parse(source.read())
    for name, resource in template.get("Resources", {}).items():
        properties = resource.setdefault("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = f"s3://{CODE_BUCKET}/{name}.zip"
        if resource["Type"] == "AWS::Serverless::StateMachine" and isinstance(properties.get("DefinitionUri"), str):
            with open(os.path.join(base, properties.pop("DefinitionUri"))) as definition:
                properties["Definition"] = json.load(definition)

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    return transform(template, {}, NoManagedPolicies())


class Stack:
    def __init__(
        self,
        name: str,
        region: str,
        template: dict[str, Any],
        parameters: dict[str, str],
        binary_dir: str,
        account: str = ACCOUNT,
    ):
        self.name = name
        self.region = region
        # the account the stack is deployed into: each of its calls is that account's
        self.account = account
        self.template = template
        self.binary_dir = binary_dir
        self.parameters = self._parameters(parameters)
        self.conditions: dict[str, bool] = {}
        self.resources: dict[str, dict[str, Any]] = {}  # logical id -> {"type", "ref", "attributes"}

    def _parameters(self, given: dict[str, str]) -> dict[str, Any]:
        declared = self.template.get("Parameters", {})
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise TemplateError(f"parameters not declared by the template: {', '.join(unknown)}")
        values = {}
        for name, spec in declared.items():
            if name in given:
                values[name] = given[name]
            elif "Default" in spec:
                values[name] = spec["Default"]
            else:
                raise TemplateError(f"parameter {name} has no default: pass it")
            allowed = spec.get("AllowedValues")
            if allowed and values[name] not in allowed:
                raise TemplateError(f"parameter {name}={values[name]!r} is not one of {allowed}")
            if spec.get("Type") == "CommaDelimitedList":
                # CloudFormation hands a list to Ref; an empty value is one empty string
                values[name] = [item.strip() for item in str(values[name]).split(",")]
        return values

    # --- intrinsic functions ---

    def pseudo(self, name: str) -> Any:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::StackName": self.name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.name}/{uuid.uuid5(uuid.NAMESPACE_URL, self.name)}",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": _NO_VALUE,
        }[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.resources[name]["ref"]
        raise TemplateError(f"Ref to {name}, which is neither a parameter nor a created resource")

    def get_att(self, name: str, attribute: str) -> Any:
        if name not in self.resources:
            raise TemplateError(f"Fn::GetAtt on {name}, which is not a created resource")
        attributes = self.resources[name]["attributes"]
        if attribute not in attributes:
            raise TemplateError(f"{name} ({self.resources[name]['type']}) has no attribute {attribute}")
        return attributes[attribute]

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match) -> str:
            key = match.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in variables:
                return str(variables[key])
            if "." in key and not key.startswith("AWS::"):
                logical, attribute = key.split(".", 1)
                return str(self.get_att(logical, attribute))
            return str(self.ref(key))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.template.get("Conditions", {})[name]))
        return self.conditions[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                logical, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(logical, attribute)
            if key == "Fn::Sub":
                if isinstance(argument, str):
                    return self.sub(argument, {})
                return self.sub(argument[0], self.resolve(argument[1]))
            if key == "Fn::Join":
                return str(argument[0]).join(str(v) for v in self.resolve(argument[1]))
            if key == "Fn::Select":
                return self.resolve(argument[1])[int(self.resolve(argument[0]))]
            if key == "Fn::Split":
                return str(self.resolve(argument[1])).split(argument[0])
            if key == "Fn::FindInMap":
                name, first, second = (str(self.resolve(part)) for part in argument)
                try:
                    return self.template.get("Mappings", {})[name][first][second]
                except KeyError:
                    raise TemplateError(f"Fn::FindInMap: mapping {name} has no [{first}][{second}]") from None
            if key == "Fn::GetAZs":
                return [f"{self.region}{zone}" for zone in "abc"]
            if key == "Fn::If":
                chosen = argument[1] if self.condition(argument[0]) else argument[2]
                return self.resolve(chosen)
            if key == "Fn::Equals":
                return self.resolve(argument[0]) == self.resolve(argument[1])
            if key == "Fn::Not":
                return not self.resolve(argument[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in argument)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in argument)
            if key == "Condition":
                return self.condition(argument)
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by the emulator's deployer")
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not _NO_VALUE}

    # --- creation order ---

    def dependencies(self, logical: str) -> set[str]:
        resource = self.template["Resources"][logical]
        found: set[str] = set()
        depends = resource.get("DependsOn", [])
        found.update([depends] if isinstance(depends, str) else depends)

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                for key, argument in value.items():
                    if key == "Ref" and isinstance(argument, str):
                        found.add(argument)
                    elif key == "Fn::GetAtt":
                        found.add(argument[0] if isinstance(argument, list) else argument.split(".", 1)[0])
                    elif key == "Fn::Sub":
                        text = argument if isinstance(argument, str) else argument[0]
                        found.update(m.split(".", 1)[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
                    walk(argument)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(resource.get("Properties", {}))
        return found & set(self.template["Resources"])

    def order(self) -> list[str]:
        ordered: list[str] = []
        visiting: set[str] = set()

        def visit(logical: str) -> None:
            if logical in ordered:
                return
            if logical in visiting:
                raise TemplateError(f"circular dependency through {logical}")
            visiting.add(logical)
            for dependency in sorted(self.dependencies(logical)):
                visit(dependency)
            visiting.discard(logical)
            ordered.append(logical)

        for logical in sorted(self.template["Resources"]):
            visit(logical)
        return ordered

    def record_stack(self, outputs: dict[str, Any]) -> None:
        """Leaves the stack in CloudFormation as `sam deploy` does, so `aws cloudformation
        describe-stacks` shows its outputs (with their descriptions). The resources themselves were
        created above; the recorded template stands in for them with one no-op resource."""
        described = self.template.get("Outputs", {})
        record = {
            "Description": str(self.template.get("Description", "")).strip()[:1024],
            "Resources": {"Deployed": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {
                name: {"Value": str(value), "Description": str(described[name].get("Description", ""))}
                for name, value in outputs.items()
            },
        }
        cloudformation = client("cloudformation", self.region, self.account)
        body = json.dumps(record)
        try:
            cloudformation.create_stack(StackName=self.name, TemplateBody=body)
        except ClientError as error:
            if error.response["Error"]["Code"] != "AlreadyExistsException":
                raise
            cloudformation.update_stack(StackName=self.name, TemplateBody=body)
        # `sam deploy` returns once the stack is complete (creation takes scaled minutes here)
        cloudformation.get_waiter("stack_create_complete").wait(
            StackName=self.name, WaiterConfig={"Delay": 1, "MaxAttempts": 600}
        )

    def physical_name(self, logical: str, limit: int = 64) -> str:
        suffix = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.name}/{logical}").hex[:12].upper()
        return f"{self.name}-{logical}"[: limit - 13] + f"-{suffix}"

    def deploy(self) -> dict[str, Any]:
        unknown = sorted(
            {r["Type"] for r in self.template["Resources"].values() if r["Type"] not in CREATORS}
        )
        if unknown:
            raise TemplateError(f"resource types the emulator cannot create: {', '.join(unknown)}")
        for logical in self.order():
            resource = self.template["Resources"][logical]
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            properties = self.resolve(resource.get("Properties", {}))
            ref, attributes = CREATORS[resource["Type"]](self, logical, properties, resource.get("Metadata", {}))
            self.resources[logical] = {"type": resource["Type"], "ref": ref, "attributes": attributes}
        outputs = {}
        for name, output in self.template.get("Outputs", {}).items():
            if "Condition" in output and not self.condition(output["Condition"]):
                continue
            outputs[name] = self.resolve(output["Value"])
        self.record_stack(outputs)
        return {
            "stackName": self.name,
            "resources": {k: {"type": v["type"], "ref": v["ref"], **v["attributes"]} for k, v in self.resources.items()},
            "outputs": outputs,
        }


class _NoValue:
    pass


_NO_VALUE = _NoValue()


def _tags(properties: dict[str, Any]) -> list[dict[str, str]]:
    tags = properties.get("Tags") or []
    if isinstance(tags, dict):
        return [{"Key": k, "Value": str(v)} for k, v in tags.items()]
    return tags


def _role(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    iam = client("iam", stack.region, stack.account)
    name = properties.get("RoleName") or stack.physical_name(logical)
    role = iam.create_role(
        RoleName=name,
        Path=properties.get("Path", "/"),
        AssumeRolePolicyDocument=json.dumps(properties["AssumeRolePolicyDocument"]),
    )["Role"]
    for policy in properties.get("Policies", []):
        # IAM accepts a document without Version (SAM's policy templates have none); moto does not
        document = {"Version": "2012-10-17", **policy["PolicyDocument"]}
        iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(document))
    for arn in properties.get("ManagedPolicyArns", []):
        try:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        except iam.exceptions.NoSuchEntityException:
            # moto knows only some AWS-managed policies; the role still exists, as the test needs it
            pass
    return name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}


def _managed_policy(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    """A customer managed policy; `Ref` is its ARN, as CloudFormation returns it."""
    iam = client("iam", stack.region, stack.account)
    name = properties.get("ManagedPolicyName") or stack.physical_name(logical, 128)
    document = {"Version": "2012-10-17", **properties["PolicyDocument"]}
    arn = iam.create_policy(
        PolicyName=name, Path=properties.get("Path", "/"), PolicyDocument=json.dumps(document),
        Description=properties.get("Description", ""),
    )["Policy"]["Arn"]
    return arn, {"PolicyArn": arn}


def bootstrap_zip(binary: str) -> bytes:
    """A `provided` runtime zip whose bootstrap runs the locally built handler in place."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        archive.writestr(info, f'#!/bin/sh\nexec "{binary}" "$@"\n')
    return buffer.getvalue()


def _function(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    if stack.account != ACCOUNT:
        # a function's process runs with the default account's credentials here
        raise TemplateError(f"{logical}: the emulator runs functions in account {ACCOUNT} only, not {stack.account}")
    binary_name = (metadata.get("BuildProperties") or {}).get("Binary")
    if not binary_name:
        raise TemplateError(f"{logical} has no Metadata.BuildProperties.Binary naming its handler binary")
    binary = os.path.join(stack.binary_dir, binary_name)
    if not os.path.isfile(binary):
        raise TemplateError(f"{logical}: handler binary {binary} is missing: run `cargo build --workspace` first")
    name = properties.get("FunctionName") or stack.physical_name(logical)
    problem = lambda_runner.logging_config_problem(properties.get("LoggingConfig") or {})
    if problem:
        raise TemplateError(f"{logical}: Lambda refuses its LoggingConfig: {problem}")
    created = client("lambda", stack.region, stack.account).create_function(
        FunctionName=name,
        Runtime=properties.get("Runtime", "provided.al2023"),
        Role=properties["Role"],
        Handler=properties.get("Handler", "bootstrap"),
        Code={"ZipFile": bootstrap_zip(binary)},
        Description=properties.get("Description", ""),
        Timeout=int(properties.get("Timeout", 3)),
        MemorySize=int(properties.get("MemorySize", 128)),
        Environment={"Variables": {k: str(v) for k, v in (properties.get("Environment") or {}).get("Variables", {}).items()}},
        # the handler runs on this machine's architecture; the template's is recorded in the report
        Architectures=["x86_64"],
        Tags={t["Key"]: t["Value"] for t in _tags(properties)},
    )
    # moto keeps no logging configuration: the runner sets what Lambda derives from it
    lambda_runner.LOGGING_CONFIG[created["FunctionArn"]] = dict(properties.get("LoggingConfig") or {})
    if properties.get("ReservedConcurrentExecutions") is not None:
        client("lambda", stack.region, stack.account).put_function_concurrency(
            FunctionName=name, ReservedConcurrentExecutions=int(properties["ReservedConcurrentExecutions"])
        )
    return name, {"Arn": created["FunctionArn"], "Binary": binary_name}


def _permission(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    lam = client("lambda", stack.region, stack.account)
    statement = stack.physical_name(logical)
    params = {
        "FunctionName": properties["FunctionName"],
        "StatementId": statement,
        "Action": properties["Action"],
        "Principal": properties["Principal"],
    }
    if properties.get("SourceArn"):
        params["SourceArn"] = properties["SourceArn"]
    lam.add_permission(**params)
    return statement, {}


def _state_machine(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    definition = properties.get("DefinitionString")
    if definition is None and "Definition" in properties:
        definition = json.dumps(properties["Definition"])
    if definition is None:
        raise TemplateError(f"{logical} has no inline definition (DefinitionS3Location is not supported here)")
    for key, value in (properties.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    left = re.findall(r"\$\{[A-Za-z0-9_]+\}", definition)
    if left:
        raise TemplateError(f"{logical}: definition placeholders without a substitution: {sorted(set(left))}")
    name = properties.get("StateMachineName") or stack.physical_name(logical, 80)
    created = client("stepfunctions", stack.region, stack.account).create_state_machine(
        name=name, definition=definition, roleArn=properties["RoleArn"], type=properties.get("StateMachineType", "STANDARD")
    )
    arn = created["stateMachineArn"]
    return arn, {"Arn": arn, "Name": name}


def _rule(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    events = client("events", stack.region, stack.account)
    name = properties.get("Name") or stack.physical_name(logical)
    params: dict[str, Any] = {"Name": name, "State": properties.get("State", "ENABLED")}
    if "EventPattern" in properties:
        pattern = properties["EventPattern"]
        params["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
    if "ScheduleExpression" in properties:
        params["ScheduleExpression"] = properties["ScheduleExpression"]
    if properties.get("EventBusName"):
        params["EventBusName"] = properties["EventBusName"]
    arn = events.put_rule(**params)["RuleArn"]
    targets = []
    for target in properties.get("Targets", []):
        entry = {"Id": target["Id"], "Arn": target["Arn"]}
        for key in ("Input", "InputPath", "RoleArn"):
            if key in target:
                entry[key] = target[key]
        targets.append(entry)
    if targets:
        events.put_targets(Rule=name, Targets=targets, **({"EventBusName": params["EventBusName"]} if "EventBusName" in params else {}))
    return name, {"Arn": arn}


def _event_bus_policy(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    """A statement of an event bus's resource policy: which other accounts may put events on it."""
    statement = dict(properties["Statement"])
    statement["Sid"] = properties["StatementId"]
    client("events", stack.region, stack.account).put_permission(
        EventBusName=properties.get("EventBusName") or "default",
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    return properties["StatementId"], {}


def _topic(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    name = properties.get("TopicName") or stack.physical_name(logical, 256)
    attributes = {"KmsMasterKeyId": properties["KmsMasterKeyId"]} if properties.get("KmsMasterKeyId") else {}
    arn = client("sns", stack.region, stack.account).create_topic(Name=name, Attributes=attributes)["TopicArn"]
    for subscription in properties.get("Subscription", []):
        client("sns", stack.region, stack.account).subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
    return arn, {"TopicArn": arn, "TopicName": name}


def _topic_policy(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    sns = client("sns", stack.region, stack.account)
    for topic in properties["Topics"]:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(properties["PolicyDocument"]))
    return stack.physical_name(logical), {}


def _key(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    kms = client("kms", stack.region, stack.account)
    key = kms.create_key(
        Description=properties.get("Description", ""), Policy=json.dumps(properties["KeyPolicy"])
    )["KeyMetadata"]
    if properties.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    return key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]}


def _event_invoke_config(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    params = {k: properties[k] for k in ("FunctionName", "Qualifier", "MaximumRetryAttempts", "DestinationConfig") if k in properties}
    if "MaximumRetryAttempts" in params:
        params["MaximumRetryAttempts"] = int(params["MaximumRetryAttempts"])
    client("lambda", stack.region, stack.account).put_function_event_invoke_config(**params)
    return stack.physical_name(logical), {}


def _bucket_policy(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    client("s3", stack.region, stack.account).put_bucket_policy(Bucket=properties["Bucket"], Policy=json.dumps(properties["PolicyDocument"]))
    return stack.physical_name(logical), {}


def _subscription(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    arn = client("sns", stack.region, stack.account).subscribe(
        TopicArn=properties["TopicArn"], Protocol=properties["Protocol"], Endpoint=properties["Endpoint"]
    )["SubscriptionArn"]
    return arn, {}


def _bucket(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    name = properties.get("BucketName") or stack.physical_name(logical, 63).lower()
    s3 = client("s3", stack.region, stack.account)
    params: dict[str, Any] = {"Bucket": name}
    if stack.region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": stack.region}
    if properties.get("ObjectLockEnabled") in (True, "true"):
        params["ObjectLockEnabledForBucket"] = True
    s3.create_bucket(**params)
    if (properties.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    lock = properties.get("ObjectLockConfiguration")
    if lock:
        retention = ((lock.get("Rule") or {}).get("DefaultRetention")) or {}
        for key in ("Days", "Years"):
            if key in retention:
                retention[key] = int(retention[key])
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=lock)
    return name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}


def _backup_vault(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    # AWS refuses a name that exists (AlreadyExistsException), and so does the stack
    params: dict[str, Any] = {"BackupVaultName": properties["BackupVaultName"]}
    if properties.get("EncryptionKeyArn"):
        params["EncryptionKeyArn"] = properties["EncryptionKeyArn"]
    backup = client("backup", stack.region, stack.account)
    created = backup.create_backup_vault(**params)
    if properties.get("AccessPolicy"):
        policy = properties["AccessPolicy"]
        backup.put_backup_vault_access_policy(
            BackupVaultName=created["BackupVaultName"], Policy=policy if isinstance(policy, str) else json.dumps(policy)
        )
    lock = properties.get("LockConfiguration")
    if lock:
        backup.put_backup_vault_lock_configuration(
            BackupVaultName=created["BackupVaultName"], **{k: int(v) for k, v in lock.items()}
        )
    return created["BackupVaultName"], {"BackupVaultArn": created["BackupVaultArn"], "BackupVaultName": created["BackupVaultName"]}


def _table(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    name = properties.get("TableName") or stack.physical_name(logical, 255)
    params: dict[str, Any] = {
        "TableName": name,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    if params["BillingMode"] == "PROVISIONED":
        params["ProvisionedThroughput"] = properties.get("ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    for key in ("GlobalSecondaryIndexes", "StreamSpecification"):
        if key in properties:
            params[key] = properties[key]
    dynamodb = client("dynamodb", stack.region, stack.account)
    table = dynamodb.create_table(**params)["TableDescription"]
    ttl = properties.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]})
    return name, {"Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn", "")}


def _queue(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    name = properties.get("QueueName") or stack.physical_name(logical, 80)
    sqs = client("sqs", stack.region, stack.account)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, {"Arn": arn, "QueueName": name, "QueueUrl": url}


def _log_group(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    name = properties.get("LogGroupName") or stack.physical_name(logical, 512)
    logs = client("logs", stack.region, stack.account)
    logs.create_log_group(logGroupName=name)
    if properties.get("RetentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(properties["RetentionInDays"]))
    return name, {"Arn": f"arn:aws:logs:{stack.region}:{stack.account}:log-group:{name}:*"}


def _alarm(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    name = properties.get("AlarmName") or stack.physical_name(logical, 255)
    params = {k: v for k, v in properties.items() if k not in ("AlarmName",)}
    for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if key in params:
            params[key] = int(params[key])
    if "Threshold" in params:
        params["Threshold"] = float(params["Threshold"])
    client("cloudwatch", stack.region, stack.account).put_metric_alarm(AlarmName=name, **params)
    return name, {"Arn": f"arn:aws:cloudwatch:{stack.region}:{stack.account}:alarm:{name}"}


def _dashboard(stack: Stack, logical: str, properties: dict, metadata: dict) -> tuple[str, dict]:
    name = properties.get("DashboardName") or stack.physical_name(logical, 255)
    body = properties["DashboardBody"]
    # CloudWatch refuses a body that is not JSON (InvalidParameterInput); moto stores anything
    json.loads(body)
    client("cloudwatch", stack.region, stack.account).put_dashboard(DashboardName=name, DashboardBody=body)
    return name, {}


CREATORS = {
    "AWS::IAM::Role": _role,
    "AWS::IAM::ManagedPolicy": _managed_policy,
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::Permission": _permission,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::Events::Rule": _rule,
    "AWS::Events::EventBusPolicy": _event_bus_policy,
    "AWS::SNS::Topic": _topic,
    "AWS::SNS::Subscription": _subscription,
    "AWS::SNS::TopicPolicy": _topic_policy,
    "AWS::KMS::Key": _key,
    "AWS::Lambda::EventInvokeConfig": _event_invoke_config,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::S3::Bucket": _bucket,
    "AWS::Backup::BackupVault": _backup_vault,
    "AWS::DynamoDB::Table": _table,
    "AWS::SQS::Queue": _queue,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::CloudWatch::Dashboard": _dashboard,
}


def deploy_template(spec: dict[str, Any]) -> dict[str, Any]:
    """`{"template", "region", "stackName", "parameters", "binaryDir", "account"?}` -> resources and
    outputs; `account` (default: moto's default account) is the account the stack goes into."""
    region = spec.get("region", "us-west-2")
    template = expand_sam(spec["template"], region)
    stack = Stack(
        spec.get("stackName", "backstop"),
        region,
        template,
        spec.get("parameters") or {},
        spec["binaryDir"],
        spec.get("account") or ACCOUNT,
    )
    return stack.deploy()
