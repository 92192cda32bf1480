//! The local chain fixture: ganache (npm, pinned in `tests/chain/package-lock.json`)
//! with chain id 8996 and the barge mnemonic, the Ocean v4 contracts deployed from the
//! `@oceanprotocol/contracts` artifacts, and helpers to publish and order assets.
//!
//! Transactions are sent with `eth_sendTransaction` from ganache's unlocked mnemonic
//! accounts; ABI encoding comes from alloy's `sol!`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::{SolCall, SolValue, sol};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{free_port, workspace_root};

/// The barge mnemonic: its accounts match the spec's test vectors.
pub const MNEMONIC: &str = "taxi music thumb unique chat sand crew more leg another off lamp";

sol! {
    function mint(address to, uint256 amount) external;
    function approve(address spender, uint256 amount) external returns (bool);
    function addFactory(address factory) external;
    function addDispenserContract(address dispenser) external;
    struct NftCreateData { string name; string symbol; uint256 templateIndex; string tokenURI; bool transferable; address owner; }
    struct ErcCreateData { uint256 templateIndex; string[] strings; address[] addresses; uint256[] uints; bytes[] bytess; }
    function createNftWithErc20(NftCreateData nft, ErcCreateData erc) external returns (address erc721Address, address erc20Address);
    struct MetadataProof { address validatorAddress; uint8 v; bytes32 r; bytes32 s; }
    function setMetaData(uint8 state, string decryptorUrl, string decryptorAddress, bytes flags, bytes data, bytes32 hash, MetadataProof[] proofs) external;
    function setMetaDataState(uint8 state) external;
    struct ProviderFeeArg { address providerFeeAddress; address providerFeeToken; uint256 providerFeeAmount; uint8 v; bytes32 r; bytes32 s; uint256 validUntil; bytes providerData; }
    struct ConsumeMarketFeeArg { address consumeMarketFeeAddress; address consumeMarketFeeToken; uint256 consumeMarketFeeAmount; }
    function startOrder(address consumer, uint256 serviceIndex, ProviderFeeArg providerFee, ConsumeMarketFeeArg consumeMarketFee) external;
    function reuseOrder(bytes32 orderTxId, ProviderFeeArg providerFee) external;
    /// Only for encoding the data of a forged MetadataCreated log (selector dropped).
    function forgedMetadata(uint8 state, string decryptorUrl, bytes flags, bytes data, bytes32 metaDataHash, uint256 timestamp, uint256 blockNumber);
    event NFTCreated(address newTokenAddress, address indexed templateAddress, string tokenName, address indexed admin, string symbol, string tokenURI, bool transferable, address indexed creator);
    event TokenCreated(address indexed newTokenAddress, address indexed templateAddress, string name, string symbol, uint256 cap, address creator);
}

/// The well-known accounts of the mnemonic.
#[derive(Debug, Clone, Copy)]
pub struct Accounts {
    /// Index 0: deploys the contracts.
    pub deployer: Address,
    /// Index 1: publishes assets.
    pub publisher: Address,
    /// Index 2: consumes them.
    pub consumer: Address,
    /// Index 3: a stranger.
    pub stranger: Address,
    /// Index 8: the provider (its key is the development key).
    pub provider: Address,
}

/// Deployed Ocean contracts.
#[derive(Debug, Clone, Copy)]
pub struct Contracts {
    /// OceanToken.
    pub ocean: Address,
    /// ERC721Factory.
    pub factory: Address,
    /// FactoryRouter.
    pub router: Address,
    /// Dispenser (free datatokens; ocean.js's `orderAsset` uses it).
    pub dispenser: Address,
    /// A contract that emits whatever MetadataCreated-shaped log it is asked to
    /// (hand-assembled EVM code), for forged-event tests.
    pub log_forger: Address,
}

/// A published asset.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The data NFT.
    pub nft: Address,
    /// Its datatoken.
    pub datatoken: Address,
    /// The `setMetaData` transaction.
    pub metadata_tx: B256,
    /// The DID (`did:op:` + sha256(checksum nft + chain id)).
    pub did: String,
    /// The DDO bytes whose hash is on chain.
    pub ddo: Vec<u8>,
}

/// A running local chain with the contracts deployed.
#[derive(Debug)]
pub struct LocalChain {
    /// `http://127.0.0.1:PORT`.
    pub rpc_url: String,
    /// Accounts.
    pub accounts: Accounts,
    /// Contracts.
    pub contracts: Contracts,
    child: Mutex<Child>,
    /// Transactions are sent one at a time: ganache assigns account nonces on arrival
    /// and refuses concurrent sends from one account.
    send_lock: Mutex<()>,
}

fn chain_dir() -> PathBuf {
    workspace_root().join("tests/chain")
}

/// Installs the pinned npm packages if they are missing (a fresh clone).
pub fn ensure_npm_packages() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if chain_dir()
            .join("node_modules/ganache/dist/node/cli.js")
            .exists()
            && chain_dir()
                .join("node_modules/@oceanprotocol/contracts/artifacts")
                .exists()
        {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
            .current_dir(chain_dir())
            .status()
            .expect("run npm ci in tests/chain (is Node.js installed?)");
        assert!(status.success(), "npm ci in tests/chain failed");
    });
}

fn artifact(path: &str) -> Vec<u8> {
    let file = chain_dir()
        .join("node_modules/@oceanprotocol/contracts/artifacts/contracts")
        .join(path);
    let json: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    hex::decode(json["bytecode"].as_str().unwrap().trim_start_matches("0x")).unwrap()
}

/// EVM code of the log forger: `LOG2(calldata, topic0 = MetadataCreated, topic1 = caller)`.
fn log_forger_code() -> Vec<u8> {
    let topic =
        keccak256("MetadataCreated(address,uint8,string,bytes,bytes,bytes32,uint256,uint256)");
    let mut runtime = vec![0x36, 0x60, 0x00, 0x60, 0x00, 0x37, 0x33, 0x7f];
    runtime.extend_from_slice(topic.as_slice());
    runtime.extend_from_slice(&[0x36, 0x60, 0x00, 0xa2, 0x00]);
    let len = u8::try_from(runtime.len()).unwrap();
    let mut init = vec![
        0x60, len, 0x80, 0x60, 0x0b, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3,
    ];
    init.extend_from_slice(&runtime);
    init
}

/// Init code of a contract that, when called, emits exactly `logs` (three topics
/// each, data copied from its own code): forged events for emitter-check tests.
pub fn event_emitter_code(logs: &[([B256; 3], Vec<u8>)]) -> Vec<u8> {
    // Per log: CODECOPY(0, offset, len); LOG3(0, len, t0, t1, t2). Then STOP, then data.
    let per_log = 3 + 3 + 2 + 1 + 33 * 3 + 3 + 2 + 1;
    let code_len = per_log * logs.len() + 1;
    let mut runtime = Vec::new();
    let mut data_offset = code_len;
    for (topics, data) in logs {
        let len = u16::try_from(data.len()).unwrap();
        let offset = u16::try_from(data_offset).unwrap();
        runtime.push(0x61);
        runtime.extend_from_slice(&len.to_be_bytes());
        runtime.push(0x61);
        runtime.extend_from_slice(&offset.to_be_bytes());
        runtime.extend_from_slice(&[0x60, 0x00, 0x39]);
        for topic in [topics[2], topics[1], topics[0]] {
            runtime.push(0x7f);
            runtime.extend_from_slice(topic.as_slice());
        }
        runtime.push(0x61);
        runtime.extend_from_slice(&len.to_be_bytes());
        runtime.extend_from_slice(&[0x60, 0x00, 0xa3]);
        data_offset += data.len();
    }
    runtime.push(0x00);
    assert_eq!(runtime.len(), code_len);
    for (_, data) in logs {
        runtime.extend_from_slice(data);
    }
    let len = u16::try_from(runtime.len()).unwrap();
    let mut init = vec![0x61];
    init.extend_from_slice(&len.to_be_bytes());
    init.extend_from_slice(&[0x80, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3]);
    assert_eq!(init.len(), 12);
    init.extend_from_slice(&runtime);
    init
}

impl LocalChain {
    /// The chain shared by every test of this process.
    pub fn shared() -> &'static LocalChain {
        static SHARED: OnceLock<LocalChain> = OnceLock::new();
        SHARED.get_or_init(LocalChain::start)
    }

    /// Starts ganache on a free port and deploys the contracts.
    pub fn start() -> Self {
        ensure_npm_packages();
        let port = free_port();
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(r#""$@" & pid=$!; read _ignored; kill $pid 2>/dev/null; wait $pid"#)
            .arg("chain-runner")
            .arg("node")
            .arg(chain_dir().join("node_modules/ganache/dist/node/cli.js"))
            .args([
                "--chain.chainId",
                "8996",
                "--chain.networkId",
                "8996",
                "--wallet.mnemonic",
                MNEMONIC,
            ])
            .args([
                "--server.host",
                "127.0.0.1",
                "--server.port",
                &port.to_string(),
                "--logging.quiet",
                "true",
            ])
            .args([
                "--chain.allowUnlimitedContractSize",
                "true",
                "--miner.blockGasLimit",
                "0x1fffffffffffff",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = command.spawn().expect("start ganache");
        let rpc_url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if rpc_raw(&rpc_url, "eth_chainId", json!([])).is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "ganache did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let accounts: Vec<Address> =
            serde_json::from_value(rpc_raw(&rpc_url, "eth_accounts", json!([])).unwrap()).unwrap();
        let accounts = Accounts {
            deployer: accounts[0],
            publisher: accounts[1],
            consumer: accounts[2],
            stranger: accounts[3],
            provider: accounts[8],
        };
        let mut chain = LocalChain {
            rpc_url,
            accounts,
            contracts: Contracts {
                ocean: Address::ZERO,
                factory: Address::ZERO,
                router: Address::ZERO,
                dispenser: Address::ZERO,
                log_forger: Address::ZERO,
            },
            child: Mutex::new(child),
            send_lock: Mutex::new(()),
        };
        chain.contracts = chain.deploy_ocean();
        chain
    }

    fn deploy_ocean(&self) -> Contracts {
        let owner = self.accounts.deployer;
        let ocean = self.deploy(
            owner,
            artifact("utils/OceanToken.sol/OceanToken.json"),
            (owner,).abi_encode_params(),
        );
        let collector = self.deploy(
            owner,
            artifact("communityFee/OPFCommunityFeeCollector.sol/OPFCommunityFeeCollector.json"),
            (owner, owner).abi_encode_params(),
        );
        let dead: Address = "0x000000000000000000000000000000000000dEaD"
            .parse()
            .unwrap();
        let router = self.deploy(
            owner,
            artifact("pools/FactoryRouter.sol/FactoryRouter.json"),
            (owner, ocean, dead, collector, Vec::<Address>::new()).abi_encode_params(),
        );
        let erc20 = self.deploy(
            owner,
            artifact("templates/ERC20Template.sol/ERC20Template.json"),
            Vec::new(),
        );
        let erc721 = self.deploy(
            owner,
            artifact("templates/ERC721Template.sol/ERC721Template.json"),
            Vec::new(),
        );
        let factory = self.deploy(
            owner,
            artifact("ERC721Factory.sol/ERC721Factory.json"),
            (erc721, erc20, router).abi_encode_params(),
        );
        self.transact(owner, router, addFactoryCall { factory }.abi_encode());
        let dispenser = self.deploy(
            owner,
            artifact("pools/dispenser/Dispenser.sol/Dispenser.json"),
            (router,).abi_encode_params(),
        );
        self.transact(
            owner,
            router,
            addDispenserContractCall { dispenser }.abi_encode(),
        );
        let log_forger = self.deploy(owner, log_forger_code(), Vec::new());
        Contracts {
            ocean,
            factory,
            router,
            dispenser,
            log_forger,
        }
    }

    /// The wrapper shell whose child is the chain's node process (benchmarks read its
    /// CPU time).
    pub fn wrapper_pid(&self) -> Option<u32> {
        self.child.lock().ok().map(|child| child.id())
    }

    /// A JSON-RPC call; panics on an error answer.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        rpc_raw(&self.rpc_url, method, params).unwrap_or_else(|| panic!("{method} failed"))
    }

    /// Sends a transaction from an unlocked account and returns its mined receipt.
    pub fn send(&self, from: Address, to: Option<Address>, data: Vec<u8>) -> Value {
        let mut tx = json!({"from": from, "data": Bytes::from(data), "gas": "0x1c9c380"});
        if let Some(to) = to {
            tx["to"] = json!(to);
        }
        let _one_at_a_time = self
            .send_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let hash = self.rpc("eth_sendTransaction", json!([tx]));
        self.rpc("eth_getTransactionReceipt", json!([hash]))
    }

    /// Sends a transaction that must succeed; returns its receipt.
    pub fn transact(&self, from: Address, to: Address, data: Vec<u8>) -> Value {
        let receipt = self.send(from, Some(to), data);
        assert_eq!(receipt["status"], "0x1", "transaction reverted: {receipt}");
        receipt
    }

    /// Deploys `code ‖ constructor_args`.
    pub fn deploy(&self, from: Address, mut code: Vec<u8>, constructor_args: Vec<u8>) -> Address {
        code.extend_from_slice(&constructor_args);
        let receipt = self.send(from, None, code);
        assert_eq!(receipt["status"], "0x1", "deployment reverted");
        serde_json::from_value(receipt["contractAddress"].clone()).unwrap()
    }

    /// A typed `eth_call`.
    pub fn call<C: SolCall>(&self, to: Address, call: C) -> C::Return {
        let answer = self.rpc(
            "eth_call",
            json!([{"to": to, "data": Bytes::from(call.abi_encode())}, "latest"]),
        );
        let bytes: Bytes = serde_json::from_value(answer).unwrap();
        C::abi_decode_returns(&bytes).unwrap()
    }

    /// Signs `message` as a consumer would (EIP-191 over keccak256 of the message)
    /// with one of ganache's unlocked accounts (`eth_sign`).
    pub fn sign(&self, account: Address, message: &str) -> String {
        let hash = keccak256(message.as_bytes());
        self.rpc("eth_sign", json!([account, hash]))
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Mints `amount` datatokens (1e18 = one) to `to`, as the publisher (the minter).
    pub fn mint_datatokens(&self, datatoken: Address, to: Address, tokens: u64) {
        let amount = U256::from(tokens) * U256::from(10).pow(U256::from(18));
        self.transact(
            self.accounts.publisher,
            datatoken,
            mintCall { to, amount }.abi_encode(),
        );
    }

    /// Gives `to` Ocean tokens and lets `spender` (a datatoken, for provider fees) take them.
    pub fn fund_ocean(&self, to: Address, spender: Address, tokens: u64) {
        let amount = U256::from(tokens) * U256::from(10).pow(U256::from(18));
        self.transact(
            self.accounts.deployer,
            self.contracts.ocean,
            mintCall { to, amount }.abi_encode(),
        );
        self.transact(
            to,
            self.contracts.ocean,
            approveCall { spender, amount }.abi_encode(),
        );
    }

    /// Mints one datatoken to `payer`, which starts an order of service 0 for
    /// `consumer` with `fee` (as `initialize` quoted it); panics unless the order
    /// succeeds. The order transaction.
    pub fn order(
        &self,
        payer: Address,
        consumer: Address,
        datatoken: Address,
        fee: &Value,
    ) -> B256 {
        self.mint_datatokens(datatoken, payer, 1);
        let receipt = self.start_order(payer, consumer, datatoken, 0, fee);
        assert_eq!(
            receipt["status"], "0x1",
            "startOrder refused the fee: {receipt}"
        );
        serde_json::from_value(receipt["transactionHash"].clone()).unwrap()
    }

    /// `startOrder` from `payer` for `consumer` with a provider fee exactly as the
    /// provider's `initialize` returned it. Returns the receipt (status may be 0x0).
    pub fn start_order(
        &self,
        payer: Address,
        consumer: Address,
        datatoken: Address,
        service_index: u64,
        fee: &Value,
    ) -> Value {
        let call = startOrderCall {
            consumer,
            serviceIndex: U256::from(service_index),
            providerFee: provider_fee_arg(fee),
            consumeMarketFee: ConsumeMarketFeeArg {
                consumeMarketFeeAddress: Address::ZERO,
                consumeMarketFeeToken: Address::ZERO,
                consumeMarketFeeAmount: U256::ZERO,
            },
        };
        self.send(payer, Some(datatoken), call.abi_encode())
    }

    /// `reuseOrder` of `order_tx` with a fresh provider fee.
    pub fn reuse_order(
        &self,
        payer: Address,
        datatoken: Address,
        order_tx: B256,
        fee: &Value,
    ) -> Value {
        let call = reuseOrderCall {
            orderTxId: order_tx,
            providerFee: provider_fee_arg(fee),
        };
        self.send(payer, Some(datatoken), call.abi_encode())
    }

    /// Moves the chain's clock forward and mines a block.
    pub fn increase_time(&self, seconds: u64) {
        self.rpc("evm_increaseTime", json!([seconds]));
        self.rpc("evm_mine", json!([]));
    }

    /// The barge-style address file for this deployment.
    pub fn address_file(&self) -> String {
        json!({"development": {"chainId": 8996, "Ocean": self.contracts.ocean,
            "ERC721Factory": self.contracts.factory, "Router": self.contracts.router}})
        .to_string()
    }

    /// Creates a data NFT with a datatoken (publisher = minter and fee collector).
    pub fn create_nft_with_datatoken(&self, name: &str) -> (Address, Address) {
        let publisher = self.accounts.publisher;
        let call = createNftWithErc20Call {
            nft: NftCreateData {
                name: name.into(),
                symbol: "DN".into(),
                templateIndex: U256::from(1),
                tokenURI: "https://oceanprotocol.com/nft/".into(),
                transferable: true,
                owner: publisher,
            },
            erc: ErcCreateData {
                templateIndex: U256::from(1),
                strings: vec![format!("{name} DT"), "DT".into()],
                addresses: vec![publisher, publisher, Address::ZERO, Address::ZERO],
                uints: vec![U256::from(10).pow(U256::from(24)), U256::ZERO],
                bytess: vec![],
            },
        };
        let receipt = self.transact(publisher, self.contracts.factory, call.abi_encode());
        let mut nft = None;
        let mut datatoken = None;
        for log in receipt["logs"].as_array().unwrap() {
            let topics: Vec<B256> = serde_json::from_value(log["topics"].clone()).unwrap();
            let data: Bytes = serde_json::from_value(log["data"].clone()).unwrap();
            if topics.first() == Some(&<NFTCreated as alloy_sol_types::SolEvent>::SIGNATURE_HASH) {
                let event = <NFTCreated as alloy_sol_types::SolEvent>::decode_raw_log(
                    topics.iter().copied(),
                    &data,
                )
                .unwrap();
                nft = Some(event.newTokenAddress);
            } else if topics.first()
                == Some(&<TokenCreated as alloy_sol_types::SolEvent>::SIGNATURE_HASH)
            {
                datatoken = Some(Address::from_word(topics[1]));
            }
        }
        (
            nft.expect("NFTCreated event"),
            datatoken.expect("TokenCreated event"),
        )
    }

    /// Stores `data` (with `flags` and the sha256 of `plain`) as the NFT's metadata.
    pub fn set_metadata(&self, nft: Address, flags: u8, data: Vec<u8>, plain: &[u8]) -> B256 {
        self.set_metadata_for("http://127.0.0.1:3000", nft, flags, data, plain)
    }

    /// [`Self::set_metadata`] naming `decryptor_url` as the provider that decrypts it.
    pub fn set_metadata_for(
        &self,
        decryptor_url: &str,
        nft: Address,
        flags: u8,
        data: Vec<u8>,
        plain: &[u8],
    ) -> B256 {
        let call = setMetaDataCall {
            state: 0,
            decryptorUrl: decryptor_url.into(),
            decryptorAddress: format!("{:#x}", self.accounts.provider),
            flags: Bytes::from(vec![flags]),
            data: Bytes::from(data),
            hash: B256::from_slice(&Sha256::digest(plain)),
            proofs: vec![],
        };
        let receipt = self.transact(self.accounts.publisher, nft, call.abi_encode());
        serde_json::from_value(receipt["transactionHash"].clone()).unwrap()
    }

    /// Sets the NFT's metadata state (0 active, 1 end-of-life, 2 deprecated, 3 revoked, 4 ordering disabled, 5 unlisted).
    pub fn set_metadata_state(&self, nft: Address, state: u8) {
        self.transact(
            self.accounts.publisher,
            nft,
            setMetaDataStateCall { state }.abi_encode(),
        );
    }

    /// Publishes an asset whose DDO is ECIES-encrypted to `provider_key` (flags 0x02).
    pub fn publish(&self, name: &str, ddo: &[u8], provider_key: &k256::PublicKey) -> Asset {
        let (nft, datatoken) = self.create_nft_with_datatoken(name);
        let encrypted = ocean_provider::cipher::encrypt(provider_key, ddo).unwrap();
        let metadata_tx = self.set_metadata(nft, 2, encrypted, ddo);
        let did = did_of(&nft, 8996);
        Asset {
            nft,
            datatoken,
            metadata_tx,
            did,
            ddo: ddo.to_vec(),
        }
    }

    /// Emits a forged `MetadataCreated` log from the log-forger contract, claiming
    /// `data`/`flags`/hash; returns the transaction hash.
    pub fn forge_metadata_event(&self, flags: u8, data: Vec<u8>, plain: &[u8]) -> B256 {
        let fields = forgedMetadataCall {
            state: 0,
            decryptorUrl: "http://127.0.0.1:3000".into(),
            flags: Bytes::from(vec![flags]),
            data: Bytes::from(data),
            metaDataHash: B256::from_slice(&Sha256::digest(plain)),
            timestamp: U256::from(1_700_000_000u64),
            blockNumber: U256::from(1u64),
        };
        let receipt = self.transact(
            self.accounts.stranger,
            self.contracts.log_forger,
            fields.abi_encode()[4..].to_vec(),
        );
        serde_json::from_value(receipt["transactionHash"].clone()).unwrap()
    }
}

fn provider_fee_arg(fee: &Value) -> ProviderFeeArg {
    let text = |name: &str| {
        fee[name]
            .as_str()
            .unwrap_or_else(|| panic!("providerFee.{name}"))
            .to_owned()
    };
    ProviderFeeArg {
        providerFeeAddress: text("providerFeeAddress").parse().unwrap(),
        providerFeeToken: text("providerFeeToken").parse().unwrap(),
        providerFeeAmount: text("providerFeeAmount").parse().unwrap(),
        v: u8::try_from(fee["v"].as_u64().unwrap()).unwrap(),
        r: text("r").parse().unwrap(),
        s: text("s").parse().unwrap(),
        validUntil: U256::from(fee["validUntil"].as_u64().unwrap()),
        providerData: Bytes::from(
            hex::decode(text("providerData").trim_start_matches("0x")).unwrap(),
        ),
    }
}

impl Drop for LocalChain {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

pub use ocean_provider::did::did_of;

fn rpc_raw(url: &str, method: &str, params: Value) -> Option<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let mut response = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body.as_bytes())
        .ok()?;
    let answer: Value = serde_json::from_slice(&response.body_mut().read_to_vec().ok()?).ok()?;
    if let Some(error) = answer.get("error") {
        panic!("{method}: {error}");
    }
    answer.get("result").cloned()
}
