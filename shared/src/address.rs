//! Ethereum addresses as the provider compares them: as addresses, never as
//! case-sensitive strings (the reference's nonce store and decrypter list were
//! case-sensitive, which made replays possible by changing letter case).

pub use alloy_primitives::Address;

/// Parses `0x` + 40 hex digits in any letter case.
///
/// A mixed-case address with a wrong EIP-55 checksum is still accepted: the reference
/// (web3's `toChecksumAddress`) accepts it too, and clients send lowercase addresses.
pub fn parse_address(text: &str) -> Option<Address> {
    let hex_part = text
        .trim()
        .strip_prefix("0x")
        .or_else(|| text.trim().strip_prefix("0X"))?;
    if hex_part.len() != 40 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes = [0u8; 20];
    hex::decode_to_slice(hex_part, &mut bytes).ok()?;
    Some(Address::from(bytes))
}

/// The EIP-55 checksum form, e.g. `0xA78deb2Fa79463945C247991075E2a0e98Ba7A09`.
pub fn checksum(address: &Address) -> String {
    address.to_checksum(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_letter_case_parses_to_the_same_address() {
        let checksummed = "0xA78deb2Fa79463945C247991075E2a0e98Ba7A09";
        let lower = parse_address(&checksummed.to_lowercase()).unwrap();
        let upper = parse_address(&format!("0x{}", checksummed[2..].to_uppercase())).unwrap();
        assert_eq!(lower, upper);
        assert_eq!(checksum(&lower), checksummed);
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for text in [
            "",
            "0x",
            "0x123",
            "A78deb2Fa79463945C247991075E2a0e98Ba7A09",
            "0xZZ8deb2Fa79463945C247991075E2a0e98Ba7A09",
            "0xA78deb2Fa79463945C247991075E2a0e98Ba7A0900",
        ] {
            assert!(parse_address(text).is_none(), "{text}");
        }
    }
}
