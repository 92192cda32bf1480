//! The one function that decides whether a signed request comes from its signer:
//! a signature over the message of its dialect, or an auth token (spec §2.2, §2.4;
//! Ocean Node dialect §1.3–§1.5). Every signed endpoint calls [`verify`] early and
//! [`Authorized::consume_nonce`] once every other check has passed, so a rejected
//! request never uses up a nonce.
//!
//! On the paths both dialects share, the signature decides the dialect (§4.3): every
//! v2 message ends with the nonce, every Ocean Node message with its command, so a
//! signature fits at most one. The v2 message is tried first, then the Node one (only
//! when the nonce is a plain integer, as Ocean Node requires). Each message is checked
//! under the three EIP-191 payload forms of [`crate::signature::message_digests`].

use crate::address::{Address, checksum, parse_address};
use crate::auth_token::verify_token_for;
use crate::decimal::Decimal;
use crate::nonce::{check_nonce, consume_nonce, parse_nonce};
use crate::ports::Platform;
use crate::request::{ApiRequest, Params};
use crate::signature::{recover_message_signer, signed_by};
use crate::{ProviderError, Result};

/// The two wire dialects (see [`crate::wire`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The Python Provider v2 dialect (ocean.py 3.x, ocean.js ≤ 3.4).
    V2,
    /// The Ocean Node dialect (ocean.js 8.x, the Ocean Node indexer).
    Node,
}

/// How an endpoint's signature is checked.
#[derive(Debug, Clone, Copy)]
pub struct SignatureRule<'a> {
    /// The parameter holding the signer's address (`consumerAddress`, `address`, ...).
    pub signer_field: &'a str,
    /// May an auth token replace the signature? (Not for the token endpoints
    /// themselves.)
    pub allow_auth_token: bool,
}

/// A request whose signer has been established and whose nonce is fresh.
#[derive(Debug, Clone)]
pub struct Authorized {
    /// The signer.
    pub signer: Address,
    /// The nonce the request carries (`None`: an Ocean Node token request, which
    /// carries none).
    pub nonce: Option<Decimal>,
    /// The dialect whose message (or token header) proved the request.
    pub dialect: Dialect,
    /// The message the signature is over and the signature, as sent (`None` when a
    /// token proved the request): what a proof of download reports.
    pub signed: Option<(String, String)>,
}

impl Authorized {
    /// Uses up the nonce, atomically: of concurrent requests with the same nonce only
    /// one gets past this call. Both dialects spend the same per-address counter.
    pub fn consume_nonce(&self, platform: &Platform<'_>) -> Result<()> {
        match &self.nonce {
            Some(nonce) => {
                consume_nonce(platform.kv, &self.signer, nonce).map_err(|e| match self.dialect {
                    Dialect::V2 => e,
                    Dialect::Node => e.in_node_dialect(),
                })
            }
            None => Ok(()),
        }
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
    /// An EIP-191 signature of one of the claim's messages.
    Signature(String),
    /// An auth token standing in for the signature: v2's `AuthToken` header (with a
    /// nonce) or Ocean Node's raw `Authorization` header (without one).
    AuthToken {
        /// The JWT.
        token: String,
        /// Which header carried it.
        header: Dialect,
    },
}

/// Who a request says it comes from, and its proof, as parsed at the wire edge (the
/// dialect decides the field names and the signed messages; the rules only verify).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedClaim {
    /// The claimed signer.
    pub signer: Address,
    /// The nonce exactly as sent (it is part of the signed message).
    pub nonce_text: Option<String>,
    /// The nonce as a number.
    pub nonce: Option<Decimal>,
    /// The signature, or the token.
    pub proof: Proof,
    /// The complete messages the signature may be over, tried in order.
    pub messages: Vec<(Dialect, String)>,
}

/// The token of Ocean Node's `Authorization: <jwt>` header (an optional `Bearer `
/// prefix is tolerated); ocean.js sends the literal `undefined` on discovery.
pub fn authorization_token(request: &ApiRequest) -> Option<String> {
    let value = request.header("Authorization")?.trim();
    let value = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .unwrap_or(value)
        .trim();
    (!value.is_empty() && value != "undefined" && value != "null").then(|| value.to_owned())
}

fn is_plain_integer(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

impl SignedClaim {
    /// Reads the claim of a v2 request whose signed message is `message_prefix + nonce`.
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
                    Some(token) => Proof::AuthToken {
                        token: token.to_owned(),
                        header: Dialect::V2,
                    },
                    None => {
                        return Err(ProviderError::field(
                            "signature",
                            "The signature field is required.",
                        ));
                    }
                }
            }
        };
        let message = format!("{}{nonce_text}", message_prefix.into());
        Ok(Self {
            signer,
            nonce_text: Some(nonce_text),
            nonce: Some(nonce),
            proof,
            messages: vec![(Dialect::V2, message)],
        })
    }

    /// Reads the claim of a request on a path both dialects share: the v2 message
    /// `v2_prefix + nonce`, or Ocean Node's `<signer as sent> + nonce + node_command`.
    /// Without a signature, v2's `AuthToken` header (with a nonce) or Ocean Node's
    /// `Authorization` header (nonce optional) may stand in, when the rule allows.
    pub fn parse_shared(
        request: &ApiRequest,
        params: &Params,
        rule: SignatureRule<'_>,
        v2_prefix: impl Into<String>,
        node_command: &str,
    ) -> Result<Self> {
        let node_token = rule
            .allow_auth_token
            .then(|| authorization_token(request))
            .flatten();
        let v2_token = request
            .header("AuthToken")
            .is_some_and(|t| !t.trim().is_empty());
        if let (Some(token), false, false) = (node_token, params.is_filled("signature"), v2_token) {
            let signer = signer_address(params, rule.signer_field)?;
            let nonce_text = params.filled_text("nonce");
            let nonce = nonce_text.as_deref().map(parse_nonce).transpose()?;
            return Ok(Self {
                signer,
                nonce_text,
                nonce,
                proof: Proof::AuthToken {
                    token,
                    header: Dialect::Node,
                },
                messages: Vec::new(),
            });
        }
        let mut claim = Self::parse(request, params, rule, v2_prefix)?;
        claim.add_node_message(params, rule.signer_field, node_command);
        Ok(claim)
    }

    /// Reads the claim of an Ocean Node-only request: signed
    /// `<signer as sent> + nonce + command` for one of `commands` (an empty command is
    /// `address + nonce` alone), the nonce a plain integer. Errors are `{"error"}`.
    pub fn parse_node(params: &Params, signer_field: &str, commands: &[&str]) -> Result<Self> {
        let (Some(signer_text), Some(signature), Some(nonce_text)) = (
            params.filled_text(signer_field),
            params.filled_text("signature"),
            params.filled_text("nonce"),
        ) else {
            return Err(ProviderError::BadRequest(
                "Missing required parameters".into(),
            ));
        };
        let signer = parse_address(&signer_text).ok_or_else(|| {
            ProviderError::BadRequest(format!(
                "Invalid {signer_field}: an Ethereum address (0x and 40 hex digits) is required."
            ))
        })?;
        if !is_plain_integer(&nonce_text) {
            return Err(ProviderError::Unauthorized(format!(
                "nonce: {nonce_text} is not a valid nonce"
            )));
        }
        let nonce = parse_nonce(&nonce_text).map_err(|e| e.in_node_dialect())?;
        Ok(Self {
            signer,
            messages: commands
                .iter()
                .map(|command| (Dialect::Node, format!("{signer_text}{nonce_text}{command}")))
                .collect(),
            nonce_text: Some(nonce_text),
            nonce: Some(nonce),
            proof: Proof::Signature(signature),
        })
    }

    /// Adds Ocean Node's message for `command`, when the nonce is a plain integer.
    fn add_node_message(&mut self, params: &Params, signer_field: &str, command: &str) {
        let (Proof::Signature(_), Some(nonce_text)) = (&self.proof, &self.nonce_text) else {
            return;
        };
        if is_plain_integer(nonce_text) {
            let signer_text = params.text(signer_field).unwrap_or_default();
            self.messages
                .push((Dialect::Node, format!("{signer_text}{nonce_text}{command}")));
        }
    }

    /// The claim's dialect as far as it is known before verification: the token
    /// header's, or that of the only message.
    pub fn apparent_dialect(&self) -> Dialect {
        match &self.proof {
            Proof::AuthToken { header, .. } => *header,
            Proof::Signature(_) => match self.messages.as_slice() {
                [(dialect, _)] => *dialect,
                _ => Dialect::V2,
            },
        }
    }

    /// Which dialect's message the signature is over, if any (no nonce check, no
    /// state). For parsers that must know the dialect before reading the rest.
    pub fn signed_dialect(&self) -> Option<Dialect> {
        match &self.proof {
            Proof::AuthToken { header, .. } => Some(*header),
            Proof::Signature(signature) => self
                .messages
                .iter()
                .find(|(_, message)| signed_by(message, signature, &self.signer) == Ok(true))
                .map(|(dialect, _)| *dialect),
        }
    }

    /// Keeps only the messages of `dialect` (once the request is known to be in it).
    pub fn restrict_to(mut self, dialect: Dialect) -> Self {
        self.messages.retain(|(d, _)| *d == dialect);
        self
    }
}

fn signature_refusal(claim: &SignedClaim, signature: &str) -> ProviderError {
    let signer = checksum(&claim.signer);
    let nonce_text = claim.nonce_text.as_deref().unwrap_or_default();
    match claim.messages.first() {
        Some((Dialect::V2, message)) => {
            let prefix = message.strip_suffix(nonce_text).unwrap_or(message);
            let got = match recover_message_signer(message, signature) {
                Ok(recovered) => checksum(&recovered),
                Err(problem) => problem.to_string(),
            };
            ProviderError::signature(format!(
                "Invalid signature for ethereum address {signer}, message {prefix} and nonce {nonce_text}. Got {got}."
            ))
        }
        _ => ProviderError::Unauthorized("Invalid signature".into()),
    }
}

/// Establishes that the claimed signer sent the request: the signature recovers to
/// it from one of the claim's messages (or the token is live and its own), and the
/// nonce, when there is one, is fresh (read-only).
pub fn verify(platform: &Platform<'_>, claim: &SignedClaim) -> Result<Authorized> {
    let signer = &claim.signer;
    let mut signed = None;
    let dialect = match &claim.proof {
        Proof::Signature(signature) => {
            let mut matched = None;
            for (dialect, message) in &claim.messages {
                match signed_by(message, signature, signer) {
                    Ok(true) => {
                        matched = Some(*dialect);
                        signed = Some((message.clone(), signature.clone()));
                        break;
                    }
                    Ok(false) => {}
                    Err(_) => break,
                }
            }
            matched.ok_or_else(|| signature_refusal(claim, signature))?
        }
        Proof::AuthToken { token, header } => {
            let secret = platform.settings.auth_token_secret()?;
            let now = platform.clock.now_unix_seconds();
            if let Err(problem) = verify_token_for(platform.kv, &secret, token, signer, now) {
                return Err(match header {
                    Dialect::V2 => ProviderError::field(
                        "signature",
                        format!(
                            "Invalid signature provided. AuthToken: {}",
                            problem.message()
                        ),
                    ),
                    Dialect::Node => ProviderError::Unauthorized("Invalid token".into()),
                });
            }
            *header
        }
    };
    if let Some(nonce) = &claim.nonce {
        check_nonce(platform.kv, signer, nonce).map_err(|e| match dialect {
            Dialect::V2 => e,
            Dialect::Node => e.in_node_dialect(),
        })?;
    }
    Ok(Authorized {
        signer: *signer,
        nonce: claim.nonce.clone(),
        dialect,
        signed,
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

    /// ethers' `signMessage(toBeArray(keccak256(message)))`: leading zero bytes of
    /// the hash dropped, as ocean.js 8 signs.
    fn sign_like_ocean_js(message: &str) -> String {
        let hash = alloy_primitives::keccak256(message.as_bytes());
        let stripped: Vec<u8> = hash.iter().copied().skip_while(|b| *b == 0).collect();
        crate::signature::sign_digest(&consumer_key(), &crate::signature::eip191_digest(&stripped))
            .unwrap()
            .to_hex_v27()
    }

    fn node_download(nonce: &str, signature: &str) -> ApiRequest {
        ApiRequest::new(
            "GET",
            &format!(
                "/d?documentId=did:op:1&consumerAddress={CONSUMER}&nonce={nonce}&signature={signature}"
            ),
        )
    }

    fn shared_claim(req: &ApiRequest) -> Result<SignedClaim> {
        SignedClaim::parse_shared(req, &req.params(), RULE, "did:op:1", "download")
    }

    #[test]
    fn a_hash_with_a_leading_zero_byte_signed_as_31_bytes_is_accepted() {
        // The first nonce whose Node message hashes to 0x00…: about 1 in 256.
        let nonce = (1..100_000u64)
            .map(|n| n.to_string())
            .find(|n| {
                alloy_primitives::keccak256(format!("{CONSUMER}{n}download").as_bytes())[0] == 0
            })
            .unwrap();
        let fake = platform();
        let p = fake.ports();
        let req = node_download(
            &nonce,
            &sign_like_ocean_js(&format!("{CONSUMER}{nonce}download")),
        );
        let ok = verify(&p, &shared_claim(&req).unwrap()).unwrap();
        assert_eq!(ok.dialect, Dialect::Node);
        // A verifier that only knew the 32-byte form would have refused it.
        let only_32 = SignedClaim {
            messages: vec![],
            ..shared_claim(&req).unwrap()
        };
        assert!(verify(&p, &only_32).is_err());
    }

    #[test]
    fn the_signature_decides_the_dialect_on_shared_paths() {
        let fake = platform();
        let p = fake.ports();
        let v2 = node_download(
            "10",
            &sign_message(&consumer_key(), "did:op:110")
                .unwrap()
                .to_hex_v27(),
        );
        assert_eq!(
            verify(&p, &shared_claim(&v2).unwrap()).unwrap().dialect,
            Dialect::V2
        );
        let node = node_download("10", &sign_like_ocean_js(&format!("{CONSUMER}10download")));
        assert_eq!(
            shared_claim(&node).unwrap().signed_dialect(),
            Some(Dialect::Node)
        );
        assert_eq!(
            verify(&p, &shared_claim(&node).unwrap()).unwrap().dialect,
            Dialect::Node
        );
        // The hex-text form (c) of the v2 message also passes.
        let hash = alloy_primitives::keccak256(b"did:op:111");
        let text_form = crate::signature::sign_digest(
            &consumer_key(),
            &crate::signature::eip191_digest(format!("{hash:#x}").as_bytes()),
        )
        .unwrap()
        .to_hex_v27();
        assert_eq!(
            verify(&p, &shared_claim(&node_download("11", &text_form)).unwrap())
                .unwrap()
                .dialect,
            Dialect::V2
        );
        // A fractional nonce never matches the Node message (Ocean Node wants integers).
        let fractional = node_download(
            "10.5",
            &sign_like_ocean_js(&format!("{CONSUMER}10.5download")),
        );
        assert!(verify(&p, &shared_claim(&fractional).unwrap()).is_err());
        // Another command's signature is not a download signature.
        let other = node_download("12", &sign_like_ocean_js(&format!("{CONSUMER}12encrypt")));
        let err = verify(&p, &shared_claim(&other).unwrap()).unwrap_err();
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn one_counter_serves_both_dialects() {
        let fake = platform();
        let p = fake.ports();
        let node = node_download("20", &sign_like_ocean_js(&format!("{CONSUMER}20download")));
        verify(&p, &shared_claim(&node).unwrap())
            .unwrap()
            .consume_nonce(&p)
            .unwrap();
        // A v2 request with the same or a lower nonce is stale now, and vice versa.
        for nonce in ["20", "19.5"] {
            let v2 = node_download(
                nonce,
                &sign_message(&consumer_key(), &format!("did:op:1{nonce}"))
                    .unwrap()
                    .to_hex_v27(),
            );
            assert!(verify(&p, &shared_claim(&v2).unwrap()).is_err(), "{nonce}");
        }
        let v2 = node_download(
            "20.5",
            &sign_message(&consumer_key(), "did:op:120.5")
                .unwrap()
                .to_hex_v27(),
        );
        verify(&p, &shared_claim(&v2).unwrap())
            .unwrap()
            .consume_nonce(&p)
            .unwrap();
        // The Node request is recognised as Node's, and refused in its envelope.
        let node = node_download("20", &sign_like_ocean_js(&format!("{CONSUMER}20download")));
        let err = verify(&p, &shared_claim(&node).unwrap()).unwrap_err();
        assert_eq!(err.status(), 401);
        assert!(err.body()["error"].as_str().unwrap().contains("nonce"));
    }

    #[test]
    fn an_authorization_token_needs_no_nonce_and_is_bound_to_its_address() {
        let fake = platform();
        let p = fake.ports();
        let secret = crate::config::auth_token_secret(&fake.vars).unwrap();
        let token = create_token(&secret, CONSUMER, 1_800_000_000);
        let req = ApiRequest::new(
            "GET",
            &format!("/d?documentId=x&consumerAddress={CONSUMER}"),
        )
        .with_header("Authorization", &token);
        let claim = shared_claim(&req).unwrap();
        let ok = verify(&p, &claim).unwrap();
        assert_eq!((ok.dialect, ok.nonce.is_none()), (Dialect::Node, true));
        ok.consume_nonce(&p).unwrap();
        assert!(fake.kv.keys().is_empty());
        let other = ApiRequest::new(
            "GET",
            "/d?documentId=x&consumerAddress=0xe08A1dAe983BC701D05E492DB80e0144f8f4b909",
        )
        .with_header("Authorization", &token);
        let err = verify(&p, &shared_claim(&other).unwrap()).unwrap_err();
        assert_eq!(
            (err.status(), err.body()["error"].as_str()),
            (401, Some("Invalid token"))
        );
        revoke(&fake.kv, &token, &decode_token(&secret, &token, 0).unwrap()).unwrap();
        assert_eq!(verify(&p, &claim).unwrap_err().status(), 401);
        // `Authorization: undefined` is no token: the v2 rules ask for a nonce.
        let odd = ApiRequest::new(
            "GET",
            &format!("/d?documentId=x&consumerAddress={CONSUMER}"),
        )
        .with_header("Authorization", "undefined");
        assert_eq!(shared_claim(&odd).unwrap_err().status(), 400);
    }
}
