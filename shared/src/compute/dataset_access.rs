//! Compute-to-data access to datasets: the compute environment's own account fetches
//! a compute service's dataset for a job through `download`, with the order the
//! consumer made for that job (the consumer orders with the environment's
//! `consumerAddress` as the order's consumer).
//!
//! The reference let any download of a compute service through once the signer was
//! some environment's `consumerAddress` and the order validated. Here three things
//! must hold, checked with the operator: the signer is the `consumerAddress` of one of
//! the chain's environments; the order validates for it (it is the order's consumer
//! or payer); and a job of the order's payer that is still running (status below 70,
//! "finished") lists this dataset among its inputs — the request's `jobId` when one is
//! given. So an environment key alone, or an order whose job is over, fetches nothing.

use serde_json::Value;

use crate::address::{Address, checksum, parse_address};
use crate::compute::operator::Operator;
use crate::ports::Platform;
use crate::{ProviderError, Result};

/// Operator job statuses from "finished" on (70: completed; later codes are removals).
const FINISHED: u64 = 70;

/// The reference's refusal of a download of a non-access service.
pub fn not_an_access_service(net: &str, service_id: &str) -> ProviderError {
    ProviderError::BadRequest(format!(
        "Provider {net}: Service with index={service_id} is not an access service."
    ))
}

/// The operator, when `signer` is the `consumerAddress` of one of `chain_id`'s compute
/// environments; otherwise the reference's refusal (also when compute is off).
pub fn environment_account<'a>(
    platform: &'a Platform<'a>,
    chain_id: u64,
    signer: &Address,
    refusal: impl Fn() -> ProviderError,
) -> Result<Operator<'a>> {
    let timeout = platform.settings.request_timeout()?;
    let operator = match Operator::configured(platform, timeout) {
        Ok(operator) => operator,
        Err(ProviderError::NotFound(_)) => return Err(refusal()),
        Err(err) => return Err(err),
    };
    let is_environment = operator.environments(chain_id)?.iter().any(|env| {
        env["consumerAddress"]
            .as_str()
            .and_then(parse_address)
            .is_some_and(|address| address == *signer)
    });
    if is_environment {
        Ok(operator)
    } else {
        Err(refusal())
    }
}

/// Whether the operator's job list has a running job of `owner` that uses `did`
/// (`job_id`, when given, must be that job).
pub fn job_uses_dataset(jobs: &Value, owner: &Address, did: &str, job_id: Option<&str>) -> bool {
    let Some(jobs) = jobs.as_array() else {
        return false;
    };
    jobs.iter().any(|job| {
        let owned = job["owner"]
            .as_str()
            .and_then(parse_address)
            .is_some_and(|address| address == *owner);
        let this_job = job_id.is_none_or(|id| job["jobId"].as_str() == Some(id));
        let running = job["status"]
            .as_u64()
            .or_else(|| job["status"].as_str().and_then(|s| s.parse().ok()))
            .is_some_and(|status| status < FINISHED);
        let inputs = job["inputDID"].as_array().into_iter().flatten();
        let uses = inputs
            .chain(std::iter::once(&job["did"]))
            .any(|input| input.as_str() == Some(did));
        owned && this_job && running && uses
    })
}

/// Asks the operator for `owner`'s jobs on `did` and requires a running one that uses
/// it (400 otherwise, naming neither the operator nor its answer).
pub fn require_running_job(
    operator: &Operator<'_>,
    net: &str,
    owner: &Address,
    did: &str,
    job_id: Option<&str>,
) -> Result<()> {
    let owner_text = checksum(owner);
    let query = operator.job_query(&owner_text, job_id, Some(did))?;
    let (status, body) = operator.call("GET", "compute", &query, None)?;
    let jobs: Value = if (200..300).contains(&status) {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    if job_uses_dataset(&jobs, owner, did, job_id) {
        Ok(())
    } else {
        Err(ProviderError::BadRequest(format!(
            "Provider {net}: no running compute job of the order's payer {owner_text} uses {did}."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OWNER: &str = "0xA78deb2Fa79463945C247991075E2a0e98Ba7A09";

    fn owner() -> Address {
        parse_address(OWNER).unwrap()
    }

    #[test]
    fn only_a_running_job_of_the_owner_that_lists_the_dataset_counts() {
        let job = |owner: &str, status: Value, inputs: Value| json!([{"jobId": "j1", "owner": owner, "status": status, "inputDID": inputs}]);
        let did = "did:op:data";
        assert!(job_uses_dataset(
            &job(OWNER, json!(40), json!([did])),
            &owner(),
            did,
            None
        ));
        // Lower-case owner, status as text, the jobId given.
        assert!(job_uses_dataset(
            &job(
                &OWNER.to_lowercase(),
                json!("10"),
                json!(["did:op:other", did])
            ),
            &owner(),
            did,
            Some("j1")
        ));
        // Finished, another owner's, another dataset, another job, no list at all.
        assert!(!job_uses_dataset(
            &job(OWNER, json!(70), json!([did])),
            &owner(),
            did,
            None
        ));
        assert!(!job_uses_dataset(
            &job(
                "0x0000000000000000000000000000000000000001",
                json!(40),
                json!([did])
            ),
            &owner(),
            did,
            None
        ));
        assert!(!job_uses_dataset(
            &job(OWNER, json!(40), json!(["did:op:other"])),
            &owner(),
            did,
            None
        ));
        assert!(!job_uses_dataset(
            &job(OWNER, json!(40), json!([did])),
            &owner(),
            did,
            Some("j2")
        ));
        assert!(!job_uses_dataset(
            &json!({"error": "x"}),
            &owner(),
            did,
            None
        ));
        assert!(!job_uses_dataset(
            &json!([{"owner": OWNER, "jobId": "j1", "inputDID": [did]}]),
            &owner(),
            did,
            None
        ));
    }
}
