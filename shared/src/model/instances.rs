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

/// One recovery wave as a run went through it (the report's timeline shows each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaveSpan {
    pub wave: u32,
    /// Its instances, by plan name.
    pub instances: Vec<String>,
    /// When its launch round first ran.
    pub started_at: String,
    /// When its volumes were attached (none to attach: when its attach round ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_at: Option<String>,
    /// When its instances passed their status checks, the gate before the next wave (the last
    /// wave's gate is the DNS switch's health gate, not recorded here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_at: Option<String>,
}
