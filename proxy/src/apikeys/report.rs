//! Usage reports, as AWS's GetUsage: a plan's counts per key and day, with the quota left.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};

use super::admin::AdminError;
use super::service::KeyService;
use super::usage::{period_start, QuotaRule};
use super::KeyConfig;

/// Longest range of days a usage report covers.
const MAX_REPORT_DAYS: u64 = 366;

/// A plan's usage by key and day, as AWS's GetUsage: `items.<key id>` lists `[used, remaining]`
/// for each day from `startDate` to `endDate` (`remaining` is null without a quota).
#[derive(Debug, Clone, serde::Serialize)]
pub struct UsageReport {
    /// The plan.
    #[serde(rename = "usagePlanId")]
    pub plan: String,
    /// First day reported.
    #[serde(rename = "startDate")]
    pub start: NaiveDate,
    /// Last day reported.
    #[serde(rename = "endDate")]
    pub end: NaiveDate,
    /// Per key, per day: requests counted and quota left.
    pub items: BTreeMap<String, Vec<(u64, Option<u64>)>>,
}

impl KeyService {
    /// A plan's usage report from `start` to `end`, of one key or all.
    pub fn report(
        &self,
        config: &KeyConfig,
        plan_name: &str,
        key: Option<&str>,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<UsageReport, AdminError> {
        let plan = config
            .usage_plans
            .get(plan_name)
            .ok_or_else(|| AdminError::NotFound(format!("no usage plan `{plan_name}`")))?;
        if end < start {
            return Err(AdminError::BadRequest("`end` is before `start`".into()));
        }
        let days = (end - start).num_days() as u64 + 1;
        if days > MAX_REPORT_DAYS {
            return Err(AdminError::BadRequest(format!(
                "a report covers at most {MAX_REPORT_DAYS} days"
            )));
        }
        self.flush()
            .map_err(|e| AdminError::Internal(e.to_string()))?;
        let quota = plan.quota.map(|quota| self.quota_rule(plan_name, quota));
        let from = quota.map_or(start, |rule| period_start(rule.quota.period, start));
        let rows = self.lock().usage(Some(plan_name), key, from, end)?;
        let mut by_key: BTreeMap<String, BTreeMap<NaiveDate, u64>> = BTreeMap::new();
        for row in rows {
            by_key
                .entry(row.key_id.to_string())
                .or_default()
                .insert(row.day, row.count);
        }
        let items = by_key
            .into_iter()
            .map(|(key, counts)| (key, daily(&counts, quota.as_ref(), start, days)))
            .collect();
        Ok(UsageReport {
            plan: plan_name.to_string(),
            start,
            end,
            items,
        })
    }
}

/// `[used, remaining]` for each of `days` days from `start`.
fn daily(
    counts: &BTreeMap<NaiveDate, u64>,
    quota: Option<&QuotaRule>,
    start: NaiveDate,
    days: u64,
) -> Vec<(u64, Option<u64>)> {
    (0..days)
        .filter_map(|offset| start.checked_add_days(Days::new(offset)))
        .map(|day| {
            let used = counts.get(&day).copied().unwrap_or(0);
            let remaining = quota.map(|rule| {
                let since = period_start(rule.quota.period, day);
                let period_used: u64 = counts.range(since..=day).map(|(_, c)| c).sum();
                rule.limit_on(day).saturating_sub(period_used)
            });
            (used, remaining)
        })
        .collect()
}
