//! Auth tokens (spec §2.4): HS256 JWTs `{"exp", "address"}` that stand in for a
//! consumer signature on signed endpoints.
//!
//! Fixed on purpose: revocation is permanent (the reference's Redis mode forgot it after
//! 300 s), a revoked token cannot be revived by creating it again, and a token is only
//! ever valid for its own address.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::address::{Address, checksum, parse_address};
use crate::ports::KeyValue;
use crate::{ProviderError, Result};

const HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;

/// The verified claims of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// The address the token speaks for.
    pub address: Address,
}

/// Why a token is not usable. The messages are the reference's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Malformed, wrong signature, wrong algorithm, or bad claims.
    Invalid,
    /// `exp` is in the past.
    Expired,
    /// It was revoked with deleteAuthToken.
    Deleted,
}

impl TokenError {
    /// The reference's message.
    pub fn message(self) -> &'static str {
        match self {
            Self::Invalid => "Token is invalid.",
            Self::Expired => "Token is expired.",
            Self::Deleted => "Token is deleted.",
        }
    }
}

fn mac(secret: &[u8], signing_input: &str) -> Vec<u8> {
    // HMAC accepts keys of any length; this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return Vec::new();
    };
    mac.update(signing_input.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Builds the token for `(address, exp)`. The same inputs always give the same token.
/// The payload key order (`exp`, then `address`) and compact JSON are the reference's.
pub fn create_token(secret: &[u8], address: &str, exp: u64) -> String {
    let payload = format!(
        r#"{{"exp":{exp},"address":{}}}"#,
        Value::String(address.to_owned())
    );
    sign_payload(secret, &payload)
}

/// Builds a token that also records the nonce of the request that created it (as
/// Ocean Node's do), so two tokens issued for one address in the same second differ.
pub fn create_token_for_nonce(secret: &[u8], address: &str, exp: u64, nonce: &str) -> String {
    let payload = format!(
        r#"{{"exp":{exp},"address":{},"nonce":{}}}"#,
        Value::String(address.to_owned()),
        Value::String(nonce.to_owned())
    );
    sign_payload(secret, &payload)
}

fn sign_payload(secret: &[u8], payload: &str) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = URL_SAFE_NO_PAD.encode(mac(secret, &signing_input));
    format!("{signing_input}.{signature}")
}

/// Verifies signature, algorithm and expiry (`exp < now` is expired, as PyJWT).
pub fn decode_token(secret: &[u8], token: &str, now: u64) -> Result<TokenClaims, TokenError> {
    let mut parts = token.trim().split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Invalid);
    };
    let given = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Invalid)?;
    // Constant-time comparison through the MAC type.
    let Ok(mut verifier) = Hmac::<Sha256>::new_from_slice(secret) else {
        return Err(TokenError::Invalid);
    };
    verifier.update(format!("{header}.{payload}").as_bytes());
    if verifier.verify_slice(&given).is_err() {
        return Err(TokenError::Invalid);
    }
    let header: Value = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenError::Invalid)?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(TokenError::Invalid);
    }
    let payload: Value = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenError::Invalid)?;
    let exp = payload
        .get("exp")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        })
        .ok_or(TokenError::Invalid)?;
    let address = payload
        .get("address")
        .and_then(Value::as_str)
        .and_then(parse_address)
        .ok_or(TokenError::Invalid)?;
    if exp < now {
        return Err(TokenError::Expired);
    }
    Ok(TokenClaims { exp, address })
}

fn revocation_key(token: &str) -> String {
    format!(
        "revoked-token:{}",
        hex::encode(Sha256::digest(token.trim().as_bytes()))
    )
}

/// Whether the token was revoked.
pub fn is_revoked(kv: &dyn KeyValue, token: &str) -> Result<bool> {
    Ok(kv.get(&revocation_key(token))?.is_some())
}

/// Revokes the token for good.
pub fn revoke(kv: &dyn KeyValue, token: &str, claims: &TokenClaims) -> Result<()> {
    // The value records whose token it was and until when, for operators.
    let record = format!(
        r#"{{"address":"{}","exp":{}}}"#,
        checksum(&claims.address),
        claims.exp
    );
    kv.set(&revocation_key(token), record.as_bytes())?;
    Ok(())
}

/// Accepts `token` as proof that the caller is `signer`: valid, unexpired, not revoked,
/// and issued for that very address.
pub fn verify_token_for(
    kv: &dyn KeyValue,
    secret: &[u8],
    token: &str,
    signer: &Address,
    now: u64,
) -> Result<TokenClaims, TokenError> {
    let claims = decode_token(secret, token, now)?;
    if claims.address != *signer {
        return Err(TokenError::Invalid);
    }
    match is_revoked(kv, token) {
        Ok(false) => Ok(claims),
        // A store failure must not let a possibly revoked token through.
        Ok(true) | Err(_) => Err(TokenError::Deleted),
    }
}

impl From<TokenError> for ProviderError {
    fn from(err: TokenError) -> Self {
        ProviderError::BadRequest(err.message().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::MemoryKeyValue;

    fn vector() -> Value {
        crate::fakes::vectors()["auth_token"].clone()
    }

    #[test]
    fn jwt_vector_is_reproduced_byte_for_byte() {
        let v = vector();
        let secret = v["secret_utf8"].as_str().unwrap().as_bytes();
        let token = create_token(
            secret,
            v["payload"]["address"].as_str().unwrap(),
            v["payload"]["exp"].as_u64().unwrap(),
        );
        assert_eq!(token, v["token"].as_str().unwrap());
    }

    #[test]
    fn jwt_vector_decodes() {
        let v = vector();
        let secret = v["secret_utf8"].as_str().unwrap().as_bytes();
        let claims = decode_token(secret, v["token"].as_str().unwrap(), 1_800_000_000).unwrap();
        assert_eq!(claims.exp, 1_900_000_000);
        assert_eq!(
            checksum(&claims.address),
            v["payload"]["address"].as_str().unwrap()
        );
        assert_eq!(
            decode_token(secret, v["token"].as_str().unwrap(), 1_900_000_001),
            Err(TokenError::Expired)
        );
        // exp == now is still valid (expired means exp < now).
        assert!(decode_token(secret, v["token"].as_str().unwrap(), 1_900_000_000).is_ok());
    }

    #[test]
    fn forged_or_mangled_tokens_are_invalid() {
        let v = vector();
        let secret = v["secret_utf8"].as_str().unwrap().as_bytes();
        let token = v["token"].as_str().unwrap();
        assert_eq!(
            decode_token(b"other secret", token, 0),
            Err(TokenError::Invalid)
        );
        for bad in ["", "a.b", "a.b.c.d", "....", &token[..token.len() - 2]] {
            assert_eq!(
                decode_token(secret, bad, 0),
                Err(TokenError::Invalid),
                "{bad}"
            );
        }
        // alg=none with an empty signature.
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"none"}"#);
        let payload = token.split('.').nth(1).unwrap();
        assert_eq!(
            decode_token(secret, &format!("{none_header}.{payload}."), 0),
            Err(TokenError::Invalid)
        );
        // A correctly signed token whose header says another algorithm.
        let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"HS512"}"#);
        let input = format!("{header}.{payload}");
        let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac(secret, &input)));
        assert_eq!(decode_token(secret, &forged, 0), Err(TokenError::Invalid));
    }

    #[test]
    fn tokens_are_bound_to_their_address_and_revocation_sticks() {
        let kv = MemoryKeyValue::default();
        let v = vector();
        let secret = v["secret_utf8"].as_str().unwrap().as_bytes();
        let token = v["token"].as_str().unwrap();
        let owner = parse_address(v["payload"]["address"].as_str().unwrap()).unwrap();
        let other = parse_address("0xe08A1dAe983BC701D05E492DB80e0144f8f4b909").unwrap();
        assert!(verify_token_for(&kv, secret, token, &owner, 0).is_ok());
        assert_eq!(
            verify_token_for(&kv, secret, token, &other, 0),
            Err(TokenError::Invalid)
        );
        let claims = decode_token(secret, token, 0).unwrap();
        revoke(&kv, token, &claims).unwrap();
        assert_eq!(
            verify_token_for(&kv, secret, token, &owner, 0),
            Err(TokenError::Deleted)
        );
        assert!(is_revoked(&kv, token).unwrap());
    }
}
