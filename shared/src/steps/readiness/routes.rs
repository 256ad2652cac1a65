//! Whether each failoverAlarm record's Elastic IP will answer from the internet: its VPC has
//! an internet gateway and the subnet's route table sends 0.0.0.0/0 to it.

use super::network::id_filter;
use super::{join, line, unchecked, CheckLine, Status};
use crate::error::{classify_sdk_error, BackstopError};
use crate::plan::Plan;
use std::collections::{BTreeMap, BTreeSet};

pub(super) const INTERNET_ROUTE: &str = "internet-route";

/// An Elastic IP answers through an internet gateway: EC2 refuses to associate one with an
/// instance whose VPC has none attached (`Gateway.NotAttached`), and a subnet whose route
/// table sends 0.0.0.0/0 elsewhere leaves the address unreachable (a warning: an inspection
/// appliance may route it). Three calls, whatever the number of records.
pub(super) async fn check_internet_routes(
    ec2: &aws_sdk_ec2::Client,
    plan: &Plan,
    records: &[&crate::plan::DnsRecordPlan],
    lines: &mut Vec<CheckLine>,
) -> Result<(), BackstopError> {
    // the subnets a failover may launch each record's instance into
    let mut subnet_records: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for record in records {
        let target = record.target.instance.as_deref();
        for instance in plan
            .instances
            .iter()
            .filter(|i| Some(i.name.as_str()) == target)
        {
            for subnet in &instance.subnet_ids {
                subnet_records
                    .entry(subnet.clone())
                    .or_default()
                    .insert(record.record_name.clone());
            }
        }
    }
    if subnet_records.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = subnet_records.keys().cloned().collect();
    let subnets = match ec2
        .describe_subnets()
        .filters(id_filter("subnet-id", &ids))
        .send()
        .await
    {
        Ok(found) => found.subnets().to_vec(),
        Err(err) => {
            let err = classify_sdk_error("describing the failover instances' subnets", err);
            lines.push(unchecked(INTERNET_ROUTE, &ids.join(", "), err)?);
            return Ok(());
        }
    };
    let vpcs: BTreeSet<String> = subnets
        .iter()
        .filter_map(|s| s.vpc_id().map(str::to_string))
        .collect();
    if vpcs.is_empty() {
        // the subnet check names the missing subnets
        return Ok(());
    }
    let vpc_ids: Vec<String> = vpcs.into_iter().collect();
    let gateways = ec2
        .describe_internet_gateways()
        .filters(id_filter("attachment.vpc-id", &vpc_ids))
        .send()
        .await;
    let tables = ec2
        .describe_route_tables()
        .filters(id_filter("vpc-id", &vpc_ids))
        .send()
        .await;
    let (gateways, tables) = match (gateways, tables) {
        (Ok(g), Ok(t)) => (g.internet_gateways().to_vec(), t.route_tables().to_vec()),
        (Err(err), _) => {
            let err = classify_sdk_error("describing the DR internet gateways", err);
            lines.push(unchecked(INTERNET_ROUTE, &vpc_ids.join(", "), err)?);
            return Ok(());
        }
        (_, Err(err)) => {
            let err = classify_sdk_error("describing the DR route tables", err);
            lines.push(unchecked(INTERNET_ROUTE, &vpc_ids.join(", "), err)?);
            return Ok(());
        }
    };
    for subnet in &subnets {
        let (Some(id), Some(vpc)) = (subnet.subnet_id(), subnet.vpc_id()) else {
            continue;
        };
        let records = subnet_records.get(id).map(join).unwrap_or_default();
        lines.push(internet_route_line(id, vpc, &records, &gateways, &tables));
    }
    Ok(())
}

/// The line for one subnet: its VPC's internet gateway, and the default route of the route
/// table it uses (its own association, else the VPC's main table).
pub(super) fn internet_route_line(
    subnet: &str,
    vpc: &str,
    records: &str,
    gateways: &[aws_sdk_ec2::types::InternetGateway],
    tables: &[aws_sdk_ec2::types::RouteTable],
) -> CheckLine {
    let gateway = gateways.iter().find(|g| {
        g.attachments().iter().any(|a| {
            a.vpc_id() == Some(vpc)
                && a.state()
                    .is_some_and(|s| s.as_str() == "available" || s.as_str() == "attached")
        })
    });
    let Some(gateway) = gateway.and_then(|g| g.internet_gateway_id()) else {
        return line(
            INTERNET_ROUTE,
            Status::Fail,
            subnet,
            format!(
                "{vpc} has no internet gateway attached: EC2 refuses to associate the Elastic IP of {records} with an instance there (Gateway.NotAttached)"
            ),
        )
        .fix(format!(
            "aws ec2 create-internet-gateway, then aws ec2 attach-internet-gateway --vpc-id {vpc} --internet-gateway-id <igw-id>, and route 0.0.0.0/0 to it from {subnet}'s route table"
        ));
    };
    let in_vpc = || tables.iter().filter(|t| t.vpc_id() == Some(vpc));
    let own = in_vpc().find(|t| {
        t.associations()
            .iter()
            .any(|a| a.subnet_id() == Some(subnet))
    });
    let main = || in_vpc().find(|t| t.associations().iter().any(|a| a.main() == Some(true)));
    let Some(table) = own.or_else(main) else {
        return line(
            INTERNET_ROUTE,
            Status::Warn,
            subnet,
            format!("no route table of {vpc} applies to it: the Elastic IP of {records} may not be reachable"),
        )
        .fix(format!("associate a route table with 0.0.0.0/0 -> {gateway} with {subnet}"));
    };
    let table_id = table.route_table_id().unwrap_or_default();
    let default_route = table.routes().iter().find(|r| {
        r.destination_cidr_block() == Some("0.0.0.0/0")
            && r.state().is_none_or(|s| s.as_str() != "blackhole")
    });
    // whatever carries it: an internet gateway, a NAT gateway, an appliance, a peering
    let target = default_route.and_then(|r| {
        r.gateway_id()
            .or(r.nat_gateway_id())
            .or(r.transit_gateway_id())
            .or(r.network_interface_id())
            .or(r.instance_id())
            .or(r.vpc_peering_connection_id())
    });
    match target {
        Some(target) if target == gateway => line(
            INTERNET_ROUTE,
            Status::Pass,
            subnet,
            format!("{table_id} routes 0.0.0.0/0 to {gateway}: the Elastic IP of {records} is reachable"),
        ),
        other => line(
            INTERNET_ROUTE,
            Status::Warn,
            subnet,
            format!(
                "{table_id} routes 0.0.0.0/0 to {}, not to {gateway}: the Elastic IP of {records} would not answer from the internet",
                other.unwrap_or("nothing")
            ),
        )
        .fix(format!(
            "aws ec2 create-route --route-table-id {table_id} --destination-cidr-block 0.0.0.0/0 --gateway-id {gateway} (or launch the instance into a public subnet)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{
        AttachmentStatus, InternetGateway, InternetGatewayAttachment, Route, RouteState,
        RouteTable, RouteTableAssociation,
    };

    fn gateway(vpc: &str) -> InternetGateway {
        InternetGateway::builder()
            .internet_gateway_id("igw-1")
            .attachments(
                InternetGatewayAttachment::builder()
                    .vpc_id(vpc)
                    .state(AttachmentStatus::from("available"))
                    .build(),
            )
            .build()
    }

    fn table(id: &str, subnet: Option<&str>, main: bool, default_to: Option<&str>) -> RouteTable {
        let mut association = RouteTableAssociation::builder().main(main);
        if let Some(subnet) = subnet {
            association = association.subnet_id(subnet);
        }
        let mut table = RouteTable::builder()
            .route_table_id(id)
            .vpc_id("vpc-1")
            .associations(association.build())
            .routes(
                Route::builder()
                    .destination_cidr_block("10.1.0.0/16")
                    .gateway_id("local")
                    .build(),
            );
        if let Some(target) = default_to {
            let route = Route::builder()
                .destination_cidr_block("0.0.0.0/0")
                .state(RouteState::Active);
            let route = if target.starts_with("nat-") {
                route.nat_gateway_id(target)
            } else {
                route.gateway_id(target)
            };
            table = table.routes(route.build());
        }
        table.build()
    }

    #[test]
    fn a_vpc_without_an_internet_gateway_fails_as_ec2_would_refuse_the_association() {
        let l = internet_route_line("subnet-a", "vpc-1", "app.example.com", &[], &[]);
        assert_eq!(l.status, Status::Fail);
        assert!(l.detail.contains("Gateway.NotAttached"), "{}", l.detail);
        assert!(l
            .fix
            .unwrap()
            .contains("attach-internet-gateway --vpc-id vpc-1"));
        // a gateway attached to another VPC does not count
        let l = internet_route_line("subnet-a", "vpc-1", "r", &[gateway("vpc-2")], &[]);
        assert_eq!(l.status, Status::Fail);
    }

    #[test]
    fn the_subnets_own_route_table_wins_over_the_main_one_and_needs_a_default_route_to_the_gateway()
    {
        let gateways = [gateway("vpc-1")];
        let main_public = table("rtb-main", None, true, Some("igw-1"));
        let own_private = table("rtb-own", Some("subnet-a"), false, None);
        let l = internet_route_line(
            "subnet-a",
            "vpc-1",
            "r",
            &gateways,
            &[main_public.clone(), own_private],
        );
        assert_eq!(l.status, Status::Warn, "{l:?}");
        assert!(
            l.detail.contains("rtb-own routes 0.0.0.0/0 to nothing"),
            "{}",
            l.detail
        );
        assert!(l
            .fix
            .unwrap()
            .contains("create-route --route-table-id rtb-own"));
        // no table of its own: the main table's route applies
        let l = internet_route_line("subnet-b", "vpc-1", "r", &gateways, &[main_public]);
        assert_eq!(l.status, Status::Pass, "{l:?}");
        // a default route through a NAT gateway does not carry an Elastic IP's traffic
        let nat = table("rtb-nat", Some("subnet-a"), false, Some("nat-1"));
        let l = internet_route_line("subnet-a", "vpc-1", "r", &gateways, &[nat]);
        assert_eq!(l.status, Status::Warn);
        assert!(l.detail.contains("to nat-1"), "{}", l.detail);
    }
}
