//! The Python Provider v2 dialect: parameter names, the reference's validation
//! messages (and their order), and the messages its clients sign.

use crate::asset::files::{parse_file_index, parse_userdata};
use crate::chain::parse_tx_hash;
use crate::error::FieldMessage;
use crate::requests::{
    AssetUrlsRequest, CreateTokenRequest, DeleteTokenRequest, DownloadRequest, EncryptRequest,
    FileInfoRequest, FileInfoSource, InitializeRequest, NonceRequest,
};
use crate::signed_request::{SignatureRule, SignedClaim, signer_address};
use crate::{ApiRequest, ProviderError, Result};
use serde_json::Value;

/// Consumers sign with `consumerAddress`; an auth token may replace the signature.
const CONSUMER: SignatureRule<'static> = SignatureRule {
    signer_field: "consumerAddress",
    allow_auth_token: true,
};

/// `GET /api/services/download?documentId&serviceId&consumerAddress&transferTxId&fileIndex&nonce&signature`;
/// the signed message is `documentId + nonce`.
pub fn download(request: &ApiRequest) -> Result<DownloadRequest> {
    let params = request.params();
    params.require(&[
        "documentId",
        "serviceId",
        "consumerAddress",
        "transferTxId",
        "fileIndex",
        "nonce",
    ])?;
    let did = params.text("documentId").unwrap_or_default();
    let claim = SignedClaim::parse(request, &params, CONSUMER, did.clone())?;
    let file_index = parse_file_index(&params.text("fileIndex").unwrap_or_default())?;
    let transfer_tx = parse_tx_hash(
        &params.text("transferTxId").unwrap_or_default(),
        "transferTxId",
    )?;
    Ok(DownloadRequest {
        did,
        service_id: params.text("serviceId").unwrap_or_default(),
        file_index,
        transfer_tx,
        claim,
        userdata: parse_userdata(params.get("userdata")),
        range: request.header("range").map(str::to_owned),
    })
}

/// `GET /api/services/initialize?documentId&serviceId&consumerAddress[&transferTxId][&fileIndex][&userdata]`.
pub fn initialize(request: &ApiRequest) -> Result<InitializeRequest> {
    let params = request.params();
    params.require(&["documentId", "serviceId", "consumerAddress"])?;
    let consumer = signer_address(&params, "consumerAddress")?;
    let file_index = params
        .filled_text("fileIndex")
        .map(|t| parse_file_index(&t))
        .transpose()?;
    let transfer_tx = params
        .filled_text("transferTxId")
        .map(|t| parse_tx_hash(&t, "transferTxId"))
        .transpose()?;
    Ok(InitializeRequest {
        did: params.text("documentId").unwrap_or_default(),
        service_id: params.text("serviceId").unwrap_or_default(),
        consumer,
        transfer_tx,
        file_index,
        userdata: parse_userdata(params.get("userdata")),
    })
}

/// `GET /api/services/nonce?userAddress=`.
pub fn nonce(request: &ApiRequest) -> Result<NonceRequest> {
    Ok(NonceRequest {
        address: signer_address(&request.params(), "userAddress")?,
    })
}

/// `POST /api/services/encrypt?chainId=` with an `application/octet-stream` body.
pub fn encrypt(request: &ApiRequest) -> Result<EncryptRequest<'_>> {
    let media_type = crate::request::media_type(request.header("content-type").unwrap_or(""))
        .to_ascii_lowercase();
    if media_type != "application/octet-stream" {
        return Err(ProviderError::BadRequest(
            "Invalid request content type: should be application/octet-stream".into(),
        ));
    }
    let chain = request
        .query_pairs()
        .into_iter()
        .find(|(name, _)| name == "chainId")
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| ProviderError::BadRequest("Missing chainId query parameter.".into()))?;
    Ok(EncryptRequest {
        chain,
        document: &request.body,
    })
}

/// The token endpoints are signed by `address`, and only with a signature.
const TOKEN_OWNER: SignatureRule<'static> = SignatureRule {
    signer_field: "address",
    allow_auth_token: false,
};

/// `GET /api/services/createAuthToken?address&expiration&nonce&signature`; the signed
/// message is the address exactly as sent, then the nonce.
pub fn create_token(request: &ApiRequest) -> Result<CreateTokenRequest> {
    let params = request.params();
    let address_text = params.filled_text("address").unwrap_or_default();
    let expiration = match params.filled_text("expiration") {
        None => {
            return Err(ProviderError::field(
                "expiration",
                "The expiration field is required.",
            ));
        }
        Some(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => text
            .parse::<u64>()
            .map_err(|_| ProviderError::field("expiration", "Invalid timestamp provided."))?,
        Some(_) => {
            return Err(ProviderError::field(
                "expiration",
                "The expiration must be an integer.",
            ));
        }
    };
    Ok(CreateTokenRequest {
        claim: SignedClaim::parse(request, &params, TOKEN_OWNER, address_text)?,
        expiration,
    })
}

/// `DELETE /api/services/deleteAuthToken?address&token&nonce&signature`; signed like
/// create.
pub fn delete_token(request: &ApiRequest) -> Result<DeleteTokenRequest> {
    let params = request.params();
    let address_text = params.filled_text("address").unwrap_or_default();
    let Some(token) = params.filled_text("token") else {
        return Err(ProviderError::field(
            "token",
            "The token field is required.",
        ));
    };
    Ok(DeleteTokenRequest {
        claim: SignedClaim::parse(request, &params, TOKEN_OWNER, address_text)?,
        token,
    })
}

/// Whether `checksum` asks for hashing: `true`, `"true"`, `"1"`, `"yes"` or a non-zero
/// number. The reference treated any non-empty string, `"false"` included, as true.
fn wants_checksum(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => {
            matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes")
        }
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

/// `POST /api/services/fileinfo` with `{"did", "serviceId"}` or a file object
/// (`{"type", ...}`), and optional `checksum` and `userdata`.
pub fn fileinfo(request: &ApiRequest) -> Result<FileInfoRequest> {
    let params = request.params();
    let has_did = params.is_filled("did");
    if !has_did && !params.is_filled("type") {
        return Err(ProviderError::Validation(vec![
            (
                "type".into(),
                FieldMessage::List(vec![
                    "The type field is required when did is not present.".into(),
                ]),
            ),
            (
                "did".into(),
                FieldMessage::List(vec![
                    "The did field is required when type is not present.".into(),
                ]),
            ),
        ]));
    }
    let checksum = wants_checksum(params.get("checksum"));
    let userdata = parse_userdata(params.get("userdata"));
    let source = if has_did {
        let did = params.text("did").unwrap_or_default();
        if !did.starts_with("did:op") {
            return Err(ProviderError::field("did", "The did format is invalid."));
        }
        let Some(service_id) = params.filled_text("serviceId") else {
            return Err(ProviderError::field(
                "serviceId",
                "The serviceId field is required when type is not present.",
            ));
        };
        FileInfoSource::Service { did, service_id }
    } else {
        let mut object = params.0;
        object.remove("checksum");
        object.remove("userdata");
        FileInfoSource::Object(object)
    };
    Ok(FileInfoRequest {
        source,
        checksum,
        userdata,
    })
}

/// `GET /api/services/assetUrls?documentId&serviceId&publisherAddress&nonce&signature`;
/// the signed message is `documentId + nonce`.
pub fn asset_urls(request: &ApiRequest) -> Result<AssetUrlsRequest> {
    let params = request.params();
    let Some(did) = params.filled_text("documentId") else {
        return Err(ProviderError::field(
            "documentId",
            "The documentId field is required.",
        ));
    };
    let Some(service_id) = params.filled_text("serviceId") else {
        return Err(ProviderError::field(
            "serviceId",
            "The serviceId field is required.",
        ));
    };
    let publisher = SignatureRule {
        signer_field: "publisherAddress",
        allow_auth_token: true,
    };
    Ok(AssetUrlsRequest {
        claim: SignedClaim::parse(request, &params, publisher, did.clone())?,
        did,
        service_id,
    })
}
