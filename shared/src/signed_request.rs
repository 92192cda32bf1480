//! The one function that decides whether a signed request comes from its signer:
//! "a consumer signature, or an `AuthToken` header" (spec §2.2, §2.4). Every signed
//! endpoint calls [`authorize`] early and [`Authorized::consume_nonce`] once every
//! other check has passed, so a rejected request never uses up a nonce.

use crate::address::{Address, checksum, parse_address};
use crate::auth_token::verify_token_for;
use crate::decimal::Decimal;
use crate::nonce::{check_nonce, consume_nonce, parse_nonce};
use crate::ports::Platform;
use crate::request::{ApiRequest, Params};
use crate::signature::recover_message_signer;
use crate::{ProviderError, Result};

/// How an endpoint's signature is checked.
#[derive(Debug, Clone, Copy)]
pub struct SignatureRule<'a> {
    /// The parameter holding the signer's address (`consumerAddress`, `address`, ...).
    pub signer_field: &'a str,
    /// May an `AuthToken` header replace the signature? (Not for the token endpoints
    /// themselves.)
    pub allow_auth_token: bool,
}

/// A request whose signer has been established and whose nonce is fresh.
#[derive(Debug, Clone)]
pub struct Authorized {
    /// The signer.
    pub signer: Address,
    /// The nonce the request carries.
    pub nonce: Decimal,
}

impl Authorized {
    /// Uses up the nonce, atomically: of concurrent requests with the same nonce only
    /// one gets past this call.
    pub fn consume_nonce(&self, platform: &Platform<'_>) -> Result<()> {
        consume_nonce(platform.kv, &self.signer, &self.nonce)
    }
}

/// Reads the signer address parameter: 400 when missing or not an address.
pub fn signer_address(params: &Params, field: &str) -> Result<Address> {
    let text = params
        .filled_text(field)
        .ok_or_else(|| ProviderError::field(field, format!("The {field} field is required.")))?;
    parse_address(&text).ok_or_else(|| {
        ProviderError::field(
            field,
            format!("The {field} must be an Ethereum address (0x and 40 hex digits)."),
        )
    })
}

/// How the sender proves a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// An EIP-191 signature of `message_prefix + nonce`.
    Signature(String),
    /// An auth token standing in for the signature.
    AuthToken(String),
}

/// Who a request says it comes from, and its proof, as parsed at the wire edge (the
/// dialect decides the field names and the signed message; the rules only verify).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedClaim {
    /// The claimed signer.
    pub signer: Address,
    /// The nonce exactly as sent (it is part of the signed message).
    pub nonce_text: String,
    /// The nonce as a number.
    pub nonce: Decimal,
    /// The signature, or the token.
    pub proof: Proof,
    /// The signed message without the nonce.
    pub message_prefix: String,
}

impl SignedClaim {
    /// Reads the claim of a request whose signed message is `message_prefix + nonce`.
    ///
    /// Order: signer address → nonce (required, numeric) → signature (or, when allowed
    /// and the signature is absent, the `AuthToken` header).
    pub fn parse(
        request: &ApiRequest,
        params: &Params,
        rule: SignatureRule<'_>,
        message_prefix: impl Into<String>,
    ) -> Result<Self> {
        let signer = signer_address(params, rule.signer_field)?;
        let nonce_text = params
            .filled_text("nonce")
            .ok_or_else(|| ProviderError::field("nonce", "The nonce field is required."))?;
        let nonce = parse_nonce(&nonce_text)?;
        let proof = match params.filled_text("signature") {
            Some(signature) => Proof::Signature(signature),
            None => {
                let token = request
                    .header("AuthToken")
                    .map(str::trim)
                    .filter(|t| !t.is_empty() && rule.allow_auth_token);
                match token {
                    Some(token) => Proof::AuthToken(token.to_owned()),
                    None => {
                        return Err(ProviderError::field(
                            "signature",
                            "The signature field is required.",
                        ));
                    }
                }
            }
        };
        Ok(Self {
            signer,
            nonce_text,
            nonce,
            proof,
            message_prefix: message_prefix.into(),
        })
    }
}

/// Establishes that the claimed signer sent the request: the signature recovers to
/// it (or the token is live and its own), and the nonce is fresh (read-only).
pub fn verify(platform: &Platform<'_>, claim: &SignedClaim) -> Result<Authorized> {
    let SignedClaim {
        signer,
        nonce_text,
        message_prefix,
        ..
    } = claim;
    match &claim.proof {
        Proof::Signature(signature) => {
            let message = format!("{message_prefix}{nonce_text}");
            match recover_message_signer(&message, signature) {
                Ok(recovered) if recovered == *signer => {}
                Ok(recovered) => {
                    return Err(ProviderError::signature(format!(
                        "Invalid signature for ethereum address {}, message {message_prefix} and nonce {nonce_text}. Got {}.",
                        checksum(signer),
                        checksum(&recovered)
                    )));
                }
                Err(problem) => {
                    return Err(ProviderError::signature(format!(
                        "Invalid signature for ethereum address {}, message {message_prefix} and nonce {nonce_text}. Got {problem}.",
                        checksum(signer)
                    )));
                }
            }
        }
        Proof::AuthToken(token) => {
            let secret = platform.settings.auth_token_secret()?;
            let now = platform.clock.now_unix_seconds();
            if let Err(problem) = verify_token_for(platform.kv, &secret, token, signer, now) {
                return Err(ProviderError::field(
                    "signature",
                    format!(
                        "Invalid signature provided. AuthToken: {}",
                        problem.message()
                    ),
                ));
            }
        }
    }
    check_nonce(platform.kv, signer, &claim.nonce)?;
    Ok(Authorized {
        signer: *signer,
        nonce: claim.nonce.clone(),
    })
}

/// [`SignedClaim::parse`] then [`verify`], for callers that parse and check in one go.
pub fn authorize(
    platform: &Platform<'_>,
    request: &ApiRequest,
    params: &Params,
    rule: SignatureRule<'_>,
    message_prefix: &str,
) -> Result<Authorized> {
    verify(
        platform,
        &SignedClaim::parse(request, params, rule, message_prefix)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth_token::{create_token, decode_token, revoke};
    use crate::fakes::FakePlatform;
    use crate::signature::sign_message;
    use k256::ecdsa::SigningKey;

    use crate::fakes::{CONSUMER, CONSUMER_KEY, PROVIDER_KEY};
    const RULE: SignatureRule<'static> = SignatureRule {
        signer_field: "consumerAddress",
        allow_auth_token: true,
    };

    fn consumer_key() -> SigningKey {
        SigningKey::from_slice(&hex::decode(&CONSUMER_KEY[2..]).unwrap()).unwrap()
    }

    fn platform() -> FakePlatform {
        FakePlatform::new(&[("provider_private_key", PROVIDER_KEY)])
    }

    fn signed(did: &str, nonce: &str) -> ApiRequest {
        let sig = sign_message(&consumer_key(), &format!("{did}{nonce}"))
            .unwrap()
            .to_hex_v27();
        ApiRequest::new(
            "GET",
            &format!(
                "/d?documentId={did}&consumerAddress={CONSUMER}&nonce={nonce}&signature={sig}"
            ),
        )
    }

    #[test]
    fn a_valid_signature_authorizes_and_consuming_once_only() {
        let fake = platform();
        let p = fake.ports();
        let req = signed("did:op:1", "1700000000000");
        let ok = authorize(&p, &req, &req.params(), RULE, "did:op:1").unwrap();
        assert_eq!(checksum(&ok.signer), CONSUMER);
        ok.consume_nonce(&p).unwrap();
        // The same signed URL again: stale.
        let again = authorize(&p, &req, &req.params(), RULE, "did:op:1").unwrap_err();
        assert_eq!(again.status(), 400);
        // Same nonce, lowercase address: still stale (keys are checksum addresses).
        let lower = ApiRequest::new("GET", &req.path.clone()).with_body(Vec::new());
        let mut lower = lower;
        lower.query = req.query.replace(CONSUMER, &CONSUMER.to_lowercase());
        assert!(authorize(&p, &lower, &lower.params(), RULE, "did:op:1").is_err());
    }

    #[test]
    fn the_message_must_match() {
        let fake = platform();
        let p = fake.ports();
        let req = signed("did:op:1", "5");
        let err = authorize(&p, &req, &req.params(), RULE, "did:op:2").unwrap_err();
        let text = err.body()["errors"]["signature"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            text.starts_with("Invalid signature for ethereum address"),
            "{text}"
        );
        assert!(!text.contains(CONSUMER_KEY));
    }

    #[test]
    fn missing_or_malformed_fields_are_400_validation_errors() {
        let fake = platform();
        let p = fake.ports();
        for query in [
            "documentId=x&nonce=1&signature=0x00",
            "documentId=x&consumerAddress=0x12&nonce=1&signature=0x00",
            &format!("documentId=x&consumerAddress={CONSUMER}&signature=0x00"),
            &format!("documentId=x&consumerAddress={CONSUMER}&nonce=abc&signature=0x00"),
            &format!("documentId=x&consumerAddress={CONSUMER}&nonce=1"),
        ] {
            let req = ApiRequest::new("GET", &format!("/d?{query}"));
            let err = authorize(&p, &req, &req.params(), RULE, "x").unwrap_err();
            assert_eq!(err.status(), 400, "{query}");
            assert!(err.body()["errors"].is_object(), "{query}");
        }
        assert_eq!(fake.kv.snapshot(), FakePlatform::new(&[]).kv.snapshot());
    }

    #[test]
    fn an_auth_token_replaces_the_signature_only_for_its_address_and_until_revoked() {
        let fake = platform();
        let p = fake.ports();
        let secret = crate::config::auth_token_secret(&fake.vars).unwrap();
        let token = create_token(&secret, CONSUMER, 1_800_000_000);
        let req = ApiRequest::new(
            "GET",
            &format!("/d?documentId=x&consumerAddress={CONSUMER}&nonce=7"),
        )
        .with_header("AuthToken", &token);
        assert!(authorize(&p, &req, &req.params(), RULE, "x").is_ok());
        // Not for another address.
        let other = ApiRequest::new(
            "GET",
            "/d?documentId=x&consumerAddress=0xe08A1dAe983BC701D05E492DB80e0144f8f4b909&nonce=7",
        )
        .with_header("AuthToken", &token);
        assert!(authorize(&p, &other, &other.params(), RULE, "x").is_err());
        // Not where tokens are not allowed.
        let no_tokens = SignatureRule {
            allow_auth_token: false,
            ..RULE
        };
        assert!(authorize(&p, &req, &req.params(), no_tokens, "x").is_err());
        // Not once revoked.
        revoke(&fake.kv, &token, &decode_token(&secret, &token, 0).unwrap()).unwrap();
        assert!(authorize(&p, &req, &req.params(), RULE, "x").is_err());
        // "Authorization: undefined" (ocean.js) is not a token and is ignored.
        let odd = ApiRequest::new(
            "GET",
            &format!("/d?documentId=x&consumerAddress={CONSUMER}&nonce=8"),
        )
        .with_header("Authorization", "undefined");
        assert!(authorize(&p, &odd, &odd.params(), RULE, "x").is_err());
    }

    #[test]
    fn json_numbers_are_signed_as_python_renders_them() {
        let fake = platform();
        let p = fake.ports();
        // A JSON float nonce 1.7e12 is "1700000000000.0" in Python.
        let sig = sign_message(&consumer_key(), "x1700000000000.0")
            .unwrap()
            .to_hex_v27();
        let body = format!(
            r#"{{"consumerAddress": "{CONSUMER}", "nonce": 1.7e12, "signature": "{sig}"}}"#
        );
        let req = ApiRequest::new("POST", "/d").with_body(body);
        assert!(authorize(&p, &req, &req.params(), RULE, "x").is_ok());
    }
}
