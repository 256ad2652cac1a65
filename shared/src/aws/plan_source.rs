//! Reads a run's plan from where it is stored in the DR region: an SSM parameter (read with
//! decryption: SecureString allowed) or an S3 object (any size: a parameter holds 4 KB, or 8 KB
//! advanced). A failover never reads the primary region.

use aws_sdk_ssm::Client as SsmClient;

use crate::error::{BackstopError, SdkContext};
use crate::plan::{json_of, Plan, PlanSource};

/// Loads and validates the plan. An SSM parameter is read with decryption (SecureString allowed).
pub async fn load_plan(
    ssm: &SsmClient,
    s3: &aws_sdk_s3::Client,
    source: PlanSource,
) -> Result<Plan, BackstopError> {
    match source {
        PlanSource::Inline(value) => Plan::from_value(value),
        PlanSource::S3Object { bucket, key } => {
            let bytes = super::store::read_object(s3, &bucket, &key)
                .await?
                .ok_or_else(|| {
                    BackstopError::not_found(
                        format!("plan object s3://{bucket}/{key}"),
                        "there is no such object in the DR region; upload the plan JSON there, or correct planObject",
                    )
                })?;
            let text = String::from_utf8(bytes).map_err(|_| {
                BackstopError::invalid_input(
                    "planObject",
                    "the object is not UTF-8 text: store the plan as JSON",
                )
            })?;
            Plan::from_value(json_of(
                "planObject",
                &format!("s3://{bucket}/{key}"),
                &text,
            )?)
        }
        PlanSource::SsmParameter(name) => plan_from_ssm(ssm, &name).await,
    }
}

/// The plan stored in an SSM parameter of this region.
pub async fn plan_from_ssm(ssm: &SsmClient, name: &str) -> Result<Plan, BackstopError> {
    let output = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .context(format!("reading the plan from SSM parameter {name}"))?;
    let text = output
        .parameter
        .and_then(|parameter| parameter.value)
        .ok_or_else(|| {
            BackstopError::not_found(
                format!("SSM parameter {name}"),
                "the parameter has no value; store the plan JSON in it",
            )
        })?;
    Plan::from_value(json_of(
        "planParameter",
        &format!("SSM parameter {name}"),
        &text,
    )?)
}
