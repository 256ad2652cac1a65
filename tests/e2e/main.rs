//! End-to-end scenarios: the real handlers and state machine against the local AWS emulator.
//!
//! One test binary with a module per scenario file: each binary links the whole AWS SDK
//! (about 55 MB in a debug build), so ten of them cost CI half a gigabyte of disk and ten links.

mod blackout;
mod drill;
mod emulator;
mod entry_points;
mod failback;
mod failover;
mod failure;
mod faults;
mod hardening;
mod hydration;
mod malformed;
mod network;
mod plan_cli;
mod post_launch;
mod quickstart;
mod readiness;
mod recover_into;
mod recovery_account;
mod restore;
mod safety;
mod storage_gateway;
mod validation;
mod waves;
