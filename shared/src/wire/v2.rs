//! The Python Provider v2 dialect: parameter names, the reference's validation
//! messages (and their order), and the messages its clients sign.

use crate::address::parse_address;
use crate::asset::files::{parse_file_index, parse_userdata};
use crate::asset::metadata::StoredDocument;
use crate::chain::parse_tx_hash;
use crate::error::FieldMessage;
use crate::request::Params;
use crate::requests::{
    AssetUrlsRequest, ComputeControlRequest, ComputeResultRequest, ComputeStatusRequest,
    CreateTokenRequest, DecryptRequest, DecryptSource, DeleteTokenRequest, DownloadRequest,
    EncryptRequest, FileInfoRequest, FileInfoSource, InitializeComputeRequest, InitializeRequest,
    JobSelector, NonceRequest, StartComputeRequest,
};
use crate::signed_request::{SignatureRule, SignedClaim, authorization_token, signer_address};
use crate::wire::node::command;
use crate::{ApiRequest, ProviderError, Result};
use alloy_primitives::B256;
use serde_json::Value;

/// Consumers sign with `consumerAddress`; an auth token may replace the signature.
const CONSUMER: SignatureRule<'static> = SignatureRule {
    signer_field: "consumerAddress",
    allow_auth_token: true,
};

/// Whether the request's only proof is an Ocean Node `Authorization` token (no
/// signature, no `AuthToken` header), which comes without a nonce.
fn node_token_only(request: &ApiRequest, params: &crate::request::Params) -> bool {
    !params.is_filled("signature")
        && request
            .header("AuthToken")
            .is_none_or(|t| t.trim().is_empty())
        && authorization_token(request).is_some()
}

/// Requires `fields` and the nonce, except for an Ocean Node token request (which
/// carries none): the reference's one validation error listing every missing field.
fn require_signed(
    request: &ApiRequest,
    params: &crate::request::Params,
    fields: &[&str],
) -> Result<()> {
    let mut required = fields.to_vec();
    if !node_token_only(request, params) {
        required.push("nonce");
    }
    params.require(&required)
}

/// `GET /api/services/download?documentId&serviceId&consumerAddress&transferTxId&fileIndex&nonce&signature`;
/// the signed message is `documentId + nonce` (v2) or `consumerAddress + nonce +
/// "download"` (Ocean Node), and either dialect's token may stand in.
pub fn download(request: &ApiRequest) -> Result<DownloadRequest> {
    let params = request.params();
    require_signed(
        request,
        &params,
        &[
            "documentId",
            "serviceId",
            "consumerAddress",
            "transferTxId",
            "fileIndex",
        ],
    )?;
    let did = params.text("documentId").unwrap_or_default();
    let claim =
        SignedClaim::parse_shared(request, &params, CONSUMER, did.clone(), command::DOWNLOAD)?;
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
        job_id: params.filled_text("jobId"),
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
        claim: None,
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
        expiration: Some(expiration),
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

const DECRYPTER: SignatureRule<'static> = SignatureRule {
    signer_field: "decrypterAddress",
    allow_auth_token: true,
};

fn validate_decrypt(params: &Params) -> Result<()> {
    let mut errors: Vec<(String, FieldMessage)> = Vec::new();
    let mut require = |field: &str, message: String| {
        if !params.is_filled(field) {
            errors.push((field.to_owned(), FieldMessage::List(vec![message])));
        }
    };
    for field in ["decrypterAddress", "chainId", "dataNftAddress"] {
        require(field, format!("The {field} field is required."));
    }
    let inline = ["encryptedDocument", "flags", "documentHash"];
    let any_inline = inline.iter().any(|f| params.is_filled(f));
    if !params.is_filled("transactionId") || any_inline {
        if !params.is_filled("transactionId") && !any_inline {
            require(
                "transactionId",
                "The transactionId field is required when encryptedDocument, flags, documentHash are not present.".into(),
            );
        }
        if !params.is_filled("transactionId") {
            for field in inline {
                require(
                    field,
                    format!("The {field} field is required when transactionId is not present."),
                );
            }
        }
    }
    require("nonce", "The nonce field is required.".into());
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ProviderError::Validation(errors))
    }
}

fn inline_document(params: &Params) -> Result<StoredDocument> {
    let failed = || ProviderError::BadRequest("Failed to convert input args to bytes.".into());
    let data = params
        .text("encryptedDocument")
        .and_then(|t| crate::signature::decode_hex(&t))
        .ok_or_else(failed)?;
    let flags = match params.get("flags") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
    .and_then(|n| u8::try_from(n).ok())
    .ok_or_else(failed)?;
    let hash = params
        .text("documentHash")
        .and_then(|t| crate::signature::decode_hex(&t))
        .filter(|bytes| bytes.len() == 32)
        .map(|bytes| B256::from_slice(&bytes))
        .ok_or_else(failed)?;
    Ok(StoredDocument { data, flags, hash })
}

/// `POST /api/services/decrypt` with `decrypterAddress`, `chainId`, `dataNftAddress`,
/// `nonce`, `signature` and either `transactionId` or the inline `encryptedDocument`,
/// `flags` and `documentHash`. The signed message is `transactionId` (else
/// `dataNftAddress`) + `decrypterAddress` + `chainId` + nonce, each as sent (v2), or
/// `decrypterAddress + nonce + "decryptDDO"` (an Ocean Node indexer).
pub fn decrypt(request: &ApiRequest) -> Result<DecryptRequest> {
    let params = request.params();
    validate_decrypt(&params)?;
    let transaction_id = params.filled_text("transactionId");
    let nft_text = params.text("dataNftAddress").unwrap_or_default();
    let decrypter_text = params.text("decrypterAddress").unwrap_or_default();
    let chain = params.text("chainId").unwrap_or_default();
    let subject = transaction_id.clone().unwrap_or_else(|| nft_text.clone());
    let message = format!("{subject}{decrypter_text}{chain}");
    let claim = SignedClaim::parse_shared(request, &params, DECRYPTER, message, command::DECRYPT)?;
    let nft = parse_address(&nft_text).ok_or_else(|| {
        ProviderError::field(
            "dataNftAddress",
            "The dataNftAddress must be an Ethereum address (0x and 40 hex digits).",
        )
    })?;
    let source = match transaction_id {
        Some(tx) => DecryptSource::Transaction(parse_tx_hash(&tx, "transactionId")?),
        None => DecryptSource::Inline(inline_document(&params)?),
    };
    Ok(DecryptRequest {
        claim,
        chain,
        nft,
        source,
    })
}

/// The compute workflow's refusal (`{"error": {<resource>: <code>}}`).
fn compute_refusal(resource: &str, code: &str) -> ProviderError {
    crate::compute::workflow::refusal(resource, code)
}

/// `POST /api/services/initializeCompute` with `datasets`, `algorithm`,
/// `compute.env`, `compute.validUntil` and `consumerAddress`.
pub fn initialize_compute(request: &ApiRequest) -> Result<InitializeComputeRequest> {
    let params = request.params();
    params.require(&[
        "datasets",
        "compute.env",
        "compute.validUntil",
        "consumerAddress",
    ])?;
    if !params.is_filled("algorithm.documentId") && !params.is_filled("algorithm.meta") {
        return Err(ProviderError::field(
            "algorithm.documentId",
            "The algorithm.documentId field is required when algorithm.meta is not present.",
        ));
    }
    let consumer = signer_address(&params, "consumerAddress")?;
    let valid_until: u64 = params
        .text("compute.validUntil")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            ProviderError::field(
                "compute.validUntil",
                "The compute.validUntil must be an integer.",
            )
        })?;
    Ok(InitializeComputeRequest {
        consumer,
        datasets: params
            .get("datasets")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        algorithm: params.get("algorithm").cloned().unwrap_or(Value::Null),
        environment: params.text("compute.env").unwrap_or_default(),
        valid_until,
    })
}

/// The claim of `POST /api/services/compute`: v2's `consumerAddress + jobId +
/// dataset.documentId + nonce`, or Ocean Node's `consumerAddress + nonce +
/// "startCompute"` (ocean.js 8 also sends `dataset`, so both pass the same checks).
pub fn start_compute_claim(request: &ApiRequest) -> Result<SignedClaim> {
    let params = request.params();
    require_signed(
        request,
        &params,
        &[
            "dataset.documentId",
            "dataset.serviceId",
            "dataset.transferTxId",
            "consumerAddress",
        ],
    )?;
    let consumer_text = params.text("consumerAddress").unwrap_or_default();
    let job_id = params.text("jobId").unwrap_or_default();
    let did = params.text("dataset.documentId").unwrap_or_default();
    SignedClaim::parse_shared(
        request,
        &params,
        CONSUMER,
        format!("{consumer_text}{job_id}{did}"),
        command::START_COMPUTE,
    )
}

/// `POST /api/services/compute` with `dataset`, optional `additionalDatasets`,
/// `algorithm`, `environment`, optional `output`, `consumerAddress`, `nonce` and
/// `signature`; the signed message is `consumerAddress + jobId + dataset.documentId +
/// nonce` (`jobId` empty when absent), each as sent.
pub fn start_compute(request: &ApiRequest) -> Result<StartComputeRequest> {
    let params = request.params();
    let claim = start_compute_claim(request)?;
    let environment = params
        .filled_text("environment")
        .ok_or_else(|| ProviderError::field("environment", "The environment field is required."))?;
    let mut datasets = vec![params.get("dataset").cloned().unwrap_or(Value::Null)];
    match params.get("additionalDatasets") {
        None | Some(Value::Null) => {}
        Some(Value::Array(more)) => datasets.extend(more.iter().cloned()),
        Some(_) => return Err(compute_refusal("additional_input", "invalid")),
    }
    let output = match params.get("output") {
        Some(Value::String(text)) => Some(
            serde_json::from_str::<Value>(text)
                .map_err(|_| compute_refusal("output", "invalid"))?,
        ),
        other => other.cloned(),
    };
    Ok(StartComputeRequest {
        claim,
        datasets,
        algorithm: params.get("algorithm").cloned().unwrap_or(Value::Null),
        environment,
        output,
    })
}

fn job_selector(params: &Params) -> JobSelector {
    JobSelector {
        job_id: params.filled_text("jobId"),
        document_id: params.filled_text("documentId"),
    }
}

/// `GET /api/services/compute?consumerAddress[&jobId][&documentId]` (query, or the
/// JSON body when there is no query).
pub fn compute_status(request: &ApiRequest) -> Result<ComputeStatusRequest> {
    let params = request.params();
    Ok(ComputeStatusRequest {
        consumer: signer_address(&params, "consumerAddress")?,
        jobs: job_selector(&params),
    })
}

/// `PUT` (stop) / `DELETE` (delete) `/api/services/compute` with `consumerAddress`,
/// `jobId`, `documentId`, `nonce`, `signature`; the signed message is
/// `consumerAddress + jobId + documentId + nonce`, each as sent.
pub fn compute_control(request: &ApiRequest) -> Result<ComputeControlRequest> {
    let params = request.params();
    let message = format!(
        "{}{}{}",
        params.text("consumerAddress").unwrap_or_default(),
        params.text("jobId").unwrap_or_default(),
        params.text("documentId").unwrap_or_default()
    );
    Ok(ComputeControlRequest {
        delete: request.method == "DELETE",
        claim: SignedClaim::parse_shared(
            request,
            &params,
            CONSUMER,
            message,
            command::STOP_COMPUTE,
        )?,
        jobs: job_selector(&params),
    })
}

/// `GET /api/services/computeResult?jobId&index&consumerAddress&nonce&signature`; the
/// signed message is `consumerAddress + jobId + index + nonce`.
pub fn compute_result(request: &ApiRequest) -> Result<ComputeResultRequest> {
    let params = request.params();
    require_signed(request, &params, &["jobId", "index", "consumerAddress"])?;
    let consumer_text = params.text("consumerAddress").unwrap_or_default();
    let job_id = params.text("jobId").unwrap_or_default();
    let index = params.text("index").unwrap_or_default();
    Ok(ComputeResultRequest {
        claim: SignedClaim::parse_shared(
            request,
            &params,
            CONSUMER,
            format!("{consumer_text}{job_id}{index}"),
            command::GET_COMPUTE_RESULT,
        )?,
        job_id,
        index,
        range: request.header("range").map(str::to_owned),
    })
}
