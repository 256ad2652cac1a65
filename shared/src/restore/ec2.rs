//! EC2 instances restored from an AWS Backup AMI (not the golden-AMI launch path).

use std::collections::HashMap;

use super::{require_settings, RestoreContext};
use crate::error::BackstopError;
use crate::plan::ProtectedResource;

/// AWS Backup's EC2 metadata keys.
pub(super) fn metadata(
    base: &HashMap<String, String>,
    resource: &ProtectedResource,
    _ctx: &RestoreContext,
) -> Result<HashMap<String, String>, BackstopError> {
    let settings = require_settings(resource, resource.ec2.as_ref(), "ec2.subnetId")?;
    let mut metadata = base.clone();
    // The source's subnet, AZ and security groups are in the primary region.
    metadata.remove("AvailabilityZone");
    metadata.remove("Placement");
    let subnet = settings.subnet_id.clone().ok_or_else(|| {
        BackstopError::invalid_input(
            format!("plan.resources[{}].ec2.subnetId", resource.name),
            format!("{} needs a DR subnet to restore into", resource.name),
        )
    })?;
    metadata.insert("SubnetId".into(), subnet);
    if let Some(instance_type) = &settings.instance_type {
        metadata.insert("InstanceType".into(), instance_type.clone());
    }
    metadata.insert(
        "SecurityGroupIds".into(),
        serde_json::to_string(&settings.security_group_ids).unwrap_or_default(),
    );
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Ec2Restore, ResourceKind};
    use crate::run::Mode;

    #[test]
    fn an_instance_is_restored_into_the_dr_subnet_with_dr_security_groups() {
        let ctx = RestoreContext::for_test(Mode::Failover);
        let base = HashMap::from([
            ("InstanceType".to_string(), "m5.large".to_string()),
            ("SubnetId".to_string(), "subnet-primary".to_string()),
            (
                "SecurityGroupIds".to_string(),
                r#"["sg-primary"]"#.to_string(),
            ),
            ("AvailabilityZone".to_string(), "us-east-1a".to_string()),
        ]);
        let resource = ProtectedResource {
            name: "legacy".into(),
            kind: ResourceKind::Ec2,
            ec2: Some(Ec2Restore {
                instance_type: None,
                subnet_id: Some("subnet-0aaaaaaaaaaaaaaaa".into()),
                security_group_ids: vec!["sg-0123456789abcdef0".into()],
            }),
            ..Default::default()
        };
        let metadata = metadata(&base, &resource, &ctx).unwrap();
        assert_eq!(metadata["SubnetId"], "subnet-0aaaaaaaaaaaaaaaa");
        assert_eq!(metadata["InstanceType"], "m5.large");
        assert_eq!(metadata["SecurityGroupIds"], r#"["sg-0123456789abcdef0"]"#);
        assert!(!metadata.contains_key("AvailabilityZone"));
    }
}
