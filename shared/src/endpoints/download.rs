//! `GET /api/services/download` (spec §5.7): checks the consumer's signature (or auth
//! token), the order on chain and the file, uses up the nonce, and streams the file
//! from its origin — one upstream request, passed through as it arrives, with `Range`
//! forwarded for resumable downloads.

use crate::asset::consumable::check_consumable;
use crate::asset::fetch::{contract_content, send_checked};
use crate::asset::files::FileRequest;
use crate::asset::files::reachable_file;
use crate::asset::resolve_service;
use crate::chain::{Rpc, network_name};
use crate::compute::dataset_access;
use crate::order::order_query;
use crate::order::validate_order;
use crate::ports::Platform;
use crate::requests::DownloadRequest;
use crate::signed_request::verify;
use crate::{ApiRequest, ProviderError, Reply, Result};

/// Upstream headers passed through to the consumer.
const PASSED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "content-range",
    "accept-ranges",
    "last-modified",
    "etag",
];

fn random_name() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No entropy source: a name derived from the clock still differs per call.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = nanos.to_le_bytes();
    }
    hex::encode(bytes)
}

/// `GET /api/services/download`, in the v2 dialect.
pub fn download(request: &ApiRequest, platform: &Platform<'_>) -> Result<Reply> {
    download_file(platform, &crate::wire::v2::download(request)?)
}

/// The operation: checks the consumer, the order on chain and the file, then streams
/// the file from its origin and only then uses up the nonce.
pub fn download_file(platform: &Platform<'_>, input: &DownloadRequest) -> Result<Reply> {
    let authorized = verify(platform, &input.claim)?;
    crate::rbac::check(
        platform,
        crate::rbac::Event::Access,
        &authorized.signer,
        &crate::rbac::Subject {
            dids: vec![crate::rbac::did_entry(&input.did, &input.service_id)],
            ..Default::default()
        },
    )?;
    let (did, service_id, file_index, tx) = (
        &input.did,
        &input.service_id,
        input.file_index,
        input.transfer_tx,
    );
    let (ddo, index, chain) = resolve_service(platform, did, service_id)?;
    let net = network_name(chain.id);
    let timeout = platform.settings.request_timeout()?;
    let rpc = Rpc::new(chain, platform.http, platform.kv, timeout);
    let service = &ddo.services[index];
    // A compute service's dataset is fetched only by a compute environment's account,
    // for a running job (crate::compute::dataset_access); then the asset's credentials
    // are those of the job's owner, checked once the order names them.
    let environment = if service.service_type == "access" {
        check_consumable(&rpc, &ddo, &authorized.signer)?;
        None
    } else {
        Some(dataset_access::environment_account(
            platform,
            chain.id,
            &authorized.signer,
            || dataset_access::not_an_access_service(net, service_id),
        )?)
    };
    let query = order_query(
        &ddo,
        index,
        service,
        chain,
        authorized.signer,
        tx,
        platform.clock.now_unix_seconds(),
    )?;
    let order = validate_order(&rpc, &query)?.map_err(|refusal| {
        ProviderError::BadRequest(format!(
            "Provider {net}: Order with tx_id {tx:#x} could not be validated due to error: {}",
            refusal.0
        ))
    })?;
    if let Some(operator) = &environment {
        check_consumable(&rpc, &ddo, &order.payer)?;
        dataset_access::require_running_job(
            operator,
            net,
            &order.payer,
            did,
            input.job_id.as_deref(),
        )?;
    }
    // Proof of download, when configured: made once the whole file is delivered.
    let after = crate::proof::wanted(platform).then(|| {
        let proof = crate::proof::DownloadProof {
            chain: chain.clone(),
            datatoken: query.datatoken,
            order_tx: order.order_tx,
            did: did.clone(),
            service_id: service_id.clone(),
            file_index,
            consumer: authorized.signer,
            signed: authorized.signed.clone(),
        };
        crate::response::AfterDelivery::new(move |platform, delivered| {
            crate::proof::deliver(platform, &proof, delivered);
        })
    });
    let file = reachable_file(
        platform,
        &ddo,
        service,
        chain,
        file_index,
        input.userdata.as_ref(),
    )?;
    let policy = platform.settings.fetch_policy()?;
    // The nonce is used up (atomically) only once the file is there to send: a
    // consumer whose download failed at the origin can retry with the same request.
    match file {
        FileRequest::Contract { .. } => {
            let content = contract_content(platform, &file, timeout)?.map_err(|why| {
                ProviderError::Upstream(format!(
                    "Provider {net}: the smart contract call of file index {file_index} failed: {why}."
                ))
            })?;
            authorized.consume_nonce(platform)?;
            Ok(Reply::Stream {
                status: 200,
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("content-length".into(), content.len().to_string()),
                ],
                body: Box::new(crate::outbound::BufferedBody(Some(content))),
                after,
            })
        }
        FileRequest::Http {
            method,
            url,
            mut headers,
            body,
            name_from_url,
        } => {
            let ddo_sets_range = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("range"));
            if let (Some(range), false) = (&input.range, ddo_sets_range) {
                headers.push(("range".into(), range.clone()));
            }
            // Every hop, the first included, is checked before it is requested.
            let (response, _final_url) =
                send_checked(platform.http, policy, &method, &url, &headers, &body).map_err(
                    |err| {
                        ProviderError::from(err).context(&format!(
                            "Provider {net}: the origin of file index {file_index}: "
                        ))
                    },
                )?;
            // Nothing of a failed origin answer is passed on: error pages of object
            // stores and web servers name the bucket, key or host this provider hides.
            if response.status == 416 {
                return Err(ProviderError::RangeNotSatisfiable(format!(
                    "Provider {net}: the requested range of file index {file_index} is not satisfiable."
                )));
            }
            if !(200..300).contains(&response.status) {
                return Err(ProviderError::BadRequest(format!(
                    "Provider {net}: file index {file_index} could not be downloaded: its origin answered HTTP {}.",
                    response.status
                )));
            }
            authorized.consume_nonce(platform)?;
            let mut out: Vec<(String, String)> = response
                .headers
                .iter()
                .filter(|(k, _)| PASSED_HEADERS.contains(&k.as_str()))
                .cloned()
                .collect();
            let name = if name_from_url {
                let path = url.split(['?', '#']).next().unwrap_or("");
                let last = path.rsplit('/').next().unwrap_or("");
                if last.is_empty() || last.contains("://") {
                    random_name()
                } else {
                    last.to_owned()
                }
            } else {
                random_name()
            };
            let name: String = name
                .chars()
                .filter(|c| !c.is_control() && *c != '"' && *c != ';')
                .collect();
            out.push((
                "content-disposition".into(),
                format!("attachment;filename={name}"),
            ));
            out.push((
                "access-control-expose-headers".into(),
                "Content-Disposition".into(),
            ));
            Ok(Reply::Stream {
                status: response.status,
                headers: out,
                body: response.body,
                after,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::FakePlatform;

    #[test]
    fn missing_fields_are_listed_and_change_nothing() {
        let fake = FakePlatform::new(&[]);
        let reply = crate::routes::serve(
            "download",
            crate::routes::handlers::download,
            &ApiRequest::new("GET", "/api/services/download"),
            &fake.ports(),
        );
        let Reply::Full(response) = reply else {
            panic!("expected a full response")
        };
        assert_eq!(response.status, 400);
        let errors = response.body_json().unwrap()["errors"].clone();
        for field in [
            "documentId",
            "serviceId",
            "consumerAddress",
            "transferTxId",
            "fileIndex",
            "nonce",
        ] {
            assert!(errors.get(field).is_some(), "{field}");
        }
        assert!(fake.kv.keys().is_empty());
    }

    #[test]
    fn negative_and_non_integer_file_indexes_are_400() {
        for bad in ["-1", "1.5", "abc", ""] {
            assert_eq!(
                crate::asset::files::parse_file_index(bad)
                    .unwrap_err()
                    .status(),
                400,
                "{bad}"
            );
        }
        assert_eq!(crate::asset::files::parse_file_index("3").unwrap(), 3);
    }
}
