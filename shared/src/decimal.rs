//! Exact decimal numbers for nonces.
//!
//! Clients send nonces as integers (`1`, `Date.now()` milliseconds, 19-digit values) or
//! as float seconds (`"1700000000.123"`). Comparing them through `f64` would make
//! distinct nonces equal (and so replayable or wrongly refused), so they are compared
//! exactly, as Python's `Decimal` does.

use std::cmp::Ordering;
use std::fmt;

/// The longest nonce text accepted; anything longer is not a nonce a client sends.
const MAX_TEXT_LEN: usize = 64;
/// Bound on the decimal exponent so the canonical text stays short.
const MAX_EXPONENT: i64 = 40;

/// A finite decimal number `(-1)^negative × digits × 10^exponent`, normalised so that
/// equal values have equal representations (no leading or trailing zeros in `digits`;
/// zero is `digits == ""` and not negative).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

/// Why a text is not an acceptable decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalError {
    /// Not a number at all (includes `nan`, `inf`, empty text).
    NotANumber,
    /// A number, but too long or too large to be a nonce.
    OutOfRange,
}

impl Decimal {
    /// Zero.
    pub fn zero() -> Self {
        Self {
            negative: false,
            digits: String::new(),
            exponent: 0,
        }
    }

    /// Parses decimal text: optional sign, digits with an optional fraction, optional
    /// exponent (`1e3`). Surrounding whitespace is ignored, as Python's `float()` does.
    /// `nan`, `inf` and anything else non-finite is refused.
    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        let text = text.trim();
        if text.len() > MAX_TEXT_LEN {
            return Err(DecimalError::OutOfRange);
        }
        let (negative, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent_text) = match rest.find(['e', 'E']) {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        let (int_part, frac_part) = match mantissa.split_once('.') {
            Some((int_part, frac_part)) => (int_part, frac_part),
            None => (mantissa, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int_part.is_empty() && frac_part.is_empty())
            || !all_digits(int_part)
            || !all_digits(frac_part)
        {
            return Err(DecimalError::NotANumber);
        }
        let mut exponent: i64 = match exponent_text {
            None => 0,
            Some(e) => {
                let unsigned = e.strip_prefix(['+', '-']).unwrap_or(e);
                if unsigned.is_empty() || !all_digits(unsigned) {
                    return Err(DecimalError::NotANumber);
                }
                e.parse().map_err(|_| DecimalError::OutOfRange)?
            }
        };
        let frac_len = i64::try_from(frac_part.len()).map_err(|_| DecimalError::OutOfRange)?;
        exponent -= frac_len;
        let mut digits: String = format!("{int_part}{frac_part}")
            .trim_start_matches('0')
            .to_owned();
        while digits.ends_with('0') {
            digits.pop();
            exponent += 1;
        }
        if digits.is_empty() {
            return Ok(Self::zero());
        }
        let magnitude = exponent + i64::try_from(digits.len()).unwrap_or(i64::MAX);
        if !(-MAX_EXPONENT..=MAX_EXPONENT).contains(&exponent) || magnitude > MAX_EXPONENT {
            return Err(DecimalError::OutOfRange);
        }
        Ok(Self {
            negative,
            digits,
            exponent,
        })
    }

    /// Whether this is zero.
    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    fn compare_magnitude(&self, other: &Self) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        // Position of the most significant digit decides first.
        let self_top = self.exponent + self.digits.len() as i64;
        let other_top = other.exponent + other.digits.len() as i64;
        self_top.cmp(&other_top).then_with(|| {
            // Same top position: compare digit strings left-aligned.
            let a = self.digits.as_bytes();
            let b = other.digits.as_bytes();
            let len = a.len().max(b.len());
            (0..len)
                .map(|i| {
                    (
                        a.get(i).copied().unwrap_or(b'0'),
                        b.get(i).copied().unwrap_or(b'0'),
                    )
                })
                .map(|(x, y)| x.cmp(&y))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        })
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.compare_magnitude(other),
            (true, true) => other.compare_magnitude(self),
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The canonical plain-decimal text (no exponent, no superfluous zeros): `1`,
/// `1700000000.123`, `0.5`. It is also valid JSON number text.
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        if self.negative {
            f.write_str("-")?;
        }
        let len = self.digits.len() as i64;
        if self.exponent >= 0 {
            f.write_str(&self.digits)?;
            for _ in 0..self.exponent {
                f.write_str("0")?;
            }
            Ok(())
        } else if -self.exponent < len {
            let split = usize::try_from(len + self.exponent).unwrap_or(0);
            write!(f, "{}.{}", &self.digits[..split], &self.digits[split..])
        } else {
            f.write_str("0.")?;
            for _ in 0..(-self.exponent - len) {
                f.write_str("0")?;
            }
            f.write_str(&self.digits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    #[test]
    fn equal_values_have_one_representation() {
        assert_eq!(d("1"), d("1.0"));
        assert_eq!(d("1"), d("+1"));
        assert_eq!(d("1e3"), d("1000"));
        assert_eq!(d("0001000.000"), d("1000"));
        assert_eq!(d(" 5 "), d("5"));
        assert_eq!(d("0"), d("-0.000"));
        assert_eq!(d(".5"), d("0.5"));
        assert_eq!(d("5."), d("5"));
    }

    #[test]
    fn canonical_text() {
        assert_eq!(d("1700000000.123000").to_string(), "1700000000.123");
        assert_eq!(d("1e3").to_string(), "1000");
        assert_eq!(d("0.05").to_string(), "0.05");
        assert_eq!(d("-2.50").to_string(), "-2.5");
        assert_eq!(d("0").to_string(), "0");
        assert_eq!(d("1795314822515").to_string(), "1795314822515");
    }

    #[test]
    fn comparison_is_exact_where_f64_is_not() {
        // These two differ by 1 but are the same f64.
        let a = d("1234567890123456789");
        let b = d("1234567890123456788");
        assert_eq!(1234567890123456789_f64, 1234567890123456788_f64);
        assert!(a > b);
        assert!(d("1700000000.1230001") > d("1700000000.123"));
        assert!(d("1700000000.123") < d("1700000001"));
        assert!(d("1700000000000") > d("1700000000.999"));
        assert!(d("0.5") > d("0.499999999999999999999"));
        assert!(d("10") > d("9.99"));
        assert!(d("-1") < d("0"));
        assert!(d("-2") < d("-1"));
        assert_eq!(d("2").cmp(&d("2.000")), Ordering::Equal);
    }

    #[test]
    fn non_numbers_and_non_finite_values_are_refused() {
        for text in [
            "", " ", "abc", "nan", "NaN", "inf", "-inf", "Infinity", "1e", "1e+", "--1", "1.2.3",
            "0x10", "1_000", ".", "e5",
        ] {
            assert_eq!(
                Decimal::parse(text),
                Err(DecimalError::NotANumber),
                "{text:?}"
            );
        }
    }

    #[test]
    fn absurd_magnitudes_are_out_of_range() {
        assert_eq!(Decimal::parse("1e1000000"), Err(DecimalError::OutOfRange));
        assert_eq!(Decimal::parse("1e-1000"), Err(DecimalError::OutOfRange));
        assert_eq!(
            Decimal::parse(&"9".repeat(65)),
            Err(DecimalError::OutOfRange)
        );
        assert!(Decimal::parse(&"9".repeat(40)).is_ok());
    }
}
