//! Steps 2 and 3 of recovery: [`launch`] instances from the golden AMI in the DR network,
//! then [`attach`] the restored EBS volumes to them.

pub mod attach;
pub mod launch;

pub use attach::{account_of, attach_volumes, AttachOutcome, VolumeOwner};
pub use launch::{launch_instances, LaunchContext, LaunchOutcome, FALLBACKS_TAG, INSTANCE_TAG};

#[cfg(test)]
mod tests;
