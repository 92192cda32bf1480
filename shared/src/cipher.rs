//! The document cipher: ECIES exactly as eciespy 0.3 lays out bytes (spec §2.6), so
//! documents encrypted by the Python Provider decrypt here and vice versa.
//!
//! ```text
//! ephemeral public key, uncompressed (65) ‖ AES-GCM nonce (16) ‖ tag (16) ‖ ciphertext
//! key = HKDF-SHA256(salt = none, ikm = ephemeral_pub(65) ‖ shared_point(65), info = none, 32)
//! ```
//! The shared point is the full uncompressed ECDH point, not only its x coordinate,
//! and the GCM nonce is 16 bytes (not 12), as eciespy does.

use aes_gcm::aead::consts::U16;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use hkdf::Hkdf;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::{PublicKey, SecretKey};
use sha2::Sha256;

type Aes256Gcm16 = AesGcm<Aes256, U16>;

const PUBKEY_LEN: usize = 65;
const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 16;
/// Bytes added to every plaintext.
pub const OVERHEAD: usize = PUBKEY_LEN + NONCE_LEN + TAG_LEN;

/// Why a cipher operation failed. Deliberately coarse: a decryption oracle should not
/// say which step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherError {
    /// The input is not a ciphertext for this key (wrong key, tampered, truncated).
    Decrypt,
    /// The platform's random source failed.
    Random,
}

impl std::fmt::Display for CipherError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Decrypt => f.write_str("Failed to decrypt."),
            Self::Random => f.write_str("no randomness available"),
        }
    }
}

fn derive_key(ephemeral_public: &[u8], shared_point: &[u8]) -> [u8; 32] {
    let mut ikm = Vec::with_capacity(PUBKEY_LEN * 2);
    ikm.extend_from_slice(ephemeral_public);
    ikm.extend_from_slice(shared_point);
    let mut key = [0u8; 32];
    // A 32-byte output is always within HKDF-SHA256's limit.
    let _ = Hkdf::<Sha256>::new(None, &ikm).expand(&[], &mut key);
    key
}

fn shared_point(public: &PublicKey, secret: &SecretKey) -> Vec<u8> {
    let point = (public.to_projective() * *secret.to_nonzero_scalar()).to_affine();
    point.to_encoded_point(false).as_bytes().to_vec()
}

/// Encrypts with a caller-chosen ephemeral key and nonce (deterministic; for test
/// vectors). Production code uses [`encrypt`].
pub fn encrypt_with(
    receiver: &PublicKey,
    ephemeral: &SecretKey,
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Vec<u8> {
    let ephemeral_public = ephemeral.public_key().to_encoded_point(false);
    let key = derive_key(
        ephemeral_public.as_bytes(),
        &shared_point(receiver, ephemeral),
    );
    let cipher = Aes256Gcm16::new(&key.into());
    // aes-gcm returns ciphertext ‖ tag; the wire layout wants the tag first.
    let sealed = cipher
        .encrypt(Nonce::<U16>::from_slice(nonce), plaintext)
        .unwrap_or_default();
    let (ciphertext, tag) = sealed.split_at(sealed.len().saturating_sub(TAG_LEN));
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.extend_from_slice(ephemeral_public.as_bytes());
    out.extend_from_slice(nonce);
    out.extend_from_slice(tag);
    out.extend_from_slice(ciphertext);
    out
}

/// Encrypts `plaintext` to `receiver` with a fresh ephemeral key and nonce.
pub fn encrypt(receiver: &PublicKey, plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
    let ephemeral = loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|_| CipherError::Random)?;
        // Out-of-range scalars (probability ~2^-128) are simply drawn again.
        if let Ok(secret) = SecretKey::from_slice(&bytes) {
            break secret;
        }
    };
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| CipherError::Random)?;
    Ok(encrypt_with(receiver, &ephemeral, &nonce, plaintext))
}

/// Decrypts an eciespy-layout ciphertext with the receiver's secret key.
pub fn decrypt(receiver: &SecretKey, data: &[u8]) -> Result<Vec<u8>, CipherError> {
    if data.len() < OVERHEAD {
        return Err(CipherError::Decrypt);
    }
    let (ephemeral_public, rest) = data.split_at(PUBKEY_LEN);
    let (nonce, rest) = rest.split_at(NONCE_LEN);
    let (tag, ciphertext) = rest.split_at(TAG_LEN);
    let sender = PublicKey::from_sec1_bytes(ephemeral_public).map_err(|_| CipherError::Decrypt)?;
    // Re-encode uncompressed: the HKDF input is the uncompressed form whatever was sent.
    let sender_bytes = sender.to_encoded_point(false);
    let key = derive_key(sender_bytes.as_bytes(), &shared_point(&sender, receiver));
    let cipher = Aes256Gcm16::new(&key.into());
    let mut sealed = Vec::with_capacity(ciphertext.len() + TAG_LEN);
    sealed.extend_from_slice(ciphertext);
    sealed.extend_from_slice(tag);
    cipher
        .decrypt(Nonce::<U16>::from_slice(nonce), sealed.as_slice())
        .map_err(|_| CipherError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::decode_hex;
    use serde_json::Value;

    fn vector() -> Value {
        crate::fakes::vectors()["ecies"].clone()
    }

    fn hex_field(v: &Value, name: &str) -> Vec<u8> {
        decode_hex(v[name].as_str().unwrap()).unwrap()
    }

    #[test]
    fn ecies_vector_encrypts_byte_for_byte() {
        let v = vector();
        let receiver = SecretKey::from_slice(&hex_field(&v, "receiver_private_key")).unwrap();
        let ephemeral = SecretKey::from_slice(&hex_field(&v, "ephemeral_private_key")).unwrap();
        let nonce: [u8; 16] = hex_field(&v, "gcm_nonce_16").try_into().unwrap();
        let plaintext = v["plaintext_utf8"].as_str().unwrap().as_bytes();
        let out = encrypt_with(&receiver.public_key(), &ephemeral, &nonce, plaintext);
        assert_eq!(
            format!("0x{}", hex::encode(&out)),
            v["ciphertext_hex_as_returned_by_encrypt"].as_str().unwrap()
        );
        assert_eq!(
            &out[..65],
            hex_field(&v, "ephemeral_public_key_uncompressed").as_slice()
        );
        assert_eq!(&out[81..97], hex_field(&v, "gcm_tag").as_slice());
    }

    #[test]
    fn ecies_vector_intermediates() {
        let v = vector();
        let receiver = SecretKey::from_slice(&hex_field(&v, "receiver_private_key")).unwrap();
        let ephemeral = SecretKey::from_slice(&hex_field(&v, "ephemeral_private_key")).unwrap();
        let point = shared_point(&receiver.public_key(), &ephemeral);
        assert_eq!(point, hex_field(&v, "shared_point_uncompressed"));
        let eph_pub = hex_field(&v, "ephemeral_public_key_uncompressed");
        assert_eq!(
            derive_key(&eph_pub, &point).to_vec(),
            hex_field(&v, "aes256_key")
        );
    }

    #[test]
    fn ecies_vector_decrypts() {
        let v = vector();
        let receiver = SecretKey::from_slice(&hex_field(&v, "receiver_private_key")).unwrap();
        let data = hex_field(&v, "ciphertext_hex_as_returned_by_encrypt");
        let plain = decrypt(&receiver, &data).unwrap();
        assert_eq!(plain, v["plaintext_utf8"].as_str().unwrap().as_bytes());
    }

    #[test]
    fn random_encryption_round_trips_and_differs_each_time() {
        let v = vector();
        let receiver = SecretKey::from_slice(&hex_field(&v, "receiver_private_key")).unwrap();
        let a = encrypt(&receiver.public_key(), b"hello").unwrap();
        let b = encrypt(&receiver.public_key(), b"hello").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), OVERHEAD + 5);
        assert_eq!(decrypt(&receiver, &a).unwrap(), b"hello");
        assert_eq!(
            decrypt(&receiver, &encrypt(&receiver.public_key(), b"").unwrap()).unwrap(),
            b""
        );
    }

    #[test]
    fn tampering_wrong_keys_and_truncation_fail() {
        let v = vector();
        let receiver = SecretKey::from_slice(&hex_field(&v, "receiver_private_key")).unwrap();
        let data = hex_field(&v, "ciphertext_hex_as_returned_by_encrypt");
        let mut tampered = data.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(decrypt(&receiver, &tampered), Err(CipherError::Decrypt));
        assert_eq!(
            decrypt(&receiver, &data[..OVERHEAD - 1]),
            Err(CipherError::Decrypt)
        );
        let other = SecretKey::from_slice(&[7u8; 32]).unwrap();
        assert_eq!(decrypt(&other, &data), Err(CipherError::Decrypt));
    }
}
