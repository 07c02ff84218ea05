//! Mesos' JSON input rules: numbers may arrive as numeric strings, doubles may be
//! `"Infinity"`, and `bytes` fields are standard base64.

use base64::Engine;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;

struct F64Visitor;

impl<'de> Visitor<'de> for F64Visitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or a numeric string")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        match v.trim() {
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            s => s
                .parse::<f64>()
                .map_err(|_| E::custom(format!("'{v}' is not a number"))),
        }
    }
}

/// Deserialize an `f64` from a JSON number or numeric string.
pub fn f64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(F64Visitor)
}

/// Deserialize an optional `f64` (null means unset).
pub fn opt_f64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct OptVisitor;
    impl<'de> Visitor<'de> for OptVisitor {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number, a numeric string or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(F64Visitor).map(Some)
        }
    }
    d.deserialize_option(OptVisitor)
}

fn to_int<E: de::Error>(v: f64) -> Result<i64, E> {
    if v.fract() != 0.0 || !v.is_finite() {
        return Err(E::custom(format!("{v} is not an integer")));
    }
    Ok(v as i64)
}

/// Deserialize an `i64` from a JSON number or numeric string.
pub fn i64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    to_int(d.deserialize_any(F64Visitor)?)
}

/// Deserialize a `u64` from a JSON number or numeric string.
pub fn u64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = i64_lenient(d)?;
    u64::try_from(v).map_err(|_| de::Error::custom(format!("{v} is negative")))
}

/// Deserialize a `u32` from a JSON number or numeric string.
pub fn u32_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = i64_lenient(d)?;
    u32::try_from(v).map_err(|_| de::Error::custom(format!("{v} is out of range")))
}

pub fn b64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn b64_decode(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| "Failed to base64 decode bytes field".to_string())
}

/// Parse a Mesos duration string (`<number><unit>`, unit one of `ns`, `us`, `ms`, `secs`,
/// `mins`, `hrs`, `days`, `weeks`, as stout's `Duration::parse`) into seconds.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            format!("Invalid duration '{text}': missing unit (ns|us|ms|secs|mins|hrs|days|weeks)")
        })?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("Invalid duration '{text}': '{num}' is not a number"))?;
    let scale = match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "secs" => 1.0,
        "mins" => 60.0,
        "hrs" => 3600.0,
        "days" => 86400.0,
        "weeks" => 604800.0,
        other => return Err(format!("Invalid duration '{text}': unknown unit '{other}'")),
    };
    let secs = value * scale;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("Invalid duration '{text}'"));
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_mesos() {
        assert_eq!(parse_duration("5secs").unwrap(), 5.0);
        assert_eq!(parse_duration("1mins").unwrap(), 60.0);
        assert_eq!(parse_duration("100ms").unwrap(), 0.1);
        assert!(parse_duration("2").is_err(), "Mesos requires a unit");
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("abc").is_err());
    }
}
