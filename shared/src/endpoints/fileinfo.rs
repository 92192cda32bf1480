//! `POST /api/services/fileinfo` (spec §5.5) and `GET /api/services/assetUrls`.
//!
//! fileinfo fixes what users complained about: a file's length is learnt without
//! reading it (HEAD, else a one-byte range probe), checksums are streamed and only for
//! files within `max_checksum_length`, `checksum: "false"` means false, `{}` is a 400,
//! every hop of every fetch is checked for non-public destinations, and with `did` no
//! file URL appears in the answer or in errors.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::asset::fetch::{FetchError, contract_content, http_details};
use crate::asset::files::{
    FileKind, FileRequest, file_request, readable_service_files, validate_file,
};
use crate::asset::resolve_service;
use crate::chain::abi::ownerOfCall;
use crate::chain::{Rpc, network_name};
use crate::ports::Platform;
use crate::requests::{FileInfoRequest, FileInfoSource};
use crate::signed_request::verify;
use crate::{ApiRequest, ApiResponse, ProviderError, Result};

fn file_entry(
    platform: &Platform<'_>,
    index: usize,
    file: &Value,
    userdata: Option<&Value>,
    checksum_limit: Option<u64>,
    from_caller: bool,
) -> Result<Value> {
    let object = validate_file(file, userdata).map_err(|err| {
        if from_caller {
            // The caller sent this object: a validation failure of its fields.
            ProviderError::field(err.field, err.message)
        } else {
            ProviderError::BadRequest(err.message)
        }
    })?;
    let request = file_request(platform, &object, userdata)?;
    let mut entry = json!({"index": index, "type": object.kind.name(), "valid": false});
    let details = match &request {
        FileRequest::Http { .. } => {
            match http_details(
                platform.http,
                platform.settings.fetch_policy()?,
                &request,
                checksum_limit,
            ) {
                Ok(details) => {
                    details.map(|d| (d.content_length, d.content_type, d.filename, d.checksum))
                }
                // An unsafe URL is refused; an unreachable file is just not valid.
                Err(err @ FetchError::Unsafe(_)) => return Err(err.into()),
                Err(_) => None,
            }
        }
        FileRequest::Contract { .. } => {
            // A call that cannot be made means the file is not valid (the reference's
            // answer), whatever the reason.
            contract_content(platform, &request, platform.settings.request_timeout()?)?
                .ok()
                .map(|content| {
                    let length = content.len() as u64;
                    let checksum = checksum_limit
                        .filter(|limit| length <= *limit)
                        .map(|_| hex::encode(Sha256::digest(&content)));
                    (
                        Some(length),
                        "application/json".to_owned(),
                        String::new(),
                        checksum,
                    )
                })
        }
    };
    if let Some((length, content_type, filename, checksum)) = details {
        entry["valid"] = json!(true);
        entry["contentLength"] = json!(length.map(|l| l.to_string()).unwrap_or_default());
        entry["contentType"] = json!(content_type);
        let filename = if object.kind == FileKind::Arweave {
            String::new()
        } else {
            filename
        };
        // `name` is Ocean Node's key for what v2 calls `filename`: both are sent.
        entry["name"] = json!(filename);
        entry["filename"] = json!(filename);
        if let Some(checksum) = checksum {
            entry["checksum"] = json!(checksum);
            entry["checksumType"] = json!("sha256");
        }
    }
    Ok(entry)
}

/// `POST /api/services/fileinfo`.
pub fn fileinfo(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    let entries = describe_files(platform, &crate::wire::v2::fileinfo(request)?)?;
    Ok(ApiResponse::json(200, &Value::Array(entries)))
}

/// The operation: one entry per file (validity, length, type, name, checksum).
pub fn describe_files(platform: &Platform<'_>, input: &FileInfoRequest) -> Result<Vec<Value>> {
    let checksum_limit = if input.checksum {
        Some(platform.settings.max_checksum_length()?)
    } else {
        None
    };
    let (files, from_caller) = match &input.source {
        FileInfoSource::Service { did, service_id } => {
            let (ddo, index, chain) = resolve_service(platform, did, service_id)?;
            let service = &ddo.services[index];
            let files = readable_service_files(&ddo, service, chain)?;
            (files, false)
        }
        FileInfoSource::Object(object) => (vec![Value::Object(object.clone())], true),
    };
    let mut entries = Vec::with_capacity(files.len());
    for (index, file) in files.iter().enumerate() {
        entries.push(file_entry(
            platform,
            index,
            file,
            input.userdata.as_ref(),
            checksum_limit,
            from_caller,
        )?);
    }
    Ok(entries)
}

/// `GET /api/services/assetUrls?documentId&serviceId&publisherAddress&nonce&signature`:
/// the decrypted file objects of a service, for the data NFT's owner only (`ownerOf(1)`
/// of the ERC721 template, read on chain). Signed message: `documentId + nonce`.
pub fn asset_urls(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    let input = crate::wire::v2::asset_urls(request)?;
    let authorized = verify(platform, &input.claim)?;
    let (ddo, index, chain) = resolve_service(platform, &input.did, &input.service_id)?;
    let nft = ddo
        .nft_address
        .as_deref()
        .and_then(crate::address::parse_address)
        .ok_or_else(|| {
            ProviderError::BadRequest(format!(
                "Provider {}: Asset malformed or disabled.",
                network_name(chain.id)
            ))
        })?;
    let rpc = Rpc::new(
        chain,
        platform.http,
        platform.kv,
        platform.settings.request_timeout()?,
    );
    let owner = rpc
        .eth_call(
            &nft,
            &ownerOfCall {
                tokenId: alloy_primitives::U256::from(1),
            },
        )?
        .map_err(|_| ProviderError::BadRequest("The data NFT has no owner on chain.".into()))?;
    if owner != authorized.signer {
        return Err(ProviderError::Unauthorized(
            "Only the owner of the data NFT may read the file URLs of this asset.".into(),
        ));
    }
    let service = &ddo.services[index];
    let files = readable_service_files(&ddo, service, chain)?;
    authorized.consume_nonce(platform)?;
    Ok(ApiResponse::json(200, &Value::Array(files)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request, served through the route table as the component would.
    fn handle(request: &ApiRequest, platform: &Platform<'_>) -> ApiResponse {
        crate::routes::serve_full("fileinfo", request, platform)
    }
    use crate::fakes::FakePlatform;

    fn post(body: Value) -> ApiRequest {
        ApiRequest::new("POST", "/api/services/fileinfo").with_body(body.to_string())
    }

    #[test]
    fn url_file_details_and_checksum_flag() {
        let fake = FakePlatform::new(&[("max_checksum_length", "100")]);
        fake.http.answer(|req| {
            let head = vec![
                ("content-length".to_owned(), "5".to_owned()),
                ("content-type".to_owned(), "text/csv".to_owned()),
            ];
            if req.method == "HEAD" {
                Ok((200, head, vec![]))
            } else {
                Ok((200, head, b"a,b\n1".to_vec()))
            }
        });
        let p = fake.ports();
        let r = handle(
            &post(
                json!({"type": "url", "url": "https://files.example/d/data.csv", "method": "GET", "checksum": "false"}),
            ),
            &p,
        );
        assert_eq!(r.status, 200, "{:?}", r.body_json());
        let entry = &r.body_json().unwrap()[0];
        assert_eq!(entry["contentLength"], "5");
        assert_eq!(entry["contentType"], "text/csv");
        assert_eq!(entry["filename"], "data.csv");
        assert!(entry.get("checksum").is_none());
        assert_eq!(fake.http.count(), 1);
        let r = handle(
            &post(
                json!({"type": "url", "url": "https://files.example/d/data.csv", "checksum": true}),
            ),
            &p,
        );
        let entry = &r.body_json().unwrap()[0];
        assert_eq!(entry["checksum"], hex::encode(Sha256::digest(b"a,b\n1")));
        assert_eq!(entry["checksumType"], "sha256");
    }

    #[test]
    fn empty_requests_and_unsafe_urls_are_400() {
        let fake = FakePlatform::new(&[]);
        let p = fake.ports();
        let r = handle(&post(json!({})), &p);
        assert_eq!(r.status, 400);
        assert!(r.body_json().unwrap()["errors"]["type"].is_array());
        let r = handle(
            &post(json!({"type": "url", "url": "http://127.0.0.1:8080/secret"})),
            &p,
        );
        assert_eq!(r.status, 400);
        assert!(
            r.body_json().unwrap()["error"]
                .as_str()
                .unwrap()
                .starts_with("Unsafe URL")
        );
        // File objects the caller sends are validated like any other input.
        let r = handle(&post(json!({"type": "ftp"})), &p);
        assert_eq!(r.status, 400);
        assert_eq!(
            r.body_json().unwrap(),
            json!({"errors": {"type": ["Unsupported type ftp"]}, "message": "Validation error", "success": false})
        );
        for (object, field) in [
            (json!({"type": "url"}), "url"),
            (json!({"type": "ipfs"}), "hash"),
            (json!({"type": "arweave"}), "transactionId"),
        ] {
            let r = handle(&post(object), &p);
            assert_eq!(r.status, 400, "{field}");
            let body = r.body_json().unwrap();
            assert_eq!(body["message"], "Validation error", "{field}");
            assert!(body["errors"][field].is_array(), "{field}: {body}");
        }
        assert_eq!(fake.http.count(), 0);
    }

    #[test]
    fn unreachable_files_are_valid_false() {
        let fake = FakePlatform::new(&[]);
        let r = handle(
            &post(json!({"type": "url", "url": "https://down.example/x"})),
            &fake.ports(),
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body_json().unwrap(),
            json!([{"index": 0, "type": "url", "valid": false}])
        );
    }
}
