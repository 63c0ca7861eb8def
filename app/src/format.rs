//! Formatting helpers shared by pages.

/// `93784` → `1d 2h 3m`; under a minute → `42s`.
pub fn duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m {}s", secs % 60),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, m) => format!("{d}d {h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_durations() {
        assert_eq!(super::duration(0), "0s");
        assert_eq!(super::duration(59), "59s");
        assert_eq!(super::duration(61), "1m 1s");
        assert_eq!(super::duration(3600), "1h 0m");
        assert_eq!(super::duration(93_784), "1d 2h 3m");
    }
}
