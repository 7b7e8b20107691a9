//! Trends: the satisfied share and the refusals per day, week or month.

use super::facts::{Facts, Rec};
use super::model::{Status, TrendWindow};
use chrono::{DateTime, Datelike};
use std::collections::BTreeMap;

/// The window length of `--by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    /// Parses `day`, `week` or `month`.
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    /// The window a timestamp (µs since the epoch, UTC) falls in: `2026-12-07`, `2026-W49`,
    /// `2026-12`.
    pub fn key(self, ts: i64) -> String {
        let d = DateTime::from_timestamp_micros(ts)
            .unwrap_or_default()
            .date_naive();
        match self {
            Period::Day => d.format("%Y-%m-%d").to_string(),
            Period::Week => {
                let w = d.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Period::Month => d.format("%Y-%m").to_string(),
        }
    }
}

/// Facts per window, filled during the range pass.
#[derive(Debug)]
pub struct Windows {
    period: Period,
    by_key: BTreeMap<String, Facts>,
    last: Option<(i64, String)>,
}

impl Windows {
    pub fn new(period: Period) -> Windows {
        Windows {
            period,
            by_key: BTreeMap::new(),
            last: None,
        }
    }

    /// Adds a record to its window.
    pub fn add(&mut self, r: &Rec<'_>) {
        // Records arrive in time order mostly; the key is recomputed only when the day changes.
        let day = r.ts.div_euclid(super::facts::DAY_US);
        if self.last.as_ref().is_none_or(|(d, _)| *d != day) {
            self.last = Some((day, self.period.key(r.ts)));
        }
        let key = &self.last.as_ref().expect("set above").1;
        match self.by_key.get_mut(key) {
            Some(f) => f.add(r),
            None => self.by_key.entry(key.clone()).or_default().add(r),
        }
    }

    /// One row per window; `statuses` evaluates the controls over a window's facts.
    pub fn evaluate(self, statuses: impl Fn(&Facts) -> Vec<Status>) -> Vec<TrendWindow> {
        self.by_key
            .into_iter()
            .map(|(window, f)| {
                let s = statuses(&f);
                let satisfied = s.iter().filter(|x| **x == Status::Satisfied).count() as u64;
                let evaluated = s
                    .iter()
                    .filter(|x| !matches!(x, Status::NotApplicable | Status::NotEvidenced))
                    .count() as u64;
                TrendWindow {
                    window,
                    first_seq: f.first_seq.unwrap_or_default(),
                    last_seq: f.last_seq.unwrap_or_default(),
                    records: f.records,
                    decisions: f.decisions,
                    denied: f.denied,
                    asked: f.asked,
                    satisfied,
                    evaluated,
                    satisfied_share: if evaluated == 0 {
                        0.0
                    } else {
                        (satisfied as f64 / evaluated as f64 * 1000.0).round() / 1000.0
                    },
                }
            })
            .collect()
    }
}
