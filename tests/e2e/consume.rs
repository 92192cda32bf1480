//! The consume flow on the local chain: `initialize` → `startOrder` with exactly the
//! returned fee → `download`, and everything that must be refused on the way.

use std::sync::OnceLock;

use alloy_primitives::{Address, B256};
use provider_e2e::assets::{Dataset, publish_dataset};
use provider_e2e::chain::LocalChain;
use provider_e2e::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const SMALL: &[u8] = b"id,value\n1,alpha\n2,beta\n3,gamma\n";
const BIG_LEN: usize = 64 * 1024 * 1024;

fn big_file() -> Vec<u8> {
    (0..BIG_LEN)
        .map(|i| (i % 251) as u8 ^ (i >> 16) as u8)
        .collect()
}

struct Fixture {
    dataset: Dataset,
    order_tx: B256,
}

fn consumer() -> Account {
    Account::from_key(CONSUMER_KEY)
}

fn files() -> &'static file_server::FileServer {
    let server = shared_file_server();
    static SEEDED: OnceLock<()> = OnceLock::new();
    SEEDED.get_or_init(|| {
        server.add_file("small.csv", SMALL.to_vec());
        server.add_file("big.bin", big_file());
    });
    server
}

fn file_list(server: &file_server::FileServer) -> Vec<Value> {
    vec![
        json!({"type": "url", "url": format!("{}/files/small.csv", server.url), "method": "GET"}),
        json!({"type": "url", "url": format!("{}/files/big.bin", server.url), "method": "GET"}),
    ]
}

fn initialize(provider: &Provider, dataset: &Dataset, consumer: &str, extra: &str) -> Reply {
    get(&provider.url(&format!(
        "/api/services/initialize?documentId={}&serviceId=svc&consumerAddress={consumer}{extra}",
        dataset.did
    )))
}

/// Publishes, quotes and orders: the consumer holds a valid order for the dataset.
fn order(chain: &LocalChain, dataset: &Dataset) -> B256 {
    order_checking(chain, dataset, "&fileIndex=0")
}

fn order_checking(chain: &LocalChain, dataset: &Dataset, extra: &str) -> B256 {
    let quote = initialize(shared_provider(), dataset, &consumer().address, extra);
    assert_eq!(quote.status, 200, "{}", quote.text());
    let quote = quote.json();
    assert_eq!(
        quote["datatoken"],
        json!(dataset.datatoken.to_checksum(None))
    );
    let consumer = chain.accounts.consumer;
    chain.order(consumer, consumer, dataset.datatoken, &quote["providerFee"])
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let chain = LocalChain::shared();
        let dataset = publish_dataset(
            chain,
            files(),
            "consume-main",
            "access",
            &file_list(files()),
            0,
        );
        let order_tx = order(chain, &dataset);
        Fixture { dataset, order_tx }
    })
}

fn download_url(
    dataset: &Dataset,
    tx: &B256,
    account: &Account,
    address: &str,
    file_index: &str,
    nonce: &str,
) -> String {
    shared_provider().url(&format!(
        "/api/services/download?documentId={}&serviceId=svc&transferTxId={tx:#x}&fileIndex={file_index}&consumerAddress={address}&nonce={nonce}&signature={}",
        dataset.did,
        account.sign(&format!("{}{nonce}", dataset.did))
    ))
}

fn next_nonce(address: &str) -> String {
    next_nonce_on(shared_provider(), address)
}

fn next_nonce_on(provider: &Provider, address: &str) -> String {
    let reply = get(&provider.url(&format!("/api/services/nonce?userAddress={address}")));
    let current = reply.json()["nonce"].as_f64().unwrap_or(0.0) as u64;
    (current + 1).to_string()
}

fn download(file_index: &str, headers: &[(&str, &str)]) -> Reply {
    let f = fixture();
    let account = consumer();
    let url = download_url(
        &f.dataset,
        &f.order_tx,
        &account,
        &account.address,
        file_index,
        &next_nonce(&account.address),
    );
    request("GET", &url, headers, None)
}

fn error_of(reply: &Reply) -> String {
    reply.json()["error"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| reply.text())
}

#[test]
fn initialize_quotes_a_fee_that_start_order_accepts_and_download_returns_the_file() {
    let _session = consumer_session();
    let f = fixture();
    let reply = download("0", &[]);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.body, SMALL);
    assert_eq!(
        reply.header("content-disposition"),
        Some("attachment;filename=small.csv")
    );
    assert_eq!(
        reply.header("access-control-expose-headers"),
        Some("Content-Disposition")
    );
    // With the order's transaction, initialize answers validOrder.
    let valid = initialize(
        shared_provider(),
        &f.dataset,
        &consumer().address,
        &format!("&transferTxId={:#x}", f.order_tx),
    );
    assert_eq!(
        valid.json(),
        json!({"validOrder": format!("{:#x}", f.order_tx)})
    );
}

#[test]
fn a_64_mib_file_streams_intact_with_flat_memory() {
    let _session = consumer_session();
    // Warm up: first instantiation, allocator pools, the DDO and receipt caches.
    assert_eq!(download("0", &[]).status, 200);
    let before = shared_provider()
        .peak_rss_kib()
        .expect("the runner's memory is readable");
    let reply = download("1", &[]);
    let after = shared_provider().peak_rss_kib().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.body.len(), BIG_LEN);
    assert_eq!(Sha256::digest(&reply.body), Sha256::digest(big_file()));
    // A provider that buffered the file would have grown its peak by at least 64 MiB.
    assert!(
        after < before + 32 * 1024,
        "the runner's peak RSS grew from {before} KiB to {after} KiB during a 64 MiB download"
    );
}

#[test]
fn ranges_give_206_for_first_middle_last_bytes_and_resume() {
    let _session = consumer_session();
    let big = big_file();
    for (range, start, end) in [
        ("bytes=0-9", 0, 9),
        ("bytes=1000000-1000099", 1_000_000, 1_000_099),
        (
            &*format!("bytes={}-", BIG_LEN - 10),
            BIG_LEN - 10,
            BIG_LEN - 1,
        ),
    ] {
        let reply = download("1", &[("Range", range)]);
        assert_eq!(reply.status, 206, "{range}");
        assert_eq!(reply.body, big[start..=end], "{range}");
        assert_eq!(
            reply.header("content-range"),
            Some(&*format!("bytes {start}-{end}/{BIG_LEN}"))
        );
    }
    // A cut download resumes where it stopped.
    let cut = 40 * 1024 * 1024;
    let rest = download("1", &[("Range", &format!("bytes={cut}-"))]);
    assert_eq!(rest.status, 206);
    let mut joined = big[..cut].to_vec();
    joined.extend_from_slice(&rest.body);
    assert_eq!(Sha256::digest(&joined), Sha256::digest(&big));
}

#[test]
fn file_index_out_of_range_or_negative_is_400() {
    let _session = consumer_session();
    for index in ["2", "-1", "x"] {
        let reply = download(index, &[]);
        assert_eq!(reply.status, 400, "{index}: {}", reply.text());
    }
    assert!(error_of(&download("2", &[])).contains("No such fileIndex 2"));
}

#[test]
fn another_consumer_cannot_use_the_order() {
    let _session = consumer_session();
    let f = fixture();
    let stranger = Account::named("consume-stranger");
    let url = download_url(
        &f.dataset,
        &f.order_tx,
        &stranger,
        &stranger.address,
        "0",
        "1",
    );
    let reply = get(&url);
    assert_eq!(reply.status, 400);
    assert!(
        error_of(&reply).contains("sender of order transaction is not the consumer/payer."),
        "{}",
        reply.text()
    );
}

#[test]
fn replayed_download_urls_are_refused_in_any_letter_case() {
    let _session = consumer_session();
    let f = fixture();
    let account = consumer();
    let nonce = next_nonce(&account.address);
    let url = download_url(
        &f.dataset,
        &f.order_tx,
        &account,
        &account.address,
        "0",
        &nonce,
    );
    assert_eq!(get(&url).status, 200);
    assert_eq!(get(&url).status, 400);
    let lower = download_url(
        &f.dataset,
        &f.order_tx,
        &account,
        &account.address.to_lowercase(),
        "0",
        &nonce,
    );
    assert_eq!(get(&lower).status, 400);
}

#[test]
fn fifty_concurrent_downloads_with_one_signed_nonce_exactly_one_200() {
    let _session = consumer_session();
    let f = fixture();
    let account = consumer();
    let url = download_url(
        &f.dataset,
        &f.order_tx,
        &account,
        &account.address,
        "0",
        &format!("{}.5", next_nonce(&account.address)),
    );
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(50));
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let (url, barrier) = (url.clone(), std::sync::Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                get(&url).status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        49,
        "{statuses:?}"
    );
}

#[test]
fn an_auth_token_replaces_the_signature() {
    let _session = consumer_session();
    let f = fixture();
    let account = consumer();
    let nonce = next_nonce(&account.address);
    let token = get(&shared_provider().url(&format!(
        "/api/services/createAuthToken?address={}&expiration=4000000000&nonce={nonce}&signature={}",
        account.address,
        account.sign(&format!("{}{nonce}", account.address))
    )));
    assert_eq!(token.status, 200, "{}", token.text());
    let token = token.json()["token"].as_str().unwrap().to_owned();
    let nonce = next_nonce(&account.address);
    let url = shared_provider().url(&format!(
        "/api/services/download?documentId={}&serviceId=svc&transferTxId={:#x}&fileIndex=0&consumerAddress={}&nonce={nonce}",
        f.dataset.did, f.order_tx, account.address
    ));
    let reply = request("GET", &url, &[("AuthToken", &token)], None);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.body, SMALL);
}

#[test]
fn orders_for_another_service_index_or_datatoken_do_not_count() {
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let f = fixture();
    // An order of another dataset's datatoken, presented for this dataset.
    let other = publish_dataset(
        chain,
        files(),
        "consume-other",
        "access",
        &file_list(files()),
        0,
    );
    let other_tx = order(chain, &other);
    let account = consumer();
    let url = download_url(
        &f.dataset,
        &other_tx,
        &account,
        &account.address,
        "0",
        &next_nonce(&account.address),
    );
    let reply = get(&url);
    assert_eq!(reply.status, 400);
    assert!(
        error_of(&reply).contains("Cannot find the event for the provider fee"),
        "{}",
        reply.text()
    );
    // An order of this datatoken for service index 1 (which is not this service).
    let quote = initialize(shared_provider(), &f.dataset, &account.address, "").json();
    chain.mint_datatokens(f.dataset.datatoken, chain.accounts.consumer, 1);
    let receipt = chain.start_order(
        chain.accounts.consumer,
        chain.accounts.consumer,
        f.dataset.datatoken,
        1,
        &quote["providerFee"],
    );
    let tx: B256 = serde_json::from_value(receipt["transactionHash"].clone()).unwrap();
    let url = download_url(
        &f.dataset,
        &tx,
        &account,
        &account.address,
        "0",
        &next_nonce(&account.address),
    );
    let reply = get(&url);
    assert_eq!(reply.status, 400);
    assert!(
        error_of(&reply).contains("Cannot find the event for the order transaction"),
        "{}",
        reply.text()
    );
    // A transaction that does not exist is refused at once.
    let unknown = B256::repeat_byte(0x42);
    let reply = get(&download_url(
        &f.dataset,
        &unknown,
        &account,
        &account.address,
        "0",
        &next_nonce(&account.address),
    ));
    assert_eq!(reply.status, 400);
    assert!(
        error_of(&reply).contains("is not in the chain"),
        "{}",
        reply.text()
    );
}

#[test]
fn a_fee_signed_by_another_key_is_refused_on_chain() {
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let f = fixture();
    let mut quote = initialize(shared_provider(), &f.dataset, &consumer().address, "").json();
    // Re-sign the same fee with a stranger's key: the contract itself refuses it.
    let stranger = Account::named("fee-forger");
    let fee = &quote["providerFee"];
    let data = hex::decode(
        fee["providerData"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
    )
    .unwrap();
    let token: Address = fee["providerFeeToken"].as_str().unwrap().parse().unwrap();
    let key =
        ocean_provider::config::ProviderKey::parse(&hex::encode(stranger.key.to_bytes())).unwrap();
    let forged = ocean_provider::provider_fee::ProviderFee::sign(
        &key,
        token,
        Default::default(),
        data,
        Default::default(),
    )
    .unwrap();
    let mut forged_json = forged.to_json();
    forged_json["providerFeeAddress"] = fee["providerFeeAddress"].clone();
    quote["providerFee"] = forged_json;
    chain.mint_datatokens(f.dataset.datatoken, chain.accounts.consumer, 1);
    let receipt = chain.start_order(
        chain.accounts.consumer,
        chain.accounts.consumer,
        f.dataset.datatoken,
        0,
        &quote["providerFee"],
    );
    assert_eq!(
        receipt["status"], "0x0",
        "startOrder must revert with a forged fee"
    );
}

#[test]
fn service_timeout_is_measured_in_chain_time() {
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let dataset = publish_dataset(
        chain,
        files(),
        "consume-timeout",
        "access",
        &file_list(files()),
        3600,
    );
    let tx = order(chain, &dataset);
    let account = consumer();
    let fresh = get(&download_url(
        &dataset,
        &tx,
        &account,
        &account.address,
        "0",
        &next_nonce(&account.address),
    ));
    assert_eq!(fresh.status, 200, "{}", fresh.text());
    chain.increase_time(3601);
    let expired = get(&download_url(
        &dataset,
        &tx,
        &account,
        &account.address,
        "0",
        &next_nonce(&account.address),
    ));
    assert_eq!(expired.status, 400);
    assert!(
        error_of(&expired).contains("The order has expired."),
        "{}",
        expired.text()
    );
    // Reusing the order later restarts the clock.
    let quote = initialize(shared_provider(), &dataset, &account.address, "").json();
    let reuse = chain.reuse_order(
        chain.accounts.consumer,
        dataset.datatoken,
        tx,
        &quote["providerFee"],
    );
    assert_eq!(reuse["status"], "0x1");
    let reuse_tx: B256 = serde_json::from_value(reuse["transactionHash"].clone()).unwrap();
    let reused = get(&download_url(
        &dataset,
        &reuse_tx,
        &account,
        &account.address,
        "0",
        &next_nonce(&account.address),
    ));
    assert_eq!(reused.status, 200, "{}", reused.text());
    let valid = initialize(
        shared_provider(),
        &dataset,
        &account.address,
        &format!("&transferTxId={reuse_tx:#x}"),
    );
    assert_eq!(valid.json(), json!({"validOrder": format!("{tx:#x}")}));
}

#[test]
fn unconsumable_assets_and_credentials() {
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let server = files();
    let account = consumer();
    let dataset = publish_dataset(
        chain,
        server,
        "consume-state",
        "access",
        &file_list(server),
        0,
    );
    chain.set_metadata_state(dataset.nft, 4);
    let reply = initialize(shared_provider(), &dataset, &account.address, "");
    assert_eq!(
        (reply.status, error_of(&reply)),
        (400, "Provider Ganache: Asset is not consumable.".to_owned())
    );

    let mut denied = publish_dataset(
        chain,
        server,
        "consume-deny",
        "access",
        &file_list(server),
        0,
    );
    denied.ddo["credentials"] = json!({"allow": [], "deny": [{"type": "address", "values": [account.address.to_lowercase()]}]});
    server.add_ddo(denied.ddo.clone());
    let reply = initialize(shared_provider(), &denied, &account.address, "");
    assert_eq!(reply.status, 400);
    assert!(
        error_of(&reply).ends_with("ConsumableCodes.CREDENTIAL_IN_DENY_LIST."),
        "{}",
        reply.text()
    );

    let mut allowed = publish_dataset(
        chain,
        server,
        "consume-allow",
        "access",
        &file_list(server),
        0,
    );
    allowed.ddo["credentials"] = json!({"allow": [{"type": "address", "values": [account.address.to_uppercase().replace("0X", "0x")]}]});
    server.add_ddo(allowed.ddo.clone());
    assert_eq!(
        initialize(shared_provider(), &allowed, &account.address, "").status,
        200
    );
    let other = Account::named("consume-not-allowed");
    let reply = initialize(shared_provider(), &allowed, &other.address, "");
    assert!(
        error_of(&reply).ends_with("ConsumableCodes.CREDENTIAL_NOT_IN_ALLOW_LIST."),
        "{}",
        reply.text()
    );
}

#[test]
fn origin_down_is_503_without_its_url() {
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let dead = format!("http://127.0.0.1:{}/gone.csv", free_port());
    let dataset = publish_dataset(
        chain,
        files(),
        "consume-dead",
        "access",
        &[json!({"type": "url", "url": dead})],
        0,
    );
    // initialize refuses an unreachable file when asked to check it.
    let quote = initialize(
        shared_provider(),
        &dataset,
        &consumer().address,
        "&fileIndex=0",
    );
    assert_eq!(quote.status, 400);
    assert!(!quote.text().contains("127.0.0.1"));
    // Ordered anyway (without the check), the download is a 503 that names no URL.
    let tx = order_checking(chain, &dataset, "");
    let account = consumer();
    let reply = get(&download_url(
        &dataset,
        &tx,
        &account,
        &account.address,
        "0",
        &next_nonce(&account.address),
    ));
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(
        !reply.text().contains("127.0.0.1") && !reply.text().contains("gone.csv"),
        "{}",
        reply.text()
    );
}

#[test]
fn look_alike_order_and_fee_events_from_another_contract_are_refused() {
    use alloy_sol_types::SolEvent;
    use ocean_provider::chain::abi::{OrderStarted, ProviderFee as ProviderFeeEvent};
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let f = fixture();
    // A genuine fee, signed by the provider through a free initialize...
    let quote = initialize(shared_provider(), &f.dataset, &consumer().address, "").json();
    let fee = &quote["providerFee"];
    let text = |name: &str| fee[name].as_str().unwrap().to_owned();
    let fee_event = ProviderFeeEvent {
        providerFeeAddress: text("providerFeeAddress").parse().unwrap(),
        providerFeeToken: text("providerFeeToken").parse().unwrap(),
        providerFeeAmount: text("providerFeeAmount").parse().unwrap(),
        providerData: hex::decode(text("providerData").trim_start_matches("0x"))
            .unwrap()
            .into(),
        v: u8::try_from(fee["v"].as_u64().unwrap()).unwrap(),
        r: text("r").parse().unwrap(),
        s: text("s").parse().unwrap(),
        validUntil: alloy_primitives::U256::ZERO,
    };
    // ...and an order for our consumer, both emitted by a contract that is not the datatoken.
    let started = OrderStarted {
        consumer: chain.accounts.consumer,
        payer: chain.accounts.consumer,
        amount: alloy_primitives::U256::from(10).pow(alloy_primitives::U256::from(18)),
        serviceIndex: alloy_primitives::U256::ZERO,
        timestamp: alloy_primitives::U256::from(now_secs()),
        publishMarketAddress: Address::ZERO,
        blockNumber: alloy_primitives::U256::from(1u64),
    };
    let as_log = |data: alloy_primitives::LogData| {
        let topics = data.topics();
        ([topics[0], topics[1], topics[2]], data.data.to_vec())
    };
    let code = provider_e2e::chain::event_emitter_code(&[
        as_log(fee_event.encode_log_data()),
        as_log(started.encode_log_data()),
    ]);
    let forger = chain.deploy(chain.accounts.stranger, code, Vec::new());
    let receipt = chain.transact(chain.accounts.consumer, forger, Vec::new());
    assert_eq!(
        receipt["logs"].as_array().unwrap().len(),
        2,
        "the forger emitted both events"
    );
    let forged_tx: B256 = serde_json::from_value(receipt["transactionHash"].clone()).unwrap();
    let account = consumer();
    let reply = get(&download_url(
        &f.dataset,
        &forged_tx,
        &account,
        &account.address,
        "0",
        &next_nonce(&account.address),
    ));
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(
        error_of(&reply).contains("Cannot find the event for the provider fee"),
        "{}",
        reply.text()
    );
    assert_ne!(reply.body, SMALL);
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn an_origin_redirecting_to_a_private_address_is_refused() {
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let server = files();
    let target = "http://169.254.169.254/latest/meta-data/";
    let redirecting =
        json!({"type": "url", "url": format!("{}/redirect-to?{}", server.url, encode(target))});
    let dataset = publish_dataset(
        chain,
        server,
        "consume-redirect",
        "access",
        &[redirecting],
        0,
    );
    let tx = order_checking(chain, &dataset, "");
    let account = consumer();
    // The origin is on loopback, so the component's own literal check must be off here
    // (it refuses 169.254.169.254 itself, see the unit tests); the platform blocks the
    // metadata range at connect time, on the redirect hop.
    let dir = TempDir::new("redirect-block");
    let mut vars = Provider::chain_vars(chain);
    vars.insert("aquarius_url".into(), server.url.clone());
    let provider = Provider::start_with_runtime_config(
        dir.path(),
        vars,
        "[outbound_networking]\nblock_networks = [\"169.254.0.0/16\"]\n",
    );
    let nonce = next_nonce(&account.address);
    let url = provider.url(&format!(
        "/api/services/download?documentId={}&serviceId=svc&transferTxId={tx:#x}&fileIndex=0&consumerAddress={}&nonce={nonce}&signature={}",
        dataset.did,
        account.address,
        account.sign(&format!("{}{nonce}", dataset.did))
    ));
    let reply = get(&url);
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(error_of(&reply).contains("Unsafe URL"), "{}", reply.text());
    assert!(!reply.text().contains("169.254"), "{}", reply.text());
}

#[test]
fn an_origin_error_is_answered_with_our_own_error_and_leaves_the_nonce_unused() {
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let server = files();
    let dataset = publish_dataset(
        chain,
        server,
        "consume-failing-origin",
        "access",
        &[
            json!({"type": "url", "url": format!("{}/failing/404/data.csv", server.url)}),
            json!({"type": "url", "url": format!("{}/failing/403/data.csv", server.url)}),
            json!({"type": "url", "url": format!("{}/failing/500/data.csv", server.url)}),
            json!({"type": "url", "url": format!("{}/files/small.csv", server.url)}),
        ],
        0,
    );
    let tx = order_checking(chain, &dataset, "");
    let account = consumer();
    for index in ["0", "1", "2"] {
        let nonce = next_nonce(&account.address);
        let url = download_url(&dataset, &tx, &account, &account.address, index, &nonce);
        for attempt in 0..2 {
            let reply = get(&url);
            assert_eq!(reply.status, 400, "file {index}: {}", reply.text());
            let error = error_of(&reply);
            assert!(
                error.contains(&format!("file index {index}")),
                "file {index}: {error}"
            );
            let text = reply.text();
            for secret in [
                "secret-bucket",
                "NoSuchKey",
                "private/data",
                "failing",
                "127.0.0.1",
            ] {
                assert!(
                    !text.contains(secret),
                    "file {index} leaks {secret}: {text}"
                );
            }
            assert!(reply.header("x-amz-request-id").is_none());
            assert_eq!(
                reply.header("content-type"),
                Some("application/json"),
                "attempt {attempt}"
            );
        }
        // The same signed request failed twice without using its nonce up.
        assert_eq!(next_nonce(&account.address), nonce, "file {index}");
    }
    // A 416 to a Range request passes as 416, without the origin's body, and also
    // leaves the nonce for the retry.
    let nonce = next_nonce(&account.address);
    let url = download_url(&dataset, &tx, &account, &account.address, "3", &nonce);
    let unsatisfiable = request("GET", &url, &[("Range", "bytes=100000-")], None);
    assert_eq!(unsatisfiable.status, 416, "{}", unsatisfiable.text());
    assert!(error_of(&unsatisfiable).contains("file index 3"));
    let retried = get(&url);
    assert_eq!(retried.status, 200, "{}", retried.text());
    assert_eq!(retried.body, SMALL);
    assert_eq!(
        get(&url).status,
        400,
        "the nonce is used up once the file was sent"
    );
}

/// "Now" is the later of the latest block's time and the provider's clock: on a chain
/// that mines only on traffic, the latest block's time stands still, and an order must
/// expire there all the same.
#[test]
fn orders_expire_on_an_idle_chain_and_reuse_order_works_after_expiry() {
    // A chain and a metadata stand-in of its own: nothing else mines blocks on it, and
    // its deterministic contract addresses cannot clash with the shared chain's DIDs.
    let chain = LocalChain::start();
    let server = file_server::FileServer::start();
    server.add_file("idle.csv", SMALL.to_vec());
    let dataset = publish_dataset(
        &chain,
        &server,
        "consume-idle-chain",
        "access",
        &[json!({"type": "url", "url": format!("{}/files/idle.csv", server.url)})],
        3,
    );
    let dir = TempDir::new("idle-chain");
    let mut vars = Provider::chain_vars(&chain);
    vars.insert("aquarius_url".into(), server.url.clone());
    let provider = Provider::start(dir.path(), vars);
    let account = consumer();
    let quote = |provider: &Provider| {
        let reply = initialize(provider, &dataset, &account.address, "");
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    };
    let download = |tx: &B256, nonce: u64| {
        get(&provider.url(&format!(
            "/api/services/download?documentId={}&serviceId=svc&transferTxId={tx:#x}&fileIndex=0&consumerAddress={}&nonce={nonce}&signature={}",
            dataset.did,
            account.address,
            account.sign(&format!("{}{nonce}", dataset.did))
        )))
    };
    let consumer = chain.accounts.consumer;
    let tx = chain.order(
        consumer,
        consumer,
        dataset.datatoken,
        &quote(&provider)["providerFee"],
    );
    let fresh = download(&tx, 1);
    assert_eq!(fresh.status, 200, "{}", fresh.text());
    let block_before = chain.rpc("eth_blockNumber", json!([]));
    std::thread::sleep(std::time::Duration::from_secs(5));
    let expired = download(&tx, 2);
    assert_eq!(
        chain.rpc("eth_blockNumber", json!([])),
        block_before,
        "no block was mined meanwhile"
    );
    assert_eq!(expired.status, 400, "{}", expired.text());
    assert!(
        error_of(&expired).contains("The order has expired."),
        "{}",
        expired.text()
    );
    let reuse = chain.reuse_order(
        chain.accounts.consumer,
        dataset.datatoken,
        tx,
        &quote(&provider)["providerFee"],
    );
    assert_eq!(reuse["status"], "0x1");
    let reuse_tx: B256 = serde_json::from_value(reuse["transactionHash"].clone()).unwrap();
    let reused = download(&reuse_tx, 3);
    assert_eq!(reused.status, 200, "{}", reused.text());
    assert_eq!(reused.body, SMALL);
}

/// The streamed answer of a download holds its head back until the first chunk of the
/// file is there, so both leave in one write (see `first_read_of_second_answer`).
#[test]
fn a_streamed_download_sends_its_head_with_the_first_bytes() {
    let _session = consumer_session();
    let f = fixture();
    let account = consumer();
    let host = shared_provider()
        .base_url
        .trim_start_matches("http://")
        .to_owned();
    let raw = |nonce: &str| {
        let url = download_url(
            &f.dataset,
            &f.order_tx,
            &account,
            &account.address,
            "0",
            nonce,
        );
        let path = url
            .trim_start_matches(&shared_provider().base_url)
            .to_owned();
        format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n")
    };
    let first = next_nonce(&account.address);
    let second = (first.parse::<u64>().unwrap() + 1).to_string();
    let (first_read, total) =
        first_read_of_second_answer(&shared_provider().base_url, &raw(&first), &raw(&second));
    let text = String::from_utf8_lossy(&first_read).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(first_read.len(), total, "{text}");
    assert!(first_read.ends_with(SMALL));
}

/// Reads a raw HTTP/1.1 answer to EOF; (head, decoded body, whether the chunked body
/// ended with its terminating chunk).
fn raw_chunked_get(url: &str) -> (String, Vec<u8>, bool) {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut body = &raw[split + 4..];
    let mut decoded = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return (head, decoded, false);
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return (head, decoded, true);
        }
        let start = line_end + 2;
        if body.len() < start + size + 2 {
            decoded.extend_from_slice(&body[start.min(body.len())..]);
            return (head, decoded, false);
        }
        decoded.extend_from_slice(&body[start..start + size]);
        body = &body[start + size + 2..];
    }
}

#[test]
fn an_origin_dying_mid_body_cuts_the_download_visibly() {
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let server = files();
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    server.add_file("dying.bin", content.clone());
    let file =
        json!({"type": "url", "url": format!("{}/dying/dying.bin", server.url), "method": "GET"});
    let dataset = publish_dataset(chain, server, "consume-dying", "access", &[file], 0);
    let tx = order_checking(chain, &dataset, "");
    let account = consumer();
    let url = download_url(
        &dataset,
        &tx,
        &account,
        &account.address,
        "0",
        &next_nonce(&account.address),
    );
    let (head, body, complete) = raw_chunked_get(&url);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    // The consumer must be able to tell: no terminating chunk, and not all the bytes.
    assert!(
        !complete,
        "a cut download ended like a complete one ({} bytes)",
        body.len()
    );
    assert!(body.len() < content.len());
    assert_eq!(
        body,
        content[..body.len()],
        "what arrived is the start of the file"
    );
}

#[test]
fn an_rbac_server_is_asked_with_the_references_request_and_its_denial_is_a_403() {
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let f = fixture();
    let server = files();
    let account = consumer();
    for (verdict, status) in [("deny", 403), ("allow", 200)] {
        let dir = TempDir::new("rbac");
        let mut vars = Provider::chain_vars(chain);
        vars.insert("aquarius_url".into(), server.url.clone());
        vars.insert(
            "rbac_server_url".into(),
            format!("{}/rbac/{verdict}", server.url),
        );
        let provider = Provider::start(dir.path(), vars);
        let before = server.rbac_calls().len();
        let quote = initialize(&provider, &f.dataset, &account.address, "");
        assert_eq!(quote.status, status, "{verdict}: {}", quote.text());
        if status == 403 {
            assert!(error_of(&quote).contains("denied"), "{}", quote.text());
        }
        // A signed download: asked as "access", after the signature was checked.
        let nonce = next_nonce(&account.address);
        let url = download_url(
            &f.dataset,
            &f.order_tx,
            &account,
            &account.address,
            "0",
            &nonce,
        )
        .replace(&shared_provider().base_url, &provider.base_url);
        let download = get(&url);
        assert_eq!(download.status, status, "{verdict}: {}", download.text());
        let calls = server.rbac_calls()[before..].to_vec();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(calls[0]["eventType"], "initialize");
        assert_eq!(calls[1]["eventType"], "access");
        for call in &calls {
            assert_eq!(call["component"], "provider");
            assert_eq!(call["providerAccess"], "public");
            assert_eq!(call["providerAddress"], DEV_PROVIDER_ADDRESS);
            assert_eq!(
                call["credentials"],
                json!({"type": "address", "value": account.address})
            );
            assert_eq!(
                call["dids"],
                json!([{"did": f.dataset.did, "serviceId": "svc"}])
            );
        }
        // A request with a bad signature never reaches the RBAC server.
        let forged = get(&provider.url(&format!(
            "/api/services/download?documentId={}&serviceId=svc&transferTxId={:#x}&fileIndex=0&consumerAddress={}&nonce=99999999999999&signature={}",
            f.dataset.did, f.order_tx, account.address, account.sign("something else")
        )));
        assert_eq!(forged.status, 400);
        assert_eq!(server.rbac_calls().len(), before + 2);
    }
}

/// Waits (up to 30 s) until `probe` finds something.
fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "{what} never came");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn form_field(form: &str, name: &str) -> Option<String> {
    ocean_provider::request::parse_query(form)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

fn proving_provider(dir: &TempDir, sink: &str, chain_proof: bool) -> Provider {
    let chain = LocalChain::shared();
    let server = files();
    let mut vars = Provider::chain_vars(chain);
    vars.insert("aquarius_url".into(), server.url.clone());
    vars.insert("request_timeout".into(), "20".into());
    vars.insert("use_http_proof".into(), sink.to_owned());
    vars.insert("use_chain_proof".into(), chain_proof.to_string());
    Provider::start(dir.path(), vars)
}

fn signed_download_on(
    provider: &Provider,
    dataset: &Dataset,
    tx: &B256,
) -> (String, String, String) {
    let account = consumer();
    let nonce = next_nonce_on(provider, &account.address);
    let signature = account.sign(&format!("{}{nonce}", dataset.did));
    let url = provider.url(&format!(
        "/api/services/download?documentId={}&serviceId=svc&transferTxId={tx:#x}&fileIndex=0&consumerAddress={}&nonce={nonce}&signature={signature}",
        dataset.did, account.address
    ));
    (url, nonce, signature)
}

#[test]
fn a_completed_download_is_proven_after_the_consumer_has_it_over_http_and_on_chain() {
    use alloy_sol_types::SolEvent;
    use ocean_provider::chain::abi::OrderExecuted;
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let f = fixture();
    let server = files();
    let dir = TempDir::new("proof");
    let provider = proving_provider(&dir, &format!("{}/proof/gated", server.url), true);
    server.set_proof_gate(false);
    let before = server.proofs("gated").len();
    let (url, nonce, signature) = signed_download_on(&provider, &f.dataset, &f.order_tx);
    // The sink does not answer until the gate opens: a provider that proved before
    // (or while) answering would hold the download until its own timeout (20 s).
    let reply = get_within(&url, std::time::Duration::from_secs(15));
    server.set_proof_gate(true);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.body, SMALL);
    let form = eventually("the HTTP proof", || {
        server.proofs("gated").get(before).cloned()
    });
    let field = |name: &str| form_field(&form, name).unwrap_or_else(|| panic!("{name}: {form}"));
    assert_eq!(field("orderTxId"), format!("{:#x}", f.order_tx));
    let provider_data = field("providerData");
    assert_eq!(
        provider_data,
        format!(
            r#"{{"documentId":"{}","serviceId":"svc","fileIndex":0,"downloadedBytes":{}}}"#,
            f.dataset.did,
            SMALL.len()
        )
    );
    assert_eq!(
        ocean_provider::address::checksum(
            &ocean_provider::signature::recover_message_signer(
                &provider_data,
                &field("providerSignature")
            )
            .unwrap()
        ),
        DEV_PROVIDER_ADDRESS
    );
    assert_eq!(field("consumerData"), format!("{}{nonce}", f.dataset.did));
    assert_eq!(field("consumerSignature"), signature);
    assert_eq!(field("consumerAddress"), consumer().address);
    // Nothing of the file's location, nor any key or token.
    assert!(
        !form.contains("small.csv") && !form.contains("files"),
        "{form}"
    );
    assert!(!form.contains(&DEV_PROVIDER_KEY[2..]), "{form}");
    // The same proof, recorded on chain by the datatoken's orderExecuted.
    let logs = eventually("the OrderExecuted event", || {
        let logs = chain.rpc(
            "eth_getLogs",
            json!([{"fromBlock": "0x0", "toBlock": "latest",
                    "address": f.dataset.datatoken,
                    "topics": [OrderExecuted::SIGNATURE_HASH]}]),
        );
        let found: Vec<OrderExecuted> = logs
            .as_array()?
            .iter()
            .filter_map(|log| {
                let topics: Vec<B256> = serde_json::from_value(log["topics"].clone()).ok()?;
                let data: alloy_primitives::Bytes =
                    serde_json::from_value(log["data"].clone()).ok()?;
                OrderExecuted::decode_raw_log(topics, &data).ok()
            })
            .filter(|event| event.providerData.as_ref() == provider_data.as_bytes())
            .collect();
        (!found.is_empty()).then_some(found)
    });
    assert_eq!(logs.len(), 1);
    let event = &logs[0];
    assert_eq!(event.orderTxId, f.order_tx);
    assert_eq!(
        event.providerAddress.to_checksum(None),
        DEV_PROVIDER_ADDRESS
    );
    assert_eq!(event.consumerAddress.to_checksum(None), consumer().address);
    assert_eq!(
        event.consumerData.as_ref(),
        format!("{}{nonce}", f.dataset.did).as_bytes()
    );
}

#[test]
fn failing_sinks_never_fail_downloads_and_cut_or_token_downloads_claim_no_signature() {
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let f = fixture();
    let server = files();
    // A sink that answers 500, and one nobody listens on.
    let unreachable = format!("http://127.0.0.1:{}/proof", free_port());
    for sink in [format!("{}/proof/fail", server.url), unreachable] {
        let dir = TempDir::new("proof-fail");
        let provider = proving_provider(&dir, &sink, false);
        for _ in 0..2 {
            let (url, _, _) = signed_download_on(&provider, &f.dataset, &f.order_tx);
            let reply = get(&url);
            assert_eq!(reply.status, 200, "{sink}: {}", reply.text());
            assert_eq!(reply.body, SMALL);
        }
    }
    assert!(server.proofs("fail").len() >= 2);
    // A download cut at its origin proves nothing; the complete one after it does.
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    server.add_file("dying-proof.bin", content);
    let file = json!({"type": "url", "url": format!("{}/dying/dying-proof.bin", server.url), "method": "GET"});
    let dying = publish_dataset(chain, server, "proof-dying", "access", &[file], 0);
    let dying_tx = order_checking(chain, &dying, "");
    let dir = TempDir::new("proof-cut");
    let provider = proving_provider(&dir, &format!("{}/proof/cut", server.url), false);
    let (url, _, _) = signed_download_on(&provider, &dying, &dying_tx);
    let (head, body, complete) = raw_chunked_get(&url);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!complete && body.len() < 200_000);
    // A token download: the proof claims no consumer signature.
    let account = consumer();
    let nonce = next_nonce_on(&provider, &account.address);
    let token = get(&provider.url(&format!(
        "/api/services/createAuthToken?address={}&expiration=4000000000&nonce={nonce}&signature={}",
        account.address,
        account.sign(&format!("{}{nonce}", account.address))
    )));
    assert_eq!(token.status, 200, "{}", token.text());
    let token = token.json()["token"].as_str().unwrap().to_owned();
    let nonce = (nonce.parse::<u64>().unwrap() + 1).to_string();
    let url = provider.url(&format!(
        "/api/services/download?documentId={}&serviceId=svc&transferTxId={:#x}&fileIndex=0&consumerAddress={}&nonce={nonce}",
        f.dataset.did, f.order_tx, account.address
    ));
    let reply = request("GET", &url, &[("AuthToken", &token)], None);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let form = eventually("the token download's proof", || {
        server.proofs("cut").first().cloned()
    });
    // The first (and only) proof is the token download's: the cut one sent none.
    assert_eq!(
        form_field(&form, "providerData").unwrap(),
        format!(
            r#"{{"documentId":"{}","serviceId":"svc","fileIndex":0,"downloadedBytes":{}}}"#,
            f.dataset.did,
            SMALL.len()
        )
    );
    assert_eq!(form_field(&form, "consumerSignature"), None);
    assert_eq!(form_field(&form, "consumerData"), None);
    assert!(!form.contains(&token), "the token is a credential: {form}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(server.proofs("cut").len(), 1);
}

/// The transaction encoder behind the chain proof, against a real node: a legacy
/// (EIP-155) and an EIP-1559 transaction signed by it are mined, from the right
/// account, with the value they carry.
#[test]
fn signed_transactions_of_both_envelopes_are_mined_by_a_real_node() {
    use alloy_primitives::U256;
    use ocean_provider::chain::transaction::{GasPricing, Transaction};
    let chain = LocalChain::shared();
    let sender = Account::named("transaction-envelopes");
    let recipient = Account::named("transaction-recipient");
    chain.rpc(
        "evm_setAccountBalance",
        json!([sender.address, "0xde0b6b3a7640000"]),
    );
    let quantity = |value: Value| {
        U256::from_str_radix(value.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    };
    let base_fee = quantity(
        chain.rpc("eth_getBlockByNumber", json!(["latest", false]))["baseFeePerGas"].clone(),
    );
    let gas_price = quantity(chain.rpc("eth_gasPrice", json!([])));
    let to: Address = recipient.address.parse().unwrap();
    for (nonce, pricing, kind) in [
        (0, GasPricing::Legacy { gas_price }, "0x0"),
        (
            1,
            GasPricing::Eip1559 {
                max_priority_fee_per_gas: U256::from(1_000_000_000u64),
                max_fee_per_gas: base_fee * U256::from(2u8) + U256::from(1_000_000_000u64),
            },
            "0x2",
        ),
    ] {
        let tx = Transaction {
            chain_id: 8996,
            nonce,
            pricing,
            gas: 21_000,
            to,
            value: U256::from(1000u64 + nonce),
            data: Vec::new(),
        };
        let raw = tx.sign(&sender.key).unwrap();
        let hash = chain.rpc(
            "eth_sendRawTransaction",
            json!([format!("0x{}", hex::encode(raw))]),
        );
        let receipt = chain.rpc("eth_getTransactionReceipt", json!([hash]));
        assert_eq!(receipt["status"], "0x1", "{kind}: {receipt}");
        assert_eq!(receipt["type"], kind, "{receipt}");
        assert_eq!(
            receipt["from"].as_str().unwrap().to_lowercase(),
            sender.address.to_lowercase()
        );
    }
    let balance = quantity(chain.rpc("eth_getBalance", json!([recipient.address, "latest"])));
    assert_eq!(balance, U256::from(2001u64));
}
