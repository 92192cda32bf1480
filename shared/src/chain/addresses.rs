//! Contract addresses per chain from `address_file` (the barge-style JSON the Python
//! Provider reads from ADDRESS_FILE): `{"<network>": {"chainId": n, "Ocean": "0x…",
//! "ERC721Factory": "0x…", …}}`. Spin components cannot read host paths, so the
//! variable holds the file's contents.

use serde_json::{Map, Value};

use crate::address::{Address, parse_address};
use crate::config;
use crate::ports::Variables;
use crate::{ProviderError, Result};

/// The Ocean contracts the provider needs on one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractAddresses {
    /// `ERC721Factory`: decides whether a data NFT is genuine.
    pub erc721_factory: Option<Address>,
    /// `Ocean`: the default provider-fee token.
    pub ocean: Option<Address>,
}

/// Reads and parses `address_file`: its networks keyed by name, or `None` when unset.
pub fn read_address_file(vars: &dyn Variables) -> Result<Option<Map<String, Value>>> {
    let Some(text) = config::optional(vars, "address_file")? else {
        return Ok(None);
    };
    let parsed: Value = serde_json::from_str(&text).map_err(|_| {
        ProviderError::config(
            "address_file",
            "is not JSON (pass the file's contents, not its path)",
        )
    })?;
    match parsed {
        Value::Object(networks) => Ok(Some(networks)),
        _ => Err(ProviderError::config(
            "address_file",
            "must be a JSON object keyed by network name",
        )),
    }
}

impl ContractAddresses {
    /// The addresses for `chain_id` (all `None` when the file has no entry for it).
    pub fn load(vars: &dyn Variables, chain_id: u64) -> Result<Self> {
        Self::for_chain(read_address_file(vars)?.as_ref(), chain_id)
    }

    /// The addresses for `chain_id` in a parsed `address_file` (`None`: not set).
    pub fn for_chain(file: Option<&Map<String, Value>>, chain_id: u64) -> Result<Self> {
        let none = Self {
            erc721_factory: None,
            ocean: None,
        };
        let Some(networks) = file else {
            return Ok(none);
        };
        for entry in networks.values() {
            if entry.get("chainId").and_then(Value::as_u64) != Some(chain_id) {
                continue;
            }
            let read = |name: &str| -> Result<Option<Address>> {
                match entry.get(name).and_then(Value::as_str) {
                    None => Ok(None),
                    Some(text) => parse_address(text).map(Some).ok_or_else(|| {
                        ProviderError::config(
                            "address_file",
                            format!("{name} of chain {chain_id} is not an address"),
                        )
                    }),
                }
            };
            return Ok(Self {
                erc721_factory: read("ERC721Factory")?,
                ocean: read("Ocean")?,
            });
        }
        Ok(none)
    }

    /// The factory, or a configuration error naming `address_file`.
    pub fn factory(&self, chain_id: u64) -> Result<Address> {
        self.erc721_factory.ok_or_else(|| {
            ProviderError::config(
                "address_file",
                format!("has no ERC721Factory for chain {chain_id}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::MapVariables;

    #[test]
    fn finds_the_entry_by_chain_id() {
        let vars = MapVariables::from_pairs(&[(
            "address_file",
            r#"{"development": {"chainId": 8996, "Ocean": "0x2473f4F7bf40ed9310838edFCA6262C17A59DF64", "ERC721Factory": "0x053aE1FeCdc2f391753E2Bf2AAe301E75CC0aac9"}, "mainnet": {"chainId": 1}}"#,
        )]);
        let found = ContractAddresses::load(&vars, 8996).unwrap();
        assert!(found.erc721_factory.is_some() && found.ocean.is_some());
        let none = ContractAddresses::load(&vars, 1).unwrap();
        assert!(
            matches!(none.factory(1), Err(ProviderError::Config { variable, .. }) if variable == "address_file")
        );
    }

    #[test]
    fn a_path_instead_of_contents_is_a_clear_config_error() {
        let vars = MapVariables::from_pairs(&[(
            "address_file",
            "/ocean-contracts/artifacts/address.json",
        )]);
        let err = ContractAddresses::load(&vars, 8996).unwrap_err();
        assert!(err.to_string().contains("contents"), "{err}");
    }
}
