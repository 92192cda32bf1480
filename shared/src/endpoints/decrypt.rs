//! `POST /api/services/decrypt` (spec §5.4): returns a DDO stored on chain (by the
//! `MetadataCreated`/`MetadataUpdated` event of a transaction) or given inline, after
//! checking the caller, the data NFT and the metadata state.
//!
//! Fixed on purpose: events are taken only from the data NFT itself (a look-alike event
//! from another contract in the same transaction does not count), decrypters are
//! compared as addresses, the factory check compares addresses (not strings), a missing
//! receipt is answered at once (the reference waited 120 s), and every bad input is a
//! 400 (the reference gave 503s). The chain reads are one batched JSON-RPC request; the
//! receipt and the factory registration are cached, so a repeated decrypt costs one
//! `eth_call`.

use serde_json::{Value, json};

use crate::asset::metadata::{StoredDocument, check_metadata_state};
use crate::chain::abi::{erc721ListCall, getMetaDataCall};
use crate::chain::{Rpc, RpcCall};
use crate::ports::Platform;
use crate::requests::{DecryptRequest, DecryptSource};
use crate::signed_request::{Dialect, verify};
use crate::{ApiRequest, ApiResponse, ProviderError, Result};

/// `POST /api/services/decrypt`.
pub fn decrypt(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    let input = crate::wire::v2::decrypt(request)?;
    let (plain, dialect) = open_document(platform, &input)?;
    // v2 answers 201; the Ocean Node indexer's provider answers 200 (it accepts both).
    let status = match dialect {
        Dialect::V2 => 201,
        Dialect::Node => 200,
    };
    Ok(ApiResponse::bytes(status, "text/plain", plain))
}

/// The operation: the plaintext document, for an authorized decrypter, of a data NFT
/// genuinely deployed by the factory and in a state that allows it, with the dialect
/// the request was signed in.
pub fn open_document(
    platform: &Platform<'_>,
    input: &DecryptRequest,
) -> Result<(Vec<u8>, Dialect)> {
    let authorized = verify(platform, &input.claim)?;
    // As in the reference (and the issue), a decrypt with a valid signature uses up its
    // nonce whatever happens next.
    authorized.consume_nonce(platform)?;

    let chains = platform.settings.chains()?;
    let chain = chains.resolve(&input.chain)?;
    let allowed = platform.settings.authorized_decrypters()?;
    // The provider's own address always passes (an Ocean Node reads its own documents).
    if !allowed.is_empty()
        && !allowed.contains(&authorized.signer)
        && authorized.signer != chain.key.address()
    {
        return Err(ProviderError::Forbidden("Decrypter not authorized".into()));
    }
    let nft = input.nft;
    let tx_hash = match &input.source {
        DecryptSource::Transaction(tx) => Some(*tx),
        DecryptSource::Inline(_) => None,
    };
    let factory = platform
        .settings
        .contract_addresses(chain.id)?
        .factory(chain.id)?;

    let rpc = Rpc::new(
        chain,
        platform.http,
        platform.kv,
        platform.settings.request_timeout()?,
    );
    let factory_flag = format!("erc721List:{factory:#x}:{nft:#x}");
    let registered_cached = rpc.cached_flag(&factory_flag);
    let cached_receipt = tx_hash.as_ref().and_then(|tx| rpc.cached_receipt(tx));

    // One round trip for everything not cached.
    let mut calls = vec![RpcCall {
        method: "eth_call",
        params: Rpc::eth_call_params(&nft, &getMetaDataCall {}),
    }];
    if !registered_cached {
        calls.push(RpcCall {
            method: "eth_call",
            params: Rpc::eth_call_params(&factory, &erc721ListCall { nft }),
        });
    }
    let fetch_receipt = tx_hash.is_some() && cached_receipt.is_none();
    if let (true, Some(tx)) = (fetch_receipt, tx_hash.as_ref()) {
        calls.push(RpcCall {
            method: "eth_getTransactionReceipt",
            params: json!([tx]),
        });
    }
    let mut answers = rpc.batch(&calls)?.into_iter();
    let metadata_answer = answers.next().unwrap_or(Ok(Value::Null));
    if !registered_cached {
        let registered =
            rpc.decode_call::<erc721ListCall>(answers.next().unwrap_or(Ok(Value::Null)))?;
        match registered {
            Ok(address) if address == nft => rpc.cache_flag(&factory_flag),
            _ => {
                return Err(ProviderError::BadRequest(
                    "Asset not deployed by the data NFT factory.".into(),
                ));
            }
        }
    }
    let document = match &input.source {
        DecryptSource::Inline(document) => document.clone(),
        DecryptSource::Transaction(tx) if fetch_receipt => {
            let receipt = rpc.receipt_from_answer(tx, answers.next().unwrap_or(Ok(Value::Null)))?;
            StoredDocument::from_receipt(receipt.as_ref(), &nft)?
        }
        DecryptSource::Transaction(_) => {
            StoredDocument::from_receipt(cached_receipt.as_ref(), &nft)?
        }
    };
    let metadata = rpc
        .decode_call::<getMetaDataCall>(metadata_answer)?
        .map_err(|_| {
            ProviderError::Upstream(format!(
                "Provider {}: could not read the data NFT's metadata state.",
                crate::chain::network_name(chain.id)
            ))
        })?;
    check_metadata_state(metadata.state)?;
    let plain = document.open(&chain.key)?;
    Ok((plain, authorized.dialect))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::parse_address;
    use crate::cipher;
    use sha2::{Digest, Sha256};

    /// The request, served through the route table as the component would.
    fn handle(request: &ApiRequest, platform: &Platform<'_>) -> ApiResponse {
        crate::routes::serve_full("decrypt", request, platform)
    }
    use crate::config::ProviderKey;
    use crate::fakes::FakePlatform;
    use crate::signature::sign_message;
    use alloy_sol_types::SolCall;
    use k256::ecdsa::SigningKey;

    use crate::fakes::{CONSUMER, CONSUMER_KEY, PROVIDER_KEY};
    const NFT: &str = "0xBD558814eE914800EbfeF4a1cbE196F5161823d9";
    const FACTORY: &str = "0x053aE1FeCdc2f391753E2Bf2AAe301E75CC0aac9";

    fn platform(extra: &[(&str, &str)]) -> FakePlatform {
        let address_file =
            format!(r#"{{"development": {{"chainId": 8996, "ERC721Factory": "{FACTORY}"}}}}"#);
        let mut vars: Vec<(&str, &str)> = vec![
            ("network_url", r#"{"8996": "http://rpc"}"#),
            ("provider_private_key", PROVIDER_KEY),
            ("address_file", Box::leak(address_file.into_boxed_str())),
        ];
        vars.extend_from_slice(extra);
        FakePlatform::new(&vars)
    }

    /// A fake node: `getMetaData` returns `state`, `erc721List` returns `registered`.
    fn node(fake: &FakePlatform, state: u8, registered: &'static str) {
        fake.http.answer(move |req| {
            let calls: Value = serde_json::from_slice(&req.body).unwrap();
            let calls = match calls {
                Value::Array(items) => items,
                one => vec![one],
            };
            let answers: Vec<Value> = calls
                .iter()
                .map(|call| {
                    let data = call["params"][0]["data"].as_str().unwrap_or_default();
                    let result = if data.starts_with("0xd2786ba4") {
                        let ret = getMetaDataCall::abi_encode_returns(&metadata_return(state));
                        format!("0x{}", hex::encode(ret))
                    } else {
                        let ret =
                            erc721ListCall::abi_encode_returns(&parse_address(registered).unwrap());
                        format!("0x{}", hex::encode(ret))
                    };
                    json!({"jsonrpc": "2.0", "id": call["id"], "result": result})
                })
                .collect();
            let body = if answers.len() == 1 {
                answers[0].clone()
            } else {
                Value::Array(answers)
            };
            Ok((200, vec![], body.to_string().into_bytes()))
        });
    }

    fn metadata_return(state: u8) -> crate::chain::abi::getMetaDataReturn {
        crate::chain::abi::getMetaDataReturn {
            decryptorUrl: String::new(),
            decryptorAddress: String::new(),
            state,
            hasMetaData: true,
        }
    }

    fn inline_request(document: &[u8], flags: u8, hash: &[u8], nonce: &str) -> ApiRequest {
        let key = SigningKey::from_slice(&hex::decode(&CONSUMER_KEY[2..]).unwrap()).unwrap();
        let signature = sign_message(&key, &format!("{NFT}{CONSUMER}8996{nonce}"))
            .unwrap()
            .to_hex_v27();
        let body = json!({
            "decrypterAddress": CONSUMER, "chainId": 8996, "dataNftAddress": NFT,
            "encryptedDocument": format!("0x{}", hex::encode(document)), "flags": flags,
            "documentHash": format!("0x{}", hex::encode(hash)), "nonce": nonce, "signature": signature,
        });
        ApiRequest::new("POST", "/api/services/decrypt").with_body(body.to_string())
    }

    fn encrypted(doc: &[u8]) -> Vec<u8> {
        cipher::encrypt(&ProviderKey::parse(PROVIDER_KEY).unwrap().public_key(), doc).unwrap()
    }

    #[test]
    fn inline_document_decrypts_and_the_factory_check_is_cached() {
        let fake = platform(&[]);
        node(&fake, 0, NFT);
        let doc = br#"{"id":"did:op:1"}"#;
        let r = handle(
            &inline_request(&encrypted(doc), 2, &Sha256::digest(doc), "1"),
            &fake.ports(),
        );
        assert_eq!(r.status, 201, "{:?}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.body, doc);
        // Second time: only getMetaData is asked (one call, not a batch).
        let before = fake.http.count();
        let r = handle(
            &inline_request(&encrypted(doc), 2, &Sha256::digest(doc), "2"),
            &fake.ports(),
        );
        assert_eq!(r.status, 201);
        assert_eq!(fake.http.count(), before + 1);
        let last: Value =
            serde_json::from_slice(&fake.http.requests.lock().unwrap().last().unwrap().body)
                .unwrap();
        assert!(last.is_object(), "{last}");
    }

    #[test]
    fn plain_and_lzma_documents() {
        let fake = platform(&[]);
        node(&fake, 0, NFT);
        let doc = b"plain document".to_vec();
        let r = handle(
            &inline_request(&doc, 0, &Sha256::digest(&doc), "1"),
            &fake.ports(),
        );
        assert_eq!((r.status, r.body.clone()), (201, doc.clone()));
        let mut compressed = Vec::new();
        lzma_rs::xz_compress(&mut std::io::BufReader::new(&doc[..]), &mut compressed).unwrap();
        let r = handle(
            &inline_request(&encrypted(&compressed), 3, &Sha256::digest(&doc), "2"),
            &fake.ports(),
        );
        assert_eq!((r.status, r.body.clone()), (201, doc.clone()));
        let mut legacy = Vec::new();
        lzma_rs::lzma_compress(&mut std::io::BufReader::new(&doc[..]), &mut legacy).unwrap();
        let r = handle(
            &inline_request(&legacy, 1, &Sha256::digest(&doc), "3"),
            &fake.ports(),
        );
        assert_eq!((r.status, r.body.clone()), (201, doc));
        let r = handle(
            &inline_request(b"not lzma", 1, &[0; 32], "4"),
            &fake.ports(),
        );
        assert_eq!(r.body_json().unwrap()["error"], "Failed to decompress");
    }

    #[test]
    fn states_factory_hash_and_authorization() {
        let doc = b"d".to_vec();
        let cases: [(u8, &'static str, u16, &str); 5] = [
            (1, NFT, 403, "Asset end of life"),
            (2, NFT, 403, "Asset deprecated"),
            (3, NFT, 403, "Asset revoked"),
            (9, NFT, 400, "Invalid MetadataState"),
            (
                0,
                "0x0000000000000000000000000000000000000000",
                400,
                "Asset not deployed by the data NFT factory.",
            ),
        ];
        for (state, registered, status, message) in cases {
            let fake = platform(&[]);
            node(&fake, state, registered);
            let r = handle(
                &inline_request(&doc, 0, &Sha256::digest(&doc), "1"),
                &fake.ports(),
            );
            assert_eq!(r.status, status, "{message}");
            assert_eq!(r.body_json().unwrap()["error"], message);
        }
        let fake = platform(&[]);
        node(&fake, 0, NFT);
        let r = handle(&inline_request(&doc, 0, &[1; 32], "1"), &fake.ports());
        assert_eq!(r.body_json().unwrap()["error"], "Checksum doesn't match.");
        let r = handle(&inline_request(b"garbage", 2, &[1; 32], "2"), &fake.ports());
        assert_eq!(r.body_json().unwrap()["error"], "Failed to decrypt.");
        let fake = platform(&[(
            "authorized_decrypters",
            r#"["0xe08a1dae983bc701d05e492db80e0144f8f4b909"]"#,
        )]);
        node(&fake, 0, NFT);
        let r = handle(
            &inline_request(&doc, 0, &Sha256::digest(&doc), "1"),
            &fake.ports(),
        );
        assert_eq!(
            (r.status, r.body_json().unwrap()["error"].clone()),
            (403, json!("Decrypter not authorized"))
        );
        // Compared as addresses: the lowercase list entry matches the checksummed signer.
        let fake = platform(&[(
            "authorized_decrypters",
            &*Box::leak(format!(r#"["{}"]"#, CONSUMER.to_lowercase()).into_boxed_str()),
        )]);
        node(&fake, 0, NFT);
        assert_eq!(
            handle(
                &inline_request(&doc, 0, &Sha256::digest(&doc), "1"),
                &fake.ports()
            )
            .status,
            201
        );
    }

    #[test]
    fn malformed_inline_arguments_are_400() {
        let fake = platform(&[]);
        node(&fake, 0, NFT);
        let mut req = inline_request(b"x", 0, &[0; 32], "1");
        let mut body: Value = serde_json::from_slice(&req.body).unwrap();
        body["encryptedDocument"] = json!("0xzz");
        req.body = body.to_string().into_bytes();
        let r = handle(&req, &fake.ports());
        assert_eq!(
            (r.status, r.body_json().unwrap()["error"].clone()),
            (400, json!("Failed to convert input args to bytes."))
        );
    }

    #[test]
    fn missing_fields_are_listed() {
        let fake = platform(&[]);
        let r = handle(
            &ApiRequest::new("POST", "/api/services/decrypt").with_body("{}"),
            &fake.ports(),
        );
        assert_eq!(r.status, 400);
        let errors = r.body_json().unwrap()["errors"].clone();
        for field in [
            "decrypterAddress",
            "chainId",
            "dataNftAddress",
            "transactionId",
            "nonce",
        ] {
            assert!(errors.get(field).is_some(), "{field}: {errors}");
        }
        assert_eq!(fake.http.count(), 0);
    }

    #[test]
    fn rpc_down_is_503_without_the_url() {
        let fake = platform(&[]);
        let doc = b"d".to_vec();
        let r = handle(
            &inline_request(&doc, 0, &Sha256::digest(&doc), "1"),
            &fake.ports(),
        );
        assert_eq!(r.status, 503);
        assert!(!String::from_utf8_lossy(&r.body).contains("http://rpc"));
    }

    #[test]
    fn malformed_input_with_a_valid_signature_leaves_the_nonce_unused() {
        let fake = platform(&[]);
        node(&fake, 0, NFT);
        let doc = b"{}";
        // Flags that are not a number: the document cannot even be read.
        let mut body: Value =
            serde_json::from_slice(&inline_request(doc, 0, &Sha256::digest(doc), "1").body)
                .unwrap();
        body["flags"] = json!("two");
        let bad = ApiRequest::new("POST", "/api/services/decrypt").with_body(body.to_string());
        let before = fake.kv.snapshot();
        let r = handle(&bad, &fake.ports());
        assert_eq!(r.status, 400, "{:?}", r.body_json());
        assert_eq!(fake.kv.snapshot(), before, "no nonce was used up");
        // The same nonce still works for a well-formed request.
        let good = inline_request(doc, 0, &Sha256::digest(doc), "1");
        assert_eq!(handle(&good, &fake.ports()).status, 201);
    }
}
