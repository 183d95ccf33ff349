//! What a flag's value means. The parsers are clap value parsers (their
//! error text follows clap's "invalid value for --flag: ..."); each
//! `format_*` writes a value the way its parser reads it back, which is how
//! `--help` shows defaults taken from constants (`30s`, `5m`, `8MiB`).

use rendezvous_core::Fingerprint;
use rendezvous_core::matchmaker;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// The units a duration is written in, largest first.
const DURATION_UNITS: [(&str, Duration); 3] = [
    ("h", Duration::from_secs(3600)),
    ("m", Duration::from_secs(60)),
    ("s", Duration::from_secs(1)),
];

/// The units a size is written in, largest first (powers of 1024).
const SIZE_UNITS: [(&str, usize); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];

/// Parses `127.0.0.1:5000`, `localhost:5000` (the matchmaker's rules).
pub fn parse_address(text: &str) -> Result<SocketAddr, String> {
    matchmaker::parse_address(text)
}

/// Parses a signature fingerprint in hex, with or without `0x`.
pub fn parse_fingerprint(text: &str) -> Result<Fingerprint, String> {
    let digits = text.trim_start_matches("0x");
    u64::from_str_radix(digits, 16)
        .map(Fingerprint)
        .map_err(|_| format!("expected a hex fingerprint such as 0x1f2e3d4c5b6a7988, got {text:?}"))
}

/// Parses `1048576`, `512KiB`, `8MiB`, `1GiB` (also `K`, `M`, `G`: powers of 1024).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (value, unit): (usize, _) =
        number_and_unit(text, "a size such as 8MiB, 512KiB or 1048576")?;
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        other => return Err(format!("unknown unit {other:?}; use KiB, MiB or GiB")),
    };
    value
        .checked_mul(scale)
        .ok_or_else(|| format!("{text} is too large"))
}

/// Writes `bytes` in the largest unit that holds it exactly (`8MiB`,
/// `512KiB`, `1000`); [`parse_bytes`] reads it back.
pub fn format_bytes(bytes: usize) -> String {
    SIZE_UNITS
        .iter()
        .find(|(_, scale)| bytes != 0 && bytes % scale == 0)
        .map_or_else(
            || bytes.to_string(),
            |(unit, scale)| format!("{}{unit}", bytes / scale),
        )
}

/// Parses `250ms`, `30s`, `2m`, `1h` (a bare number means seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (value, unit): (u64, _) = number_and_unit(text, "a duration such as 500ms, 30s or 2m")?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "" | "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        "h" => Duration::from_secs(value.saturating_mul(3600)),
        other => return Err(format!("unknown unit {other:?}; use ms, s, m or h")),
    };
    if duration.is_zero() {
        return Err("a duration must be longer than zero".into());
    }
    Ok(duration)
}

/// Writes `duration` in the largest unit that holds it exactly (`5m`,
/// `30s`, `250ms`; below a millisecond, rounded down to one);
/// [`parse_duration`] reads it back.
pub fn format_duration(duration: Duration) -> String {
    let whole = |unit: Duration| duration.as_nanos() % unit.as_nanos() == 0;
    match DURATION_UNITS
        .iter()
        .find(|(_, unit)| !duration.is_zero() && whole(*unit))
    {
        Some((name, unit)) => format!("{}{name}", duration.as_secs() / unit.as_secs()),
        None => format!("{}ms", duration.as_millis()),
    }
}

/// The number `text` starts with and the unit after it (`512KiB` is
/// `(512, "KiB")`, `7` is `(7, "")`); without a number, "expected
/// {expected}" and the text.
fn number_and_unit<'a, T: FromStr>(text: &'a str, expected: &str) -> Result<(T, &'a str), String> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let value = number
        .parse()
        .map_err(|_| format!("expected {expected}, got {text:?}"))?;
    Ok((value, unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("3 fortnights").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("512KiB"), Ok(512 << 10));
        assert_eq!(parse_bytes("8MiB"), Ok(8 << 20));
        assert_eq!(parse_bytes("8M"), Ok(8 << 20));
        assert!(parse_bytes("8 parsecs").is_err());
    }

    #[test]
    fn durations_are_written_in_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_micros(2500)), "2ms");
    }

    #[test]
    fn sizes_are_written_in_the_largest_exact_unit() {
        assert_eq!(format_bytes(8 << 20), "8MiB");
        assert_eq!(format_bytes(1536 << 10), "1536KiB");
        assert_eq!(format_bytes(2 << 30), "2GiB");
        assert_eq!(format_bytes(1000), "1000");
        assert_eq!(format_bytes(0), "0");
    }

    #[test]
    fn what_is_written_reads_back_as_the_same_value() {
        for duration in [1, 30, 90, 300, 3600, 5400].map(Duration::from_secs) {
            assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }
        assert_eq!(
            parse_duration(&format_duration(Duration::from_millis(250))),
            Ok(Duration::from_millis(250))
        );
        for bytes in [1, 1000, 1 << 10, 8 << 20, 1536 << 10, 3 << 30] {
            assert_eq!(parse_bytes(&format_bytes(bytes)), Ok(bytes));
        }
    }
}
