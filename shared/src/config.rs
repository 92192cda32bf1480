//! Configuration from Spin variables.
//!
//! Variable names are the Python Provider's environment variables, lowercased, so an
//! operator migrates by renaming `X` to `SPIN_VARIABLE_X`. Every reader here returns a
//! [`ProviderError::Config`] naming the variable on bad input — never a panic, and
//! never the value itself (it may be a secret).

use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, Mac};
use k256::ecdsa::SigningKey;
use serde_json::Value;
use sha2::Sha256;

use crate::address::{Address, checksum};
use crate::ports::{VariableError, Variables};
use crate::signature::{address_of, decode_hex};
use crate::{ProviderError, Result};

/// Reads an optional variable: unset, undeclared or blank all mean "not configured".
pub fn optional(vars: &dyn Variables, name: &str) -> Result<Option<String>> {
    match vars.get(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value.trim().to_owned())),
        Err(VariableError::Undefined) => Ok(None),
        Err(VariableError::Other(problem)) => Err(ProviderError::config(name, problem)),
    }
}

/// Reads a variable that must be set.
pub fn required(vars: &dyn Variables, name: &str) -> Result<String> {
    optional(vars, name)?.ok_or_else(|| ProviderError::config(name, "is not set"))
}

/// Reads a non-negative integer variable, with a default when unset.
pub fn integer(vars: &dyn Variables, name: &str, default: u64) -> Result<u64> {
    match optional(vars, name)? {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| ProviderError::config(name, "must be a non-negative integer")),
    }
}

/// Reads a boolean variable (`true/false`, `1/0`, `yes/no`, `on/off`, like Python's
/// `strtobool`), with a default when unset.
pub fn boolean(vars: &dyn Variables, name: &str, default: bool) -> Result<bool> {
    match optional(vars, name)?.map(|s| s.to_ascii_lowercase()) {
        None => Ok(default),
        Some(text) => match text.as_str() {
            "1" | "true" | "t" | "yes" | "y" | "on" => Ok(true),
            "0" | "false" | "f" | "no" | "n" | "off" => Ok(false),
            _ => Err(ProviderError::config(name, "must be true or false")),
        },
    }
}

/// `request_timeout` (seconds, default 10): the timeout of every upstream call (connect,
/// first byte and between bytes) to RPC nodes, the metadata cache, the operator and
/// file origins.
pub fn request_timeout(vars: &dyn Variables) -> Result<std::time::Duration> {
    Ok(std::time::Duration::from_secs(
        integer(vars, "request_timeout", 10)?.max(1),
    ))
}

/// A secp256k1 private key of the provider. `Debug` never shows it.
#[derive(Clone)]
pub struct ProviderKey(SigningKey);

impl ProviderKey {
    /// Parses 32 bytes of hex (with or without `0x`).
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = decode_hex(text)?;
        if bytes.len() != 32 {
            return None;
        }
        SigningKey::from_slice(&bytes).ok().map(Self)
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    /// The secret key for the document cipher.
    pub fn secret_key(&self) -> k256::SecretKey {
        k256::SecretKey::from(self.0.as_nonzero_scalar())
    }

    /// The public key (documents are encrypted to it).
    pub fn public_key(&self) -> k256::PublicKey {
        k256::PublicKey::from(self.0.verifying_key())
    }

    /// The compressed SEC1 public key (33 bytes).
    pub fn public_key_compressed(&self) -> Vec<u8> {
        use k256::elliptic_curve::sec1::ToEncodedPoint;
        self.public_key().to_encoded_point(true).as_bytes().to_vec()
    }

    /// The key's Ethereum address.
    pub fn address(&self) -> Address {
        address_of(&self.0)
    }

    fn secret_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }
}

impl fmt::Debug for ProviderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProviderKey({})", checksum(&self.address()))
    }
}

/// One configured chain.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The chain id.
    pub id: u64,
    /// RPC URLs in the order they are tried. Secret-ish: they often carry API keys,
    /// so they never appear in messages.
    pub rpc_urls: Vec<String>,
    /// The provider key for this chain (document cipher, provider fees).
    pub key: ProviderKey,
}

/// The chains this provider serves.
#[derive(Debug, Clone)]
pub struct Chains(BTreeMap<u64, Chain>);

impl Chains {
    /// Reads `network_url` (a URL, a JSON list of URLs, or a JSON map chainId → URL or
    /// list of URLs), `chain_id` (needed when `network_url` is not a map) and
    /// `provider_private_key` (a hex key for every chain, or a JSON map chainId → key).
    pub fn load(vars: &dyn Variables) -> Result<Self> {
        let network = required(vars, "network_url")?;
        let mut urls: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        match serde_json::from_str::<Value>(&network) {
            Ok(Value::Object(map)) => {
                for (chain, value) in map {
                    let id = parse_chain_id(&chain).ok_or_else(|| {
                        ProviderError::config(
                            "network_url",
                            format!("key {chain:?} is not a chain id"),
                        )
                    })?;
                    urls.insert(id, url_list(&value)?);
                }
            }
            parsed => {
                let list = match parsed {
                    Ok(value @ Value::Array(_)) => url_list(&value)?,
                    _ => url_list(&Value::String(network.clone()))?,
                };
                let chain = required(vars, "chain_id").map_err(|_| {
                    ProviderError::config(
                        "chain_id",
                        "must be set when network_url is a single URL or a list",
                    )
                })?;
                let id = parse_chain_id(&chain).ok_or_else(|| {
                    ProviderError::config("chain_id", "must be a positive integer")
                })?;
                urls.insert(id, list);
            }
        }
        if urls.is_empty() {
            return Err(ProviderError::config("network_url", "names no chain"));
        }
        let keys = ProviderKeys::load(vars)?;
        let mut chains = BTreeMap::new();
        for (id, rpc_urls) in urls {
            let key = keys.for_chain(id).ok_or_else(|| {
                ProviderError::config("provider_private_key", format!("has no key for chain {id}"))
            })?;
            chains.insert(id, Chain { id, rpc_urls, key });
        }
        Ok(Self(chains))
    }

    /// The configured chain of an asset (its DDO's `chainId`), or 400.
    pub fn for_asset(&self, ddo: &crate::asset::ddo::Ddo) -> Result<&Chain> {
        let id = ddo.chain_id.unwrap_or(0);
        self.get(id).ok_or_else(|| {
            ProviderError::BadRequest(format!(
                "Unsupported chainId {id}: this provider does not serve the asset's chain."
            ))
        })
    }

    /// The chain with this id, if configured.
    pub fn get(&self, id: u64) -> Option<&Chain> {
        self.0.get(&id)
    }

    /// All chains, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Chain> {
        self.0.values()
    }

    /// Resolves a `chainId` request parameter to a configured chain: 400 when it is
    /// not a chain id or not one of ours.
    pub fn resolve(&self, chain_param: &str) -> Result<&Chain> {
        let id = parse_chain_id(chain_param).ok_or_else(|| {
            ProviderError::BadRequest(format!(
                "Invalid chainId {chain_param:?}: must be a positive integer."
            ))
        })?;
        self.get(id).ok_or_else(|| {
            ProviderError::BadRequest(format!(
                "Unsupported chainId {id}: this provider serves {}.",
                self.ids_text()
            ))
        })
    }

    fn ids_text(&self) -> String {
        let ids: Vec<String> = self.0.keys().map(u64::to_string).collect();
        ids.join(", ")
    }
}

fn parse_chain_id(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|id| *id > 0)
}

fn url_list(value: &Value) -> Result<Vec<String>> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut urls = Vec::new();
    for item in items {
        let url = item
            .as_str()
            .map(str::trim)
            .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            .ok_or_else(|| {
                ProviderError::config("network_url", "every RPC URL must be an http(s) URL")
            })?;
        urls.push(url.to_owned());
    }
    if urls.is_empty() {
        return Err(ProviderError::config(
            "network_url",
            "a chain has no RPC URL",
        ));
    }
    Ok(urls)
}

/// `provider_private_key`: one key, or a key per chain.
#[derive(Debug, Clone)]
pub enum ProviderKeys {
    /// One key for every chain.
    Single(ProviderKey),
    /// A key per chain id.
    PerChain(BTreeMap<u64, ProviderKey>),
}

impl ProviderKeys {
    /// Reads `provider_private_key`.
    pub fn load(vars: &dyn Variables) -> Result<Self> {
        let text = required(vars, "provider_private_key")?;
        if text.starts_with('{') {
            let map: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|_| {
                ProviderError::config(
                    "provider_private_key",
                    "is neither a hex key nor a JSON map of chain id to hex key",
                )
            })?;
            let mut keys = BTreeMap::new();
            for (chain, key) in map {
                let id = parse_chain_id(&chain).ok_or_else(|| {
                    ProviderError::config(
                        "provider_private_key",
                        format!("key {chain:?} is not a chain id"),
                    )
                })?;
                let key = ProviderKey::parse(&key).ok_or_else(|| {
                    ProviderError::config(
                        "provider_private_key",
                        format!("the key for chain {id} is not a 32-byte hex key"),
                    )
                })?;
                keys.insert(id, key);
            }
            Ok(Self::PerChain(keys))
        } else {
            ProviderKey::parse(&text).map(Self::Single).ok_or_else(|| {
                ProviderError::config("provider_private_key", "is not a 32-byte hex key")
            })
        }
    }

    /// The key for a chain.
    pub fn for_chain(&self, id: u64) -> Option<ProviderKey> {
        match self {
            Self::Single(key) => Some(key.clone()),
            Self::PerChain(keys) => keys.get(&id).cloned(),
        }
    }
}

/// The "universal" key (spec §3.2): `universal_private_key`, else a single
/// `provider_private_key`. It signs operator-service requests and seeds the
/// auth-token secret.
pub fn universal_key(vars: &dyn Variables) -> Result<ProviderKey> {
    if let Some(text) = optional(vars, "universal_private_key")? {
        return ProviderKey::parse(&text).ok_or_else(|| {
            ProviderError::config("universal_private_key", "is not a 32-byte hex key")
        });
    }
    match ProviderKeys::load(vars)? {
        ProviderKeys::Single(key) => Ok(key),
        ProviderKeys::PerChain(_) => Err(ProviderError::config(
            "universal_private_key",
            "must be set when provider_private_key is a per-chain map",
        )),
    }
}

/// The HMAC secret of auth tokens: `auth_token_secret` when set, else a key derived
/// from the universal key (domain-separated, so the token secret is never the signing
/// key itself). To accept tokens minted by a Python Provider, set `auth_token_secret`
/// to that provider's key text (it used the key's hex string as the HMAC key).
pub fn auth_token_secret(vars: &dyn Variables) -> Result<Vec<u8>> {
    if let Some(secret) = optional(vars, "auth_token_secret")? {
        return Ok(secret.into_bytes());
    }
    let key = universal_key(vars).map_err(|_| {
        ProviderError::config(
            "auth_token_secret",
            "is not set and no universal key (universal_private_key or a single provider_private_key) to derive it from",
        )
    })?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key.secret_bytes())
        .map_err(|_| ProviderError::config("auth_token_secret", "cannot derive"))?;
    mac.update(b"ocean-provider/auth-token-secret/v1");
    Ok(mac.finalize().into_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::MapVariables;

    use crate::fakes::PROVIDER_KEY as KEY;
    const ADDRESS: &str = "0xe08A1dAe983BC701D05E492DB80e0144f8f4b909";

    #[test]
    fn map_form_with_a_single_key() {
        let vars = MapVariables::from_pairs(&[
            (
                "network_url",
                r#"{"8996": "http://127.0.0.1:8545", "137": ["https://a.example", "https://b.example"]}"#,
            ),
            ("provider_private_key", KEY),
        ]);
        let chains = Chains::load(&vars).unwrap();
        let ids: Vec<u64> = chains.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![137, 8996]);
        assert_eq!(chains.get(137).unwrap().rpc_urls.len(), 2);
        assert_eq!(checksum(&chains.get(8996).unwrap().key.address()), ADDRESS);
    }

    #[test]
    fn single_url_needs_chain_id() {
        let vars = MapVariables::from_pairs(&[
            ("network_url", "http://127.0.0.1:8545"),
            ("provider_private_key", KEY),
        ]);
        let err = Chains::load(&vars).unwrap_err();
        assert!(
            matches!(err, ProviderError::Config { ref variable, .. } if variable == "chain_id"),
            "{err:?}"
        );
        let vars = MapVariables::from_pairs(&[
            ("network_url", "http://127.0.0.1:8545"),
            ("chain_id", "8996"),
            ("provider_private_key", KEY),
        ]);
        assert!(Chains::load(&vars).unwrap().get(8996).is_some());
    }

    #[test]
    fn per_chain_keys_must_cover_every_chain() {
        let vars = MapVariables::from_pairs(&[
            (
                "network_url",
                r#"{"1": "https://a.example", "2": "https://b.example"}"#,
            ),
            ("provider_private_key", &format!(r#"{{"1": "{KEY}"}}"#)),
        ]);
        let err = Chains::load(&vars).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Provider misconfigured: variable `provider_private_key`: has no key for chain 2"
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_hide_the_value() {
        let cases = [
            ("network_url", "ftp://x", "network_url"),
            ("network_url", r#"{"abc": "http://x"}"#, "network_url"),
            ("provider_private_key", "0x1234", "provider_private_key"),
        ];
        for (name, value, expected) in cases {
            let mut pairs = vec![
                ("network_url", r#"{"8996": "http://127.0.0.1:8545"}"#),
                ("provider_private_key", KEY),
            ];
            pairs.retain(|(n, _)| *n != name);
            pairs.push((name, value));
            let err = Chains::load(&MapVariables::from_pairs(&pairs)).unwrap_err();
            match &err {
                ProviderError::Config { variable, problem } => {
                    assert_eq!(variable, expected);
                    assert!(!problem.contains(value), "{problem}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn resolve_distinguishes_bad_and_unknown_chain_ids() {
        let vars = MapVariables::from_pairs(&[
            ("network_url", r#"{"8996": "http://127.0.0.1:8545"}"#),
            ("provider_private_key", KEY),
        ]);
        let chains = Chains::load(&vars).unwrap();
        assert!(chains.resolve("8996").is_ok());
        assert!(
            matches!(chains.resolve("1"), Err(ProviderError::BadRequest(m)) if m.contains("Unsupported chainId 1"))
        );
        assert!(
            matches!(chains.resolve("abc"), Err(ProviderError::BadRequest(m)) if m.contains("Invalid chainId"))
        );
        assert!(matches!(
            chains.resolve("-1"),
            Err(ProviderError::BadRequest(_))
        ));
    }

    #[test]
    fn auth_secret_is_derived_not_the_raw_key_and_is_stable() {
        let vars = MapVariables::from_pairs(&[("provider_private_key", KEY)]);
        let derived = auth_token_secret(&vars).unwrap();
        assert_eq!(derived.len(), 32);
        assert_ne!(derived, KEY.as_bytes());
        assert_eq!(derived, auth_token_secret(&vars).unwrap());
        let explicit = MapVariables::from_pairs(&[
            ("provider_private_key", KEY),
            ("auth_token_secret", "s3cret"),
        ]);
        assert_eq!(auth_token_secret(&explicit).unwrap(), b"s3cret");
        let no_universal =
            MapVariables::from_pairs(&[("provider_private_key", &format!(r#"{{"1": "{KEY}"}}"#))]);
        assert!(
            matches!(auth_token_secret(&no_universal), Err(ProviderError::Config { variable, .. }) if variable == "auth_token_secret")
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = ProviderKey::parse(KEY).unwrap();
        let text = format!("{key:?}");
        assert!(!text.contains("fd5c1c"));
        assert!(text.contains(ADDRESS));
    }

    #[test]
    fn scalar_readers() {
        let vars =
            MapVariables::from_pairs(&[("a", "yes"), ("b", "12"), ("c", "maybe"), ("d", " ")]);
        assert!(boolean(&vars, "a", false).unwrap());
        assert!(!boolean(&vars, "zz", false).unwrap());
        assert!(boolean(&vars, "c", false).is_err());
        assert_eq!(integer(&vars, "b", 1).unwrap(), 12);
        assert_eq!(integer(&vars, "d", 7).unwrap(), 7);
        assert!(integer(&vars, "a", 7).is_err());
    }
}
