//! Compute workflow validation (spec §7): datasets, the algorithm, trusted algorithms
//! and publishers, and compute pricing.
//!
//! Fixed on purpose: the price of a job covers its whole duration (the reference used
//! `timedelta.seconds` and so dropped whole days), and "is this service mine" is
//! decided by whether its files decrypt with this provider's key, never by the provider
//! calling itself over HTTP.

use alloy_primitives::Address;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::address::parse_address;
use crate::asset::consumable::check_consumable;
use crate::asset::ddo::{Ddo, resolve_ddo};
use crate::asset::fetch::{FetchPolicy, http_details};
use crate::asset::files::{file_request, service_files, validate_file};
use crate::chain::Rpc;
use crate::config::Chains;
use crate::ports::Platform;
use crate::{ProviderError, Result};

/// A validator refusal: `{"error": {<resource>: <code>}}`.
pub fn refusal(resource: &str, code: &str) -> ProviderError {
    let mut map = Map::new();
    map.insert(resource.to_owned(), json!(code));
    ProviderError::Structured(Value::Object(map))
}

/// The resource name of input `i` (the reference's naming: `dataset`, `datasets[1]`, ...).
pub fn resource_name(index: usize) -> String {
    if index == 0 {
        "dataset".into()
    } else {
        format!("datasets[{index}]")
    }
}

/// An algorithm as the request gives it.
#[derive(Debug, Clone)]
pub enum Algorithm {
    /// A published algorithm asset.
    Published {
        /// Its DDO.
        ddo: Box<Ddo>,
        /// The request's algorithm object.
        request: Value,
    },
    /// Raw code or a URL with a container (`algorithm.meta`).
    Raw(Value),
}

/// Container section checks (spec §5.14): `{"error": code}` messages.
pub fn check_container(container: &Value) -> std::result::Result<(), &'static str> {
    let filled = |k: &str| {
        container
            .get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if !filled("entrypoint") || !filled("image") || !filled("checksum") {
        return Err("missing_entrypoint_image_checksum");
    }
    if !container["checksum"]
        .as_str()
        .unwrap_or("")
        .starts_with("sha256:")
    {
        return Err("checksum_prefix");
    }
    Ok(())
}

/// Resolves the request's algorithm.
pub fn resolve_algorithm(
    platform: &Platform<'_>,
    request: &Value,
    timeout: std::time::Duration,
) -> Result<Algorithm> {
    if let Some(did) = request
        .get("documentId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        let ddo = resolve_ddo(platform, did, timeout).map_err(|err| match err {
            ProviderError::BadRequest(_) => refusal("algorithm", "did_not_found"),
            other => other,
        })?;
        if ddo
            .metadata
            .as_ref()
            .and_then(|m| m.get("type"))
            .and_then(Value::as_str)
            != Some("algorithm")
        {
            return Err(ProviderError::BadRequest(
                "DID is not a valid algorithm".into(),
            ));
        }
        return Ok(Algorithm::Published {
            ddo: Box::new(ddo),
            request: request.clone(),
        });
    }
    let meta = match request.get("meta") {
        Some(Value::String(text)) => serde_json::from_str(text)
            .map_err(|_| refusal("algorithm", "missing_meta_documentId"))?,
        Some(meta @ Value::Object(_)) => meta.clone(),
        _ => return Err(refusal("algorithm", "missing_meta_documentId")),
    };
    if meta.get("url").is_none() && meta.get("rawcode").is_none() {
        return Err(refusal("algorithm", "meta_oneof_url_rawcode_remote"));
    }
    check_container(meta.get("container").unwrap_or(&Value::Null))
        .map_err(|code| refusal("algorithm.container", code))?;
    Ok(Algorithm::Raw(meta))
}

fn algorithm_files_checksum(
    platform: &Platform<'_>,
    ddo: &Ddo,
    chains: &Chains,
    policy: FetchPolicy,
) -> Option<String> {
    let chain = chains.get(ddo.chain_id?)?;
    let limit = platform.settings.max_checksum_length().ok()?;
    let mut all = String::new();
    for service in &ddo.services {
        for file in service_files(ddo, service, chain)? {
            let object = validate_file(&file, None).ok()?;
            let request = file_request(platform, &object, None).ok()?;
            all.push_str(
                &http_details(platform.http, policy, &request, Some(limit))
                    .ok()??
                    .checksum?,
            );
        }
    }
    Some(all.to_lowercase())
}

/// Checks one input dataset (spec §7.1). Returns its DDO and service index.
pub fn validate_input(
    platform: &Platform<'_>,
    chains: &Chains,
    index: usize,
    input: &Value,
    algorithm: &Algorithm,
    consumer: &Address,
    policy: FetchPolicy,
) -> Result<(Ddo, usize)> {
    let res = resource_name(index);
    let did = input
        .get("documentId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let Some(did) = did else {
        return Err(refusal(&format!("{res}.documentId"), "missing"));
    };
    let service_id = match input.get("serviceId") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(refusal(&format!("{res}.serviceId"), "missing")),
    };
    let ddo = resolve_ddo(platform, did, policy.timeout).map_err(|err| match err {
        ProviderError::BadRequest(_) => refusal(&format!("{res}.documentId"), "did_not_found"),
        other => other,
    })?;
    let Some((service_index, service)) = ddo.service(&service_id) else {
        return Err(refusal(&format!("{res}.serviceId"), "not_found"));
    };
    let Some(chain) = ddo.chain_id.and_then(|id| chains.get(id)) else {
        return Err(refusal(
            &format!("{res}.serviceId"),
            "compute_services_not_in_same_provider",
        ));
    };
    let rpc = Rpc::new(chain, platform.http, platform.kv, policy.timeout);
    check_consumable(&rpc, &ddo, consumer).map_err(|err| match err {
        ProviderError::BadRequest(message) => refusal(&res, &message),
        other => other,
    })?;
    if service.service_type != "access" && service.service_type != "compute" {
        return Err(refusal(
            &format!("{res}.serviceId"),
            "service_not_access_compute",
        ));
    }
    if index == 0 && service.service_type != "compute" {
        return Err(refusal("dataset.serviceId", "main_service_compute"));
    }
    if service.service_type == "compute" {
        if service_files(&ddo, service, chain).is_none() {
            return Err(refusal(
                &format!("{res}.serviceId"),
                "compute_services_not_in_same_provider",
            ));
        }
        let options = service.compute.clone().unwrap_or(Value::Null);
        match algorithm {
            Algorithm::Raw(_) => {
                if options.get("allowRawAlgorithm").and_then(Value::as_bool) != Some(true) {
                    return Err(refusal(&res, "no_raw_algo_allowed"));
                }
            }
            Algorithm::Published { ddo: algo, .. } => {
                check_trusted_algorithm(platform, chains, &res, &options, algo, policy)?
            }
        }
    }
    Ok((ddo.clone(), service_index))
}

fn check_trusted_algorithm(
    platform: &Platform<'_>,
    chains: &Chains,
    res: &str,
    options: &Value,
    algo: &Ddo,
    policy: FetchPolicy,
) -> Result<()> {
    let publishers: Vec<Address> = options
        .get("publisherTrustedAlgorithmPublishers")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_str().and_then(parse_address))
                .collect()
        })
        .unwrap_or_default();
    if !publishers.is_empty() {
        let owner = algo
            .nft
            .as_ref()
            .and_then(|n| n.owner.as_deref())
            .and_then(parse_address);
        if !owner.is_some_and(|o| publishers.contains(&o)) {
            return Err(refusal(res, "not_trusted_algo_publisher"));
        }
    }
    let trusted = options
        .get("publisherTrustedAlgorithms")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if trusted.is_empty() {
        return Ok(());
    }
    if trusted
        .iter()
        .any(|t| t.get("did").and_then(Value::as_str).is_none())
    {
        return Err(refusal(res, "no_publisherTrustedAlgorithms"));
    }
    let Some(entry) = trusted
        .iter()
        .find(|t| t["did"].as_str() == Some(algo.id.as_str()))
    else {
        return Err(refusal(res, "not_trusted_algo"));
    };
    if let Some(expected) = entry
        .get("filesChecksum")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        let actual = algorithm_files_checksum(platform, algo, chains, policy);
        if actual.as_deref() != Some(&expected.to_lowercase()) {
            return Err(refusal(res, "algorithm_file_checksum_mismatch"));
        }
    }
    if let Some(expected) = entry
        .get("containerSectionChecksum")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        let container = algo
            .metadata
            .as_ref()
            .and_then(|m| m.pointer("/algorithm/container"))
            .cloned()
            .unwrap_or(Value::Null);
        let text = format!(
            "{}{}",
            container["entrypoint"].as_str().unwrap_or(""),
            container["checksum"].as_str().unwrap_or("")
        );
        if hex::encode(Sha256::digest(text.as_bytes())) != expected.to_lowercase() {
            return Err(refusal(res, "algorithm_container_checksum_mismatch"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_checks() {
        assert_eq!(
            check_container(
                &json!({"entrypoint": "python $ALGO", "image": "x", "checksum": "sha256:ab"})
            ),
            Ok(())
        );
        assert_eq!(
            check_container(&json!({"entrypoint": "", "image": "x", "checksum": "sha256:ab"})),
            Err("missing_entrypoint_image_checksum")
        );
        assert_eq!(
            check_container(&json!({"entrypoint": "e", "image": "x", "checksum": "md5:ab"})),
            Err("checksum_prefix")
        );
    }
}
