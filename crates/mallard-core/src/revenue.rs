//! Revenue attached to custom events: an exact amount and its currency.
//!
//! Amounts are kept as integer micro-units (millionths of the currency unit), so
//! sums are exact and no floating-point rounding creeps into reports. Decimal
//! input is converted digit by digit, never through `f64`, and rounded half away
//! from zero at the sixth decimal.

use std::fmt;

use serde_json::Value;

use crate::error::CoreError;

/// The largest absolute amount accepted, in currency units.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// Micro-units per currency unit.
const MICROS_PER_UNIT: i64 = 1_000_000;

/// The largest absolute amount accepted, in micro-units.
const MAX_AMOUNT_MICROS: u128 = (MAX_AMOUNT as u128) * (MICROS_PER_UNIT as u128);

/// The number of decimal digits of [`MAX_AMOUNT_MICROS`]; a number whose integer
/// part in micro-units has more digits is out of range.
const MAX_AMOUNT_MICROS_DIGITS: i64 = 19;

/// How many significant digits are kept: the result has at most 19 digits and
/// rounding looks at one more.
const KEPT_DIGITS: usize = 24;

/// Exponents beyond this magnitude are clamped; they are out of range either way.
const MAX_EXPONENT: i64 = 1_000_000;

/// A three-letter currency code such as `EUR`, stored in upper case.
///
/// Any three ASCII letters are accepted, not only codes that ISO 4217 assigns
/// today, so that new currencies need no upgrade.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses a currency code: exactly three ASCII letters after trimming, in any case.
    pub fn parse(raw: &str) -> Result<Self, CoreError> {
        let trimmed = raw.trim();
        match <[u8; 3]>::try_from(trimmed.as_bytes()) {
            Ok(code) if code.iter().all(u8::is_ascii_alphabetic) => {
                Ok(Self(code.map(|b| b.to_ascii_uppercase())))
            }
            _ => Err(CoreError::InvalidCurrency(
                "currency must be a three-letter ISO 4217 code such as EUR".into(),
            )),
        }
    }

    /// The code as a string slice, for example `EUR`.
    pub fn as_str(&self) -> &str {
        // The bytes are ASCII letters by construction; `XXX`, the ISO code for
        // "no currency", is only a fallback that cannot occur.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Currency").field(&self.as_str()).finish()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money in a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Revenue {
    /// The amount in millionths of the currency unit; `12.5` is `12_500_000`.
    pub amount_micros: i64,
    /// The currency of the amount.
    pub currency: Currency,
}

/// Parses a revenue amount into micro-units.
///
/// Accepted are JSON numbers (`12.5`, `-3`, `1e3`) and strings holding a plain
/// decimal number (`"12.5"`, `"-3"`, `" 0.99 "`; no exponent, no thousands
/// separators). The result is rounded half away from zero at the sixth decimal
/// and must be at most [`MAX_AMOUNT`] in absolute value. Anything else, including
/// `NaN` and infinities, booleans, `null`, arrays and objects, is
/// [`CoreError::InvalidRevenue`].
pub fn parse_amount(value: &Value) -> Result<i64, CoreError> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return micros_from_integer(i128::from(i));
            }
            if let Some(u) = n.as_u64() {
                return micros_from_integer(i128::from(u));
            }
            // The textual form of a float is the shortest one that round-trips,
            // so converting it as a decimal gives the value the sender wrote.
            decimal_to_micros(&n.to_string(), true)
        }
        Value::String(s) => decimal_to_micros(s.trim(), false),
        _ => Err(not_a_number()),
    }
}

/// Parses the optional revenue of an event.
///
/// Both parts absent gives `Ok(None)`; a `null` amount and a blank currency count
/// as absent. One part without the other is an error, and so is an invalid part.
pub fn parse_revenue(
    amount: Option<&Value>,
    currency: Option<&str>,
) -> Result<Option<Revenue>, CoreError> {
    let amount = amount.filter(|v| !v.is_null());
    let currency = currency.filter(|c| !c.trim().is_empty());
    match (amount, currency) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(CoreError::InvalidCurrency(
            "currency is required when revenue is given".into(),
        )),
        (None, Some(_)) => Err(CoreError::InvalidRevenue(
            "revenue amount is required when currency is given".into(),
        )),
        (Some(amount), Some(currency)) => Ok(Some(Revenue {
            amount_micros: parse_amount(amount)?,
            currency: Currency::parse(currency)?,
        })),
    }
}

/// The error for input that is not a number at all.
fn not_a_number() -> CoreError {
    CoreError::InvalidRevenue("revenue amount must be a number or a decimal string".into())
}

/// The error for numbers beyond [`MAX_AMOUNT`].
fn out_of_range() -> CoreError {
    CoreError::InvalidRevenue(format!(
        "revenue amount must be at most {MAX_AMOUNT} in absolute value"
    ))
}

/// Converts a whole number of currency units to micro-units, checking the range.
fn micros_from_integer(units: i128) -> Result<i64, CoreError> {
    if units.unsigned_abs() > u128::from(MAX_AMOUNT.unsigned_abs()) {
        return Err(out_of_range());
    }
    i64::try_from(units * i128::from(MICROS_PER_UNIT)).map_err(|_| out_of_range())
}

/// Converts decimal text (`-12.345`, and `1.5e-3` when `allow_exponent`) to
/// micro-units, rounding half away from zero.
fn decimal_to_micros(text: &str, allow_exponent: bool) -> Result<i64, CoreError> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            pos += 1;
            true
        }
        Some(b'+') => {
            pos += 1;
            false
        }
        _ => false,
    };

    // The significant digits, integer and fraction part together, with leading
    // zeros dropped (only the first few are kept: no more can matter), their
    // count, and how many digits came after the decimal point.
    let mut digits: Vec<u8> = Vec::new();
    let mut digit_count: i64 = 0;
    let mut fraction_len: i64 = 0;
    let mut seen_digit = false;
    let mut seen_point = false;
    while let Some(&b) = bytes.get(pos) {
        match b {
            b'0'..=b'9' => {
                seen_digit = true;
                if seen_point {
                    fraction_len = fraction_len.saturating_add(1);
                }
                // Leading zeros carry no value; after the point they still shift
                // it, which `fraction_len` accounts for.
                if !(digit_count == 0 && b == b'0') {
                    digit_count = digit_count.saturating_add(1);
                    if digits.len() < KEPT_DIGITS {
                        digits.push(b - b'0');
                    }
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        pos += 1;
    }
    if !seen_digit {
        return Err(not_a_number());
    }

    let mut exponent: i64 = 0;
    if let Some(b'e' | b'E') = bytes.get(pos) {
        if !allow_exponent {
            return Err(not_a_number());
        }
        pos += 1;
        let exp_negative = match bytes.get(pos) {
            Some(b'-') => {
                pos += 1;
                true
            }
            Some(b'+') => {
                pos += 1;
                false
            }
            _ => false,
        };
        let mut seen_exp_digit = false;
        while let Some(&b) = bytes.get(pos) {
            if !b.is_ascii_digit() {
                break;
            }
            seen_exp_digit = true;
            exponent = (exponent * 10 + i64::from(b - b'0')).min(MAX_EXPONENT);
            pos += 1;
        }
        if !seen_exp_digit {
            return Err(not_a_number());
        }
        if exp_negative {
            exponent = -exponent;
        }
    }
    if pos != bytes.len() {
        return Err(not_a_number());
    }
    if digit_count == 0 {
        return Ok(0);
    }

    // value = digits * 10^(exponent - fraction_len); in micro-units the power of
    // ten grows by six.
    let shift = exponent.saturating_sub(fraction_len).saturating_add(6);
    // The number of digits of the integer part of the value in micro-units.
    let integer_digits = digit_count.saturating_add(shift);
    if integer_digits > MAX_AMOUNT_MICROS_DIGITS {
        return Err(out_of_range());
    }
    let mut magnitude: u128 = 0;
    if shift >= 0 {
        // At most 19 digits in total, so this fits easily.
        for &d in &digits {
            magnitude = magnitude * 10 + u128::from(d);
        }
        for _ in 0..shift {
            magnitude *= 10;
        }
    } else {
        // When the integer part has no digits at all, the first dropped digit is
        // an implied zero and the value rounds to zero.
        if let Ok(keep) = usize::try_from(integer_digits) {
            for &d in digits.iter().take(keep) {
                magnitude = magnitude * 10 + u128::from(d);
            }
            // Half away from zero: only the first dropped digit decides.
            if digits.get(keep).is_some_and(|&d| d >= 5) {
                magnitude += 1;
            }
        }
    }
    if magnitude > MAX_AMOUNT_MICROS {
        return Err(out_of_range());
    }
    let signed = i64::try_from(magnitude).map_err(|_| out_of_range())?;
    Ok(if negative { -signed } else { signed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn amount(v: Value) -> Result<i64, CoreError> {
        parse_amount(&v)
    }

    #[test]
    fn currencies_are_three_letters_upper_cased() {
        assert_eq!(Currency::parse("eur").unwrap().as_str(), "EUR");
        assert_eq!(Currency::parse(" Usd ").unwrap().to_string(), "USD");
        assert_eq!(
            format!("{:?}", Currency::parse("jpy").unwrap()),
            "Currency(\"JPY\")"
        );
        for bad in ["", "EU", "EURO", "E1R", "€€€", "ÄÖÜ", "e u", "US$"] {
            assert!(
                matches!(Currency::parse(bad), Err(CoreError::InvalidCurrency(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn numbers_become_micro_units() {
        assert_eq!(amount(json!(12.5)), Ok(12_500_000));
        assert_eq!(amount(json!(-3)), Ok(-3_000_000));
        assert_eq!(amount(json!(0)), Ok(0));
        assert_eq!(amount(json!(0.1)), Ok(100_000));
        assert_eq!(amount(json!(19.99)), Ok(19_990_000));
        assert_eq!(amount(json!(1e3)), Ok(1_000_000_000));
        assert_eq!(
            amount(json!(1_000_000_000_000_i64)),
            Ok(1_000_000_000_000_000_000)
        );
        assert_eq!(amount(json!(-1e12)), Ok(-1_000_000_000_000_000_000));
        assert_eq!(amount(json!(u64::MAX)).ok(), None);
        assert_eq!(amount(json!(i64::MIN)).ok(), None);
        assert_eq!(amount(json!(1e300)).ok(), None);
        assert_eq!(amount(json!(1e-300)), Ok(0));
        assert_eq!(
            amount(serde_json::from_str("1E+3").unwrap()),
            Ok(1_000_000_000)
        );
    }

    #[test]
    fn rounding_is_half_away_from_zero_at_the_sixth_decimal() {
        assert_eq!(amount(json!(0.0000005)), Ok(1));
        assert_eq!(amount(json!(-0.0000005)), Ok(-1));
        assert_eq!(amount(json!(0.00000049)), Ok(0));
        assert_eq!(amount(json!(0.00000005)), Ok(0));
        assert_eq!(amount(json!("0.00000099")), Ok(1));
        assert_eq!(amount(json!("0.000000999")), Ok(1));
        assert_eq!(amount(json!("0.0000000999")), Ok(0));
        assert_eq!(amount(json!("1.2345675")), Ok(1_234_568));
        assert_eq!(amount(json!("-1.2345675")), Ok(-1_234_568));
        assert_eq!(amount(json!("2.9999995")), Ok(3_000_000));
        assert_eq!(amount(json!("0.9999994")), Ok(999_999));
    }

    #[test]
    fn decimal_strings_are_accepted() {
        assert_eq!(amount(json!("12.5")), Ok(12_500_000));
        assert_eq!(amount(json!(" -3 ")), Ok(-3_000_000));
        assert_eq!(amount(json!("+4.")), Ok(4_000_000));
        assert_eq!(amount(json!(".25")), Ok(250_000));
        assert_eq!(amount(json!("000012.500000000000")), Ok(12_500_000));
        assert_eq!(
            amount(json!("1000000000000")),
            Ok(1_000_000_000_000_000_000)
        );
        assert_eq!(
            amount(json!("1000000000000.0000004")),
            Ok(1_000_000_000_000_000_000)
        );
        assert!(amount(json!("1000000000000.0000005")).is_err());
        assert!(amount(json!("1000000000001")).is_err());
    }

    #[test]
    fn non_numbers_are_refused() {
        for bad in [
            json!("1e3"),
            json!(""),
            json!("."),
            json!("-"),
            json!("abc"),
            json!("NaN"),
            json!("inf"),
            json!("-Infinity"),
            json!("1,000"),
            json!("1 000"),
            json!("12.5.1"),
            json!("0x10"),
            json!("12€"),
            json!(true),
            json!(null),
            json!([1]),
            json!({"amount": 1}),
        ] {
            assert!(
                matches!(parse_amount(&bad), Err(CoreError::InvalidRevenue(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn revenue_needs_both_parts() {
        assert_eq!(parse_revenue(None, None), Ok(None));
        assert_eq!(parse_revenue(Some(&Value::Null), Some(" ")), Ok(None));
        assert!(matches!(
            parse_revenue(Some(&json!(1)), None),
            Err(CoreError::InvalidCurrency(m)) if m == "currency is required when revenue is given"
        ));
        assert!(matches!(
            parse_revenue(None, Some("EUR")),
            Err(CoreError::InvalidRevenue(m))
                if m == "revenue amount is required when currency is given"
        ));
        assert_eq!(
            parse_revenue(Some(&json!("9.99")), Some("usd")),
            Ok(Some(Revenue {
                amount_micros: 9_990_000,
                currency: Currency::parse("USD").unwrap(),
            }))
        );
        assert!(parse_revenue(Some(&json!("x")), Some("usd")).is_err());
        assert!(parse_revenue(Some(&json!(1)), Some("dollars")).is_err());
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,30}".prop_map(Value::String),
            "[-+]?[0-9]{0,25}(\\.[0-9]{0,25})?([eE][-+]?[0-9]{0,4})?".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::hash_map(".{0,5}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn currency_parse_never_panics(raw in any::<String>()) {
            if let Ok(c) = Currency::parse(&raw) {
                prop_assert_eq!(c.as_str().len(), 3);
                prop_assert!(c.as_str().bytes().all(|b| b.is_ascii_uppercase()));
                prop_assert!(c.as_str().eq_ignore_ascii_case(raw.trim()));
            }
        }

        #[test]
        fn parse_amount_never_panics_and_stays_in_range(value in arbitrary_json()) {
            if let Ok(micros) = parse_amount(&value) {
                prop_assert!(micros.unsigned_abs() <= MAX_AMOUNT.unsigned_abs() * 1_000_000);
            }
        }

        #[test]
        fn string_amounts_never_panic(raw in any::<String>()) {
            let _ = parse_amount(&Value::String(raw));
        }

        #[test]
        fn amounts_match_float_arithmetic_closely(x in -1e12f64..1e12f64) {
            let micros = parse_amount(&json!(x)).unwrap();
            let expected = (x * 1e6).round();
            // Exact decimal rounding and float rounding agree up to float error.
            prop_assert!((micros as f64 - expected).abs() <= 1.0 + expected.abs() * 1e-15);
        }

        #[test]
        fn integers_and_their_strings_agree(n in -1_000_000_000_000i64..=1_000_000_000_000i64) {
            prop_assert_eq!(parse_amount(&json!(n)), Ok(n * 1_000_000));
            prop_assert_eq!(parse_amount(&json!(n.to_string())), Ok(n * 1_000_000));
        }

        #[test]
        fn micro_precision_strings_round_trip(
            units in -999_999_999_999i64..=999_999_999_999i64,
            micros in 0i64..1_000_000,
        ) {
            let sign = if units < 0 { "-" } else { "" };
            let text = format!("{sign}{}.{micros:06}", units.unsigned_abs());
            let expected = units * 1_000_000 + if units < 0 { -micros } else { micros };
            prop_assert_eq!(parse_amount(&json!(text)), Ok(expected));
        }
    }
}
