//! What a run launched and attached in the DR region.

use serde::{Deserialize, Serialize};

/// An instance of the plan, running in the DR region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchedInstance {
    pub name: String,
    pub instance_id: String,
    pub image_id: String,
    pub instance_type: String,
    pub subnet_id: String,
    pub availability_zone: String,
    pub private_ip: String,
    /// Type/subnet pairs tried before this one, with why they failed (capacity).
    #[serde(default)]
    pub fallbacks: Vec<String>,
}

/// A restored volume attached to its planned instance and device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub resource: String,
    pub volume_id: String,
    pub instance: String,
    pub instance_id: String,
    pub device: String,
    /// False when the volume was already attached there (a re-run).
    pub newly_attached: bool,
}
