//! The compute group: initializeCompute, compute start/status/stop/delete, computeResult,
//! computeEnvironments and validateContainer, in front of the operator service.
//!
//! Thin by design: the rules live in `ocean_provider::endpoints::compute`.
// The `http_component` macro expands to the component's export glue, which is unsafe.
#![allow(unsafe_code)]

ocean_provider::spin_component!(compute);
