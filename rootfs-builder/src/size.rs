//! Parsing and printing of human-friendly byte sizes ("64M", "1G", "1048576").

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SizeError {
    #[error("invalid size '{0}': expected a number of bytes or a number with a K, M, G or T suffix (e.g. 64M, 1G)")]
    Invalid(String),
    #[error("size '{0}' is too large")]
    Overflow(String),
}

/// Parse "4096", "64M", "1.5G", "512KiB" (binary units, as mke2fs uses).
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(SizeError::Invalid(text.to_string())),
    };
    if num.is_empty() || num.matches('.').count() > 1 || num == "." {
        return Err(SizeError::Invalid(text.to_string()));
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    let int: u64 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| SizeError::Overflow(text.to_string()))?
    };
    let mut bytes =
        int.checked_mul(1u64 << shift).ok_or_else(|| SizeError::Overflow(text.to_string()))?;
    if !frac_part.is_empty() {
        // Fractions only make sense with a unit; "1.5" bytes is nonsense.
        if shift == 0 {
            return Err(SizeError::Invalid(text.to_string()));
        }
        let digits = &frac_part[..frac_part.len().min(9)];
        let frac: u64 = digits.parse().map_err(|_| SizeError::Invalid(text.to_string()))?;
        let scale = 10u64.pow(digits.len() as u32);
        let extra = (frac as u128 * (1u128 << shift) / scale as u128) as u64;
        bytes = bytes.checked_add(extra).ok_or_else(|| SizeError::Overflow(text.to_string()))?;
    }
    Ok(bytes)
}

/// Render a byte count the way a person would write it: "12 MiB", "1.5 GiB".
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value.fract() < 0.05 || value >= 100.0 {
        format!("{:.0} {}", value, UNITS[unit])
    } else {
        format!("{:.1} {}", value, UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert!(parse_size("").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("12X").is_err());
        assert!(parse_size("1.5").is_err());
        assert!(parse_size("99999999999999999999T").is_err());
    }

    #[test]
    fn renders() {
        assert_eq!(human(12 << 20), "12 MiB");
        assert_eq!(human(1536 << 20), "1.5 GiB");
        assert_eq!(human(100), "100 B");
    }
}
