//! Terminal output helpers: untrusted text made safe to print, widths, colours.

use anstyle::{AnsiColor, Style};

/// Ledger text made safe for a terminal: control characters (escape sequences, carriage
/// returns, newlines) are shown as `\u{..}`-style escapes instead of being interpreted.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || ('\u{200b}'..='\u{200f}').contains(&c)
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c) =>
            {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// `s` cut to at most `width` characters, with `…` when cut.
pub fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut c: String = s.chars().take(width - 1).collect();
    c.push('…');
    c
}

/// `s` padded with spaces to `width` characters (after clipping).
pub fn pad(s: &str, width: usize) -> String {
    let s = clip(s, width);
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(width.saturating_sub(n)))
}

/// The colour of a verdict.
pub fn verdict_style(v: &str) -> Style {
    let c = match v {
        "allow" => AnsiColor::Green,
        "flag" => AnsiColor::Yellow,
        "ask" => AnsiColor::Magenta,
        "deny" | "refused" => AnsiColor::Red,
        _ => return Style::new(),
    };
    Style::new().fg_color(Some(c.into())).bold()
}

/// The colour of a risk.
pub fn risk_style(r: &str) -> Style {
    let c = match r {
        "low" => AnsiColor::Blue,
        "medium" => AnsiColor::Yellow,
        "high" => AnsiColor::BrightRed,
        "critical" => AnsiColor::Red,
        _ => return Style::new().dimmed(),
    };
    let s = Style::new().fg_color(Some(c.into()));
    if r == "critical" { s.bold() } else { s }
}

/// Writes `text` in `style` (anstream strips the codes when colour is off).
pub fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// Width of the terminal on stdout, if it is one.
pub fn terminal_width() -> Option<usize> {
    if let Some(cols) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(cols);
    }
    // SAFETY: TIOCGWINSZ fills a winsize struct we own; fd 1 is stdout.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0)
            .then_some(ws.ws_col as usize)
    }
}

/// `ts` (µs) as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn time(ts: i64) -> String {
    chrono::DateTime::from_timestamp_micros(ts)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ts.to_string())
}

/// `ts` (µs) as RFC 3339 UTC with milliseconds.
pub fn rfc3339(ts: i64) -> String {
    Rfc3339(ts).to_string()
}

/// A time in µs since the epoch shown as RFC 3339 UTC with milliseconds
/// (`2026-01-31T09:00:00.123Z`); outside the years 0–9999, the number itself.
pub struct Rfc3339(pub i64);

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.div_euclid(1000);
        let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
        let (y, m, d) = civil_from_days(days);
        if !(0..=9999).contains(&y) {
            return write!(f, "{}", self.0);
        }
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            ms_of_day / 3_600_000,
            ms_of_day / 60_000 % 60,
            ms_of_day / 1000 % 60,
            ms_of_day % 1000
        )
    }
}

/// (year, month, day) of a count of days since 1970-01-01 in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A duration in µs as `+MM:SS.mmm` (or `+H:MM:SS`).
pub fn relative(us: i64) -> String {
    let ms = us.max(0) / 1000;
    let (h, m, s, milli) = (
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000,
    );
    if h > 0 {
        format!("+{h}:{m:02}:{s:02}")
    } else {
        format!("+{m:02}:{s:02}.{milli:03}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_chrono_does() {
        for ts in [
            0i64,
            1,
            999,
            -1,
            -1_000_001,
            951_782_400_000_000,
            1_765_000_000_123_456,
            4_102_444_799_999_999,
            -62_135_596_800_000_000,
            253_402_300_799_999_999,
        ] {
            let want = chrono::DateTime::from_timestamp_micros(ts)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            assert_eq!(rfc3339(ts), want, "{ts}");
        }
        assert_eq!(rfc3339(253_402_300_800_000_000), "253402300800000000");
    }

    #[test]
    fn control_characters_are_shown_not_run() {
        assert_eq!(clean("a\u{1b}[2Jb\r\n"), "a\\u{1b}[2Jb\\u{d}\\n");
        assert_eq!(clean("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(relative(61_234_000), "+01:01.234");
    }
}
