//! Consumer signatures (spec §2.2) and the provider's own message signatures.
//!
//! A signed message is hashed as `keccak256(utf8(message))`, then signed EIP-191 style
//! over those 32 bytes: `keccak256("\x19Ethereum Signed Message:\n32" ‖ hash)`. That is
//! what ethers' `signMessage(getBytes(hash))` and web3's `eth.sign` produce.

use alloy_primitives::{Address, B256, keccak256};
use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};

/// Why a signature could not be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// Not hex, or not exactly 65 bytes.
    Malformed,
    /// `v` is not 0, 1, 27 or 28.
    BadRecoveryId(u8),
    /// `s` is in the upper half of the curve order. Every client we know (ethers 5
    /// and 6, web3/eth-account, MetaMask, the reference's eth_keys) emits low-s
    /// signatures (EIP-2), so the high-s twin of a valid signature is refused rather
    /// than accepted as a second spelling of the same authorisation.
    HighS,
    /// `r`/`s` are not a valid signature, or no key recovers from them.
    Unrecoverable,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed => f.write_str("signature must be 65 bytes of hex"),
            Self::BadRecoveryId(v) => write!(f, "signature v value {v} is not 0, 1, 27 or 28"),
            Self::HighS => {
                f.write_str("signature s value is not in the lower half of the curve order")
            }
            Self::Unrecoverable => f.write_str("no public key recovers from this signature"),
        }
    }
}

/// `keccak256("\x19Ethereum Signed Message:\n32" ‖ hash)`.
pub fn eip191_hash_of_hash(hash: &B256) -> B256 {
    let mut prefixed = Vec::with_capacity(28 + 32);
    prefixed.extend_from_slice(b"\x19Ethereum Signed Message:\n32");
    prefixed.extend_from_slice(hash.as_slice());
    keccak256(&prefixed)
}

/// The digest a consumer signs for `message`.
pub fn signed_message_digest(message: &str) -> B256 {
    eip191_hash_of_hash(&keccak256(message.as_bytes()))
}

/// Decodes hex with or without `0x`.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let body = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    hex::decode(body).ok()
}

/// Recovers the address that signed `digest` with a 65-byte `r‖s‖v` signature.
pub fn recover_address(digest: &B256, signature_hex: &str) -> Result<Address, SignatureError> {
    let bytes = decode_hex(signature_hex).ok_or(SignatureError::Malformed)?;
    if bytes.len() != 65 {
        return Err(SignatureError::Malformed);
    }
    let v = bytes[64];
    let parity = match v {
        0 | 27 => 0,
        1 | 28 => 1,
        other => return Err(SignatureError::BadRecoveryId(other)),
    };
    let signature =
        Signature::from_slice(&bytes[..64]).map_err(|_| SignatureError::Unrecoverable)?;
    if signature.normalize_s().is_some() {
        return Err(SignatureError::HighS);
    }
    let recovery_id = RecoveryId::from_byte(parity).ok_or(SignatureError::Unrecoverable)?;
    let key = VerifyingKey::recover_from_prehash(digest.as_slice(), &signature, recovery_id)
        .map_err(|_| SignatureError::Unrecoverable)?;
    Ok(Address::from_public_key(&key))
}

/// The EIP-191 digests under which a client may have signed `message`'s keccak hash:
/// (a) the 32 hash bytes (v2 clients, the Ocean Node indexer); (b) the hash with its
/// leading zero bytes dropped, as ethers' `toBeArray` does (ocean.js 8 signs about 1
/// request in 256 this way, under `"\n31"`); (c) the hash's `0x…` text (66 bytes).
/// (b) is only listed when it differs from (a).
pub fn message_digests(message: &str) -> Vec<B256> {
    let hash = keccak256(message.as_bytes());
    let mut digests = vec![eip191_hash_of_hash(&hash)];
    let stripped: Vec<u8> = hash.iter().copied().skip_while(|b| *b == 0).collect();
    if stripped.len() != 32 {
        digests.push(eip191_digest(&stripped));
    }
    digests.push(eip191_digest(format!("{hash:#x}").as_bytes()));
    digests
}

/// `keccak256("\x19Ethereum Signed Message:\n" ‖ len ‖ bytes)`.
pub fn eip191_digest(bytes: &[u8]) -> B256 {
    let mut prefixed = format!("\x19Ethereum Signed Message:\n{}", bytes.len()).into_bytes();
    prefixed.extend_from_slice(bytes);
    keccak256(&prefixed)
}

/// Whether `signature_hex` is `signer`'s signature of `message` under any of the
/// [`message_digests`] forms; the first form's recovery outcome is returned otherwise
/// (for the error message).
pub fn signed_by(
    message: &str,
    signature_hex: &str,
    signer: &Address,
) -> Result<bool, SignatureError> {
    let mut first = None;
    for digest in message_digests(message) {
        match recover_address(&digest, signature_hex) {
            Ok(recovered) if recovered == *signer => return Ok(true),
            Ok(_) => {}
            Err(err) => {
                first.get_or_insert(err);
            }
        }
    }
    match first {
        // A malformed signature fails under every form the same way.
        Some(
            err @ (SignatureError::Malformed
            | SignatureError::BadRecoveryId(_)
            | SignatureError::HighS),
        ) => Err(err),
        _ => Ok(false),
    }
}

/// Recovers the signer of a consumer `message` (spec §2.2 hashing).
pub fn recover_message_signer(
    message: &str,
    signature_hex: &str,
) -> Result<Address, SignatureError> {
    recover_address(&signed_message_digest(message), signature_hex)
}

/// A 65-byte signature as `r`, `s` and `v ∈ {27, 28}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoverableSignature {
    /// `r`.
    pub r: B256,
    /// `s` (low half).
    pub s: B256,
    /// 27 or 28.
    pub v: u8,
}

impl RecoverableSignature {
    /// `0x` + r + s + v, with v as 27/28 (wallet style).
    pub fn to_hex_v27(&self) -> String {
        format!(
            "0x{}{}{:02x}",
            hex::encode(self.r),
            hex::encode(self.s),
            self.v
        )
    }

    /// r ‖ s ‖ v, with v as 0/1 (the reference's `sign_message` style).
    pub fn to_bytes_v01(&self) -> [u8; 65] {
        let mut bytes = [0u8; 65];
        bytes[..32].copy_from_slice(self.r.as_slice());
        bytes[32..64].copy_from_slice(self.s.as_slice());
        bytes[64] = self.v - 27;
        bytes
    }

    /// `0x` + r + s + v, with v as 00/01 (the reference's `sign_message` style, used
    /// for operator-service signatures).
    pub fn to_hex_v01(&self) -> String {
        format!("0x{}", hex::encode(self.to_bytes_v01()))
    }
}

/// Signs a 32-byte digest (RFC 6979 deterministic, low-s).
pub fn sign_digest(
    key: &SigningKey,
    digest: &B256,
) -> Result<RecoverableSignature, SignatureError> {
    let (signature, recovery_id) = key
        .sign_prehash_recoverable(digest.as_slice())
        .map_err(|_| SignatureError::Unrecoverable)?;
    let (r, s) = signature.split_bytes();
    Ok(RecoverableSignature {
        r: B256::from_slice(&r),
        s: B256::from_slice(&s),
        v: 27 + recovery_id.to_byte(),
    })
}

/// Signs `message` the way a consumer (ethers `signMessage` over the keccak hash) does.
pub fn sign_message(
    key: &SigningKey,
    message: &str,
) -> Result<RecoverableSignature, SignatureError> {
    sign_digest(key, &signed_message_digest(message))
}

/// The address of a private key.
pub fn address_of(key: &SigningKey) -> Address {
    Address::from_private_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::checksum;
    use serde_json::Value;

    fn vectors() -> Value {
        crate::fakes::vectors().clone()
    }

    fn key(hex_text: &str) -> SigningKey {
        SigningKey::from_slice(&decode_hex(hex_text).unwrap()).unwrap()
    }

    #[test]
    fn download_signature_vector_hashes_and_recovers() {
        let v = vectors();
        let vector = &v["download_signature"];
        let message = vector["message"].as_str().unwrap();
        assert_eq!(
            format!("{:#x}", keccak256(message.as_bytes())),
            vector["keccak_of_message"].as_str().unwrap()
        );
        assert_eq!(
            format!("{:#x}", signed_message_digest(message)),
            vector["eip191_hash"].as_str().unwrap()
        );
        for style in [
            "signature_wallet_style_v27_28",
            "signature_provider_sign_message_style_v0_1",
        ] {
            let signer = recover_message_signer(message, vector[style].as_str().unwrap()).unwrap();
            assert_eq!(
                checksum(&signer),
                vector["recovers_to"].as_str().unwrap(),
                "{style}"
            );
        }
    }

    #[test]
    fn signing_reproduces_the_vector_byte_for_byte() {
        let v = vectors();
        let vector = &v["download_signature"];
        let consumer = key(v["consumer_private_key"].as_str().unwrap());
        let signature = sign_message(&consumer, vector["message"].as_str().unwrap()).unwrap();
        assert_eq!(
            signature.to_hex_v27(),
            vector["signature_wallet_style_v27_28"].as_str().unwrap()
        );
        assert_eq!(
            signature.to_hex_v01(),
            vector["signature_provider_sign_message_style_v0_1"]
                .as_str()
                .unwrap()
        );
        assert_eq!(
            checksum(&address_of(&consumer)),
            v["consumer_address"].as_str().unwrap()
        );
    }

    #[test]
    fn compute_provider_signature_vector() {
        let v = vectors();
        let vector = &v["compute_provider_signature"];
        let provider = key(v["provider_private_key"].as_str().unwrap());
        let signature = sign_message(&provider, vector["message"].as_str().unwrap()).unwrap();
        assert_eq!(
            signature.to_hex_v01(),
            vector["providerSignature"].as_str().unwrap()
        );
    }

    #[test]
    fn wrong_lengths_and_recovery_ids_are_refused() {
        let v = vectors();
        let vector = &v["download_signature"];
        let message = vector["message"].as_str().unwrap();
        let good = vector["signature_wallet_style_v27_28"].as_str().unwrap();
        assert_eq!(
            recover_message_signer(message, &good[..good.len() - 2]),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            recover_message_signer(message, &format!("{good}00")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            recover_message_signer(message, "0xnothex"),
            Err(SignatureError::Malformed)
        );
        let bad_v = format!("{}11", &good[..good.len() - 2]);
        assert_eq!(
            recover_message_signer(message, &bad_v),
            Err(SignatureError::BadRecoveryId(17))
        );
        // Without 0x it still works.
        assert!(recover_message_signer(message, &good[2..]).is_ok());
    }

    #[test]
    fn high_s_twin_of_a_valid_signature_is_refused() {
        let v = vectors();
        let vector = &v["download_signature"];
        let message = vector["message"].as_str().unwrap();
        let bytes = decode_hex(vector["signature_wallet_style_v27_28"].as_str().unwrap()).unwrap();
        let signature = Signature::from_slice(&bytes[..64]).unwrap();
        // s' = n - s, with the parity flipped: the same key would recover from it.
        let (r, s) = (signature.r(), signature.s());
        let high = Signature::from_scalars(r.to_bytes(), (-*s.as_ref()).to_bytes()).unwrap();
        let (_, high_s_bytes) = high.split_bytes();
        let mut twin = bytes[..32].to_vec();
        twin.extend_from_slice(&high_s_bytes);
        twin.push(if bytes[64] == 27 { 28 } else { 27 });
        assert_eq!(
            recover_message_signer(message, &hex::encode(twin)),
            Err(SignatureError::HighS)
        );
    }

    #[test]
    fn a_different_message_recovers_a_different_address() {
        let v = vectors();
        let vector = &v["download_signature"];
        let signer = recover_message_signer(
            "something else",
            vector["signature_wallet_style_v27_28"].as_str().unwrap(),
        );
        assert_ne!(
            signer.map(|a| checksum(&a)).ok().as_deref(),
            vector["recovers_to"].as_str()
        );
    }
}
