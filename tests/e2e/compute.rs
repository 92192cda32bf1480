//! Compute-to-data on the local chain with the operator stand-in: initializeCompute →
//! startOrder for dataset and algorithm → start → status → stop → result → delete, and
//! the refusals.

use std::sync::OnceLock;

use alloy_primitives::{B256, U256};
use ocean_provider::signature::recover_message_signer;
use provider_e2e::assets::{Dataset, publish_asset};
use provider_e2e::chain::LocalChain;
use provider_e2e::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ALGO: &[u8] = b"print('hello from the algorithm')\n";
const RESULT: &[u8] = b"result archive bytes, pretend this is output.tar";
const ENTRYPOINT: &str = "python $ALGO";
const IMAGE_CHECKSUM: &str =
    "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

struct Fixture {
    dataset: Dataset,
    algorithm: Dataset,
    untrusted: Dataset,
}

fn consumer() -> Account {
    Account::from_key(CONSUMER_KEY)
}

fn publish_algorithm(name: &str) -> Dataset {
    let server = shared_file_server();
    let file = json!({"type": "url", "url": format!("{}/files/algo.py", server.url)});
    publish_asset(
        LocalChain::shared(),
        server,
        name,
        "access",
        &[file],
        0,
        |ddo| {
            ddo["metadata"]["type"] = json!("algorithm");
            ddo["metadata"]["algorithm"] = json!({"language": "python", "container": {
            "entrypoint": ENTRYPOINT, "image": "python", "tag": "3.11", "checksum": IMAGE_CHECKSUM}});
        },
    )
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let server = shared_file_server();
        server.add_file("algo.py", ALGO.to_vec());
        server.add_file("compute-data.csv", b"a,b\n1,2\n".to_vec());
        server.add_file("result-0", RESULT.to_vec());
        let algorithm = publish_algorithm("c2d-algo");
        let untrusted = publish_algorithm("c2d-untrusted");
        let container_checksum = hex::encode(Sha256::digest(format!("{ENTRYPOINT}{IMAGE_CHECKSUM}")));
        let files_checksum = hex::encode(Sha256::digest(ALGO));
        let file = json!({"type": "url", "url": format!("{}/files/compute-data.csv", server.url)});
        let algo_did = algorithm.did.clone();
        let dataset = publish_asset(LocalChain::shared(), server, "c2d-data", "compute", &[file], 0, move |ddo| {
            ddo["services"][0]["compute"] = json!({"allowRawAlgorithm": false, "publisherTrustedAlgorithmPublishers": [],
                "publisherTrustedAlgorithms": [{"did": algo_did, "filesChecksum": files_checksum, "containerSectionChecksum": container_checksum}]});
        });
        Fixture { dataset, algorithm, untrusted }
    })
}

fn post(path: &str, body: &Value) -> Reply {
    post_json(&shared_provider().url(path), body)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn initialize_body(f: &Fixture, algorithm: &Dataset, env: &str, valid_until: u64) -> Value {
    json!({"datasets": [{"documentId": f.dataset.did, "serviceId": "svc"}],
           "algorithm": {"documentId": algorithm.did, "serviceId": "svc"},
           "compute": {"env": env, "validUntil": valid_until},
           "consumerAddress": consumer().address})
}

fn order_with(chain: &LocalChain, asset: &Dataset, fee: &Value) -> B256 {
    let consumer = chain.accounts.consumer;
    chain.fund_ocean(consumer, asset.datatoken, 5000);
    chain.order(consumer, consumer, asset.datatoken, fee)
}

fn next_nonce(address: &str) -> String {
    let reply = get(&shared_provider().url(&format!("/api/services/nonce?userAddress={address}")));
    ((reply.json()["nonce"].as_f64().unwrap_or(0.0) as u64) + 1).to_string()
}

#[test]
fn the_full_compute_flow_with_a_two_day_job_priced_on_its_whole_duration() {
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let f = fixture();
    let server = shared_file_server();
    let valid_until = now() + 2 * 24 * 3600;
    let reply = post(
        "/api/services/initializeCompute",
        &initialize_body(f, &f.algorithm, "env1", valid_until),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let quote = reply.json();
    let fee = &quote["datasets"][0]["providerFee"];
    let amount: U256 = fee["providerFeeAmount"].as_str().unwrap().parse().unwrap();
    let per_second = U256::from(10).pow(U256::from(18)) / U256::from(60);
    // env1 costs one token per minute: two days are ~2880 tokens (the reference's
    // timedelta.seconds would have priced them as 0).
    assert!(
        amount <= U256::from(2 * 24 * 3600) * per_second + U256::from(10u64).pow(U256::from(18)),
        "{amount}"
    );
    assert!(
        amount >= U256::from(2 * 24 * 3600 - 120) * per_second,
        "{amount}"
    );
    assert_eq!(fee["validUntil"], json!(valid_until));
    assert_eq!(quote["algorithm"]["providerFee"]["providerFeeAmount"], "0");
    let data: Value = serde_json::from_slice(
        &hex::decode(
            fee["providerData"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(data["environment"], "env1");

    let dataset_tx = order_with(chain, &f.dataset, fee);
    let algo_tx = order_with(chain, &f.algorithm, &quote["algorithm"]["providerFee"]);

    let account = consumer();
    let nonce = next_nonce(&account.address);
    let start = json!({
        "dataset": {"documentId": f.dataset.did, "serviceId": "svc", "transferTxId": format!("{dataset_tx:#x}")},
        "algorithm": {"documentId": f.algorithm.did, "serviceId": "svc", "transferTxId": format!("{algo_tx:#x}")},
        "environment": "env1", "consumerAddress": account.address, "nonce": nonce,
        "signature": account.sign(&format!("{}{}{nonce}", account.address, f.dataset.did)),
    });
    let reply = post("/api/services/compute", &start);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()[0]["jobId"], "job-1");
    let payload = server
        .operator_calls()
        .into_iter()
        .rev()
        .find(|c| c.method == "POST")
        .unwrap()
        .body;
    assert_eq!(payload["agreementId"], format!("{dataset_tx:#x}"));
    assert_eq!(payload["environment"], "env1");
    assert_eq!(payload["owner"], account.address);
    assert_eq!(
        payload["workflow"]["stages"][0]["input"][0]["id"],
        f.dataset.did
    );
    assert_eq!(
        payload["workflow"]["stages"][0]["algorithm"]["id"],
        f.algorithm.did
    );
    let signed = format!("{}{}", account.address, payload["nonce"]);
    let signer =
        recover_message_signer(&signed, payload["providerSignature"].as_str().unwrap()).unwrap();
    assert_eq!(signer.to_checksum(None), DEV_PROVIDER_ADDRESS);
    // Replaying the start request is refused.
    assert_eq!(post("/api/services/compute", &start).status, 400);

    let status = get(&shared_provider().url(&format!(
        "/api/services/compute?consumerAddress={}&jobId=job-1",
        account.address
    )));
    assert_eq!(status.status, 200);
    assert_eq!(status.json()[0]["status"], 70);
    let call = server
        .operator_calls()
        .into_iter()
        .rev()
        .find(|c| c.method == "GET" && c.path == "compute")
        .unwrap();
    let signer = recover_message_signer(
        &format!("{}job-1{}", account.address, call.query["nonce"]),
        &call.query["providerSignature"],
    )
    .unwrap();
    assert_eq!(signer.to_checksum(None), DEV_PROVIDER_ADDRESS);

    for method in ["PUT", "DELETE"] {
        let nonce = next_nonce(&account.address);
        let url = shared_provider().url(&format!(
            "/api/services/compute?consumerAddress={}&jobId=job-1&nonce={nonce}&signature={}",
            account.address,
            account.sign(&format!("{}job-1{nonce}", account.address))
        ));
        let reply = request(method, &url, &[], None);
        assert_eq!(reply.status, 200, "{method}: {}", reply.text());
    }

    let nonce = next_nonce(&account.address);
    let result_url = shared_provider().url(&format!(
        "/api/services/computeResult?consumerAddress={}&jobId=job-1&index=0&nonce={nonce}&signature={}",
        account.address,
        account.sign(&format!("{}job-10{nonce}", account.address))
    ));
    let result = get(&result_url);
    assert_eq!(result.status, 200, "{}", result.text());
    assert_eq!(result.body, RESULT);
    let disposition = result.header("content-disposition").unwrap();
    assert!(!disposition.contains("ignature"), "{disposition}");
    let nonce = next_nonce(&account.address);
    let ranged = request("GET", &shared_provider().url(&format!(
        "/api/services/computeResult?consumerAddress={}&jobId=job-1&index=0&nonce={nonce}&signature={}",
        account.address,
        account.sign(&format!("{}job-10{nonce}", account.address))
    )), &[("Range", "bytes=0-5")], None);
    assert_eq!(
        (ranged.status, ranged.body.clone()),
        (206, RESULT[..6].to_vec())
    );
    assert_eq!(get(&result_url).status, 400, "a result URL is single use");
}

#[test]
fn untrusted_and_raw_algorithms_are_refused() {
    let _session = consumer_session();
    let f = fixture();
    let valid_until = now() + 3600;
    let reply = post(
        "/api/services/initializeCompute",
        &initialize_body(f, &f.untrusted, "env1", valid_until),
    );
    assert_eq!(
        (reply.status, reply.json()),
        (400, json!({"error": {"dataset": "not_trusted_algo"}}))
    );
    let mut raw = initialize_body(f, &f.algorithm, "env1", valid_until);
    raw["algorithm"] = json!({"meta": {"rawcode": "print(1)", "container": {"entrypoint": ENTRYPOINT, "image": "python", "tag": "3", "checksum": IMAGE_CHECKSUM}}});
    let reply = post("/api/services/initializeCompute", &raw);
    assert_eq!(
        (reply.status, reply.json()),
        (400, json!({"error": {"dataset": "no_raw_algo_allowed"}}))
    );
}

#[test]
fn environment_and_validity_checks() {
    let _session = consumer_session();
    let f = fixture();
    let reply = post(
        "/api/services/initializeCompute",
        &initialize_body(f, &f.algorithm, "env1", now() - 10),
    );
    assert_eq!(
        (reply.status, reply.json()),
        (
            400,
            json!({"error": "The validUntil value is not correct."})
        )
    );
    let reply = post(
        "/api/services/initializeCompute",
        &initialize_body(f, &f.algorithm, "nope", now() + 600),
    );
    assert_eq!(
        (reply.status, reply.json()),
        (400, json!({"error": "Compute environment does not exist"}))
    );
}

#[test]
fn an_order_for_another_environment_or_with_an_expired_fee_cannot_start_a_job() {
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let f = fixture();
    let quote = post(
        "/api/services/initializeCompute",
        &initialize_body(f, &f.algorithm, "env2", now() + 600),
    )
    .json();
    let dataset_tx = order_with(chain, &f.dataset, &quote["datasets"][0]["providerFee"]);
    let algo_tx = order_with(chain, &f.algorithm, &quote["algorithm"]["providerFee"]);
    let account = consumer();
    let start = |env: &str| {
        let nonce = next_nonce(&account.address);
        json!({
            "dataset": {"documentId": f.dataset.did, "serviceId": "svc", "transferTxId": format!("{dataset_tx:#x}")},
            "algorithm": {"documentId": f.algorithm.did, "serviceId": "svc", "transferTxId": format!("{algo_tx:#x}")},
            "environment": env, "consumerAddress": account.address, "nonce": nonce,
            "signature": account.sign(&format!("{}{}{nonce}", account.address, f.dataset.did)),
        })
    };
    let reply = post("/api/services/compute", &start("env1"));
    assert_eq!(
        (reply.status, reply.json()),
        (
            400,
            json!({"error": {"dataset.serviceId": "order_invalid"}})
        )
    );
    // The env2 order is fine now, and refused once its fee has expired in chain time.
    let wrong_signer = {
        let mut body = start("env2");
        body["signature"] = json!(Account::named("c2d-mallory").sign("x"));
        body
    };
    assert_eq!(post("/api/services/compute", &wrong_signer).status, 400);
    chain.increase_time(700);
    let reply = post("/api/services/compute", &start("env2"));
    assert_eq!(
        (reply.status, reply.json()),
        (
            400,
            json!({"error": {"dataset.serviceId": "order_invalid"}})
        )
    );
}

#[test]
fn environments_are_an_array_unless_the_deployment_asks_for_v2s_object() {
    let _session = consumer_session();
    let ocean = LocalChain::shared().contracts.ocean.to_checksum(None);
    // The default: Ocean Node's array (ocean.js 8; ocean.py accepts it), with the
    // fields ocean.js 8 reads, for any query.
    for path in [
        "/api/services/computeEnvironments",
        "/api/services/computeEnvironments?chainId=8996",
    ] {
        let reply = get(&shared_provider().url(path));
        assert_eq!(reply.status, 200, "{}", reply.text());
        let envs = reply.json();
        let list = envs.as_array().expect("an array");
        assert_eq!(list.len(), 2, "{envs}");
        assert_eq!(list[0]["id"], "env1");
        assert_eq!(list[0]["feeToken"], ocean.as_str());
        assert_eq!(list[0]["fees"]["8996"][0]["feeToken"], ocean.as_str());
        assert_eq!(
            list[0]["consumerAddress"],
            Account::named(C2D_ENVIRONMENT).address
        );
        assert!(
            list[0].get("free").is_none() && list[1]["free"].is_object(),
            "{envs}"
        );
    }
    // Another chain: no environments, still an array.
    let other = get(&shared_provider().url("/api/services/computeEnvironments?chainId=1"));
    assert_eq!((other.status, other.json()), (200, json!([])));
    // ocean.js 3.x needs v2's object; a deployment for it sets the switch.
    let dir = TempDir::new("envs-by-chain");
    let mut vars = Provider::default_vars();
    vars.insert(
        "operator_service_url".into(),
        shared_file_server().url.clone(),
    );
    vars.insert("compute_environments_format".into(), "by-chain".into());
    let provider = Provider::start(dir.path(), vars);
    let envs = get(&provider.url("/api/services/computeEnvironments")).json();
    assert_eq!(envs["8996"][0]["id"], "env1", "{envs}");
    assert!(envs["8996"][0].get("fees").is_none());
    drop(provider);
    let ok = post(
        "/api/services/validateContainer",
        &json!({"entrypoint": "run", "image": "img", "tag": "1", "checksum": "sha256:abc"}),
    );
    assert_eq!(ok.status, 200);
    let bad = post(
        "/api/services/validateContainer",
        &json!({"entrypoint": "run", "image": "img", "checksum": "md5:abc"}),
    );
    assert_eq!(
        (bad.status, bad.json()),
        (400, json!({"error": "checksum_prefix"}))
    );
    let missing = post("/api/services/validateContainer", &json!({"image": "img"}));
    assert_eq!(
        (missing.status, missing.json()),
        (400, json!({"error": "missing_entrypoint_image_checksum"}))
    );
}

#[test]
fn without_an_operator_compute_routes_are_404_and_an_operator_outage_is_503() {
    let _session = consumer_session();
    let dir = TempDir::new("no-operator");
    let provider = Provider::start(dir.path(), Provider::default_vars());
    assert_eq!(
        get(&provider.url("/api/services/computeEnvironments")).status,
        404
    );
    assert!(
        get(&provider.url("/")).json()["serviceEndpoints"]
            .get("computeStart")
            .is_none()
    );
    drop(provider);
    let dir = TempDir::new("operator-down");
    let mut vars = Provider::default_vars();
    vars.insert(
        "operator_service_url".into(),
        format!("http://127.0.0.1:{}/secret-path", free_port()),
    );
    let provider = Provider::start(dir.path(), vars);
    let reply = get(&provider.url("/api/services/computeEnvironments"));
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(
        !reply.text().contains("127.0.0.1") && !reply.text().contains("secret-path"),
        "{}",
        reply.text()
    );
}

#[test]
fn a_dataset_of_another_provider_is_quoted_by_that_provider() {
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let f = fixture();
    let server = shared_file_server();
    // A second provider with its own key, on the same chain and metadata cache.
    let remote_key = Account::named("remote-provider");
    let remote_hex = format!("0x{}", hex::encode(remote_key.key.to_bytes()));
    let dir = TempDir::new("remote-provider");
    let mut vars = Provider::chain_vars(chain);
    vars.insert("provider_private_key".into(), remote_hex.clone());
    vars.insert("aquarius_url".into(), server.url.clone());
    let remote = Provider::start(dir.path(), vars);
    let remote_public = ocean_provider::config::ProviderKey::parse(&remote_hex)
        .unwrap()
        .public_key();
    let file = json!({"type": "url", "url": format!("{}/files/compute-data.csv", server.url)});
    let remote_url = remote.base_url.clone();
    let elsewhere = provider_e2e::assets::publish_asset_for(
        chain,
        server,
        "c2d-remote",
        "access",
        &[file],
        0,
        &remote_public,
        |ddo| {
            ddo["services"][0]["serviceEndpoint"] = json!(remote_url);
        },
    );
    let mut body = initialize_body(f, &f.algorithm, "env1", now() + 3600);
    body["datasets"] = json!([{"documentId": f.dataset.did, "serviceId": "svc"}, {"documentId": elsewhere.did, "serviceId": "svc"}]);
    let reply = post("/api/services/initializeCompute", &body);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let quote = reply.json();
    assert_eq!(
        quote["datasets"][0]["providerFee"]["providerFeeAddress"],
        DEV_PROVIDER_ADDRESS
    );
    assert_eq!(
        quote["datasets"][1]["providerFee"]["providerFeeAddress"], remote_key.address,
        "{quote}"
    );
    assert_eq!(
        quote["datasets"][1]["datatoken"],
        json!(elsewhere.datatoken.to_checksum(None))
    );
}

/// Inputs a fuzzer finds: a job id of one space, characters that need encoding, and
/// parameters given both in the query and as a JSON body. Each is either forwarded as
/// valid HTTP (every byte encoded, no body and no chunked framing on a bodiless request)
/// or refused with a 4xx; never a 5xx while the operator is up.
#[test]
fn odd_but_signed_operator_inputs_are_forwarded_as_valid_http_never_a_5xx() {
    let _session = consumer_session();
    fixture();
    let server = shared_file_server();
    let account = consumer();
    let before = server.operator_calls().len();
    let odd_job_ids = [" ", "a b&c=d#e%f/g?h+i", "ünï\u{1F600}", "\"'<>\\"];
    let mut sent = Vec::new();
    for job_id in odd_job_ids {
        for method in ["PUT", "DELETE", "GET"] {
            let nonce = next_nonce(&account.address);
            let signature = account.sign(&format!("{}{job_id}{nonce}", account.address));
            let query = format!(
                "consumerAddress={}&jobId={}&nonce={nonce}&signature={signature}",
                account.address,
                encode(job_id)
            );
            // The same parameters again as a JSON body, with a different job id: the
            // query wins, as it does everywhere else.
            let body = json!({"consumerAddress": account.address, "jobId": "from-body",
                "nonce": nonce, "signature": signature})
            .to_string();
            let reply = request(
                method,
                &shared_provider().url(&format!("/api/services/compute?{query}")),
                &[("content-type", "application/json")],
                Some(body.as_bytes()),
            );
            assert!(
                (200..500).contains(&reply.status),
                "{method} jobId {job_id:?}: {} {}",
                reply.status,
                reply.text()
            );
            assert_eq!(
                reply.status,
                200,
                "{method} jobId {job_id:?}: {}",
                reply.text()
            );
            sent.push((method, job_id));
        }
    }
    let calls: Vec<_> = server.operator_calls().into_iter().skip(before).collect();
    for (method, job_id) in sent {
        let call = calls
            .iter()
            .find(|c| {
                c.method == method
                    && c.path == "compute"
                    && c.query.get("jobId").map(String::as_str) == Some(job_id)
            })
            .unwrap_or_else(|| panic!("{method} {job_id:?} never reached the operator"));
        assert!(
            !call.headers.contains_key("transfer-encoding"),
            "{method} {job_id:?} was sent with a chunked body: {:?}",
            call.headers
        );
        assert!(call.body.is_null(), "{method} {job_id:?} carried a body");
        assert_ne!(
            call.query.get("jobId").map(String::as_str),
            Some("from-body")
        );
    }
}

#[test]
fn the_environments_account_fetches_a_compute_dataset_only_for_a_running_job_that_uses_it() {
    let _session = consumer_session();
    let chain = LocalChain::shared();
    let f = fixture();
    let server = shared_file_server();
    let environment = Account::named(C2D_ENVIRONMENT);
    let env_address: alloy_primitives::Address = environment.address.parse().unwrap();
    let quote = post(
        "/api/services/initializeCompute",
        &initialize_body(f, &f.algorithm, "env1", now() + 3600),
    );
    assert_eq!(quote.status, 200, "{}", quote.text());
    let fee = quote.json()["datasets"][0]["providerFee"].clone();
    // As ocean.py and ocean.js 3 order a compute dataset: the environment's account is
    // the order's consumer, the user pays.
    let order_paid_by = |payer: alloy_primitives::Address| -> B256 {
        chain.fund_ocean(payer, f.dataset.datatoken, 5000);
        chain.order(payer, env_address, f.dataset.datatoken, &fee)
    };
    let tx = order_paid_by(chain.accounts.consumer);
    let fetch = |account: &Account, tx: &B256, job: Option<&str>| -> Reply {
        let nonce = next_nonce(&account.address);
        let job = job.map(|id| format!("&jobId={id}")).unwrap_or_default();
        get(&shared_provider().url(&format!(
            "/api/services/download?documentId={}&serviceId=svc&transferTxId={tx:#x}&fileIndex=0&consumerAddress={}&nonce={nonce}&signature={}{job}",
            f.dataset.did,
            account.address,
            account.sign(&format!("{}{nonce}", f.dataset.did))
        )))
    };
    let error = |reply: &Reply| {
        reply.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    // No job uses the dataset yet.
    let refused = fetch(&environment, &tx, None);
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(
        error(&refused).contains("no running compute job"),
        "{}",
        refused.text()
    );
    // The consumer's job runs on env1 and reads this dataset: its account gets the file.
    server.add_operator_job(json!({"jobId": "c2d-job-7", "owner": consumer().address,
        "status": 40, "statusText": "Running algorithm", "inputDID": [f.dataset.did],
        "algoDID": f.algorithm.did}));
    for job in [None, Some("c2d-job-7")] {
        let reply = fetch(&environment, &tx, job);
        assert_eq!(reply.status, 200, "{job:?}: {}", reply.text());
        assert_eq!(reply.body, b"a,b\n1,2\n");
    }
    // The operator was asked, with the provider's signature, for the payer's jobs.
    let call = server
        .operator_calls()
        .into_iter()
        .rev()
        .find(|c| c.method == "GET" && c.path == "compute")
        .unwrap();
    assert_eq!(call.query["owner"], consumer().address);
    assert_eq!(call.query["jobId"], "c2d-job-7");
    assert_eq!(call.query["documentId"], f.dataset.did);
    let signer = recover_message_signer(
        &format!("{}c2d-job-7{}", consumer().address, call.query["nonce"]),
        &call.query["providerSignature"],
    )
    .unwrap();
    assert_eq!(signer.to_checksum(None), DEV_PROVIDER_ADDRESS);
    // Another job of the consumer: refused.
    assert_eq!(fetch(&environment, &tx, Some("other-job")).status, 400);
    // The consumer themselves, or any other account, with the same order: not an
    // access service (only the environment's account may fetch).
    for account in [consumer(), Account::named("c2d-stranger")] {
        let reply = fetch(&account, &tx, None);
        assert_eq!(reply.status, 400, "{}", reply.text());
        assert!(
            error(&reply).contains("is not an access service"),
            "{}",
            reply.text()
        );
    }
    // A finished job does not count: an order by another payer whose job is over.
    let stranger = chain.accounts.stranger;
    let finished_tx = order_paid_by(stranger);
    server.add_operator_job(
        json!({"jobId": "c2d-job-8", "owner": stranger.to_checksum(None),
        "status": 70, "statusText": "Job finished", "inputDID": [f.dataset.did]}),
    );
    let reply = fetch(&environment, &finished_tx, None);
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(
        error(&reply).contains("no running compute job"),
        "{}",
        reply.text()
    );
}
