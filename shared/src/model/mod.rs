//! The run's data: what a run is, the jobs, instances and attachments it made, its network
//! stack and its clock. Data and the rules of its shape only: no AWS calls.

pub mod instances;
pub mod jobs;
pub mod network;
pub mod rounds;
pub mod run;
pub mod time;
