//! Compute-to-data: the operator-service client, workflow validation and pricing.

pub mod operator;
pub mod pricing;
pub mod workflow;
