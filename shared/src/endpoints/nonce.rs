//! `GET /api/services/nonce?userAddress=` (spec §5.2, fixed): the highest nonce the
//! address has used, as a JSON **number** (ocean.js does `Number(nonce)`; the seeds show
//! a number), 0 for an address that never signed. It writes nothing (the reference
//! stored `1` for unknown addresses on a GET).
//!
//! Both dialects read it and spend one counter per address. The answer is the stored
//! value rounded **down** to an integer, so every client's next nonce exceeds the
//! stored one: ocean.js 8 sends answer + 1 (and Ocean Node's rule wants an integer:
//! a fractional answer would make it sign `1700000001.5`), ocean.py `ceil + 1`, the
//! Ocean Node indexer `parseInt + 1`.

use crate::nonce::current_nonce;
use crate::ports::Platform;
use crate::{ApiRequest, ApiResponse, Result};

/// `GET /api/services/nonce`.
pub fn nonce(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    let input = crate::wire::v2::nonce(request)?;
    let nonce = current_nonce(platform.kv, &input.address)?.to_string();
    // The canonical decimal text of a positive number; its integer part is valid JSON
    // number text, kept exact (no f64).
    let floor = nonce.split('.').next().unwrap_or("0");
    Ok(ApiResponse::raw_json(
        200,
        format!(r#"{{"nonce":{floor}}}"#),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request, served through the route table as the component would.
    fn handle(request: &ApiRequest, platform: &Platform<'_>) -> ApiResponse {
        crate::routes::serve_full("nonce", request, platform)
    }
    use crate::address::parse_address;
    use crate::decimal::Decimal;
    use crate::fakes::FakePlatform;
    use crate::nonce::consume_nonce;

    const USER: &str = "0xA78deb2Fa79463945C247991075E2a0e98Ba7A09";

    #[test]
    fn unknown_address_is_zero_and_nothing_is_written() {
        let fake = FakePlatform::new(&[]);
        let r = handle(
            &ApiRequest::new("GET", &format!("/api/services/nonce?userAddress={USER}")),
            &fake.ports(),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"{\"nonce\":0}\n");
        assert!(fake.kv.keys().is_empty());
    }

    #[test]
    fn stored_nonce_is_an_exact_integer_for_any_letter_case() {
        let fake = FakePlatform::new(&[]);
        let address = parse_address(USER).unwrap();
        consume_nonce(
            &fake.kv,
            &address,
            &Decimal::parse("1700000000.125").unwrap(),
        )
        .unwrap();
        let r = handle(
            &ApiRequest::new(
                "GET",
                &format!("/api/services/nonce?userAddress={}", USER.to_lowercase()),
            ),
            &fake.ports(),
        );
        // Rounded down: every client's next nonce (answer + 1) still exceeds it.
        assert_eq!(r.body_json().unwrap()["nonce"].to_string(), "1700000000");
    }

    #[test]
    fn bad_input_is_400() {
        let fake = FakePlatform::new(&[]);
        for uri in [
            "/api/services/nonce",
            "/api/services/nonce?userAddress=",
            "/api/services/nonce?userAddress=0x12",
        ] {
            let r = handle(&ApiRequest::new("GET", uri), &fake.ports());
            assert_eq!(r.status, 400, "{uri}");
            assert!(r.body_json().unwrap()["errors"]["userAddress"].is_array());
        }
        let head = handle(
            &ApiRequest::new("HEAD", &format!("/api/services/nonce?userAddress={USER}")),
            &fake.ports(),
        );
        assert_eq!(head.status, 405);
    }
}
