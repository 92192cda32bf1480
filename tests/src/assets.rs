//! Publishing complete assets for end-to-end tests: a data NFT and datatoken on the
//! local chain, a v4.1 DDO whose service files are ECIES-encrypted to the provider key,
//! the DDO itself on chain (flags 0x02), and the DDO served by the Aquarius stand-in.

use alloy_primitives::Address;
use serde_json::{Value, json};

use crate::DEV_PROVIDER_KEY;
use crate::chain::{LocalChain, did_of};
use crate::file_server::FileServer;

/// A published dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Its DID.
    pub did: String,
    /// Data NFT.
    pub nft: Address,
    /// Datatoken of its service.
    pub datatoken: Address,
    /// The DDO as served by the Aquarius stand-in.
    pub ddo: Value,
}

/// The provider's public key (development key).
pub fn provider_public_key() -> k256::PublicKey {
    ocean_provider::config::ProviderKey::parse(DEV_PROVIDER_KEY)
        .unwrap()
        .public_key()
}

/// Encrypts a files list the v4.1 way, naming its NFT and datatoken.
pub fn encrypt_files(nft: &Address, datatoken: &Address, files: &[Value]) -> String {
    encrypt_files_for(&provider_public_key(), nft, datatoken, files)
}

/// [`encrypt_files`] for another provider's key.
pub fn encrypt_files_for(
    provider: &k256::PublicKey,
    nft: &Address,
    datatoken: &Address,
    files: &[Value],
) -> String {
    let plain =
        json!({"datatokenAddress": datatoken, "nftAddress": nft, "files": files}).to_string();
    format!(
        "0x{}",
        hex::encode(ocean_provider::cipher::encrypt(provider, plain.as_bytes()).unwrap())
    )
}

/// Publishes a dataset with one service (`id` "svc", of `service_type`) holding `files`.
pub fn publish_dataset(
    chain: &LocalChain,
    aquarius: &FileServer,
    name: &str,
    service_type: &str,
    files: &[Value],
    timeout: u64,
) -> Dataset {
    publish_asset(chain, aquarius, name, service_type, files, timeout, |_| {})
}

/// Like [`publish_dataset`], with a last edit of the DDO before it is published
/// (metadata type, compute options, ...).
pub fn publish_asset(
    chain: &LocalChain,
    aquarius: &FileServer,
    name: &str,
    service_type: &str,
    files: &[Value],
    timeout: u64,
    edit: impl FnOnce(&mut Value),
) -> Dataset {
    publish_asset_for(
        chain,
        aquarius,
        name,
        service_type,
        files,
        timeout,
        &provider_public_key(),
        edit,
    )
}

/// Like [`publish_asset`], for the provider whose public key is `provider`.
#[allow(clippy::too_many_arguments)]
pub fn publish_asset_for(
    chain: &LocalChain,
    aquarius: &FileServer,
    name: &str,
    service_type: &str,
    files: &[Value],
    timeout: u64,
    provider: &k256::PublicKey,
    edit: impl FnOnce(&mut Value),
) -> Dataset {
    let (nft, datatoken) = chain.create_nft_with_datatoken(name);
    let did = did_of(&nft, 8996);
    let ddo = json!({
        "@context": ["https://w3id.org/did/v1"],
        "id": did,
        "version": "4.1.0",
        "chainId": 8996,
        "nftAddress": nft.to_checksum(None),
        "metadata": {"type": "dataset", "name": name, "author": "e2e", "license": "CC0"},
        "services": [{
            "id": "svc",
            "type": service_type,
            "datatokenAddress": datatoken.to_checksum(None),
            "serviceEndpoint": "http://127.0.0.1:3000",
            "files": encrypt_files_for(provider, &nft, &datatoken, files),
            "timeout": timeout,
        }],
        "nft": {"address": nft.to_checksum(None), "state": 0, "owner": chain.accounts.publisher.to_checksum(None)},
    });
    let mut ddo = ddo;
    edit(&mut ddo);
    let bytes = ddo.to_string().into_bytes();
    let encrypted = ocean_provider::cipher::encrypt(provider, &bytes).unwrap();
    chain.set_metadata(nft, 2, encrypted, &bytes);
    aquarius.add_ddo(ddo.clone());
    Dataset {
        did,
        nft,
        datatoken,
        ddo,
    }
}
