//! Formatting helpers shared by pages.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

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

/// Text from outside (registry entries) made safe to show as a text node: control characters
/// other than line breaks and tabs become their visible "control picture" (U+2400…), and
/// bidirectional overrides and isolates (which could make text read in a misleading order)
/// become U+FFFD. Escaping of `<`, `&`… is the renderer's job: this text only ever goes into
/// text nodes.
pub fn shown(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
            '\u{7f}' => '\u{2421}',
            '\u{80}'..='\u{9f}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// The URL when it is an absolute http(s) URL fit for a link (no spaces or control
/// characters); `None` for anything else (`javascript:`, relative paths…).
pub fn web_link(raw: &str) -> Option<&str> {
    let url = raw.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
    let rest_ok = url.len() > "http://".len()
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    (scheme_ok && rest_ok).then_some(url)
}

/// Splits `text` into pieces, each marked `true` when it is one of `placeholders` (which an
/// operator must replace). Longer placeholders win where they overlap.
pub fn placeholder_pieces(text: &str, placeholders: &[String]) -> Vec<(String, bool)> {
    let mut marks: Vec<&str> = placeholders
        .iter()
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .collect();
    marks.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let mut pieces: Vec<(String, bool)> = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(m) = marks.iter().find(|m| rest.starts_with(**m)) {
            if !plain.is_empty() {
                pieces.push((std::mem::take(&mut plain), false));
            }
            pieces.push(((*m).to_owned(), true));
            rest = &rest[m.len()..];
        } else {
            let c = rest.chars().next().unwrap_or_default();
            plain.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    if !plain.is_empty() {
        pieces.push((plain, false));
    }
    pieces
}

/// Placeholders in `text` an operator must replace (the service layer's own rules).
pub use types::catalog::placeholders;

/// A duration in milliseconds for people: `0.4 ms`, `12 ms`, `1.25 s`.
pub fn millis(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        "—".to_owned()
    } else if ms < 10.0 {
        format!("{} ms", fixed(ms, 1))
    } else if ms < 1000.0 {
        format!("{} ms", fixed(ms, 0))
    } else {
        format!("{} s", fixed(ms / 1000.0, 2))
    }
}

/// `v` with `decimals` digits after the point (at most 6): what `format!("{v:.2}")` writes
/// (up to the last digit of an exact tie, rounded here half away from zero), done with
/// integer arithmetic, so the dashboard's own formatting does not call Rust's float formatter
/// (Grisu and Dragon4 with their tables; library code in the WASM still keeps one copy).
/// Values too large for an `i64` once scaled, and NaN, come out as zero; callers pass finite,
/// clamped values.
pub fn fixed(v: f64, decimals: u32) -> String {
    let decimals = decimals.min(6);
    let scale = 10u64.pow(decimals);
    // Scaled values up to 2^53 are exact integers in an f64.
    let n = (v * scale as f64).round();
    let n = if n.is_finite() && n.abs() < 9.0e15 {
        n as i64
    } else {
        0
    };
    let sign = if n < 0 { "-" } else { "" };
    let (int, frac) = (n.unsigned_abs() / scale, n.unsigned_abs() % scale);
    if decimals == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac:0width$}", width = decimals as usize)
    }
}

/// `2025-05-16 09:30:12 UTC`, or a dash.
pub fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "—".to_owned(), timestamp)
}

// Times are written with plain integer formatting rather than chrono's `format("%Y…")`, which
// parses its pattern at run time and brings that parser and its formatter into the WASM.

/// `2025-05-16 09:30:12 UTC`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    format!("{} {} UTC", day(t), clock_of(t))
}

/// `2025-05-16 09:30 UTC`.
pub fn minute(t: DateTime<Utc>) -> String {
    format!("{} {:02}:{:02} UTC", day(t), t.hour(), t.minute())
}

/// `2025-05-16 09:00 UTC (hour)`: the hour `t` falls in.
pub fn hour(t: DateTime<Utc>) -> String {
    format!("{} {:02}:00 UTC (hour)", day(t), t.hour())
}

/// `09:30:12 UTC`.
pub fn clock(t: DateTime<Utc>) -> String {
    format!("{} UTC", clock_of(t))
}

/// `09:30:12.345` (log lines).
pub fn clock_millis(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:03}",
        clock_of(t),
        t.nanosecond() % 1_000_000_000 / 1_000_000
    )
}

/// `05-16`.
pub fn month_day(t: DateTime<Utc>) -> String {
    format!("{:02}-{:02}", t.month(), t.day())
}

/// `09:30`.
pub fn hour_minute(t: DateTime<Utc>) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// `2025-05-16`.
fn day(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day())
}

/// `09:30:12`.
fn clock_of(t: DateTime<Utc>) -> String {
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// A day written `2025-05-16` (what a date input gives), or `None`.
pub fn parse_day(s: &str) -> Option<NaiveDate> {
    let mut parts = s.trim().splitn(3, '-');
    let year = parts.next()?.parse().ok()?;
    let month = parts.next()?.parse().ok()?;
    let day = parts.next()?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
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

    #[test]
    fn hostile_text_is_made_visible() {
        assert_eq!(super::shown("a\u{0}b\nc\u{1b}"), "a\u{2400}b\nc\u{241b}");
        assert_eq!(super::shown("x\u{202e}y"), "x\u{fffd}y");
        assert_eq!(super::shown("<script>"), "<script>");
    }

    #[test]
    fn only_http_urls_become_links() {
        assert_eq!(
            super::web_link(" https://a.example/x "),
            Some("https://a.example/x")
        );
        assert_eq!(
            super::web_link("HTTP://a.example"),
            Some("HTTP://a.example")
        );
        assert_eq!(super::web_link("javascript:alert(1)"), None);
        assert_eq!(super::web_link("//a.example"), None);
        assert_eq!(super::web_link("https://a.example/ x"), None);
        assert_eq!(super::web_link("http://"), None);
    }

    #[test]
    fn placeholders_are_found_like_the_server_finds_them() {
        assert_eq!(
            super::placeholders("--dir={dir} <path> ${TOKEN} $API_KEY x"),
            vec!["{dir}", "<path>", "${TOKEN}", "$API_KEY"]
        );
        assert!(super::placeholders("--port 8080 a<b $1 {}").is_empty());
    }

    #[test]
    fn formats_times_like_strftime() {
        let t = chrono::DateTime::parse_from_rfc3339("2025-05-06T09:03:07.045678Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        for (ours, pattern) in [
            (super::timestamp(t), "%Y-%m-%d %H:%M:%S UTC"),
            (super::minute(t), "%Y-%m-%d %H:%M UTC"),
            (super::hour(t), "%Y-%m-%d %H:00 UTC (hour)"),
            (super::clock(t), "%H:%M:%S UTC"),
            (super::clock_millis(t), "%H:%M:%S%.3f"),
            (super::hour_minute(t), "%H:%M"),
            (super::month_day(t), "%m-%d"),
        ] {
            assert_eq!(ours, t.format(pattern).to_string());
        }
        assert_eq!(super::when(None), "—");
    }

    #[test]
    fn parses_days() {
        assert_eq!(
            super::parse_day("2026-11-21"),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 21)
        );
        assert_eq!(super::parse_day("2026-02-30"), None);
        assert_eq!(super::parse_day("2026-11"), None);
        assert_eq!(super::parse_day("yesterday"), None);
    }

    #[test]
    fn formats_milliseconds() {
        assert_eq!(super::millis(0.42), "0.4 ms");
        assert_eq!(super::millis(12.4), "12 ms");
        assert_eq!(super::millis(1250.0), "1.25 s");
    }

    #[test]
    fn fixed_point_matches_rust_formatting() {
        // Exact ties differ (Rust rounds the exact binary value half to even): not tested.
        for v in [
            0.0, 0.04, 0.96, 1.0, 12.345, 99.999, 160.0, 576.06, -3.26, -0.04,
        ] {
            assert_eq!(
                super::fixed(v, 1),
                format!("{v:.1}").replace("-0.0", "0.0"),
                "{v}"
            );
            assert_eq!(
                super::fixed(v, 3),
                format!("{v:.3}").replace("-0.000", "0.000"),
                "{v}"
            );
            assert_eq!(
                super::fixed(v, 0),
                format!("{v:.0}").replace("-0", "0"),
                "{v}"
            );
        }
        assert_eq!(super::fixed(f64::NAN, 2), "0.00");
        assert_eq!(super::fixed(1e300, 1), "0.0");
    }

    #[test]
    fn placeholders_are_split_out() {
        let p = |t: &str, m: &[&str]| {
            super::placeholder_pieces(t, &m.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(
            p("--dir={dir}/x", &["{dir}"]),
            vec![
                ("--dir=".into(), false),
                ("{dir}".into(), true),
                ("/x".into(), false)
            ]
        );
        assert_eq!(
            p("${TOKEN}", &["${TOKEN}", "TOKEN"]),
            vec![("${TOKEN}".into(), true)]
        );
        assert_eq!(p("plain", &[]), vec![("plain".into(), false)]);
    }
}
