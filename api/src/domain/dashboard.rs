//! The programme at a glance: the year's reports (progress, reach, partners) turned into the
//! charts the coordinators' dashboard shows and the board PDF prints. Both call [`load`], so the
//! pictures and the JSON reports are the same figures.

use chrono::NaiveDate;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::{
    partners_report::{self, PartnerReport},
    progress_report::{self, CountLine, ProgressReport},
    reach::{self, ReachLine, ReachReport},
};
use crate::{
    auth::Principal,
    clock::Clock,
    error::ApiResult,
    render::chart::{Chart, Row, Scale, Unit},
};

/// Rows a breakdown chart draws; the rest are summed into one "All others" row (the table
/// beside the chart lists every line).
pub const CHART_ROWS: usize = 10;

/// A programme year's reports and the charts drawn from them.
pub struct Dashboard {
    pub progress: ProgressReport,
    pub reach: ReachReport,
    pub partners: PartnerReport,
    /// Each target against the year's goal, with its forecast.
    pub targets: Chart,
    /// Champions by sector, locality and staff group; reach by partner, sector and locality;
    /// spend by partner.
    pub charts: Vec<Chart>,
}

/// The year's reports as the caller may read them (a partner lead's breakdowns are its own
/// organisation's, as in the API).
pub async fn load(
    db: &impl ConnectionTrait,
    clock: &Clock,
    who: &Principal,
    programme_id: Uuid,
    year: i32,
) -> ApiResult<Dashboard> {
    let progress = progress_report::progress(db, clock, programme_id, year).await?;
    let reach = reach::report(
        db,
        clock,
        who,
        programme_id,
        NaiveDate::from_ymd_opt(year, 4, 1),
        NaiveDate::from_ymd_opt(year + 1, 3, 31),
    )
    .await?;
    let partners = partners_report::report(db, who, programme_id, year).await?;
    let targets = targets_chart(&progress);
    let charts = breakdown_charts(&progress, &reach, &partners);
    Ok(Dashboard {
        progress,
        reach,
        partners,
        targets,
        charts,
    })
}

/// Each target's actual against its goal (its own scale), with the forecast.
pub fn targets_chart(progress: &ProgressReport) -> Chart {
    Chart {
        id: "targets".into(),
        title: "Progress against the year's targets".into(),
        scale: Scale::OwnTarget,
        rows: progress
            .targets
            .iter()
            .map(|t| Row {
                key: t.target.clone(),
                label: t.name.replace(" (basis points)", ""),
                unit: if t.target == "reserved_share_bp" {
                    Unit::BasisPoints
                } else {
                    Unit::Count
                },
                value: t.actual,
                forecast: Some(t.forecast),
                target: t.target_value,
            })
            .collect(),
    }
}

fn top(mut rows: Vec<Row>) -> Vec<Row> {
    if rows.len() > CHART_ROWS {
        let rest: i64 = rows[CHART_ROWS - 1..].iter().map(|r| r.value).sum();
        let unit = rows[0].unit;
        rows.truncate(CHART_ROWS - 1);
        rows.push(Row {
            unit,
            ..Row::count("others", "All others", rest)
        });
    }
    rows
}

fn counts(id: &str, title: &str, lines: &[CountLine]) -> Chart {
    Chart {
        id: id.into(),
        title: title.into(),
        scale: Scale::Common,
        rows: top(lines
            .iter()
            .map(|l| Row::count(l.key.clone(), l.name.clone(), l.count))
            .collect()),
    }
}

fn reached(id: &str, title: &str, lines: &[ReachLine]) -> Chart {
    let mut rows: Vec<Row> = lines
        .iter()
        .map(|l| Row::count(l.key.clone(), l.name.clone(), i64::from(l.people_reached)))
        .collect();
    rows.sort_by(|a, b| b.value.cmp(&a.value).then(a.label.cmp(&b.label)));
    Chart {
        id: id.into(),
        title: title.into(),
        scale: Scale::Common,
        rows: top(rows),
    }
}

/// The breakdowns, in the order the dashboard shows them.
pub fn breakdown_charts(
    progress: &ProgressReport,
    reach: &ReachReport,
    partners: &PartnerReport,
) -> Vec<Chart> {
    let mut spend: Vec<Row> = partners
        .partners
        .iter()
        .map(|p| Row {
            key: p
                .organisation_id
                .map_or_else(|| "unknown".to_owned(), |id| id.to_string()),
            label: p.name.clone(),
            unit: Unit::Pence,
            value: p.cost_consumed_pence,
            forecast: None,
            target: Some(p.contribution_pence),
        })
        .collect();
    spend.sort_by(|a, b| b.target.cmp(&a.target).then(a.label.cmp(&b.label)));
    spend.truncate(CHART_ROWS);
    vec![
        counts(
            "champions-sector",
            "Champions trained by sector",
            &progress.champions_by_sector,
        ),
        counts(
            "champions-locality",
            "Champions trained by locality",
            &progress.champions_by_locality,
        ),
        counts(
            "champions-staff-group",
            "Champions trained by staff group",
            &progress.champions_by_staff_group,
        ),
        reached(
            "reach-partner",
            "People reached by the cascade, by partner",
            &reach.by_partner,
        ),
        reached(
            "reach-sector",
            "People reached by the cascade, by sector",
            &reach.by_sector,
        ),
        reached(
            "reach-locality",
            "People reached by the cascade, by locality",
            &reach.by_locality,
        ),
        Chart {
            id: "spend-partner".into(),
            title: "Cost of places used against each partner's contribution".into(),
            scale: Scale::Common,
            rows: spend,
        },
    ]
}
