//! Signed transactions, for the one transaction the provider sends (the chain proof of
//! download): RLP encoding, legacy EIP-155 and EIP-1559 (type 2) envelopes, signed
//! with the chain's provider key.

use alloy_primitives::{Address, B256, U256, keccak256};
use k256::ecdsa::SigningKey;

/// How the transaction pays for gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GasPricing {
    /// A legacy transaction (EIP-155 replay protection) at `gas_price`.
    Legacy {
        /// Wei per gas.
        gas_price: U256,
    },
    /// An EIP-1559 transaction.
    Eip1559 {
        /// The tip, wei per gas.
        max_priority_fee_per_gas: U256,
        /// The cap, wei per gas.
        max_fee_per_gas: U256,
    },
}

/// A contract call to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The chain id (replay protection).
    pub chain_id: u64,
    /// The sender's account nonce.
    pub nonce: u64,
    /// Gas pricing.
    pub pricing: GasPricing,
    /// Gas limit.
    pub gas: u64,
    /// The contract.
    pub to: Address,
    /// Wei sent along.
    pub value: U256,
    /// Call data.
    pub data: Vec<u8>,
}

/// An RLP item.
#[derive(Debug, Clone)]
enum Rlp {
    Bytes(Vec<u8>),
    List(Vec<Rlp>),
}

fn length_prefix(len: usize, short: u8, long: u8, out: &mut Vec<u8>) {
    if len <= 55 {
        out.push(short + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let first = be.iter().position(|b| *b != 0).unwrap_or(7);
        out.push(long + (8 - first) as u8);
        out.extend_from_slice(&be[first..]);
    }
}

impl Rlp {
    fn uint(value: U256) -> Self {
        let bytes: [u8; 32] = value.to_be_bytes();
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(32);
        Self::Bytes(bytes[first..].to_vec())
    }

    fn u64(value: u64) -> Self {
        Self::uint(U256::from(value))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Bytes(bytes) if bytes.len() == 1 && bytes[0] < 0x80 => out.push(bytes[0]),
            Self::Bytes(bytes) => {
                length_prefix(bytes.len(), 0x80, 0xb7, out);
                out.extend_from_slice(bytes);
            }
            Self::List(items) => {
                let mut payload = Vec::new();
                for item in items {
                    item.encode(&mut payload);
                }
                length_prefix(payload.len(), 0xc0, 0xf7, out);
                out.extend_from_slice(&payload);
            }
        }
    }

    fn encoded(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

impl Transaction {
    /// The fields every envelope shares, in the order of `pricing`'s envelope.
    fn fields(&self) -> Vec<Rlp> {
        let call = [
            Rlp::u64(self.gas),
            Rlp::Bytes(self.to.to_vec()),
            Rlp::uint(self.value),
            Rlp::Bytes(self.data.clone()),
        ];
        match self.pricing {
            GasPricing::Legacy { gas_price } => {
                let mut fields = vec![Rlp::u64(self.nonce), Rlp::uint(gas_price)];
                fields.extend(call);
                fields
            }
            GasPricing::Eip1559 {
                max_priority_fee_per_gas,
                max_fee_per_gas,
            } => {
                let mut fields = vec![
                    Rlp::u64(self.chain_id),
                    Rlp::u64(self.nonce),
                    Rlp::uint(max_priority_fee_per_gas),
                    Rlp::uint(max_fee_per_gas),
                ];
                fields.extend(call);
                // An empty access list.
                fields.push(Rlp::List(Vec::new()));
                fields
            }
        }
    }

    fn typed(&self, rlp: &Rlp) -> Vec<u8> {
        match self.pricing {
            GasPricing::Legacy { .. } => rlp.encoded(),
            GasPricing::Eip1559 { .. } => {
                let mut out = vec![0x02];
                rlp.encode(&mut out);
                out
            }
        }
    }

    /// The hash the sender signs.
    pub fn signing_hash(&self) -> B256 {
        let mut fields = self.fields();
        if matches!(self.pricing, GasPricing::Legacy { .. }) {
            // EIP-155: chain id, 0, 0.
            fields.extend([Rlp::u64(self.chain_id), Rlp::u64(0), Rlp::u64(0)]);
        }
        keccak256(self.typed(&Rlp::List(fields)))
    }

    /// The signed transaction, ready for `eth_sendRawTransaction`.
    pub fn sign(&self, key: &SigningKey) -> Option<Vec<u8>> {
        let (signature, recovery) = key
            .sign_prehash_recoverable(self.signing_hash().as_slice())
            .ok()?;
        let (r, s) = signature.split_bytes();
        let parity = u64::from(recovery.to_byte() & 1);
        let v = match self.pricing {
            GasPricing::Legacy { .. } => self.chain_id.checked_mul(2)?.checked_add(35 + parity)?,
            GasPricing::Eip1559 { .. } => parity,
        };
        let mut fields = self.fields();
        fields.extend([
            Rlp::u64(v),
            Rlp::uint(U256::from_be_slice(&r)),
            Rlp::uint(U256::from_be_slice(&s)),
        ]);
        Some(self.typed(&Rlp::List(fields)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hex_key: &str) -> SigningKey {
        SigningKey::from_slice(&hex::decode(hex_key).unwrap()).unwrap()
    }

    /// The example transaction of EIP-155 itself.
    #[test]
    fn eip155_example_signs_to_the_published_bytes() {
        let tx = Transaction {
            chain_id: 1,
            nonce: 9,
            pricing: GasPricing::Legacy {
                gas_price: U256::from(20_000_000_000u64),
            },
            gas: 21000,
            to: "0x3535353535353535353535353535353535353535"
                .parse()
                .unwrap(),
            value: U256::from(1_000_000_000_000_000_000u64),
            data: Vec::new(),
        };
        assert_eq!(
            format!("{:#x}", tx.signing_hash()),
            "0xdaf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53"
        );
        let raw = tx
            .sign(&key(
                "4646464646464646464646464646464646464646464646464646464646464646",
            ))
            .unwrap();
        assert_eq!(
            hex::encode(raw),
            "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"
        );
    }

    #[test]
    fn rlp_lengths_past_55_bytes_use_the_long_form() {
        let long = Rlp::Bytes(vec![0xaa; 56]).encoded();
        assert_eq!(&long[..2], &[0xb8, 56]);
        assert_eq!(long.len(), 58);
        assert_eq!(Rlp::Bytes(vec![0x7f]).encoded(), vec![0x7f]);
        assert_eq!(Rlp::Bytes(vec![0x80]).encoded(), vec![0x81, 0x80]);
        assert_eq!(Rlp::u64(0).encoded(), vec![0x80]);
        assert_eq!(Rlp::List(Vec::new()).encoded(), vec![0xc0]);
        let list = Rlp::List(vec![Rlp::Bytes(vec![1; 60])]).encoded();
        assert_eq!(&list[..2], &[0xf8, 62]);
    }

    /// A type-2 transaction: the envelope byte, the field order, and a signature that
    /// recovers to the sender from the signing hash.
    #[test]
    fn eip1559_envelope_recovers_to_the_sender() {
        let signer = key("4646464646464646464646464646464646464646464646464646464646464646");
        let tx = Transaction {
            chain_id: 137,
            nonce: 0,
            pricing: GasPricing::Eip1559 {
                max_priority_fee_per_gas: U256::from(2u64),
                max_fee_per_gas: U256::from(3u64),
            },
            gas: 100_000,
            to: Address::repeat_byte(0x11),
            value: U256::ZERO,
            data: vec![0xde, 0xad],
        };
        let raw = tx.sign(&signer).unwrap();
        assert_eq!(raw[0], 0x02);
        // chainId 137 (0x81 0x89), nonce 0 (0x80), tip 2, cap 3, gas 100000.
        assert_eq!(
            &raw[3..11],
            &[0x81, 0x89, 0x80, 0x02, 0x03, 0x83, 0x01, 0x86]
        );
        let len = raw.len();
        let r = &raw[len - 65..len - 33];
        let s = &raw[len - 32..];
        // r and s are 32 bytes each for this key and message (deterministic signing);
        // parity 0 is RLP's empty string.
        assert_eq!((raw[len - 66], raw[len - 33]), (0xa0, 0xa0));
        let parity = match raw[len - 67] {
            0x80 => 0,
            other => other,
        };
        let signature = k256::ecdsa::Signature::from_scalars(
            *k256::FieldBytes::from_slice(r),
            *k256::FieldBytes::from_slice(s),
        )
        .unwrap();
        let recovered = k256::ecdsa::VerifyingKey::recover_from_prehash(
            tx.signing_hash().as_slice(),
            &signature,
            k256::ecdsa::RecoveryId::from_byte(parity).unwrap(),
        )
        .unwrap();
        assert_eq!(recovered, *signer.verifying_key());
    }
}
