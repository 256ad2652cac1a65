//! Static stability: while every call signed for the primary region (us-east-1, where Route
//! 53's control plane also lives) fails as unreachable, a failover whose record is planned as
//! a failover-routing pair completes in the DR region, and DNS answers move to the DR side
//! through Route 53's data plane.

use aws_sdk_route53::types::{
    AlarmIdentifier, Change, ChangeAction, ChangeBatch, CloudWatchRegion, HealthCheckConfig,
    HealthCheckType, InsufficientDataHealthStatus, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, RrType,
};
use backstop_tests::{assert_succeeded, Emulator, Scenario, Seed, DR_REGION, PRIMARY_REGION};
use serde_json::{json, Value};

pub(crate) const RECORD: &str = "app.shop.example.com";
pub(crate) const ALARM: &str = "app-failover";

pub(crate) fn resolve(emulator: &Emulator, name: &str) -> Value {
    emulator.control("POST", "dns/resolve", &json!({ "name": name, "type": "A" }))
}

/// The DR-region alarm the PRIMARY's health check follows (README: `ignore` keeps ALARM).
fn put_failover_alarm(emulator: &Emulator, treat_missing_data: &str) {
    emulator.control(
        "POST",
        "cloudwatch",
        &json!({ "region": DR_REGION, "action": "PutMetricAlarm", "params": {
            "AlarmName": ALARM, "Namespace": "Backstop", "MetricName": "FailoverActive",
            "Dimensions": [{ "Name": "Record", "Value": RECORD }], "Statistic": "Maximum",
            "Period": 60, "EvaluationPeriods": 1, "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": treat_missing_data
        } }),
    );
}

/// The DR VPC's internet gateway and a default route to it from its main route table (the
/// instance's subnets have no table of their own): an Elastic IP needs both.
async fn public_subnets(ec2: &aws_sdk_ec2::Client, seed: &Seed) -> (String, String) {
    let vpc = seed.dr.vpc_id.as_str();
    let gateway = ec2.create_internet_gateway().send().await.unwrap();
    let gateway = gateway
        .internet_gateway()
        .unwrap()
        .internet_gateway_id()
        .unwrap();
    ec2.attach_internet_gateway()
        .internet_gateway_id(gateway)
        .vpc_id(vpc)
        .send()
        .await
        .unwrap();
    let main = main_route_table(ec2, vpc).await;
    ec2.create_route()
        .route_table_id(&main)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(gateway)
        .send()
        .await
        .unwrap();
    (gateway.to_string(), main)
}

async fn main_route_table(ec2: &aws_sdk_ec2::Client, vpc: &str) -> String {
    let tables = ec2.describe_route_tables().send().await.unwrap();
    tables
        .route_tables()
        .iter()
        .find(|t| {
            t.vpc_id() == Some(vpc) && t.associations().iter().any(|a| a.main() == Some(true))
        })
        .and_then(|t| t.route_table_id())
        .expect("the VPC's main route table")
        .to_string()
}

/// What the README's "DNS without us-east-1" sets up ahead of time: a DR-region Elastic IP,
/// an alarm in the DR region, a health check that follows it, and the PRIMARY / SECONDARY
/// pair in place of the simple record. Returns the Elastic IP's allocation id and address.
pub(crate) async fn failover_pair(scenario: &Scenario) -> (String, String) {
    let ec2 = &scenario.dr.ec2;
    public_subnets(ec2, &scenario.seed).await;
    let address = ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .unwrap();
    let (allocation, public_ip) = (
        address.allocation_id().unwrap().to_string(),
        address.public_ip().unwrap().to_string(),
    );
    put_failover_alarm(&scenario.emulator, "ignore");
    let route53 = &scenario.primary.route53;
    let check = route53
        .create_health_check()
        .caller_reference("backstop-app-failover")
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::CloudwatchMetric)
                .alarm_identifier(
                    AlarmIdentifier::builder()
                        .region(CloudWatchRegion::from(DR_REGION))
                        .name(ALARM)
                        .build()
                        .unwrap(),
                )
                .insufficient_data_health_status(InsufficientDataHealthStatus::Healthy)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let check_id = check.health_check().unwrap().id().to_string();
    let primary_ip = scenario.seed.primary.app_private_ip.as_str();
    let record = |role: ResourceRecordSetFailover, ip: &str, health: Option<&str>| {
        ResourceRecordSet::builder()
            .name(RECORD)
            .r#type(RrType::A)
            .set_identifier(role.as_str().to_ascii_lowercase())
            .failover(role)
            .ttl(60)
            .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
            .set_health_check_id(health.map(str::to_string))
            .build()
            .unwrap()
    };
    let simple = ResourceRecordSet::builder()
        .name(RECORD)
        .r#type(RrType::A)
        .ttl(300)
        .resource_records(ResourceRecord::builder().value(primary_ip).build().unwrap())
        .build()
        .unwrap();
    let changes = [
        (ChangeAction::Delete, simple),
        (
            ChangeAction::Create,
            record(
                ResourceRecordSetFailover::Primary,
                primary_ip,
                Some(&check_id),
            ),
        ),
        (
            ChangeAction::Create,
            record(ResourceRecordSetFailover::Secondary, &public_ip, None),
        ),
    ];
    let mut batch = ChangeBatch::builder();
    for (action, set) in changes {
        batch = batch.changes(
            Change::builder()
                .action(action)
                .resource_record_set(set)
                .build()
                .unwrap(),
        );
    }
    route53
        .change_resource_record_sets()
        .hosted_zone_id(scenario.seed.dns.hosted_zone_id.as_str())
        .change_batch(batch.build().unwrap())
        .send()
        .await
        .unwrap();
    (allocation, public_ip)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_during_a_primary_region_blackout_moves_dns_by_the_failover_alarm() {
    let scenario = Scenario::protected("blackout").await;
    let (allocation, public_ip) = failover_pair(&scenario).await;
    let primary_ip = scenario.seed.primary.app_private_ip.as_str();
    assert_eq!(
        resolve(&scenario.emulator, RECORD)["answer"],
        json!([primary_ip])
    );

    let mut plan = scenario.plan();
    plan["dns"][0]["method"] = json!("failoverAlarm");
    plan["dns"][0]["alarmName"] = json!(ALARM);
    plan["dns"][0]["elasticIpAllocationId"] = json!(allocation);

    // the primary region goes dark: its endpoints and Route 53's control plane (us-east-1)
    scenario.inject(json!({ "unreachableRegions": [PRIMARY_REGION] }));
    let execution = scenario
        .run_to_end(
            "failover-blackout",
            json!({ "mode": "failover", "plan": plan, "settings": { "pollIntervalSeconds": 2 } }),
        )
        .await;
    assert_succeeded(&execution);

    // DNS answers with the SECONDARY, the Elastic IP now on the instance the run launched
    let answer = resolve(&scenario.emulator, RECORD);
    assert_eq!(answer["record"], "SECONDARY", "{answer}");
    assert_eq!(answer["answer"], json!([public_ip]), "{answer}");
    let instances = scenario.instances_of_run("failover-blackout").await;
    assert_eq!(instances.len(), 1);
    let ec2 = &scenario.dr.ec2;
    let addresses = ec2
        .describe_addresses()
        .allocation_ids(&allocation)
        .send()
        .await
        .unwrap();
    assert_eq!(
        addresses.addresses()[0].instance_id(),
        instances[0].instance_id()
    );

    // the report names how the record moved; the blackout was real (calls to it were refused)
    let output: Value = serde_json::from_str(execution.output().unwrap()).unwrap();
    let text = output.to_string();
    assert!(text.contains("no Route 53 control-plane call"), "{text}");
    let injected = scenario.emulator.control("GET", "faults", &json!({}));
    assert!(
        injected.to_string().contains("unreachable:us-east-1"),
        "nothing tried the primary region: {injected}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_alarm_that_would_not_hold_or_a_missing_elastic_ip_stops_the_failover_up_front()
{
    let scenario = Scenario::protected("failover-alarm-readiness").await;
    let (allocation, _) = failover_pair(&scenario).await;
    let mut plan = scenario.plan();
    plan["dns"][0]["method"] = json!("failoverAlarm");
    plan["dns"][0]["alarmName"] = json!(ALARM);
    plan["dns"][0]["elasticIpAllocationId"] = json!(allocation);
    let payload = |run_id: &str, plan: &Value| json!({ "runId": run_id, "input": { "mode": "failover", "plan": plan } });
    let ready = scenario
        .invoke("preflight", &payload("alarm-ok", &plan))
        .await
        .expect("a sound failover pair passes");
    assert_eq!(ready["counts"]["fail"], 0, "{ready}");
    assert!(
        !ready["problems"].to_string().contains("internet-route"),
        "the DR subnets route to the internet gateway: {ready}"
    );

    // the alarm would fall back to OK minutes after the failover's datapoint
    put_failover_alarm(&scenario.emulator, "notBreaching");
    let (error, message) = scenario
        .invoke("preflight", &payload("alarm-bad", &plan))
        .await
        .expect_err("an alarm that would not hold stops the failover");
    assert_eq!(error, "Backstop.NotReady");
    assert!(
        message.contains("FAIL failover-alarm app.shop.example.com")
            && message.contains("TreatMissingData to ignore"),
        "{message}"
    );

    // an Elastic IP released since, and an alarm deleted since
    plan["dns"][0]["elasticIpAllocationId"] = json!("eipalloc-0123456789abcdef0");
    plan["dns"][0]["alarmName"] = json!("deleted-alarm");
    let (_, message) = scenario
        .invoke("preflight", &payload("gone", &plan))
        .await
        .expect_err("a missing alarm and Elastic IP stop the failover");
    assert!(
        message.contains("FAIL elastic-ip eipalloc-0123456789abcdef0")
            && message.contains("alarm deleted-alarm does not exist"),
        "{message}"
    );

    // the DR VPC loses its default route, then its internet gateway: unreachable (a warning,
    // an appliance might carry it), then refused by EC2 (a fail, before anything is created)
    plan["dns"][0]["elasticIpAllocationId"] = json!(allocation);
    plan["dns"][0]["alarmName"] = json!(ALARM);
    put_failover_alarm(&scenario.emulator, "ignore");
    let ec2 = &scenario.dr.ec2;
    let vpc = scenario.seed.dr.vpc_id.as_str();
    let main = main_route_table(ec2, vpc).await;
    ec2.delete_route()
        .route_table_id(&main)
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    let unreachable = scenario
        .invoke("preflight", &payload("no-route", &plan))
        .await
        .expect("a missing route is a warning");
    let subnet = scenario.seed.dr.subnets[0].id.as_str();
    let warned = unreachable["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["check"] == "internet-route" && l["resource"] == subnet)
        .cloned()
        .unwrap_or_default();
    assert_eq!(warned["status"], "warn", "{unreachable}");
    assert!(
        warned["fix"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("create-route --route-table-id {main}")),
        "{warned}"
    );
    let gateways = ec2.describe_internet_gateways().send().await.unwrap();
    for gateway in gateways.internet_gateways() {
        if gateway
            .attachments()
            .iter()
            .any(|a| a.vpc_id() == Some(vpc))
        {
            ec2.detach_internet_gateway()
                .internet_gateway_id(gateway.internet_gateway_id().unwrap())
                .vpc_id(vpc)
                .send()
                .await
                .unwrap();
        }
    }
    let (error, message) = scenario
        .invoke("preflight", &payload("no-gateway", &plan))
        .await
        .expect_err("a VPC without an internet gateway stops the failover");
    assert_eq!(error, "Backstop.NotReady");
    assert!(
        message.contains(&format!("FAIL internet-route {subnet}"))
            && message.contains(&format!("{vpc} has no internet gateway attached"))
            && message.contains("attach-internet-gateway"),
        "{message}"
    );
    assert!(
        scenario.restore_jobs().await.is_empty(),
        "nothing was started"
    );
}
