//! Usage counting and quotas: per key, per plan, per UTC day. The request path takes one key's
//! small lock (keys never contend with each other) to check the quota and count the request; a
//! key whose counts changed is queued once for the flusher, which writes absolute day counts, so
//! a write repeated after a crash is harmless. Memory holds the recent days only; the database
//! keeps the history for usage reports.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{Datelike, Days, NaiveDate};
use dashmap::DashMap;

use super::store::UsageRow;
use crate::config::{Quota, QuotaPeriod};

/// Days of counts kept in memory: enough for the longest period (a month) and reports on it.
const DAYS_KEPT: u64 = 62;

/// The current UTC day, the unit usage is counted in.
pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The oldest day whose counts memory keeps, seen from `today`.
pub fn oldest_kept(today: NaiveDate) -> NaiveDate {
    today
        .checked_sub_days(Days::new(DAYS_KEPT))
        .unwrap_or(NaiveDate::MIN)
}

/// The first day of the period of `period` that holds `day`.
pub fn period_start(period: QuotaPeriod, day: NaiveDate) -> NaiveDate {
    match period {
        QuotaPeriod::Day => day,
        QuotaPeriod::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
        QuotaPeriod::Month => day.with_day(1).unwrap_or(day),
    }
}

/// A plan's quota with the day the plan was first seen (its first period has `offset` fewer).
#[derive(Debug, Clone, Copy)]
pub struct QuotaRule {
    /// The plan's quota.
    pub quota: Quota,
    /// When the plan first appeared.
    pub first_day: NaiveDate,
}

impl QuotaRule {
    /// Requests allowed in the period holding `day`.
    pub fn limit_on(&self, day: NaiveDate) -> u64 {
        let period = period_start(self.quota.period, day);
        if period == period_start(self.quota.period, self.first_day) {
            self.quota.limit.saturating_sub(self.quota.offset)
        } else {
            self.quota.limit
        }
    }
}

/// Counts of one key in one plan, by day.
#[derive(Debug, Default)]
struct DayCounts {
    days: BTreeMap<NaiveDate, u64>,
    dirty: BTreeSet<NaiveDate>,
}

impl DayCounts {
    fn used_since(&self, start: NaiveDate) -> u64 {
        self.days.range(start..).map(|(_, count)| count).sum()
    }
}

#[derive(Debug, Default)]
struct KeyCounts {
    plans: HashMap<Arc<str>, DayCounts>,
    queued: bool,
}

/// One key's counts, behind its own lock.
#[derive(Debug)]
struct KeyUsage {
    id: Arc<str>,
    counts: Mutex<KeyCounts>,
}

/// What counting a request decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// Counted; the quota (if any) allowed it.
    Counted,
    /// The quota for the period is used up; not counted.
    LimitExceeded,
}

/// Every key's recent usage, and the keys whose counts are not yet written.
#[derive(Debug, Default)]
pub struct UsageBook {
    keys: DashMap<Arc<str>, Arc<KeyUsage>>,
    dirty: Mutex<Vec<Arc<KeyUsage>>>,
}

impl UsageBook {
    /// Take in counts read from the database at startup.
    pub fn load(&self, rows: Vec<UsageRow>) {
        for row in rows {
            let usage = self.key(&row.key_id);
            let mut counts = usage.counts.lock().unwrap_or_else(|e| e.into_inner());
            counts
                .plans
                .entry(row.plan)
                .or_default()
                .days
                .insert(row.day, row.count);
        }
    }

    fn key(&self, id: &Arc<str>) -> Arc<KeyUsage> {
        if let Some(found) = self.keys.get(&**id) {
            return found.clone();
        }
        self.keys
            .entry(id.clone())
            .or_insert_with(|| {
                Arc::new(KeyUsage {
                    id: id.clone(),
                    counts: Mutex::default(),
                })
            })
            .clone()
    }

    /// Count a request of key `id` in `plan` on `today`, unless `quota` is used up.
    pub fn charge(
        &self,
        id: &Arc<str>,
        plan: &Arc<str>,
        quota: Option<&QuotaRule>,
        today: NaiveDate,
    ) -> Charge {
        let usage = self.key(id);
        let mut counts = usage.counts.lock().unwrap_or_else(|e| e.into_inner());
        let plan_counts = match counts.plans.get_mut(&**plan) {
            Some(found) => found,
            None => counts.plans.entry(plan.clone()).or_default(),
        };
        if let Some(rule) = quota {
            let used = plan_counts.used_since(period_start(rule.quota.period, today));
            if used >= rule.limit_on(today) {
                return Charge::LimitExceeded;
            }
        }
        let is_new_day = !plan_counts.days.contains_key(&today);
        *plan_counts.days.entry(today).or_insert(0) += 1;
        plan_counts.dirty.insert(today);
        if is_new_day {
            let oldest = oldest_kept(today);
            plan_counts.days.retain(|day, _| *day >= oldest);
        }
        self.queue(&usage, counts);
        Charge::Counted
    }

    /// Queue `usage` for the flusher, once until its next flush.
    fn queue(&self, usage: &Arc<KeyUsage>, mut counts: std::sync::MutexGuard<'_, KeyCounts>) {
        if !counts.queued {
            counts.queued = true;
            drop(counts);
            self.dirty
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(usage.clone());
        }
    }

    /// The counts changed since the last call, to be written.
    pub fn take_dirty(&self) -> Vec<UsageRow> {
        let queued = std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|e| e.into_inner()));
        let mut rows = Vec::new();
        for usage in queued {
            let mut counts = usage.counts.lock().unwrap_or_else(|e| e.into_inner());
            counts.queued = false;
            for (plan, plan_counts) in &mut counts.plans {
                for day in std::mem::take(&mut plan_counts.dirty) {
                    rows.push(UsageRow {
                        key_id: usage.id.clone(),
                        plan: plan.clone(),
                        day,
                        count: plan_counts.days.get(&day).copied().unwrap_or(0),
                    });
                }
            }
        }
        rows
    }

    /// Put rows that could not be written back in the queue, to be retried.
    pub fn requeue(&self, rows: &[UsageRow]) {
        for row in rows {
            let usage = self.key(&row.key_id);
            let mut counts = usage.counts.lock().unwrap_or_else(|e| e.into_inner());
            counts
                .plans
                .entry(row.plan.clone())
                .or_default()
                .dirty
                .insert(row.day);
            self.queue(&usage, counts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn rule(limit: u64, period: QuotaPeriod, offset: u64, first_day: &str) -> QuotaRule {
        QuotaRule {
            quota: Quota {
                limit,
                period,
                offset,
            },
            first_day: day(first_day),
        }
    }

    #[test]
    fn periods_start_on_the_day_the_monday_and_the_first() {
        let saturday = day("2026-11-21");
        assert_eq!(period_start(QuotaPeriod::Day, saturday), saturday);
        assert_eq!(period_start(QuotaPeriod::Week, saturday), day("2026-11-16"));
        assert_eq!(
            period_start(QuotaPeriod::Month, saturday),
            day("2026-11-01")
        );
    }

    #[test]
    fn the_quota_refuses_past_its_limit_and_counts_only_admitted_requests() {
        let book = UsageBook::default();
        let (key, plan) = ("k".into(), "gold".into());
        let quota = rule(3, QuotaPeriod::Week, 0, "2026-01-01");
        let monday = day("2026-11-16");
        for _ in 0..3 {
            assert_eq!(
                book.charge(&key, &plan, Some(&quota), monday),
                Charge::Counted
            );
        }
        let wednesday = day("2026-11-18");
        assert_eq!(
            book.charge(&key, &plan, Some(&quota), wednesday),
            Charge::LimitExceeded
        );
        let next_monday = day("2026-11-23");
        assert_eq!(
            book.charge(&key, &plan, Some(&quota), next_monday),
            Charge::Counted
        );
        let rows = book.take_dirty();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].day, rows[0].count), (monday, 3));
        assert_eq!((rows[1].day, rows[1].count), (next_monday, 1));
        assert!(book.take_dirty().is_empty());
    }

    #[test]
    fn the_offset_lowers_only_the_first_period() {
        let quota = rule(10, QuotaPeriod::Month, 4, "2026-11-05");
        assert_eq!(quota.limit_on(day("2026-11-30")), 6);
        assert_eq!(quota.limit_on(day("2026-12-01")), 10);
    }

    #[test]
    fn loaded_counts_use_up_the_quota() {
        let book = UsageBook::default();
        let today = day("2026-11-22");
        book.load(vec![UsageRow {
            key_id: "k".into(),
            plan: "gold".into(),
            day: today,
            count: 5,
        }]);
        let quota = rule(5, QuotaPeriod::Day, 0, "2026-01-01");
        let charge = book.charge(&"k".into(), &"gold".into(), Some(&quota), today);
        assert_eq!(charge, Charge::LimitExceeded);
    }
}
