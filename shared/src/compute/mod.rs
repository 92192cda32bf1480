//! Compute-to-data: the operator-service client and workflow validation.

pub mod operator;
pub mod workflow;
