//! `POST /api/services/decrypt` against assets published on the local chain.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use alloy_primitives::Address;
use ocean_provider::config::ProviderKey;
use provider_e2e::chain::{Asset, LocalChain};
use provider_e2e::rpc_proxy::RpcProxy;
use provider_e2e::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn provider_public_key() -> k256::PublicKey {
    ProviderKey::parse(DEV_PROVIDER_KEY).unwrap().public_key()
}

fn ddo_for(name: &str) -> Vec<u8> {
    json!({"@context": ["https://w3id.org/did/v1"], "version": "4.1.0", "chainId": 8996,
           "metadata": {"name": name, "type": "dataset"}})
    .to_string()
    .into_bytes()
}

/// One asset published for the read-only tests.
fn asset() -> &'static Asset {
    static ASSET: OnceLock<Asset> = OnceLock::new();
    ASSET.get_or_init(|| {
        LocalChain::shared().publish(
            "decrypt-main",
            &ddo_for("decrypt-main"),
            &provider_public_key(),
        )
    })
}

fn checksum(address: &Address) -> String {
    address.to_checksum(None)
}

/// Builds a signed decrypt body for `subject` (transaction id or NFT address).
fn signed_body(
    account: &Account,
    mut fields: Value,
    subject: &str,
    chain_id: &str,
    nonce: &str,
) -> Value {
    let signature = account.sign(&format!("{subject}{}{chain_id}{nonce}", account.address));
    fields["decrypterAddress"] = json!(account.address);
    fields["nonce"] = json!(nonce);
    fields["signature"] = json!(signature);
    fields
}

fn by_transaction(account: &Account, asset: &Asset, nonce: &str) -> Value {
    let tx = format!("{:#x}", asset.metadata_tx);
    signed_body(
        account,
        json!({"chainId": 8996, "dataNftAddress": checksum(&asset.nft), "transactionId": tx}),
        &tx,
        "8996",
        nonce,
    )
}

fn inline(
    account: &Account,
    nft: &Address,
    document: &[u8],
    flags: Value,
    hash: &[u8],
    nonce: &str,
) -> Value {
    signed_body(
        account,
        json!({"chainId": 8996, "dataNftAddress": checksum(nft),
               "encryptedDocument": format!("0x{}", hex::encode(document)), "flags": flags,
               "documentHash": format!("0x{}", hex::encode(hash))}),
        &checksum(nft),
        "8996",
        nonce,
    )
}

fn post(provider: &Provider, body: &Value) -> Reply {
    post_json(&provider.url("/api/services/decrypt"), body)
}

fn error_of(reply: &Reply) -> String {
    reply.json()["error"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| reply.text())
}

fn provider_with(label: &str, vars: BTreeMap<String, String>) -> (Provider, TempDir) {
    let dir = TempDir::new(label);
    (Provider::start(dir.path(), vars), dir)
}

#[test]
fn decrypt_by_transaction_id_returns_the_published_ddo() {
    let provider = shared_provider();
    let account = Account::named("decrypt-by-tx");
    let reply = post(provider, &by_transaction(&account, asset(), "1"));
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(reply.body, asset().ddo);
}

#[test]
fn decrypt_by_encrypted_document_returns_the_original_bytes() {
    let provider = shared_provider();
    let account = Account::named("decrypt-inline");
    let doc = ddo_for("inline");
    let encrypted = ocean_provider::cipher::encrypt(&provider_public_key(), &doc).unwrap();
    let reply = post(
        provider,
        &inline(
            &account,
            &asset().nft,
            &encrypted,
            json!(2),
            &Sha256::digest(&doc),
            "1",
        ),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.body, doc);
}

#[test]
fn wrong_signer_and_replayed_nonces_are_refused() {
    let provider = shared_provider();
    let account = Account::named("decrypt-signer");
    let mallory = Account::named("decrypt-mallory");
    let mut forged = by_transaction(&account, asset(), "1");
    let tx = format!("{:#x}", asset().metadata_tx);
    forged["signature"] = json!(mallory.sign(&format!("{tx}{}89961", account.address)));
    let reply = post(provider, &forged);
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["errors"]["signature"]
            .as_str()
            .unwrap()
            .contains(&mallory.address),
        "{}",
        reply.text()
    );

    let body = by_transaction(&account, asset(), "2");
    assert_eq!(post(provider, &body).status, 201);
    let replay = post(provider, &body);
    assert_eq!(replay.status, 400);
    assert!(
        replay.json()["errors"]["signature"]
            .as_str()
            .unwrap()
            .contains("expected nonce (2)")
    );
    let stale = post(provider, &by_transaction(&account, asset(), "1.5"));
    assert_eq!(stale.status, 400);
}

#[test]
fn an_nft_not_from_the_factory_is_refused() {
    let chain = LocalChain::shared();
    let account = Account::named("decrypt-factory");
    let doc = b"x".to_vec();
    let reply = post(
        shared_provider(),
        &inline(
            &account,
            &chain.contracts.log_forger,
            &doc,
            json!(0),
            &Sha256::digest(&doc),
            "1",
        ),
    );
    assert_eq!(reply.status, 400);
    assert_eq!(
        error_of(&reply),
        "Asset not deployed by the data NFT factory."
    );
}

#[test]
fn metadata_states_decide_access() {
    let chain = LocalChain::shared();
    let asset = chain.publish("decrypt-states", &ddo_for("states"), &provider_public_key());
    let account = Account::named("decrypt-states");
    let mut nonce = 0;
    let mut next = || {
        nonce += 1;
        nonce.to_string()
    };
    for (state, status, message) in [
        (1u8, 403, "Asset end of life"),
        (2, 403, "Asset deprecated"),
        (3, 403, "Asset revoked"),
    ] {
        chain.set_metadata_state(asset.nft, state);
        let reply = post(
            shared_provider(),
            &by_transaction(&account, &asset, &next()),
        );
        assert_eq!(
            (reply.status, error_of(&reply)),
            (status, message.to_owned()),
            "state {state}"
        );
    }
    for state in [4u8, 5, 0] {
        chain.set_metadata_state(asset.nft, state);
        let reply = post(
            shared_provider(),
            &by_transaction(&account, &asset, &next()),
        );
        assert_eq!(reply.status, 201, "state {state}: {}", reply.text());
        assert_eq!(reply.body, asset.ddo);
    }
}

#[test]
fn bad_documents_hashes_flags_and_hex_are_400() {
    let provider = shared_provider();
    let account = Account::named("decrypt-bad-docs");
    let nft = asset().nft;
    let doc = ddo_for("bad");
    let encrypted = ocean_provider::cipher::encrypt(&provider_public_key(), &doc).unwrap();
    let cases: Vec<(Value, &str)> = vec![
        (
            inline(&account, &nft, &encrypted, json!(2), &[7u8; 32], "1"),
            "Checksum doesn't match.",
        ),
        (
            inline(&account, &nft, &doc, json!(2), &Sha256::digest(&doc), "2"),
            "Failed to decrypt.",
        ),
        (
            inline(
                &account,
                &nft,
                &encrypted,
                json!(3),
                &Sha256::digest(&doc),
                "3",
            ),
            "Failed to decompress",
        ),
        (
            inline(
                &account,
                &nft,
                &encrypted,
                json!("two"),
                &Sha256::digest(&doc),
                "4",
            ),
            "Failed to convert input args to bytes.",
        ),
        (
            inline(
                &account,
                &nft,
                &encrypted,
                json!(256),
                &Sha256::digest(&doc),
                "5",
            ),
            "Failed to convert input args to bytes.",
        ),
        (
            inline(&account, &nft, &encrypted, json!(2), &[1, 2, 3], "6"),
            "Failed to convert input args to bytes.",
        ),
    ];
    for (body, message) in cases {
        let reply = post(provider, &body);
        assert_eq!((reply.status, error_of(&reply)), (400, message.to_owned()));
    }
    let mut malformed = inline(
        &account,
        &nft,
        &encrypted,
        json!(2),
        &Sha256::digest(&doc),
        "7",
    );
    malformed["encryptedDocument"] = json!("0xnot-hex");
    let reply = post(provider, &malformed);
    assert_eq!(
        (reply.status, error_of(&reply)),
        (400, "Failed to convert input args to bytes.".to_owned())
    );
    let reply = post(provider, &json!({}));
    assert_eq!(reply.status, 400);
    assert!(reply.json()["errors"]["decrypterAddress"].is_array());
}

#[test]
fn an_unknown_chain_is_400() {
    let account = Account::named("decrypt-chain");
    let tx = format!("{:#x}", asset().metadata_tx);
    let body = signed_body(
        &account,
        json!({"chainId": 1, "dataNftAddress": checksum(&asset().nft), "transactionId": tx}),
        &tx,
        "1",
        "1",
    );
    let reply = post(shared_provider(), &body);
    assert_eq!(reply.status, 400);
    assert!(
        error_of(&reply).contains("Unsupported chainId 1"),
        "{}",
        reply.text()
    );
}

#[test]
fn a_look_alike_metadata_event_from_another_contract_is_ignored() {
    let chain = LocalChain::shared();
    let account = Account::named("decrypt-forger");
    // The forger claims a plaintext document of its own, with a correct hash, in a
    // transaction that never touched the real NFT.
    let evil = b"{\"id\":\"evil\"}".to_vec();
    let forged_tx = chain.forge_metadata_event(0, evil.clone(), &evil);
    let tx = format!("{forged_tx:#x}");
    let body = signed_body(
        &account,
        json!({"chainId": 8996, "dataNftAddress": checksum(&asset().nft), "transactionId": tx}),
        &tx,
        "8996",
        "1",
    );
    let reply = post(shared_provider(), &body);
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_ne!(reply.body, evil);
    assert!(
        error_of(&reply).starts_with("Failed to process transaction id"),
        "{}",
        reply.text()
    );
    // An unknown transaction is answered at once, not waited for.
    let unknown = format!("0x{}", "ab".repeat(32));
    let body = signed_body(
        &account,
        json!({"chainId": 8996, "dataNftAddress": checksum(&asset().nft), "transactionId": unknown}),
        &unknown,
        "8996",
        "2",
    );
    let started = std::time::Instant::now();
    let reply = post(shared_provider(), &body);
    assert_eq!(reply.status, 400);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn unauthorised_decrypters_get_403() {
    let chain = LocalChain::shared();
    let mut vars = Provider::chain_vars(chain);
    vars.insert(
        "authorized_decrypters".into(),
        json!([format!("{:#x}", chain.accounts.provider)]).to_string(),
    );
    let (provider, _dir) = provider_with("decrypters", vars);
    let stranger = Account::named("decrypt-unlisted");
    let reply = post(&provider, &by_transaction(&stranger, asset(), "1"));
    assert_eq!(
        (reply.status, error_of(&reply)),
        (403, "Decrypter not authorized".to_owned())
    );
}

#[test]
fn rpc_down_is_503_without_the_url_and_a_fallback_url_is_used() {
    let chain = LocalChain::shared();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let mut vars = Provider::chain_vars(chain);
    vars.insert("network_url".into(), json!({"8996": [closed]}).to_string());
    vars.insert("request_timeout".into(), "2".into());
    let (down, _dir) = provider_with("rpc-down", vars.clone());
    let account = Account::named("decrypt-rpc");
    let reply = post(&down, &by_transaction(&account, asset(), "1"));
    assert_eq!(reply.status, 503, "{}", reply.text());
    let text = reply.text();
    assert!(text.contains("chain 8996"), "{text}");
    assert!(
        !text.contains("127.0.0.1") && !text.contains("http"),
        "{text}"
    );
    drop(down);

    vars.insert(
        "network_url".into(),
        json!({"8996": [closed, chain.rpc_url]}).to_string(),
    );
    let (fallback, _dir2) = provider_with("rpc-fallback", vars);
    let reply = post(&fallback, &by_transaction(&account, asset(), "2"));
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.body, asset().ddo);
}

#[test]
fn rpc_calls_per_decrypt_cold_and_cached() {
    let chain = LocalChain::shared();
    let proxy = RpcProxy::start(&chain.rpc_url);
    let mut vars = Provider::chain_vars(chain);
    vars.insert("network_url".into(), json!({"8996": proxy.url}).to_string());
    let (provider, _dir) = provider_with("rpc-count", vars);
    let asset = chain.publish("decrypt-count", &ddo_for("count"), &provider_public_key());
    let account = Account::named("decrypt-count");
    let (calls0, requests0) = (proxy.calls(), proxy.requests());
    assert_eq!(
        post(&provider, &by_transaction(&account, &asset, "1")).status,
        201
    );
    let (cold_calls, cold_requests) = (proxy.calls() - calls0, proxy.requests() - requests0);
    assert_eq!(
        post(&provider, &by_transaction(&account, &asset, "2")).status,
        201
    );
    let (warm_calls, warm_requests) = (
        proxy.calls() - calls0 - cold_calls,
        proxy.requests() - requests0 - cold_requests,
    );
    println!(
        "decrypt RPC cost: cold {cold_calls} calls in {cold_requests} HTTP request(s); cached {warm_calls} call(s) in {warm_requests}"
    );
    assert_eq!((cold_calls, cold_requests), (3, 1));
    assert_eq!((warm_calls, warm_requests), (1, 1));
}

/// The real ERC721 template emits `MetadataUpdated` when metadata is set again: the
/// provider decrypts each transaction's own document (the update's, and still the
/// original's from the creating transaction), and the NFT's state decides for both.
#[test]
fn a_metadata_update_decrypts_from_its_own_transaction_and_the_original_still_does() {
    let chain = LocalChain::shared();
    let provider = shared_provider();
    let account = Account::named("decrypt-update");
    let original = chain.publish(
        "decrypt-update",
        &ddo_for("decrypt-update v1"),
        &provider_public_key(),
    );
    let updated_ddo = ddo_for("decrypt-update v2");
    let sealed = ocean_provider::cipher::encrypt(&provider_public_key(), &updated_ddo).unwrap();
    let update_tx = chain.set_metadata(original.nft, 2, sealed, &updated_ddo);
    let updated = Asset {
        metadata_tx: update_tx,
        ddo: updated_ddo.clone(),
        ..original.clone()
    };
    let reply = post(provider, &by_transaction(&account, &updated, "1"));
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.body, updated_ddo);
    let reply = post(provider, &by_transaction(&account, &original, "2"));
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.body, original.ddo);
    assert_ne!(original.ddo, updated_ddo);
}
