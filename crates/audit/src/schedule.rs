//! Time-based rotation: ONTAP's `log.rotation.schedule` (cron-like lists).

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// Empty lists mean "every"; `minutes` must be non-empty for the schedule to fire.
/// Day-of-month and weekday combine as OR when both are given (cron's rule).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationSchedule {
    #[serde(default)]
    pub minutes: Vec<u32>,
    #[serde(default)]
    pub hours: Vec<u32>,
    #[serde(default)]
    pub days: Vec<u32>,
    #[serde(default)]
    pub weekdays: Vec<u32>,
    #[serde(default)]
    pub months: Vec<u32>,
}

impl RotationSchedule {
    pub fn is_active(&self) -> bool {
        !self.minutes.is_empty()
    }

    /// Whether the schedule fires in the minute containing `t`.
    pub fn matches(&self, t: DateTime<Utc>) -> bool {
        let any = |list: &[u32], v: u32| list.is_empty() || list.contains(&v);
        if !self.is_active()
            || !self.minutes.contains(&t.minute())
            || !any(&self.hours, t.hour())
            || !any(&self.months, t.month())
        {
            return false;
        }
        let weekday = t.weekday().num_days_from_sunday();
        match (self.days.is_empty(), self.weekdays.is_empty()) {
            (true, true) => true,
            (false, true) => self.days.contains(&t.day()),
            (true, false) => self.weekdays.contains(&weekday),
            (false, false) => self.days.contains(&t.day()) || self.weekdays.contains(&weekday),
        }
    }

    /// Whether the schedule fired in any minute after `since` up to and including `now`.
    pub fn fired_between(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        if !self.is_active() || now <= since {
            return false;
        }
        let start = since
            .with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(since)
            + chrono::Duration::minutes(1);
        let mut t = start;
        // A year of minutes bounds the walk after a long clock jump.
        for _ in 0..(366 * 24 * 60) {
            if t > now {
                return false;
            }
            if self.matches(t) {
                return true;
            }
            t += chrono::Duration::minutes(1);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn fields_and_or_rule() {
        let s = RotationSchedule {
            minutes: vec![0, 30],
            hours: vec![12],
            ..Default::default()
        };
        assert!(s.matches(at(2026, 11, 22, 12, 30)));
        assert!(!s.matches(at(2026, 11, 22, 13, 30)));
        assert!(!s.matches(at(2026, 11, 22, 12, 31)));
        // 2026-11-22 is a Sunday (weekday 0); day 1 OR Sunday.
        let s = RotationSchedule {
            minutes: vec![0],
            days: vec![1],
            weekdays: vec![0],
            ..Default::default()
        };
        assert!(s.matches(at(2026, 11, 22, 5, 0)));
        assert!(s.matches(at(2026, 12, 1, 5, 0)));
        assert!(!s.matches(at(2026, 11, 23, 5, 0)));
        assert!(
            !RotationSchedule::default().matches(at(2026, 1, 1, 0, 0)),
            "no minutes: never"
        );
    }

    #[test]
    fn fired_between_walks_minutes() {
        let s = RotationSchedule {
            minutes: vec![15],
            ..Default::default()
        };
        assert!(s.fired_between(at(2026, 1, 1, 10, 14), at(2026, 1, 1, 10, 15)));
        assert!(!s.fired_between(at(2026, 1, 1, 10, 15), at(2026, 1, 1, 11, 14)));
        assert!(s.fired_between(at(2026, 1, 1, 10, 15), at(2026, 1, 1, 11, 15)));
    }
}
