//! Asset identifiers: `did:op:` + hex(sha256(checksum NFT address + decimal chain id)).

use sha2::{Digest, Sha256};

use crate::address::{Address, checksum};

/// The DID of the data NFT `nft` on `chain_id`.
pub fn did_of(nft: &Address, chain_id: u64) -> String {
    format!(
        "did:op:{}",
        hex::encode(Sha256::digest(format!("{}{chain_id}", checksum(nft))))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::parse_address;

    #[test]
    fn did_vector() {
        let v = &crate::fakes::vectors()["did_from_nft"];
        let nft = parse_address(v["nftAddress"].as_str().unwrap()).unwrap();
        assert_eq!(
            did_of(&nft, v["chainId"].as_u64().unwrap()),
            v["did"].as_str().unwrap()
        );
    }
}
