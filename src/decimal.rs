//! Exact decimal values: parsing, formatting and rounding of scaled integers.
//!
//! Every measure has a fixed scale (decimal places). Inside duckgrid a value is
//! an integer count of the measure's smallest unit ([`Units`]): 1234.50 at
//! scale 2 is `123450`. On the wire values are decimal strings. No binary
//! floating point is ever involved, so money round-trips to the cent.

use crate::error::quoted;

/// A value in the smallest unit of its measure (cents for scale 2).
pub type Units = i128;

/// The largest number of significant digits a stored value may have: facts are
/// `DECIMAL(18, scale)` (or `BIGINT`) in DuckDB.
pub const MAX_DIGITS: u32 = 18;

/// Why a decimal string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("is empty")]
    Empty,
    #[error("{} is not a decimal number (expected digits, an optional sign and point)", quoted(.0))]
    Syntax(String),
    #[error("{} has more than {scale} decimal places", quoted(.value))]
    TooPrecise { value: String, scale: u32 },
    #[error("{} is out of range (at most {MAX_DIGITS} digits)", quoted(.0))]
    OutOfRange(String),
}

/// 10^exp as `Units`.
pub fn pow10(exp: u32) -> Units {
    10i128.pow(exp)
}

/// Parses a decimal string ("-12.5", "3", "0.07") into units at `scale`.
///
/// Refuses anything that is not plain decimal notation: exponents, `NaN`,
/// infinities, blanks, and more decimal places than the scale (silently
/// rounding a user's input would be a lie about what was stored).
pub fn parse(text: &str, scale: u32) -> Result<Units, DecimalError> {
    let (units, digits_scale) = parse_any(text, scale)?;
    // parse_any already guarantees digits_scale <= scale.
    let units = units * pow10(scale - digits_scale);
    if units.abs() >= pow10(MAX_DIGITS) {
        return Err(DecimalError::OutOfRange(text.to_owned()));
    }
    Ok(units)
}

/// Parses a decimal string with at most `max_scale` decimal places, returning
/// the digits as an integer and the number of decimal places it had.
pub fn parse_any(text: &str, max_scale: u32) -> Result<(Units, u32), DecimalError> {
    if text.is_empty() {
        return Err(DecimalError::Empty);
    }
    let syntax = || DecimalError::Syntax(text.to_owned());
    let (negative, body) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(syntax());
    }
    let frac_trimmed = frac_part.trim_end_matches('0');
    let frac_len = frac_trimmed.len() as u32;
    if frac_len > max_scale {
        return Err(DecimalError::TooPrecise {
            value: text.to_owned(),
            scale: max_scale,
        });
    }
    let int_trimmed = int_part.trim_start_matches('0');
    if int_trimmed.len() as u32 + frac_len > MAX_DIGITS + 2 {
        return Err(DecimalError::OutOfRange(text.to_owned()));
    }
    let mut units: Units = 0;
    for b in int_trimmed.bytes().chain(frac_trimmed.bytes()) {
        units = units * 10 + Units::from(b - b'0');
    }
    Ok((if negative { -units } else { units }, frac_len))
}

/// Formats units at `scale` with exactly `scale` decimal places.
///
/// Digit by digit into a stack buffer (a full grid formats hundreds of
/// thousands of values per read; the `fmt` machinery cost several times
/// more).
pub fn format(units: Units, scale: u32) -> String {
    let mut out = String::new();
    format_into(units, scale, &mut out);
    out
}

/// [`format`], appended to `out` (an encoder reuses one buffer).
pub fn format_into(units: Units, scale: u32, out: &mut String) {
    let mut digits = [0u8; 48];
    let mut i = digits.len();
    let abs = units.unsigned_abs();
    if let Ok(mut n) = u64::try_from(abs) {
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
    } else {
        let mut n = abs;
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
    }
    // At least one digit before the point.
    while digits.len() - i < scale as usize + 1 {
        i -= 1;
        digits[i] = b'0';
    }
    let int_end = digits.len() - scale as usize;
    out.reserve(digits.len() - i + 2);
    if units < 0 {
        out.push('-');
    }
    let ascii = |bytes| std::str::from_utf8(bytes).expect("ASCII digits");
    out.push_str(ascii(&digits[i..int_end]));
    if scale > 0 {
        out.push('.');
        out.push_str(ascii(&digits[int_end..]));
    }
}

/// `num / den` rounded half away from zero. `den` must not be zero.
pub fn div_round(num: Units, den: Units) -> Units {
    let (num, den) = if den < 0 { (-num, -den) } else { (num, den) };
    let q = num / den;
    let r = num % den;
    if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    }
}

/// `num / den` rounded towards negative infinity, with the (non-negative)
/// remainder. `den` must be positive.
pub fn div_floor(num: Units, den: Units) -> (Units, Units) {
    debug_assert!(den > 0);
    (num.div_euclid(den), num.rem_euclid(den))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_plain_decimals() {
        assert_eq!(parse("12.5", 2), Ok(1250));
        assert_eq!(parse("-0.07", 2), Ok(-7));
        assert_eq!(parse("+3", 0), Ok(3));
        assert_eq!(parse("3.", 2), Ok(300));
        assert_eq!(parse(".5", 2), Ok(50));
        assert_eq!(
            parse("1.500", 2),
            Ok(150),
            "trailing zeros are not precision"
        );
        assert_eq!(parse("007", 0), Ok(7));
    }

    #[test]
    fn refuses_what_is_not_an_exact_decimal() {
        for bad in [
            "",
            "-",
            ".",
            "1e3",
            "NaN",
            "inf",
            "-Infinity",
            " 1",
            "1 ",
            "1,5",
            "0x10",
            "--1",
        ] {
            assert!(parse(bad, 2).is_err(), "{bad:?} should be refused");
        }
        assert!(matches!(
            parse("1.234", 2),
            Err(DecimalError::TooPrecise { .. })
        ));
        assert!(matches!(
            parse("0.5", 0),
            Err(DecimalError::TooPrecise { .. })
        ));
        assert!(matches!(
            parse("1000000000000000000", 0),
            Err(DecimalError::OutOfRange(_))
        ));
        assert!(matches!(
            parse("99999999999999999999999999", 2),
            Err(DecimalError::OutOfRange(_))
        ));
    }

    #[test]
    fn formats_with_the_measure_scale() {
        assert_eq!(format(123450, 2), "1234.50");
        assert_eq!(format(-7, 2), "-0.07");
        assert_eq!(format(0, 2), "0.00");
        assert_eq!(format(42, 0), "42");
        assert_eq!(format(-42, 0), "-42");
        assert_eq!(format(5, 3), "0.005");
        assert_eq!(format(-5, 3), "-0.005");
        assert_eq!(format(Units::MAX, 0), Units::MAX.to_string());
        assert_eq!(
            format(-(10i128.pow(30)) - 7, 2),
            format!("-1{}.07", "0".repeat(28))
        );
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -3);
        assert_eq!(div_round(4, 3), 1);
        assert_eq!(div_round(-4, 3), -1);
        assert_eq!(div_round(7, -2), -4);
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(units in -999_999_999_999_999_999i128..=999_999_999_999_999_999, scale in 0u32..=4) {
            prop_assert_eq!(parse(&format(units, scale), scale), Ok(units));
        }
    }
}
