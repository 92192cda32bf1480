//! Nonces (spec §2.3), done right.
//!
//! - Keyed by the checksum address, so changing the letter case of an address does not
//!   give a fresh nonce history (the reference keyed by the raw string: G3).
//! - A signed request is accepted only if its nonce is **strictly greater** than the
//!   stored one, compared as exact decimals ([`Decimal`]).
//! - **Atomic.** Of N concurrent requests carrying the same (address, nonce) exactly one
//!   succeeds, on every key-value backend that has `wasi:keyvalue/atomics`: each use
//!   claims the key `nonce-used:<address>:<nonce>` with `increment`, and only the request
//!   that sees the counter go to 1 proceeds. Compare-and-swap is not used on purpose:
//!   Spin's SQLite backend overwrites on CAS of a missing key and its Redis backend
//!   reports every CAS as failed; `increment` is atomic on both.
//! - The stored maximum (`nonce:<address>`) serves the "greater than" rule and
//!   `GET /nonce`. Two different nonces racing may leave the smaller one stored; that
//!   only lets a *never used* nonce between them through later, never a replay, because
//!   every used nonce keeps its claim.

use crate::address::{Address, checksum};
use crate::decimal::{Decimal, DecimalError};
use crate::ports::KeyValue;
use crate::{ProviderError, Result};

fn stored_key(address: &Address) -> String {
    format!("nonce:{}", checksum(address))
}

fn claim_key(address: &Address, nonce: &Decimal) -> String {
    format!("nonce-used:{}:{}", checksum(address), nonce)
}

/// Parses a nonce request value: 400 when it is not a finite number.
pub fn parse_nonce(text: &str) -> Result<Decimal> {
    match Decimal::parse(text) {
        Ok(nonce) => Ok(nonce),
        Err(DecimalError::NotANumber) => {
            Err(ProviderError::field("nonce", "The nonce must be a number."))
        }
        Err(DecimalError::OutOfRange) => Err(ProviderError::field(
            "nonce",
            "The nonce is out of range (at most 40 digits before and after the decimal point).",
        )),
    }
}

/// The highest nonce used by `address` (0 when it never signed anything).
pub fn current_nonce(kv: &dyn KeyValue, address: &Address) -> Result<Decimal> {
    let Some(bytes) = kv.get(&stored_key(address))? else {
        return Ok(Decimal::zero());
    };
    // The value is always canonical decimal text written by `consume_nonce`.
    Ok(std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| Decimal::parse(text).ok())
        .unwrap_or_else(Decimal::zero))
}

fn stale(stored: &Decimal, given: &Decimal) -> ProviderError {
    // The reference's wording, which clients and operators search for.
    ProviderError::signature(format!(
        "Invalid signature expected nonce ({stored}) > current nonce ({given})."
    ))
}

/// Read-only check that `nonce` is usable now (strictly greater than the stored one).
/// Endpoints call it early to fail fast; [`consume_nonce`] repeats it atomically.
pub fn check_nonce(kv: &dyn KeyValue, address: &Address, nonce: &Decimal) -> Result<()> {
    let stored = current_nonce(kv, address)?;
    if *nonce <= stored {
        return Err(stale(&stored, nonce));
    }
    Ok(())
}

/// Uses up `nonce` for `address`: succeeds for exactly one caller per (address, nonce),
/// and only while the nonce is greater than the stored one.
pub fn consume_nonce(kv: &dyn KeyValue, address: &Address, nonce: &Decimal) -> Result<()> {
    check_nonce(kv, address, nonce)?;
    let claims = kv.increment(&claim_key(address, nonce), 1)?;
    if claims != 1 {
        return Err(ProviderError::signature(format!(
            "Invalid signature expected nonce ({nonce}) > current nonce ({nonce}). This nonce was already used."
        )));
    }
    // Raise the stored maximum; re-read right before writing to keep lost updates rare.
    if *nonce > current_nonce(kv, address)? {
        kv.set(&stored_key(address), nonce.to_string().as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::parse_address;
    use crate::fakes::MemoryKeyValue;
    use std::sync::Arc;

    fn alice() -> Address {
        parse_address("0xA78deb2Fa79463945C247991075E2a0e98Ba7A09").unwrap()
    }

    fn n(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    #[test]
    fn unknown_addresses_start_at_zero_and_reading_writes_nothing() {
        let kv = MemoryKeyValue::default();
        assert_eq!(current_nonce(&kv, &alice()).unwrap(), Decimal::zero());
        assert_eq!(kv.snapshot(), MemoryKeyValue::default().snapshot());
    }

    #[test]
    fn nonces_only_move_forward() {
        let kv = MemoryKeyValue::default();
        consume_nonce(&kv, &alice(), &n("1")).unwrap();
        assert_eq!(current_nonce(&kv, &alice()).unwrap(), n("1"));
        // Equal is refused (the reference let it through the check: G2).
        assert!(consume_nonce(&kv, &alice(), &n("1")).is_err());
        assert!(consume_nonce(&kv, &alice(), &n("1.0")).is_err());
        assert!(consume_nonce(&kv, &alice(), &n("0.5")).is_err());
        consume_nonce(&kv, &alice(), &n("1700000000.123")).unwrap();
        assert!(consume_nonce(&kv, &alice(), &n("1700000000.1229")).is_err());
        consume_nonce(&kv, &alice(), &n("1700000000.1231")).unwrap();
        consume_nonce(&kv, &alice(), &n("1700000000000")).unwrap();
        assert_eq!(
            current_nonce(&kv, &alice()).unwrap().to_string(),
            "1700000000000"
        );
    }

    #[test]
    fn zero_and_negative_nonces_are_never_usable() {
        let kv = MemoryKeyValue::default();
        assert!(consume_nonce(&kv, &alice(), &n("0")).is_err());
        assert!(consume_nonce(&kv, &alice(), &n("-5")).is_err());
    }

    #[test]
    fn nineteen_digit_nonces_are_compared_exactly() {
        let kv = MemoryKeyValue::default();
        consume_nonce(&kv, &alice(), &n("1234567890123456788")).unwrap();
        // Same f64, different integer: must be accepted exactly once.
        consume_nonce(&kv, &alice(), &n("1234567890123456789")).unwrap();
        assert!(consume_nonce(&kv, &alice(), &n("1234567890123456789")).is_err());
    }

    #[test]
    fn letter_case_of_the_address_does_not_matter() {
        let kv = MemoryKeyValue::default();
        let lower = parse_address("0xa78deb2fa79463945c247991075e2a0e98ba7a09").unwrap();
        consume_nonce(&kv, &alice(), &n("5")).unwrap();
        assert!(consume_nonce(&kv, &lower, &n("5")).is_err());
        assert_eq!(current_nonce(&kv, &lower).unwrap(), n("5"));
    }

    #[test]
    fn stale_nonce_message_is_the_references() {
        let kv = MemoryKeyValue::default();
        consume_nonce(&kv, &alice(), &n("3")).unwrap();
        let err = consume_nonce(&kv, &alice(), &n("2")).unwrap_err();
        assert_eq!(
            err.body()["errors"]["signature"],
            "Invalid signature expected nonce (3) > current nonce (2)."
        );
    }

    #[test]
    fn parse_errors_are_validation_errors() {
        for text in ["abc", "nan", "inf", "-inf", ""] {
            let err = parse_nonce(text).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(err.body()["errors"]["nonce"].is_array(), "{text}");
        }
        assert!(parse_nonce(&"1".repeat(80)).is_err());
    }

    #[test]
    fn concurrent_uses_of_one_nonce_let_exactly_one_through() {
        let kv = Arc::new(MemoryKeyValue::default());
        let handles: Vec<_> = (0..50)
            .map(|_| {
                let kv = Arc::clone(&kv);
                std::thread::spawn(move || consume_nonce(kv.as_ref(), &alice(), &n("42")).is_ok())
            })
            .collect();
        let successes = handles
            .into_iter()
            .map(|h| h.join().unwrap_or(false))
            .filter(|ok| *ok)
            .count();
        assert_eq!(successes, 1);
        assert_eq!(current_nonce(kv.as_ref(), &alice()).unwrap(), n("42"));
    }

    #[test]
    fn storage_failure_is_a_503() {
        let kv = MemoryKeyValue::default();
        kv.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            consume_nonce(&kv, &alice(), &n("1")).unwrap_err().status(),
            503
        );
    }
}
