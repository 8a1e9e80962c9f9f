//! The memory budget: what a run, a compile, a training or a file read may
//! allocate, checked against an estimate before allocating, so that a huge
//! setting stops with an error naming the setting instead of an abort
//! ("memory allocation of N bytes failed").
//!
//! The budget is `--max-memory` when given, otherwise the memory the system
//! reports available (`MemAvailable` in `/proc/meminfo`), otherwise
//! unlimited.

use std::sync::atomic::{AtomicU64, Ordering};

/// The budget set with [`set_max_memory`]; 0 = not set.
static MAX_MEMORY: AtomicU64 = AtomicU64::new(0);

/// Sets the budget in bytes (`--max-memory`).
pub fn set_max_memory(bytes: u64) {
    MAX_MEMORY.store(bytes.max(1), Ordering::Relaxed);
}

/// The memory the system reports available, in bytes, if it says.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The budget in bytes, and where it comes from.
pub fn limit() -> (u64, &'static str) {
    match MAX_MEMORY.load(Ordering::Relaxed) {
        0 => match available_memory() {
            Some(b) => (b, "the memory available"),
            None => (u64::MAX, "unlimited"),
        },
        b => (b, "--max-memory"),
    }
}

/// `bytes` for people: `1.5 GiB`, `12.0 MiB`, `900 bytes`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut v = bytes as f64;
    let mut unit = "";
    for u in UNITS {
        v /= 1024.0;
        unit = u;
        if v < 1024.0 {
            break;
        }
    }
    format!("{v:.1} {unit}")
}

/// Parses a size: a number of bytes with an optional unit `K`, `M`, `G`,
/// `T` (powers of 1024; `KiB`, `MB`, ... and lower case are accepted too).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (for example 512M or 4G)"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1u64,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{text}`; use K, M, G or T"
            ))
        }
    };
    let bytes = value * scale as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("`{text}` is not a usable memory size"));
    }
    Ok(bytes as u64)
}

/// Checks an estimate against the budget. `what` says what needs the
/// memory, `driver` which setting makes it that large; both go into the
/// error.
pub fn check(bytes: u64, what: &str, driver: &str) -> Result<(), String> {
    let (limit, source) = limit();
    check_against(bytes, limit, source, what, driver)
}

fn check_against(
    bytes: u64,
    limit: u64,
    source: &str,
    what: &str,
    driver: &str,
) -> Result<(), String> {
    if bytes <= limit {
        return Ok(());
    }
    Err(format!(
        "{what} needs about {}, more than the memory budget of {} ({source}); {driver} \
         (or raise the budget with --max-memory)",
        human(bytes),
        human(limit)
    ))
}

/// `a * b * ...` saturating at `u64::MAX`: estimates of absurd settings
/// must not overflow into small numbers.
pub fn product(factors: &[u64]) -> u64 {
    factors.iter().fold(1u64, |a, &b| a.saturating_mul(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_powers_of_1024() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("2 MiB"), Ok(2 << 20));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3X").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(900), "900 bytes");
        assert_eq!(human(3 << 29), "1.5 GiB");
        assert_eq!(human(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn products_saturate() {
        assert_eq!(product(&[u64::MAX, 2]), u64::MAX);
        assert_eq!(product(&[3, 4]), 12);
    }

    #[test]
    fn an_estimate_over_the_budget_names_the_setting() {
        // (The process-wide budget is left alone: other tests read files.)
        let (limit, source) = (1 << 20, "--max-memory");
        assert!(check_against(1 << 19, limit, source, "x", "y").is_ok());
        let e = check_against(
            3 << 29,
            limit,
            source,
            "the probe recording",
            "lower `steps`",
        )
        .unwrap_err();
        assert!(e.contains("needs about 1.5 GiB"), "{e}");
        assert!(e.contains("budget of 1.0 MiB (--max-memory)"), "{e}");
        assert!(e.contains("lower `steps`"), "{e}");
    }
}
