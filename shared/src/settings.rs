//! The configuration of one request as typed values. Each setting is read from its Spin
//! variable and validated on first use, then kept for the rest of the request, so a
//! rule asks for `request_timeout()` or `chains()` and never parses a variable itself
//! (a component reads only what its operations use: [`crate::routes::COMPONENTS`]
//! lists those variables, and a test holds `spin.toml` to that list).
//!
//! Variable names are the Python Provider's environment variables, lowercased; the
//! parsing rules and their messages are in [`crate::config`].

use std::cell::OnceCell;
use std::time::Duration;

use crate::address::{Address, parse_address};
use crate::asset::fetch::FetchPolicy;
use crate::chain::addresses::{ContractAddresses, read_address_file};
use crate::config::{self, Chains, ProviderKey};
use crate::log::Level;
use crate::ports::Variables;
use crate::{ProviderError, Result};

/// Default `max_document_size`: 25 MiB (Ocean Node's figure).
pub const DEFAULT_MAX_DOCUMENT_SIZE: u64 = 25 * 1024 * 1024;
/// Default `max_checksum_length`: 5 MiB (the reference's).
pub const DEFAULT_MAX_CHECKSUM_LENGTH: u64 = 5 * 1024 * 1024;
/// Default `ddo_cache_seconds`.
pub const DEFAULT_DDO_CACHE_SECONDS: u64 = 30;

/// Default `auth_token_lifetime`: a token from `POST /auth/token` (whose clients
/// send no expiry) lives a day.
pub const DEFAULT_AUTH_TOKEN_LIFETIME: u64 = 24 * 60 * 60;

/// The shape of `GET /computeEnvironments` (`compute_environments_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvironmentsFormat {
    /// Ocean Node's array (ocean.js 8.x; ocean.py 3.x copes): the default.
    Array,
    /// v2's object keyed by chain id (ocean.js ≤ 3.4 needs it; breaks ocean.js 8).
    ByChain,
}

/// The settings of one request.
pub struct Settings<'a> {
    vars: &'a dyn Variables,
    cells: Cells,
}

/// Each setting once read (errors included).
#[derive(Default)]
struct Cells {
    chains: OnceCell<Result<Chains>>,
    request_timeout: OnceCell<Result<Duration>>,
    allow_non_public_ip: OnceCell<Result<bool>>,
    aquarius_url: OnceCell<Result<Option<String>>>,
    operator_url: OnceCell<Result<Option<String>>>,
    ipfs_gateway: OnceCell<Result<Option<String>>>,
    arweave_gateway: OnceCell<Result<Option<String>>>,
    provider_fee_token: OnceCell<Result<Option<String>>>,
    address_file: OnceCell<Result<Option<serde_json::Map<String, serde_json::Value>>>>,
    ddo_cache_seconds: OnceCell<Result<u64>>,
    max_checksum_length: OnceCell<Result<u64>>,
    max_document_size: OnceCell<Result<u64>>,
    authorized_decrypters: OnceCell<Result<Vec<Address>>>,
    universal_key: OnceCell<Result<ProviderKey>>,
    auth_token_secret: OnceCell<Result<Vec<u8>>>,
    log_level: OnceCell<Level>,
    auth_token_lifetime: OnceCell<Result<u64>>,
    require_signed_encrypt: OnceCell<Result<bool>>,
    environments_format: OnceCell<Result<EnvironmentsFormat>>,
    rbac_server_url: OnceCell<Result<Option<String>>>,
    private_provider: OnceCell<Result<bool>>,
    use_http_proof: OnceCell<Result<Option<String>>>,
    use_chain_proof: OnceCell<Result<bool>>,
}

impl std::fmt::Debug for Settings<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the values: several are secrets.
        f.write_str("Settings")
    }
}

/// The value of a cell, loading it on first use. Errors are kept too: a bad variable
/// gives the same configuration error on every read.
fn cached<T: Clone>(cell: &OnceCell<Result<T>>, load: impl FnOnce() -> Result<T>) -> Result<T> {
    cell.get_or_init(load).clone()
}

impl<'a> Settings<'a> {
    /// Settings read from `vars` as they are needed.
    pub fn new(vars: &'a dyn Variables) -> Self {
        Self {
            vars,
            cells: Cells::default(),
        }
    }

    /// `network_url`, `chain_id` and `provider_private_key`: the chains served.
    pub fn chains(&self) -> Result<&Chains> {
        self.cells
            .chains
            .get_or_init(|| Chains::load(self.vars))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// `request_timeout` (seconds, default 10): every upstream call's timeout.
    pub fn request_timeout(&self) -> Result<Duration> {
        cached(&self.cells.request_timeout, || {
            config::request_timeout(self.vars)
        })
    }

    /// `allow_non_public_ip` with `request_timeout`: how files are fetched.
    pub fn fetch_policy(&self) -> Result<FetchPolicy> {
        let allow_non_public = cached(&self.cells.allow_non_public_ip, || {
            config::boolean(self.vars, "allow_non_public_ip", false)
        })?;
        Ok(FetchPolicy {
            allow_non_public,
            timeout: self.request_timeout()?,
        })
    }

    fn text(&self, cell: &OnceCell<Result<Option<String>>>, name: &str) -> Result<Option<String>> {
        cached(cell, || config::optional(self.vars, name))
    }

    /// `aquarius_url`, required by every operation that resolves a DID.
    pub fn aquarius_url(&self) -> Result<String> {
        self.text(&self.cells.aquarius_url, "aquarius_url")?
            .ok_or_else(|| ProviderError::config("aquarius_url", "is not set"))
    }

    /// `operator_service_url`: `None` when compute is off.
    pub fn operator_url(&self) -> Result<Option<String>> {
        self.text(&self.cells.operator_url, "operator_service_url")
    }

    /// `ipfs_gateway`, required to resolve `ipfs` files.
    pub fn ipfs_gateway(&self) -> Result<String> {
        self.text(&self.cells.ipfs_gateway, "ipfs_gateway")?
            .ok_or_else(|| {
                ProviderError::config(
                    "ipfs_gateway",
                    "is not set: No IPFS_GATEWAY defined, can not resolve ipfs hash.",
                )
            })
    }

    /// `arweave_gateway`, required to resolve `arweave` files.
    pub fn arweave_gateway(&self) -> Result<String> {
        self.text(&self.cells.arweave_gateway, "arweave_gateway")?
            .ok_or_else(|| {
                ProviderError::config(
                    "arweave_gateway",
                    "is not set: No ARWEAVE_GATEWAY defined, can not resolve arweave transaction id.",
                )
            })
    }

    /// The provider-fee token of a chain: `provider_fee_token` (one address, or a JSON
    /// map of chain id to address), else the chain's Ocean token from `address_file`,
    /// else the zero address.
    pub fn fee_token(&self, chain_id: u64) -> Result<Address> {
        if let Some(text) = self.text(&self.cells.provider_fee_token, "provider_fee_token")? {
            let bad = || {
                ProviderError::config(
                    "provider_fee_token",
                    "must be an address or a JSON map of chain id to address",
                )
            };
            if text.starts_with('{') {
                let map: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&text).map_err(|_| bad())?;
                if let Some(value) = map.get(&chain_id.to_string()) {
                    return value.as_str().and_then(parse_address).ok_or_else(bad);
                }
            } else {
                return parse_address(&text).ok_or_else(bad);
            }
        }
        Ok(self
            .contract_addresses(chain_id)?
            .ocean
            .unwrap_or(Address::ZERO))
    }

    /// The Ocean contracts of a chain, from `address_file` (parsed once per request).
    pub fn contract_addresses(&self, chain_id: u64) -> Result<ContractAddresses> {
        let file = self
            .cells
            .address_file
            .get_or_init(|| read_address_file(self.vars))
            .as_ref()
            .map_err(Clone::clone)?;
        ContractAddresses::for_chain(file.as_ref(), chain_id)
    }

    /// `ddo_cache_seconds` (default 30; 0 turns the DDO cache off).
    pub fn ddo_cache_seconds(&self) -> Result<u64> {
        cached(&self.cells.ddo_cache_seconds, || {
            config::integer(self.vars, "ddo_cache_seconds", DEFAULT_DDO_CACHE_SECONDS)
        })
    }

    /// `max_checksum_length`: files longer than this are not hashed.
    pub fn max_checksum_length(&self) -> Result<u64> {
        cached(&self.cells.max_checksum_length, || {
            config::integer(
                self.vars,
                "max_checksum_length",
                DEFAULT_MAX_CHECKSUM_LENGTH,
            )
        })
    }

    /// `rbac_server_url`: the role-based access server (unset: RBAC off).
    pub fn rbac_server_url(&self) -> Result<Option<String>> {
        self.text(&self.cells.rbac_server_url, "rbac_server_url")
    }

    /// `private_provider`: tell the RBAC server `providerAccess: private`.
    pub fn private_provider(&self) -> Result<bool> {
        cached(&self.cells.private_provider, || {
            config::boolean(self.vars, "private_provider", false)
        })
    }

    /// `use_http_proof`: where proofs of download are posted (unset: none).
    pub fn use_http_proof(&self) -> Result<Option<String>> {
        self.text(&self.cells.use_http_proof, "use_http_proof")
    }

    /// `use_chain_proof`: record each completed download on chain (`orderExecuted`).
    pub fn use_chain_proof(&self) -> Result<bool> {
        cached(&self.cells.use_chain_proof, || {
            config::boolean(self.vars, "use_chain_proof", false)
        })
    }

    /// `auth_token_lifetime`: seconds a token issued without an expiry lives.
    pub fn auth_token_lifetime(&self) -> Result<u64> {
        cached(&self.cells.auth_token_lifetime, || {
            config::integer(
                self.vars,
                "auth_token_lifetime",
                DEFAULT_AUTH_TOKEN_LIFETIME,
            )
        })
    }

    /// `require_signed_encrypt`: refuse v2's unsigned encrypt (default false, so
    /// ocean.py 3.x and ocean.js 3.x keep working).
    pub fn require_signed_encrypt(&self) -> Result<bool> {
        cached(&self.cells.require_signed_encrypt, || {
            config::boolean(self.vars, "require_signed_encrypt", false)
        })
    }

    /// `compute_environments_format`: `array` (default) or `by-chain`.
    pub fn environments_format(&self) -> Result<EnvironmentsFormat> {
        cached(&self.cells.environments_format, || match config::optional(
            self.vars,
            "compute_environments_format",
        )?
        .as_deref()
        {
            None | Some("array") => Ok(EnvironmentsFormat::Array),
            Some("by-chain") => Ok(EnvironmentsFormat::ByChain),
            Some(_) => Err(crate::ProviderError::config(
                "compute_environments_format",
                "must be \"array\" or \"by-chain\"",
            )),
        })
    }

    /// `max_document_size`: the largest body `/encrypt` takes.
    pub fn max_document_size(&self) -> Result<u64> {
        cached(&self.cells.max_document_size, || {
            config::integer(self.vars, "max_document_size", DEFAULT_MAX_DOCUMENT_SIZE)
        })
    }

    /// `authorized_decrypters`: a JSON list of addresses; empty allows everyone.
    pub fn authorized_decrypters(&self) -> Result<Vec<Address>> {
        cached(&self.cells.authorized_decrypters, || {
            let Some(text) = config::optional(self.vars, "authorized_decrypters")? else {
                return Ok(Vec::new());
            };
            let bad = || {
                ProviderError::config("authorized_decrypters", "must be a JSON list of addresses")
            };
            let list: Vec<String> = serde_json::from_str(&text).map_err(|_| bad())?;
            list.iter()
                .map(|a| parse_address(a).ok_or_else(bad))
                .collect()
        })
    }

    /// `universal_private_key`, else the provider key: signs operator calls.
    pub fn universal_key(&self) -> Result<ProviderKey> {
        cached(&self.cells.universal_key, || {
            config::universal_key(self.vars)
        })
    }

    /// The auth-token HMAC secret (`auth_token_secret`, else derived from the key).
    pub fn auth_token_secret(&self) -> Result<Vec<u8>> {
        cached(&self.cells.auth_token_secret, || {
            config::auth_token_secret(self.vars)
        })
    }

    /// `log_level` (default info; an unreadable value counts as info).
    pub fn log_level(&self) -> Level {
        *self.cells.log_level.get_or_init(|| {
            config::optional(self.vars, "log_level")
                .ok()
                .flatten()
                .map_or(Level::Info, |text| Level::parse(&text))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::MapVariables;
    use std::cell::Cell;

    /// Variables that count how often each is read.
    struct Counting {
        inner: MapVariables,
        reads: Cell<usize>,
    }

    impl Variables for Counting {
        fn get(&self, name: &str) -> std::result::Result<String, crate::ports::VariableError> {
            self.reads.set(self.reads.get() + 1);
            self.inner.get(name)
        }
    }

    #[test]
    fn each_setting_is_read_once_per_request_and_errors_stay_errors() {
        let vars = Counting {
            inner: MapVariables::from_pairs(&[
                ("request_timeout", "7"),
                ("network_url", r#"{"8996": "http://127.0.0.1:8545"}"#),
                ("provider_private_key", crate::fakes::PROVIDER_KEY),
                ("max_checksum_length", "lots"),
            ]),
            reads: Cell::new(0),
        };
        let settings = Settings::new(&vars);
        assert_eq!(settings.request_timeout().unwrap(), Duration::from_secs(7));
        assert_eq!(settings.chains().unwrap().iter().count(), 1);
        let after_first = vars.reads.get();
        for _ in 0..3 {
            assert_eq!(settings.request_timeout().unwrap(), Duration::from_secs(7));
            assert_eq!(settings.chains().unwrap().iter().count(), 1);
        }
        assert_eq!(vars.reads.get(), after_first, "no variable read twice");
        let err = settings.max_checksum_length().unwrap_err();
        assert_eq!(err, settings.max_checksum_length().unwrap_err());
        assert_eq!(err.status(), 500);
        assert!(err.to_string().contains("max_checksum_length"), "{err}");
        assert!(
            !err.to_string().contains("lots"),
            "the value is never shown"
        );
    }

    #[test]
    fn the_fee_token_is_per_chain_then_the_ocean_token_then_zero() {
        let one = "0x1111111111111111111111111111111111111111";
        let vars = MapVariables::from_pairs(&[("provider_fee_token", one)]);
        assert_eq!(
            Settings::new(&vars).fee_token(1).unwrap(),
            parse_address(one).unwrap()
        );
        let map = format!(r#"{{"8996": "{one}"}}"#);
        let vars = MapVariables::from_pairs(&[("provider_fee_token", &map)]);
        let settings = Settings::new(&vars);
        assert_eq!(
            settings.fee_token(8996).unwrap(),
            parse_address(one).unwrap()
        );
        assert_eq!(settings.fee_token(1).unwrap(), Address::ZERO);
        let vars = MapVariables::from_pairs(&[("provider_fee_token", "nope")]);
        assert_eq!(Settings::new(&vars).fee_token(1).unwrap_err().status(), 500);
    }
}
