//! The compute group (spec §5.8–§5.14): `initializeCompute`, `compute` (start, status,
//! stop, delete), `computeResult`, `computeEnvironments`, `validateContainer`. The
//! provider validates, prices and signs; the operator service runs the jobs.

use alloy_primitives::{Address, U256};
use serde_json::{Value, json};

use crate::address::checksum;
use crate::asset::ddo::Ddo;
use crate::asset::fetch::FetchPolicy;
use crate::chain::{Rpc, parse_tx_hash};
use crate::compute::operator::{Operator, provider_signature};
use crate::compute::pricing::{fee_bearing_item, order_covers, required_fee};
use crate::compute::workflow::{
    Algorithm, check_container, refusal, resolve_algorithm, validate_input,
};
use crate::order::order_query;
use crate::order::{OrderQuery, ValidOrder, validate_order};
use crate::ports::Platform;
use crate::provider_fee::{ProviderFee, provider_data};
use crate::requests::{InitializeComputeRequest, JobSelector, StartComputeRequest};
use crate::settings::EnvironmentsFormat;
use crate::signed_request::{Dialect, Proof, verify};
use crate::{ApiRequest, ApiResponse, ProviderError, Reply, Result};

fn passthrough(status: u16, body: Vec<u8>) -> ApiResponse {
    ApiResponse::bytes(status, "application/json", body)
}

/// `GET /api/services/computeEnvironments[?chainId=]`: Ocean Node's array (ocean.js
/// 8; ocean.py 3.x accepts it too), filtered to one chain when `chainId` is given;
/// or, with `compute_environments_format = "by-chain"`, v2's object keyed by chain id
/// (ocean.js ≤ 3.4). The two clients send the same request, so the deployment
/// chooses.
pub fn environments(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    let operator = Operator::configured(platform, platform.settings.request_timeout()?)?;
    let chains = platform.settings.chains()?;
    let only: Option<u64> = match request.params().filled_text("chainId") {
        None => None,
        Some(text) => Some(text.parse().map_err(|_| {
            ProviderError::BadRequest(format!("Invalid chainId {text}: a number is required."))
        })?),
    };
    let format = platform.settings.environments_format()?;
    let mut by_chain = serde_json::Map::new();
    let mut array = Vec::new();
    for chain in chains.iter().filter(|c| only.is_none_or(|id| id == c.id)) {
        let token = checksum(&platform.settings.fee_token(chain.id)?);
        let mut envs = operator.environments(chain.id)?;
        for env in &mut envs {
            env["feeToken"] = json!(token);
        }
        match format {
            EnvironmentsFormat::ByChain => {
                by_chain.insert(chain.id.to_string(), Value::Array(envs));
            }
            EnvironmentsFormat::Array => array.extend(
                envs.into_iter()
                    .map(|env| node_environment(env, chain.id, &token)),
            ),
        }
    }
    let body = match format {
        EnvironmentsFormat::ByChain => Value::Object(by_chain),
        EnvironmentsFormat::Array => Value::Array(array),
    };
    Ok(ApiResponse::json(200, &body))
}

/// An operator environment with Ocean Node's fields added (`fees` per chain,
/// `resources`, `access`, `free`, `platform`, `runningJobs`, `queuedJobs`); the
/// operator's own fields (`priceMin`, `maxJobDuration`, ...) stay as they are. The
/// price is the operator's `priceMin` (tokens per minute), under the resource id
/// `"time"`; jobs are paid through the provider fee of a dataset order.
fn node_environment(mut env: Value, chain_id: u64, fee_token: &str) -> Value {
    let price = env.get("priceMin").cloned().unwrap_or(json!(0));
    let free = price.as_f64().is_some_and(|p| p == 0.0);
    let defaults = json!({
        "fees": {chain_id.to_string(): [{"feeToken": fee_token, "prices": [{"id": "time", "price": price}]}]},
        "resources": [],
        "access": {"addresses": [], "accessLists": []},
        "platform": {"architecture": env.get("arch").cloned().unwrap_or(json!("x86_64")), "os": env.get("os").cloned().unwrap_or(json!("linux"))},
        "runningJobs": env.get("currentJobs").cloned().unwrap_or(json!(0)),
        "queuedJobs": 0,
    });
    if let (Value::Object(fields), Value::Object(defaults)) = (&mut env, defaults) {
        for (key, value) in defaults {
            fields.entry(key).or_insert(value);
        }
        if free {
            let duration = fields.get("maxJobDuration").cloned().unwrap_or(json!(3600));
            fields.entry("free").or_insert(json!({"maxJobDuration": duration, "resources": [], "access": {"addresses": [], "accessLists": []}}));
        }
    }
    env
}

/// `POST /api/services/validateContainer`.
pub fn validate_container(request: &ApiRequest, _platform: &Platform<'_>) -> Result<ApiResponse> {
    let container: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    check_container(&container).map_err(|code| ProviderError::BadRequest(code.into()))?;
    Ok(ApiResponse::json(200, &container))
}

/// What an existing order must meet besides naming the service.
#[derive(Debug, Clone, Copy)]
struct OrderTerms<'a> {
    /// The compute environment the fee must name (datasets; not algorithms).
    environment: Option<&'a str>,
    /// Whether a fee past its `validUntil` still counts (quotes re-price such orders).
    allow_expired_fee: bool,
    /// The provider's clock, see [`OrderQuery::clock_now`].
    clock_now: u64,
}

/// Order validation for an input that names a `transferTxId`.
fn existing_order(
    rpc: &Rpc<'_>,
    ddo: &Ddo,
    index: usize,
    consumer: Address,
    input: &Value,
    terms: OrderTerms<'_>,
) -> Result<Option<ValidOrder>> {
    let Some(tx_text) = input
        .get("transferTxId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    let tx = parse_tx_hash(tx_text, "transferTxId")?;
    let service = &ddo.services[index];
    let mut query: OrderQuery<'_> = order_query(
        ddo,
        index,
        service,
        rpc.chain(),
        consumer,
        tx,
        terms.clock_now,
    )?;
    query.environment = terms.environment;
    query.allow_expired_fee = terms.allow_expired_fee;
    Ok(validate_order(rpc, &query)?.ok())
}

/// A published algorithm's service index and its existing order (if it names one).
fn algorithm_order(
    platform: &Platform<'_>,
    ddo: &Ddo,
    request: &Value,
    consumer: Address,
    allow_expired_fee: bool,
) -> Result<(usize, Option<ValidOrder>)> {
    let service_id = request
        .get("serviceId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (index, _) = ddo
        .service(service_id)
        .ok_or_else(|| refusal("algorithm.serviceId", "missing"))?;
    let chain = platform.settings.chains()?.for_asset(ddo)?;
    let rpc = Rpc::new(
        chain,
        platform.http,
        platform.kv,
        platform.settings.request_timeout()?,
    );
    let terms = OrderTerms {
        environment: None,
        allow_expired_fee,
        clock_now: platform.clock.now_unix_seconds(),
    };
    Ok((
        index,
        existing_order(&rpc, ddo, index, consumer, request, terms)?,
    ))
}

/// `POST /api/services/initializeCompute`.
pub fn initialize_compute(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    // Without an operator every compute route is a 404, whatever the request.
    Operator::configured(platform, platform.settings.request_timeout()?)?;
    if crate::wire::node::is_node_initialize_compute(request) {
        return node_initialize_compute(request, platform).map_err(ProviderError::in_node_dialect);
    }
    let quote = quote_job(platform, &crate::wire::v2::initialize_compute(request)?)?;
    Ok(ApiResponse::json(200, &quote))
}

/// `initializeCompute` in the Ocean Node dialect: the same quote, each entry with
/// Ocean Node's `did`, `serviceId`, `chainId` and `validOrder` (`false` without one),
/// and a `payment` of amount 0: this provider is paid through the provider fee of a
/// dataset order (the v2 model), never through an escrow lock.
fn node_initialize_compute(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    let input = crate::wire::node::initialize_compute(request, platform.clock.now_unix_seconds())?;
    let mut quote = quote_job(platform, &input)?;
    let params = request.params();
    let chains = platform.settings.chains()?;
    let chain_id = params
        .get("payment.chainId")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .or_else(|| chains.iter().next().map(|c| c.id))
        .unwrap_or_default();
    let decorate = |answer: &mut Value, input: &Value| {
        if let Value::Object(fields) = answer {
            for key in ["documentId", "serviceId"] {
                let name = if key == "documentId" { "did" } else { key };
                if let Some(value) = input.get(key) {
                    fields.entry(name).or_insert(value.clone());
                }
            }
            fields.entry("chainId").or_insert(json!(chain_id));
            fields.entry("validOrder").or_insert(json!(false));
        }
    };
    if let Some(answers) = quote.get_mut("datasets").and_then(Value::as_array_mut) {
        for (answer, input) in answers.iter_mut().zip(&input.datasets) {
            decorate(answer, input);
        }
    }
    if let Some(answer) = quote.get_mut("algorithm") {
        decorate(answer, &input.algorithm);
    }
    let chain = chains.get(chain_id).or_else(|| chains.iter().next());
    let token = match params.filled_text("payment.token") {
        Some(token) => json!(token),
        None => json!(checksum(&platform.settings.fee_token(chain_id)?)),
    };
    quote["payment"] = json!({
        "escrowAddress": checksum(&Address::ZERO),
        "payee": chain.map(|c| checksum(&c.key.address())),
        "chainId": chain_id,
        "minLockSeconds": 0,
        "token": token,
        "amount": "0",
    });
    Ok(ApiResponse::json(200, &quote))
}

/// The operation: a fee per dataset and algorithm (or their valid orders) for a job in
/// an environment until a time.
pub fn quote_job(platform: &Platform<'_>, input: &InitializeComputeRequest) -> Result<Value> {
    let consumer = input.consumer;
    let valid_until = input.valid_until;
    if valid_until <= platform.clock.now_unix_seconds() {
        return Err(ProviderError::BadRequest(
            "The validUntil value is not correct.".into(),
        ));
    }
    let env_id = input.environment.clone();
    let timeout = platform.settings.request_timeout()?;
    let operator = Operator::configured(platform, timeout)?;
    let chains = platform.settings.chains()?;
    let (env, _env_chain) = operator.find_environment(chains, &env_id)?;
    let algorithm = resolve_algorithm(platform, &input.algorithm, timeout)?;
    let datasets = &input.datasets;
    let policy = platform.settings.fetch_policy()?;

    // Every input, then the algorithm, with its DDO, service index and existing order.
    let mut items: Vec<(Ddo, usize, Value, Option<ValidOrder>)> = Vec::new();
    for (i, input) in datasets.iter().enumerate() {
        let (ddo, index) =
            validate_input(platform, chains, i, input, &algorithm, &consumer, policy)?;
        let chain = chains.for_asset(&ddo)?;
        let rpc = Rpc::new(chain, platform.http, platform.kv, timeout);
        let terms = OrderTerms {
            environment: Some(&env_id),
            allow_expired_fee: true,
            clock_now: platform.clock.now_unix_seconds(),
        };
        let order = existing_order(&rpc, &ddo, index, consumer, input, terms)?;
        items.push((ddo, index, input.clone(), order));
    }
    if let Algorithm::Published { ddo, request } = &algorithm {
        let (index, order) = algorithm_order(platform, ddo, request, consumer, true)?;
        items.push(((**ddo).clone(), index, request.clone(), order));
    }
    let fee_index = fee_bearing_item(items.iter().map(|(_, _, _, order)| order.is_some()));
    let mut answers = Vec::with_capacity(items.len());
    for (position, (ddo, index, input, order)) in items.iter().enumerate() {
        let service = &ddo.services[*index];
        let chain = chains.for_asset(ddo)?;
        let rpc = Rpc::new(chain, platform.http, platform.kv, timeout);
        // A service whose files this provider cannot decrypt is served by another
        // provider: its own initialize quotes it (decided by the key, not by calling
        // ourselves over HTTP as the reference did).
        if crate::asset::files::service_files(ddo, service, chain).is_none() {
            answers.push(remote_initialize(
                platform, service, input, &consumer, policy,
            )?);
            continue;
        }
        if let Some(order) = order
            && order_covers(order, valid_until)
        {
            answers.push(json!({"validOrder": format!("{:#x}", order.order_tx)}));
            continue;
        }
        let (token, amount) = if position == fee_index {
            required_fee(platform, &rpc, &env, valid_until)?
        } else {
            (platform.settings.fee_token(chain.id)?, U256::ZERO)
        };
        let data = provider_data(
            Some(&env_id),
            platform.clock.now_unix_seconds() as f64,
            &service.datatoken_address,
            &service.id,
        );
        let fee = ProviderFee::sign(
            &chain.key,
            token,
            amount,
            data.into_bytes(),
            U256::from(valid_until),
        )
        .ok_or_else(|| ProviderError::Upstream("The provider fee could not be signed.".into()))?;
        let mut answer =
            json!({"datatoken": service.datatoken_address, "providerFee": fee.to_json()});
        if let Some(order) = order {
            answer["validOrder"] = json!(format!("{:#x}", order.order_tx));
        }
        answers.push(answer);
    }
    let algorithm_answer = matches!(algorithm, Algorithm::Published { .. })
        .then(|| answers.pop())
        .flatten();
    let mut body = json!({"datasets": answers});
    if let Some(answer) = algorithm_answer {
        body["algorithm"] = answer;
    }
    Ok(body)
}

/// Asks the provider named by a service's `serviceEndpoint` for its quote, with the
/// outbound safety rules of any other fetch; its JSON answer is used as it is.
fn remote_initialize(
    platform: &Platform<'_>,
    service: &crate::asset::ddo::Service,
    input: &Value,
    consumer: &Address,
    policy: FetchPolicy,
) -> Result<Value> {
    let endpoint = service
        .service_endpoint
        .as_deref()
        .filter(|e| !e.is_empty())
        .ok_or_else(|| refusal("datasets", "compute_services_not_in_same_provider"))?;
    let mut query: Vec<(&str, String)> = vec![("consumerAddress", checksum(consumer))];
    for key in [
        "documentId",
        "serviceId",
        "transferTxId",
        "fileIndex",
        "userdata",
    ] {
        if let Some(value) = input.get(key).filter(|v| !v.is_null()) {
            query.push((key, crate::request::python_str(value)));
        }
    }
    let url = crate::compute::operator::with_query(
        &format!("{}/api/services/initialize", endpoint.trim_end_matches('/')),
        &query,
    );
    let unavailable =
        || ProviderError::Upstream("The provider of a dataset is unavailable.".into());
    let (response, _) =
        crate::asset::fetch::send_checked(platform.http, policy, "GET", &url, &[], &[])
            .map_err(|err| ProviderError::from(err).context("The provider of a dataset: "))?;
    let status = response.status;
    let body = response.read_body(1024 * 1024).map_err(|_| unavailable())?;
    let answer: Value = serde_json::from_slice(&body).map_err(|_| unavailable())?;
    if status != 200 {
        return Err(ProviderError::BadRequest(format!(
            "The provider of a dataset refused it: {}",
            answer
                .get("error")
                .map(Value::to_string)
                .unwrap_or_default()
        )));
    }
    Ok(answer)
}

/// `POST /api/services/compute`: starts a job.
pub fn start(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    Operator::configured(platform, platform.settings.request_timeout()?)?;
    // The signature decides the dialect (ocean.js 8 also sends v2's `dataset`).
    let claim = crate::wire::v2::start_compute_claim(request)?;
    if claim.signed_dialect() == Some(Dialect::Node) {
        return node_start(request, platform, claim.restrict_to(Dialect::Node));
    }
    let input = crate::wire::v2::start_compute(request)?;
    let (status, body) = start_job(platform, &input)?;
    Ok(passthrough(status, body))
}

/// `POST /api/services/freeCompute` (Ocean Node only), signed `freeStartCompute`.
/// Jobs here are paid through dataset orders, so a "free" job is one in an
/// environment whose price is 0: its orders are still checked.
pub fn free_start(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    Operator::configured(platform, platform.settings.request_timeout()?)?;
    let claim =
        crate::wire::node::free_compute_claim(request).map_err(ProviderError::in_node_dialect)?;
    node_start(request, platform, claim)
}

/// A job start in the Ocean Node dialect: the body's `datasets`, the `output` opened
/// with the provider key, and the operator's jobs answered as an array.
fn node_start(
    request: &ApiRequest,
    platform: &Platform<'_>,
    claim: crate::signed_request::SignedClaim,
) -> Result<ApiResponse> {
    let run = || -> Result<ApiResponse> {
        let mut input = crate::wire::node::start_compute(request, claim)?;
        if let Some(Value::String(sealed)) = &input.output {
            input.output = Some(open_output(platform, sealed)?);
        }
        let (status, body) = start_job(platform, &input)?;
        if !(200..300).contains(&status) {
            return Ok(passthrough(status, body));
        }
        let jobs = match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Array(jobs)) => Value::Array(jobs),
            Ok(job @ Value::Object(_)) => Value::Array(vec![job]),
            _ => {
                return Err(ProviderError::Upstream(
                    "The compute operator answered with something other than jobs.".into(),
                ));
            }
        };
        Ok(ApiResponse::json(200, &jobs))
    };
    run().map_err(ProviderError::in_node_dialect)
}

/// Opens an Ocean Node `output`: ECIES hex to `nodePublicKey` (the first chain's
/// provider key) of the output JSON.
fn open_output(platform: &Platform<'_>, sealed: &str) -> Result<Value> {
    let invalid = || {
        ProviderError::BadRequest(
            "Invalid output: not ECIES-encrypted JSON for this provider's nodePublicKey.".into(),
        )
    };
    let bytes = crate::signature::decode_hex(sealed).ok_or_else(invalid)?;
    let chains = platform.settings.chains()?;
    let chain = chains.iter().next().ok_or_else(invalid)?;
    let plain = crate::cipher::decrypt(&chain.key.secret_key(), &bytes).map_err(|_| invalid())?;
    serde_json::from_slice(&plain).map_err(|_| invalid())
}

/// The operation: checks the workflow and its orders, uses up the nonce and has the
/// operator start the job; the operator's status and answer.
pub fn start_job(platform: &Platform<'_>, input: &StartComputeRequest) -> Result<(u16, Vec<u8>)> {
    let timeout = platform.settings.request_timeout()?;
    let operator = Operator::configured(platform, timeout)?;
    let authorized = verify(platform, &input.claim)?;
    let consumer = authorized.signer;
    crate::rbac::check(
        platform,
        crate::rbac::Event::Compute,
        &consumer,
        &compute_subject(&input.datasets, &input.algorithm),
    )?;
    let env_id = input.environment.clone();
    let chains = platform.settings.chains()?;
    let (env, _) = operator.find_environment(chains, &env_id)?;
    let algorithm = resolve_algorithm(platform, &input.algorithm, timeout)?;
    let inputs = &input.datasets;
    let policy = platform.settings.fetch_policy()?;
    let mut stage_inputs = Vec::new();
    let mut paid: Vec<(ValidOrder, String, u64)> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let (ddo, index) =
            validate_input(platform, chains, i, input, &algorithm, &consumer, policy)?;
        let chain = chains.for_asset(&ddo)?;
        let rpc = Rpc::new(chain, platform.http, platform.kv, timeout);
        let res = crate::compute::workflow::resource_name(i);
        if input
            .get("transferTxId")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(refusal(&format!("{res}.transferTxId"), "missing"));
        }
        let terms = OrderTerms {
            environment: Some(&env_id),
            allow_expired_fee: false,
            clock_now: platform.clock.now_unix_seconds(),
        };
        let order = existing_order(&rpc, &ddo, index, consumer, input, terms)?
            .ok_or_else(|| refusal(&format!("{res}.serviceId"), "order_invalid"))?;
        let mut remote =
            json!({"txId": input["transferTxId"], "serviceId": ddo.services[index].id});
        if let Some(userdata) = input.get("userdata") {
            remote["userdata"] = userdata.clone();
        }
        stage_inputs.push(json!({"index": i, "id": ddo.id, "remote": remote}));
        paid.push((
            order,
            input["transferTxId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            chain.id,
        ));
    }
    let algorithm_json = match &algorithm {
        Algorithm::Raw(meta) => {
            json!({"id": "", "url": meta.get("url"), "rawcode": meta.get("rawcode"), "container": meta.get("container")})
        }
        Algorithm::Published { ddo, request } => {
            let (index, order) = algorithm_order(platform, ddo, request, consumer, false)?;
            let order = order.ok_or_else(|| refusal("algorithm", "in_use_or_not_on_chain"))?;
            let service = &ddo.services[index];
            let chain = chains.for_asset(ddo)?;
            let container = ddo
                .metadata
                .as_ref()
                .and_then(|m| m.pointer("/algorithm/container"))
                .cloned()
                .unwrap_or(Value::Null);
            check_container(&container).map_err(|code| refusal("algorithm.container", code))?;
            paid.push((
                order,
                request["transferTxId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                chain.id,
            ));
            json!({"id": ddo.id, "rawcode": "", "container": container, "algouserdata": Value::Null,
                   "remote": {"serviceEndpoint": service.service_endpoint, "txId": request["transferTxId"], "serviceId": service.id, "userData": request.get("algouserdata")},
                   "algocustomdata": request.get("algocustomdata")})
        }
    };
    // Fees paid: some order must carry the price of the whole job.
    let valid_until = paid
        .iter()
        .map(|(o, _, _)| o.fee_valid_until)
        .max()
        .unwrap_or(U256::ZERO);
    let valid_until_secs = u64::try_from(valid_until).unwrap_or(u64::MAX);
    let mut agreement = None;
    for (order, tx, chain_id) in &paid {
        let chain = chains
            .get(*chain_id)
            .ok_or_else(|| ProviderError::BadRequest("Unsupported chain".into()))?;
        let rpc = Rpc::new(chain, platform.http, platform.kv, timeout);
        let (_, required) = required_fee(platform, &rpc, &env, valid_until_secs)?;
        if required <= order.fee_amount {
            agreement = Some((tx.clone(), *chain_id));
            break;
        }
    }
    let (agreement_id, chain_id) = agreement.ok_or_else(|| refusal("order", "fees_not_paid"))?;
    let output = input.output.clone();
    // Everything checked: use up the nonce before the job is started.
    authorized.consume_nonce(platform)?;
    let nonce = crate::compute::operator::nanosecond_nonce(platform);
    let owner = checksum(&consumer);
    let mut stage = json!({"index": 0, "input": stage_inputs,
        "compute": {"Instances": 1, "namespace": "ocean-compute", "maxtime": 3600},
        "algorithm": algorithm_json,
        "output": {"metadataUri": platform.settings.aquarius_url().ok()}});
    if let Some(output) = output {
        stage["output"] = output;
    }
    let payload = json!({
        "workflow": {"stages": [stage]},
        "providerSignature": provider_signature(&operator.key, &owner, None, &nonce)?,
        "agreementId": agreement_id,
        "owner": owner,
        "providerAddress": checksum(&operator.key.address()),
        "environment": env_id,
        "validUntil": valid_until_secs,
        "nonce": serde_json::from_str::<Value>(&nonce).unwrap_or(Value::Null),
        "chainId": chain_id,
    });
    operator.call("POST", "compute", &[], Some(&payload))
}

/// What a compute request touches, for the RBAC server: the first dataset, the
/// published algorithm (none for raw code), the other datasets.
fn compute_subject(datasets: &[Value], algorithm: &Value) -> crate::rbac::Subject {
    let entry = |item: &Value| {
        crate::rbac::did_entry(
            item.get("documentId")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            item.get("serviceId")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )
    };
    let algos = if algorithm.get("documentId").is_some() {
        vec![entry(algorithm)]
    } else {
        Vec::new()
    };
    crate::rbac::Subject {
        dids: datasets.iter().take(1).map(entry).collect(),
        algos: Some(algos),
        additional_dids: Some(datasets.iter().skip(1).map(entry).collect()),
    }
}

/// The operator query of status/stop/delete calls.
fn job_query(
    operator: &Operator<'_>,
    jobs: &JobSelector,
    owner: &str,
) -> Result<Vec<(&'static str, String)>> {
    operator.job_query(owner, jobs.job_id.as_deref(), jobs.document_id.as_deref())
}

/// `GET /api/services/compute`: a job's status.
pub fn status(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    let operator = Operator::configured(platform, platform.settings.request_timeout()?)?;
    let input = crate::wire::v2::compute_status(request)?;
    let query = job_query(&operator, &input.jobs, &checksum(&input.consumer))?;
    let (status, body) = operator.call("GET", "compute", &query, None)?;
    Ok(passthrough(status, body))
}

/// `PUT` (stop) and `DELETE` (delete) `/api/services/compute`.
pub fn stop_or_delete(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    let operator = Operator::configured(platform, platform.settings.request_timeout()?)?;
    let input = crate::wire::v2::compute_control(request)?;
    let authorized = verify(platform, &input.claim)?;
    // The reference builds the RBAC `dids` from a top-level documentId/serviceId (and
    // failed when serviceId was absent, the usual case): here an absent one is empty.
    let dids = input
        .jobs
        .document_id
        .iter()
        .map(|did| crate::rbac::did_entry(did, ""))
        .collect();
    crate::rbac::check(
        platform,
        crate::rbac::Event::Compute,
        &authorized.signer,
        &crate::rbac::Subject {
            dids,
            algos: Some(Vec::new()),
            additional_dids: Some(Vec::new()),
        },
    )?;
    authorized.consume_nonce(platform)?;
    let query = job_query(&operator, &input.jobs, &checksum(&authorized.signer))?;
    let method = if input.delete { "DELETE" } else { "PUT" };
    let (status, body) = operator.call(method, "compute", &query, None)?;
    Ok(passthrough(status, body))
}

/// `GET /api/services/computeResult`: streams one result file of a job.
pub fn compute_result(request: &ApiRequest, platform: &Platform<'_>) -> Result<Reply> {
    let operator = Operator::configured(platform, platform.settings.request_timeout()?)?;
    let input = crate::wire::v2::compute_result(request)?;
    let authorized = verify(platform, &input.claim)?;
    authorized.consume_nonce(platform)?;
    let (job_id, index) = (input.job_id.clone(), input.index.clone());
    let owner = checksum(&authorized.signer);
    let mut query = operator.signed_query(&owner, Some(&job_id))?;
    query.retain(|(k, _)| *k != "providerAddress");
    query.push(("index", index.clone()));
    query.push(("jobId", job_id));
    let signature = match &input.claim.proof {
        Proof::Signature(signature) => signature.clone(),
        Proof::AuthToken { .. } => String::new(),
    };
    query.push(("consumerSignature", signature));
    let range: Vec<(&str, &str)> = input
        .range
        .as_deref()
        .map(|r| vec![("range", r)])
        .unwrap_or_default();
    let response = operator.send_with_headers("GET", "getResult", &query, None, &range)?;
    let mut headers: Vec<(String, String)> = response
        .headers
        .iter()
        .filter(|(k, _)| {
            [
                "content-type",
                "content-length",
                "content-range",
                "accept-ranges",
            ]
            .contains(&k.as_str())
        })
        .cloned()
        .collect();
    // Never derive a file name from the URL: it carries signatures.
    let disposition = response
        .header("content-disposition")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("attachment;filename=result-{index}"));
    headers.push(("content-disposition".into(), disposition));
    headers.push((
        "access-control-expose-headers".into(),
        "Content-Disposition".into(),
    ));
    Ok(Reply::Stream {
        status: response.status,
        headers,
        body: response.body,
        after: None,
    })
}
