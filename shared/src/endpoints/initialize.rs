//! `GET /api/services/initialize` (spec §5.6): quotes an access service — the
//! datatoken, the consumer's nonce and a provider fee signed with the chain's key that
//! `startOrder` accepts on chain — or, given a `transferTxId` of a valid order,
//! `{"validOrder": tx}`.

use alloy_primitives::U256;
use serde_json::json;

use crate::asset::consumable::{StateFreshness, check_consumable_with};
use crate::asset::fetch::{contract_content, http_details};
use crate::asset::files::FileRequest;
use crate::asset::files::reachable_file;
use crate::asset::resolve_service;
use crate::chain::{Rpc, network_name};
use crate::nonce::current_nonce;
use crate::order::{order_query, validate_order};
use crate::ports::Platform;
use crate::provider_fee::{ProviderFee, provider_data};
use crate::requests::InitializeRequest;
use crate::{ApiRequest, ApiResponse, ProviderError, Result};

/// `GET /api/services/initialize`, in the v2 dialect.
pub fn initialize(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    quote(platform, &crate::wire::v2::initialize(request)?)
}

/// The operation: the quote for an access service (or its valid order).
pub fn quote(platform: &Platform<'_>, input: &InitializeRequest) -> Result<ApiResponse> {
    let consumer = input.consumer;
    let file_index = input.file_index;
    let (ddo, index, chain) = resolve_service(platform, &input.did, &input.service_id)?;
    let net = network_name(chain.id);
    let timeout = platform.settings.request_timeout()?;
    let rpc = Rpc::new(chain, platform.http, platform.kv, timeout);
    crate::rbac::check(
        platform,
        crate::rbac::Event::Initialize,
        &consumer,
        &crate::rbac::Subject {
            dids: vec![crate::rbac::did_entry(&input.did, &input.service_id)],
            ..Default::default()
        },
    )?;
    // A quote may use a metadata state as old as the cached DDO it is computed from;
    // the download re-reads it live.
    let freshness = StateFreshness::UpTo {
        now: platform.clock.now_unix_seconds(),
        seconds: platform.settings.ddo_cache_seconds()?,
    };
    check_consumable_with(&rpc, &ddo, &consumer, freshness)?;
    let service = &ddo.services[index];
    if service.service_type == "compute" {
        return Err(ProviderError::BadRequest(format!(
            "Provider {net}: Use the initializeCompute endpoint to initialize compute jobs."
        )));
    }
    if let Some(tx) = input.transfer_tx {
        let query = order_query(
            &ddo,
            index,
            service,
            chain,
            consumer,
            tx,
            platform.clock.now_unix_seconds(),
        )?;
        if let Ok(order) = validate_order(&rpc, &query)? {
            return Ok(ApiResponse::json(
                200,
                &json!({"validOrder": format!("{:#x}", order.order_tx)}),
            ));
        }
    }
    if let Some(file_index) = file_index {
        let file = reachable_file(
            platform,
            &ddo,
            service,
            chain,
            file_index,
            input.userdata.as_ref(),
        )?;
        let reachable = match &file {
            FileRequest::Http { .. } => {
                let policy = platform.settings.fetch_policy()?;
                matches!(
                    http_details(platform.http, policy, &file, None),
                    Ok(Some(_))
                )
            }
            FileRequest::Contract { .. } => contract_content(platform, &file, timeout)?.is_ok(),
        };
        if !reachable {
            return Err(ProviderError::BadRequest(format!(
                "Provider {net}: Asset URL not found, not available or invalid."
            )));
        }
    }
    let data = provider_data(
        None,
        platform.clock.now_unix_seconds() as f64,
        &service.datatoken_address,
        &service.id,
    );
    let fee = ProviderFee::sign(
        &chain.key,
        platform.settings.fee_token(chain.id)?,
        U256::ZERO,
        data.into_bytes(),
        U256::ZERO,
    )
    .ok_or_else(|| ProviderError::Upstream("The provider fee could not be signed.".into()))?;
    let nonce = current_nonce(platform.kv, &consumer)?;
    // Both dialects' fields: v2's `datatoken`, `nonce`, `providerFee`, and Ocean
    // Node's `computeAddress` (the consumer, as Ocean Node answers).
    let body = format!(
        r#"{{"computeAddress":{},"datatoken":{},"nonce":{nonce},"providerFee":{}}}"#,
        json!(crate::address::checksum(&consumer)),
        json!(service.datatoken_address),
        fee.to_json()
    );
    Ok(ApiResponse::raw_json(200, body))
}
