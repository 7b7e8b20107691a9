//! [`Filter`]: the record filters shared by `log`, `replay` and `export` (and any other view).

use super::calls::Item;
use super::entry::{Entry, risk_rank};
use anyhow::{Context, Result, bail};

/// Which session to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionSel {
    /// The session of the newest record that has one.
    Latest,
    /// A full session id, or a unique prefix of one.
    Id(String),
}

impl SessionSel {
    /// `latest`, or an id/prefix.
    pub fn parse(s: &str) -> SessionSel {
        if s == "latest" {
            SessionSel::Latest
        } else {
            SessionSel::Id(s.to_string())
        }
    }
}

/// Filters over records and calls. Every field is optional; an empty filter keeps everything.
/// The session is resolved to a full id before filtering (see [`super::source::Source`]).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Exactly this session id (already resolved from `latest` or a prefix).
    pub session: Option<String>,
    /// Records at or after this time (µs since the epoch).
    pub since: Option<i64>,
    /// Records before this time (µs since the epoch).
    pub until: Option<i64>,
    /// Minimum risk rank (0 none … 4 critical).
    pub min_risk: Option<u8>,
    /// Verdicts to keep (`allow`, `flag`, `ask`, `deny`).
    pub verdicts: Vec<String>,
    /// Actions to keep (`file_write`, …).
    pub actions: Vec<String>,
    /// `hook` or `mcp`.
    pub door: Option<String>,
    /// Tool name: exact, case-insensitive; `mcp__fs__*` style trailing `*` is a prefix.
    pub tool: Option<String>,
    /// A rule id that must have matched.
    pub rule: Option<String>,
    /// Case-insensitive text searched in tool, targets, reason, rules, findings and errors.
    pub grep: Option<String>,
}

impl Filter {
    /// Whether the filter looks only at calls (decisions), so that other events drop out.
    pub fn calls_only(&self) -> bool {
        self.min_risk.is_some()
            || !self.verdicts.is_empty()
            || !self.actions.is_empty()
            || self.rule.is_some()
    }

    /// Whether one record passes the cheap filters (session, time, door). Use it before
    /// joining; [`Filter::keeps`] applies the rest to joined items.
    pub fn keeps_record(&self, e: &Entry) -> bool {
        if let Some(s) = &self.session
            && e.session.as_deref() != Some(s.as_str())
        {
            return false;
        }
        if self.since.is_some_and(|t| e.ts < t) || self.until.is_some_and(|t| e.ts >= t) {
            return false;
        }
        true
    }

    /// Whether a joined item (a call with its outcome, or another event) passes every filter.
    pub fn keeps(&self, item: &Item) -> bool {
        let e = item.head();
        if !self.keeps_record(e) {
            return false;
        }
        if let Some(d) = &self.door {
            let doors = item
                .entries()
                .any(|x| x.door.as_deref() == Some(d.as_str()));
            if !doors {
                return false;
            }
        }
        if self.calls_only() && !matches!(item, Item::Call(_)) {
            return false;
        }
        if let Some(min) = self.min_risk
            && risk_rank(e.risk()).is_none_or(|r| r < min)
        {
            return false;
        }
        if !self.verdicts.is_empty() && !self.verdicts.iter().any(|v| v == e.verdict()) {
            return false;
        }
        if !self.actions.is_empty()
            && !self
                .actions
                .iter()
                .any(|a| Some(a.as_str()) == e.action.as_deref())
        {
            return false;
        }
        if let Some(t) = &self.tool {
            let name = e.tool().to_ascii_lowercase();
            let want = t.to_ascii_lowercase();
            let hit = match want.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == want,
            };
            if !hit {
                return false;
            }
        }
        if let Some(rule) = &self.rule
            && !item.entries().any(|x| x.rules.iter().any(|r| r == rule))
        {
            return false;
        }
        if let Some(g) = &self.grep {
            let g = g.to_lowercase();
            if !item
                .entries()
                .any(|x| text_of(x).to_lowercase().contains(&g))
            {
                return false;
            }
        }
        true
    }
}

/// The searchable text of a record.
fn text_of(e: &Entry) -> String {
    let mut parts: Vec<&str> = vec![e.tool(), &e.event];
    parts.extend(e.target.iter().map(String::as_str));
    parts.extend(e.rules.iter().map(String::as_str));
    parts.extend(e.findings.iter().map(String::as_str));
    parts.extend(e.flags.iter().map(String::as_str));
    for s in [&e.reason, &e.error, &e.detail, &e.action, &e.session]
        .into_iter()
        .flatten()
    {
        parts.push(s);
    }
    if let Some(err) = e.outcome.as_ref().and_then(|o| o.error.as_deref()) {
        parts.push(err);
    }
    parts.join("\n")
}

/// Parses `--since`/`--until`: an RFC 3339 time, or a duration back from `now_us` such as
/// `90s`, `15m`, `2h`, `3d`, `1w`. Returns µs since the epoch.
pub fn parse_time(s: &str, now_us: i64) -> Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_micros());
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().with_context(|| bad_time(s))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => bail!("{}", bad_time(s)),
    };
    let back = n
        .checked_mul(secs * 1_000_000)
        .with_context(|| bad_time(s))?;
    Ok(now_us.saturating_sub(back))
}

fn bad_time(s: &str) -> String {
    format!(
        "`{s}` is neither an RFC 3339 time (2026-01-31T09:00:00Z) nor a duration (90s, 15m, 2h, 3d, 1w)"
    )
}

/// Parses `--risk`: a risk name, returned as its rank.
pub fn parse_risk(s: &str) -> Result<u8> {
    risk_rank(s).with_context(|| format!("unknown risk `{s}` (none, low, medium, high, critical)"))
}

/// Checks a `--verdict` value.
pub fn parse_verdict(s: &str) -> Result<String> {
    let v = s.to_ascii_lowercase();
    if ["allow", "flag", "ask", "deny"].contains(&v.as_str()) {
        Ok(v)
    } else {
        bail!("unknown verdict `{s}` (allow, flag, ask, deny)")
    }
}

/// Now, in µs since the epoch.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        let now = 10_000_000_000_000;
        assert_eq!(parse_time("2h", now).unwrap(), now - 7_200_000_000);
        assert_eq!(parse_time("3d", now).unwrap(), now - 3 * 86_400_000_000);
        assert_eq!(parse_time("1970-01-01T00:00:01Z", now).unwrap(), 1_000_000);
        assert!(parse_time("2 hours", now).is_err());
        assert!(parse_time("h", now).is_err());
        assert!(parse_time("99999999999999999w", now).is_err());
        assert!(parse_verdict("DENY").is_ok() && parse_verdict("nope").is_err());
    }
}
