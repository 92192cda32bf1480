//! `GET /api/services/initialize` (spec §5.6): quotes an access service — the
//! datatoken, the consumer's nonce and a provider fee signed with the chain's key that
//! `startOrder` accepts on chain — or, given a `transferTxId` of a valid order,
//! `{"validOrder": tx}`.

use alloy_primitives::{Address, U256};
use serde_json::{Value, json};

use super::fileinfo::asset_service;
use crate::address::parse_address;
use crate::asset::consumable::check_consumable;
use crate::asset::ddo::{Ddo, Service};
use crate::asset::fetch::{FetchPolicy, contract_content, http_details};
use crate::asset::files::{
    FileRequest, file_request, parse_userdata, service_files, validate_file,
};
use crate::chain::addresses::ContractAddresses;
use crate::chain::{Rpc, network_name, parse_tx_hash};
use crate::config::{self, Chain, Chains};
use crate::nonce::current_nonce;
use crate::order::{OrderQuery, validate_order};
use crate::ports::Platform;
use crate::provider_fee::{ProviderFee, provider_data};
use crate::signed_request::signer_address;
use crate::{ApiRequest, ApiResponse, ProviderError, Result};

/// `fileIndex`: an integer ≥ 0 (no negative wrap-around), or 400.
pub fn parse_file_index(text: &str) -> Result<usize> {
    text.trim().parse::<usize>().map_err(|_| {
        ProviderError::field("fileIndex", "The fileIndex must be an integer at least 0.")
    })
}

/// The fee token of a chain: `provider_fee_token` (single or per-chain JSON map), else
/// the chain's Ocean token from `address_file`, else the zero address.
pub fn fee_token(platform: &Platform<'_>, chain_id: u64) -> Result<Address> {
    if let Some(text) = config::optional(platform.vars, "provider_fee_token")? {
        let bad = || {
            ProviderError::config(
                "provider_fee_token",
                "must be an address or a JSON map of chain id to address",
            )
        };
        if text.starts_with('{') {
            let map: serde_json::Map<String, Value> =
                serde_json::from_str(&text).map_err(|_| bad())?;
            if let Some(value) = map.get(&chain_id.to_string()) {
                return value.as_str().and_then(parse_address).ok_or_else(bad);
            }
        } else {
            return parse_address(&text).ok_or_else(bad);
        }
    }
    Ok(ContractAddresses::load(platform.vars, chain_id)?
        .ocean
        .unwrap_or(Address::ZERO))
}

/// The order query for a service of an asset.
pub fn order_query<'a>(
    ddo: &Ddo,
    index: usize,
    service: &'a Service,
    chain: &Chain,
    consumer: Address,
    tx: alloy_primitives::B256,
    clock_now: u64,
) -> Result<OrderQuery<'a>> {
    let net = network_name(chain.id);
    let malformed =
        || ProviderError::BadRequest(format!("Provider {net}: Asset malformed or disabled."));
    Ok(OrderQuery {
        nft: ddo
            .nft_address
            .as_deref()
            .and_then(parse_address)
            .ok_or_else(malformed)?,
        datatoken: parse_address(&service.datatoken_address).ok_or_else(malformed)?,
        service_id: &service.id,
        service_index: index,
        service_timeout: service.timeout,
        clock_now,
        consumer,
        tx,
        provider: chain.key.address(),
        environment: None,
        allow_expired_fee: true,
    })
}

/// Checks that file `file_index` of the service exists, is a valid object and is
/// reachable; returns the validated request.
pub fn reachable_file(
    platform: &Platform<'_>,
    ddo: &Ddo,
    service: &Service,
    chain: &Chain,
    file_index: usize,
    userdata: Option<&Value>,
) -> Result<FileRequest> {
    let net = network_name(chain.id);
    let files = service_files(ddo, service, chain).ok_or_else(|| {
        ProviderError::BadRequest(format!("Provider {net}: Unable to get dataset files"))
    })?;
    let file = files.get(file_index).ok_or_else(|| {
        ProviderError::BadRequest(format!("Provider {net}: No such fileIndex {file_index}"))
    })?;
    let object = validate_file(file, userdata)
        .map_err(|m| ProviderError::BadRequest(format!("Provider {net}: {m}")))?;
    file_request(platform, &object, userdata)
}

/// `GET /api/services/initialize`.
pub fn initialize(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    let params = request.params();
    params.require(&["documentId", "serviceId", "consumerAddress"])?;
    let consumer = signer_address(&params, "consumerAddress")?;
    let file_index = params
        .filled_text("fileIndex")
        .map(|t| parse_file_index(&t))
        .transpose()?;
    let did = params.text("documentId").unwrap_or_default();
    let service_id = params.text("serviceId").unwrap_or_default();
    let userdata = parse_userdata(params.get("userdata"));

    let chains = Chains::load(platform.vars)?;
    let (ddo, index, chain) = asset_service(platform, &chains, &did, &service_id)?;
    let net = network_name(chain.id);
    let timeout = config::request_timeout(platform.vars)?;
    let rpc = Rpc::new(chain, platform.http, platform.kv, timeout);
    check_consumable(&rpc, &ddo, &consumer)?;
    let service = &ddo.services[index];
    if service.service_type == "compute" {
        return Err(ProviderError::BadRequest(format!(
            "Provider {net}: Use the initializeCompute endpoint to initialize compute jobs."
        )));
    }
    if let Some(tx_text) = params.filled_text("transferTxId") {
        let tx = parse_tx_hash(&tx_text, "transferTxId")?;
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
            userdata.as_ref(),
        )?;
        let reachable = match &file {
            FileRequest::Http { .. } => {
                let policy = FetchPolicy::from_config(platform.vars)?;
                matches!(
                    http_details(platform.http, policy, &file, None),
                    Ok(Some(_))
                )
            }
            FileRequest::Contract { .. } => contract_content(platform, &file, timeout)?.is_some(),
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
        fee_token(platform, chain.id)?,
        U256::ZERO,
        data.into_bytes(),
        U256::ZERO,
    )
    .ok_or_else(|| ProviderError::Upstream("The provider fee could not be signed.".into()))?;
    let nonce = current_nonce(platform.kv, &consumer)?;
    let body = format!(
        r#"{{"datatoken":{},"nonce":{nonce},"providerFee":{}}}"#,
        json!(service.datatoken_address),
        fee.to_json()
    );
    Ok(ApiResponse::raw_json(200, body))
}
