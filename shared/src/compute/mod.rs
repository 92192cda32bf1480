//! Compute-to-data: the operator-service client, workflow validation and pricing.

pub mod dataset_access;
pub mod operator;
pub mod pricing;
pub mod workflow;
