"""Lints `template.yaml` as it deploys, with the tools a reviewer would use, not by reading:

- cfn-lint with the serverless rules (cfn-lint-serverless) on the SAM template, and cfn-lint on
  its CloudFormation expansion (what SAM makes of it: the functions' roles, event sources);
- checkov on the SAM template;
- parliament on every IAM policy of the expansion, its intrinsics resolved with example
  parameters (a hosted zone, an instance role, a KMS key, an alarm) so that every conditional
  statement is checked too;
- the Serverless Application Repository's rules (`serverless_repo`): the application metadata,
  its files, the supported resource types and the IAM patterns it refuses to publish; and that
  the release workflow runs Makefile targets that exist.

A finding passes only when `tests/lint/skips.yaml` lists it with a written reason; a skip that
matches no finding fails as well (it would hide the next one). Exit status 1 on either.
Run: `.venv-lint/bin/python tests/lint/lint_template.py` (`make lint-template`).
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REGION = "us-west-2"
ACCOUNT = "123456789012"
# example parameters: every conditional statement is present and resolvable
LINT_PARAMETERS = {
    "HostedZoneIds": "Z0123456789ABCDEFGHIJ",
    "InstanceRoleArns": f"arn:aws:iam::{ACCOUNT}:role/shop-app",
    "KmsKeyArns": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "BackupVaultKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "FailoverAlarmNames": "primary-down",
    "VaultLock": "governance",
    "PrimaryRegion": "us-east-1",
    "PrimaryBackupVaultName": "backstop-primary",
    "RecoverIntoRoleArn": "arn:aws:iam::210987654321:role/backstop-recovery",
}
# production-account/recover-into-account.yaml, as the README deploys it
PRODUCTION_PARAMETERS = {
    "BackstopAccountId": ACCOUNT,
    "BackupVaultName": "air-gapped",
    "InstanceRoleArns": "arn:aws:iam::210987654321:role/shop-app",
    "KmsKeyArns": f"arn:aws:kms:{REGION}:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab",
}
PRODUCTION_TEMPLATE = "production-account/recover-into-account.yaml"


def _sam_template() -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse((ROOT / "template.yaml").read_text())


def expand_sam(template: Path) -> dict[str, Any]:
    """The SAM template as CloudFormation (local code and definitions as SAM would upload them)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    sam = yaml_parse(template.read_text())
    for name, resource in sam.get("Resources", {}).items():
        properties = resource.setdefault("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = f"s3://backstop-artifacts/{name}.zip"
        if resource["Type"] == "AWS::Serverless::StateMachine" and isinstance(properties.get("DefinitionUri"), str):
            properties["Definition"] = json.loads((template.parent / properties.pop("DefinitionUri")).read_text())

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    return transform(sam, {}, NoManagedPolicies())


# --- a small CloudFormation intrinsic resolver, enough for the policies --------------------

_NO_VALUE = object()
_ARNS = {
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::IAM::ManagedPolicy": "arn:aws:iam::{account}:policy/{name}",
    "AWS::S3::Bucket": "arn:aws:s3:::{lower}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/1234abcd-0000-0000-0000-{name12}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}:*",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
}


class Resolver:
    def __init__(self, template: dict[str, Any], parameters: dict[str, str]):
        self.template = template
        self.values: dict[str, Any] = {}
        for name, spec in template.get("Parameters", {}).items():
            value = parameters.get(name, spec.get("Default", ""))
            value = str(value)
            self.values[name] = value.split(",") if spec.get("Type") == "CommaDelimitedList" else value
        self.values.update({
            "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
            "AWS::StackName": "backstop", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": _NO_VALUE,
        })

    def arn(self, logical: str) -> str:
        kind = self.template["Resources"][logical]["Type"]
        pattern = _ARNS.get(kind, "arn:aws:unknown:{region}:{account}:{name}")
        return pattern.format(account=ACCOUNT, region=REGION, name=logical, lower=logical.lower(), name12=f"{abs(hash(logical)) % 10**12:012d}")

    def ref(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        kind = self.template["Resources"][name]["Type"]
        if kind in ("AWS::SNS::Topic", "AWS::StepFunctions::StateMachine"):
            return self.arn(name)
        return name.lower() if kind == "AWS::S3::Bucket" else name

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.arn(logical) if attribute.endswith("Arn") else logical
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                for name, value in extra.items():
                    text = text.replace("${" + name + "}", str(value))
                while "${" in text:
                    start = text.index("${")
                    end = text.index("}", start)
                    inner = text[start + 2:end]
                    value = (self.arn(inner.split(".")[0]) if "." in inner and not inner.startswith("AWS::") else self.ref(inner))
                    text = text[:start] + str(value) + text[end + 1:]
                return text
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self.resolve(arg[1]))
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::FindInMap":
                name, first, second = (self.resolve(a) for a in arg)
                return self.template["Mappings"][name][first][second]
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}


def identity_policies(template: dict[str, Any], parameters: dict[str, str] = LINT_PARAMETERS) -> list[tuple[str, dict[str, Any]]]:
    """(where, policy document) of every IAM policy a role or managed policy grants."""
    resolver = Resolver(template, parameters)
    found = []
    for logical, resource in template["Resources"].items():
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                found.append((f"{logical}/{policy.get('PolicyName', '?')}", resolver.resolve(policy["PolicyDocument"])))
        elif resource["Type"] == "AWS::IAM::ManagedPolicy":
            found.append((logical, resolver.resolve(properties["PolicyDocument"])))
    return found


# --- the tools ------------------------------------------------------------------------------

def cfn_lint(path: Path, label: str, serverless: bool) -> list[dict[str, str]]:
    # cfn-lint validates an Fn::Join recursively, one level per item: the state machine's
    # definition, one item per line in the SAM expansion, passed Python's default limit of
    # 1,000 (E1022 "maximum recursion depth exceeded"), so it runs with a higher one
    runner = "import sys; sys.setrecursionlimit(20000); from cfnlint.runner import main; sys.argv[0] = 'cfn-lint'; sys.exit(main())"
    command = [str(BIN / "python"), "-c", runner, "--format", "json"]
    if serverless:
        command += ["--append-rules", "cfn_lint_serverless.rules"]
    run = subprocess.run(command + ["--", str(path)], capture_output=True, text=True, cwd=path.parent)
    if run.returncode not in (0, 2, 4, 6, 8, 10, 12, 14) or not run.stdout.strip():
        if run.returncode == 0:
            return []
        raise SystemExit(f"cfn-lint failed to run on {label}: {run.stderr or run.stdout}")
    findings = []
    for match in json.loads(run.stdout):
        location = match.get("Location", {}).get("Path") or []
        resource = location[1] if len(location) > 1 and location[0] == "Resources" else ""
        findings.append({"tool": "cfn-lint", "rule": match["Rule"]["Id"], "resource": str(resource), "where": label, "message": match["Message"]})
    return findings


def checkov(path: Path) -> list[dict[str, str]]:
    run = subprocess.run(
        [str(BIN / "checkov"), "-f", str(path), "--framework", "cloudformation", "--skip-download", "--quiet", "-o", "json"],
        capture_output=True, text=True, cwd=path.parent,
    )
    report = json.loads(run.stdout or "{}")
    reports = report if isinstance(report, list) else [report]
    findings = []
    for one in reports:
        for check in one.get("results", {}).get("failed_checks", []):
            findings.append({"tool": "checkov", "rule": check["check_id"], "resource": check["resource"].split(".", 1)[-1], "where": "template.yaml", "message": check["check_name"]})
    return findings


def parliament(template: dict[str, Any], parameters: dict[str, str] = LINT_PARAMETERS, label: str = "") -> list[dict[str, str]]:
    from parliament import analyze_policy_string

    findings = []
    for where, document in identity_policies(template, parameters):
        for finding in analyze_policy_string(json.dumps(document)).findings:
            findings.append({"tool": "parliament", "rule": finding.issue, "resource": where.split("/")[0], "where": label + where, "message": f"{finding.detail}"})
    return findings


def production_account_template() -> list[dict[str, str]]:
    """The roles a production account deploys for failovers into it: cfn-lint, and parliament
    on its policies, with the resource names prefixed `production:` for skips."""
    from samtranslator.yaml_helper import yaml_parse

    path = ROOT / PRODUCTION_TEMPLATE
    findings = cfn_lint(path, PRODUCTION_TEMPLATE, serverless=False)
    findings += parliament(yaml_parse(path.read_text()), PRODUCTION_PARAMETERS, f"{PRODUCTION_TEMPLATE}: ")
    for finding in findings:
        finding["resource"] = f"production:{finding['resource']}"
    return findings


def deployer_policy() -> list[dict[str, str]]:
    """docs/deployer-policy.json, the IAM the README says a deployer needs: parliament's
    findings on it, like the stack's own policies."""
    from parliament import analyze_policy_string

    document = (ROOT / "docs" / "deployer-policy.json").read_text()
    return [
        {"tool": "parliament", "rule": f.issue, "resource": "DeployerPolicy", "where": "docs/deployer-policy.json", "message": f"{f.detail}"}
        for f in analyze_policy_string(document).findings
    ]


# --- the Serverless Application Repository's rules --------------------------------------------

# CreateApplication's constraints (API reference; botocore's serverlessrepo model documents them)
_SAR_FIELDS = {
    "Name": (1, 140, r"[a-zA-Z0-9\-]+"),
    "Description": (1, 256, None),
    "Author": (1, 127, r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?"),
}
_SAR_LABEL = r"[a-zA-Z0-9+\-_:\/@]+"
_SEMVER = r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
# publication is refused for these on every resource (the guide's "Using AWS SAM" page)
_SAR_BLOCKED_ON_ANY = ("iam:*", "iam:attachrolepolicy", "iam:putrolepolicy", "iam:passrole")


def serverless_repo(sam: dict[str, Any], expanded: dict[str, Any]) -> list[dict[str, str]]:
    """What `sam publish` and the repository would refuse, checked offline: the application's
    metadata against CreateApplication's constraints and the workspace (version, license), the
    files it uploads, every resource type against the repository's list, and the IAM patterns
    it blocks."""
    import re
    import tomllib

    def finding(rule: str, resource: str, message: str) -> dict[str, str]:
        return {"tool": "sar", "rule": rule, "resource": resource, "where": "template.yaml", "message": message}

    found = []
    app = sam.get("Metadata", {}).get("AWS::ServerlessRepo::Application")
    if not isinstance(app, dict):
        return [finding("METADATA", "Metadata", "no AWS::ServerlessRepo::Application metadata")]
    for field, (least, most, pattern) in _SAR_FIELDS.items():
        value = app.get(field)
        if not isinstance(value, str) or not least <= len(value) <= most or (pattern and not re.fullmatch(pattern, value)):
            found.append(finding("METADATA", field, f"{field} {value!r}: {least}-{most} characters" + (f" matching {pattern}" if pattern else "")))
    labels = app.get("Labels", [])
    if len(labels) > 10 or not all(isinstance(l, str) and 1 <= len(l) <= 127 and re.fullmatch(_SAR_LABEL, l) for l in labels):
        found.append(finding("METADATA", "Labels", f"Labels {labels}: at most 10, each 1-127 characters matching {_SAR_LABEL}"))
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]
    version = app.get("SemanticVersion")
    if not (isinstance(version, str) and re.fullmatch(_SEMVER, version)) or version != cargo["version"]:
        found.append(finding("VERSION", "SemanticVersion", f"SemanticVersion {version!r} is not the workspace version {cargo['version']} (Cargo.toml)"))
    if app.get("SpdxLicenseId") != cargo["license"]:
        found.append(finding("LICENSE", "SpdxLicenseId", f"SpdxLicenseId {app.get('SpdxLicenseId')!r} is not the workspace license {cargo['license']}"))
    for field, must_contain in (("LicenseUrl", "Apache License"), ("ReadmeUrl", "Backstop")):
        path = ROOT / str(app.get(field, ""))
        if not app.get(field) or not path.is_file() or path.stat().st_size > 5 * 1024 * 1024 or must_contain not in path.read_text()[:2000]:
            found.append(finding("FILES", field, f"{field} {app.get(field)!r}: a file of the repository (at most 5 MB) that sam package uploads"))
    if "LicenseBody" in app or "ReadmeBody" in app:
        found.append(finding("FILES", "Body", "LicenseBody/ReadmeBody beside the URLs: give one of each"))
    supported = {
        line.strip() for line in (Path(__file__).parent / "sar-supported-resources.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for logical, resource in sam.get("Resources", {}).items():
        if resource["Type"] not in supported:
            found.append(finding("RESOURCE", logical, f"{resource['Type']} is not on the repository's list of supported resources"))
    for where, document in identity_policies(expanded):
        statements = document.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            actions = statement.get("Action", [])
            resources = statement.get("Resource", [])
            actions = [a.lower() for a in (actions if isinstance(actions, list) else [actions])]
            resources = resources if isinstance(resources, list) else [resources]
            if statement.get("Effect") == "Allow" and "*" in resources and any(a in _SAR_BLOCKED_ON_ANY for a in actions):
                found.append(finding("IAM", where.split("/")[0], f"{where}: {actions} on every resource"))
    for logical, resource in expanded["Resources"].items():
        for arn in resource.get("Properties", {}).get("ManagedPolicyArns", []):
            if isinstance(arn, str) and arn.endswith("/AWSLambda_FullAccess"):
                found.append(finding("IAM", logical, "AWSLambda_FullAccess attached"))
    return found


def release_workflow() -> list[dict[str, str]]:
    """.github/workflows/release.yml runs through the Makefile: every `make` target it names
    exists, and it checks the tag against the version the template publishes."""
    import re

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))
    runs = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    found = []
    named = {t for run in runs for t in re.findall(r"\bmake ([a-z][a-z-]*)", run)}
    for target in sorted(named - targets):
        found.append({"tool": "release", "rule": "MAKE", "resource": target, "where": "release.yml", "message": f"make {target}: no such target in the Makefile"})
    for needed in ("release", "publish"):
        if needed not in named:
            found.append({"tool": "release", "rule": "MAKE", "resource": needed, "where": "release.yml", "message": f"the workflow does not run make {needed}"})
    if not any("Cargo.toml" in run and "GITHUB_REF_NAME" in run for run in runs):
        found.append({"tool": "release", "rule": "VERSION", "resource": "tag", "where": "release.yml", "message": "the tag is not checked against Cargo.toml's version"})
    return found


def linters_see(expanded: dict[str, Any]) -> None:
    """A lint that finds nothing proves nothing unless it can find something: a misspelled
    action slipped into a copy of the expansion must be reported."""
    import copy

    broken = copy.deepcopy(expanded)
    policy = next(r for r in broken["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy")
    policy["Properties"]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "ec2:TerminateInstance", "Resource": "*"}
    )
    if not any(f["rule"] == "UNKNOWN_ACTION" for f in parliament(broken)):
        raise SystemExit("parliament did not report a misspelled action: the lint is not working")
    # nor do the repository's rules, unless a bad author, an old version and PassRole on "*" are found
    sam = _sam_template()
    sam["Metadata"]["AWS::ServerlessRepo::Application"].update(Author="Backstop Team", SemanticVersion="0.0.1")
    policy["Properties"]["PolicyDocument"]["Statement"].append({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"})
    seen = {(f["rule"], f["resource"]) for f in serverless_repo(sam, broken)}
    if not {("METADATA", "Author"), ("VERSION", "SemanticVersion"), ("IAM", next(k for k, r in broken["Resources"].items() if r is policy))} <= seen:
        raise SystemExit(f"the repository's rules missed a broken author, version or PassRole (saw {seen}): the lint is not working")


def main() -> int:
    template = ROOT / "template.yaml"
    skips = yaml.safe_load((Path(__file__).parent / "skips.yaml").read_text()) or []
    for skip in skips:
        if not skip.get("reason", "").strip():
            raise SystemExit(f"skip {skip} has no reason: every skipped finding needs one")
    expanded = expand_sam(template)
    linters_see(expanded)
    with tempfile.TemporaryDirectory() as tmp:
        expanded_path = Path(tmp) / "template.expanded.json"
        expanded_path.write_text(json.dumps(expanded, indent=1))
        findings = (
            cfn_lint(template, "template.yaml", serverless=True)
            + cfn_lint(expanded_path, "SAM expansion", serverless=False)
            + checkov(template)
            + parliament(expanded)
            + deployer_policy()
            + serverless_repo(_sam_template(), expanded)
            + release_workflow()
            + production_account_template()
        )
    used = [0] * len(skips)
    unexplained = []
    for finding in findings:
        matched = False
        for index, skip in enumerate(skips):
            if skip["tool"] == finding["tool"] and skip["rule"] == finding["rule"] and fnmatch.fnmatchcase(finding["resource"], skip.get("resource", "*")):
                used[index] += 1
                matched = True
        if not matched:
            unexplained.append(finding)
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding["tool"]] = counts.get(finding["tool"], 0) + 1
    print(f"template lint: {len(findings)} findings ({', '.join(f'{k} {v}' for k, v in sorted(counts.items())) or 'none'}), "
          f"{len(findings) - len(unexplained)} skipped with a reason, {len(identity_policies(expanded))} IAM policies checked")
    for finding in unexplained:
        print(f"  {finding['tool']} {finding['rule']} {finding['resource']} ({finding['where']}): {finding['message']}")
    stale = [skip for skip, count in zip(skips, used) if count == 0]
    for skip in stale:
        print(f"  stale skip (matches nothing): {skip['tool']} {skip['rule']} {skip.get('resource', '*')}")
    return 1 if unexplained or stale else 0


if __name__ == "__main__":
    sys.exit(main())
