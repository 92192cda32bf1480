//! Asset documents as published on chain: the payload of a data NFT's
//! `MetadataCreated`/`MetadataUpdated` event (flags, bytes, hash), how it is opened
//! (ECIES with the provider's key, LZMA as Python's `lzma.decompress` reads it, the
//! hash check), and which metadata states allow decrypting it.

use std::io::Write;

use alloy_primitives::{Address, B256, Bytes};
use alloy_sol_types::SolEvent;
use sha2::{Digest, Sha256};

use crate::chain::Receipt;
use crate::chain::abi::{MetadataCreated, MetadataUpdated};
use crate::cipher;
use crate::config::ProviderKey;
use crate::{ProviderError, Result};

/// Largest document a decompression may produce (an LZMA bomb stops here).
const MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;

/// The encrypted document, its flags and hash, wherever they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    /// The bytes as stored.
    pub data: Vec<u8>,
    /// Bit 0: LZMA-compressed; bit 1: encrypted to the provider's key.
    pub flags: u8,
    /// SHA-256 of the plaintext document.
    pub hash: B256,
}

impl StoredDocument {
    /// The document of the data NFT's `MetadataCreated` (else `MetadataUpdated`) event in
    /// a receipt. Only events the NFT itself emitted count: a look-alike from another
    /// contract in the same transaction is ignored.
    pub fn from_receipt(receipt: Option<&Receipt>, nft: &Address) -> Result<Self> {
        let failed = |why: &str| {
            ProviderError::BadRequest(format!("Failed to process transaction id: {why}."))
        };
        let receipt = receipt.ok_or_else(|| failed("no mined transaction with this id"))?;
        if !receipt.succeeded() {
            return Err(failed("the transaction failed"));
        }
        let decode = |log: &crate::chain::Log| -> Option<(Bytes, Bytes, B256)> {
            if let Ok(event) =
                MetadataCreated::decode_raw_log(log.topics.iter().copied(), &log.data)
            {
                return Some((event.data, event.flags, event.metaDataHash));
            }
            MetadataUpdated::decode_raw_log(log.topics.iter().copied(), &log.data)
                .ok()
                .map(|event| (event.data, event.flags, event.metaDataHash))
        };
        let created = MetadataCreated::SIGNATURE_HASH;
        let updated = MetadataUpdated::SIGNATURE_HASH;
        let log = receipt
            .logs_from(nft, &created)
            .next()
            .or_else(|| receipt.logs_from(nft, &updated).next())
            .ok_or_else(|| failed("it has no metadata event of this data NFT"))?;
        let (data, flags, hash) =
            decode(log).ok_or_else(|| failed("its metadata event could not be decoded"))?;
        Ok(StoredDocument {
            data: data.to_vec(),
            flags: flags.first().copied().unwrap_or(0),
            hash,
        })
    }

    /// The plaintext: decrypted with the chain's key when flag 2 is set, decompressed
    /// when flag 1 is set, and only if its SHA-256 is the published hash.
    pub fn open(self, key: &ProviderKey) -> Result<Vec<u8>> {
        let mut plain = self.data;
        if self.flags & 2 != 0 {
            plain = cipher::decrypt(&key.secret_key(), &plain)
                .map_err(|_| ProviderError::BadRequest("Failed to decrypt.".into()))?;
        }
        if self.flags & 1 != 0 {
            plain = decompress(&plain)
                .ok_or_else(|| ProviderError::BadRequest("Failed to decompress".into()))?;
        }
        if Sha256::digest(&plain).as_slice() != self.hash.as_slice() {
            return Err(ProviderError::BadRequest("Checksum doesn't match.".into()));
        }
        Ok(plain)
    }
}

/// A writer that refuses to grow past a limit.
struct LimitedWriter(Vec<u8>);

impl Write for LimitedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_DECOMPRESSED {
            return Err(std::io::Error::other("decompressed document too large"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// LZMA decompression with Python's `lzma.decompress` format detection: `.xz`
/// streams by their magic bytes, legacy `.lzma` ("alone") otherwise.
pub fn decompress(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = LimitedWriter(Vec::new());
    let mut input = std::io::BufReader::new(data);
    let result = if data.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0x00]) {
        lzma_rs::xz_decompress(&mut input, &mut out)
    } else {
        lzma_rs::lzma_decompress(&mut input, &mut out)
    };
    result.ok().map(|()| out.0)
}

/// Whether the data NFT's metadata state lets its document be decrypted (the
/// reference's rule: active, ordering disabled and unlisted may; end of life,
/// deprecated and revoked may not).
pub fn check_metadata_state(state: u8) -> Result<()> {
    match state {
        0 | 4 | 5 => Ok(()),
        1 => Err(ProviderError::Forbidden("Asset end of life".into())),
        2 => Err(ProviderError::Forbidden("Asset deprecated".into())),
        3 => Err(ProviderError::Forbidden("Asset revoked".into())),
        _ => Err(ProviderError::BadRequest("Invalid MetadataState".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fakes::PROVIDER_KEY as KEY;

    fn document(plain: &[u8], flags: u8, data: Vec<u8>) -> StoredDocument {
        StoredDocument {
            data,
            flags,
            hash: B256::from_slice(&Sha256::digest(plain)),
        }
    }

    #[test]
    fn documents_open_by_their_flags_and_only_with_the_published_hash() {
        let key = ProviderKey::parse(KEY).unwrap();
        let plain = br#"{"id": "did:op:1"}"#;
        assert_eq!(
            document(plain, 0, plain.to_vec()).open(&key).unwrap(),
            plain
        );
        let sealed = cipher::encrypt(&key.public_key(), plain).unwrap();
        assert_eq!(
            document(plain, 2, sealed.clone()).open(&key).unwrap(),
            plain
        );
        let mut tampered = document(plain, 2, sealed);
        tampered.hash = B256::repeat_byte(1);
        assert_eq!(
            tampered.open(&key).unwrap_err(),
            ProviderError::BadRequest("Checksum doesn't match.".into())
        );
        assert_eq!(
            document(plain, 1, b"not lzma".to_vec())
                .open(&key)
                .unwrap_err(),
            ProviderError::BadRequest("Failed to decompress".into())
        );
    }

    #[test]
    fn only_usable_metadata_states_may_be_decrypted() {
        for state in [0, 4, 5] {
            assert!(check_metadata_state(state).is_ok(), "{state}");
        }
        for (state, status) in [(1, 403), (2, 403), (3, 403), (6, 400)] {
            assert_eq!(check_metadata_state(state).unwrap_err().status(), status);
        }
    }
}
