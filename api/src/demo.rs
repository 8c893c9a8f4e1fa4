//! Demo data: the FACT partnership in Wiltshire with its four programmes, so a first run shows a
//! real programme. Loading is idempotent: each record is found by its natural key before it is
//! created, and the demo coordinator key is created (and its secret returned) only once.

use crate::db::FirstRow as _;
use entities::{
    api_keys, courses, localities, organisations, people, programme_years, programmes, staff_groups,
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::domain::{
    api_keys::{self as keys, KeyRole, NewApiKey},
    courses::{self as course_rules, CourseKindCode, NewCourse, ReservedPlacePolicy},
    organisations::{self as org_rules, NewOrganisation, SectorCode},
    people::{self as people_rules, NewMembership, NewPerson},
    programme_years::{self as years, ProgrammeYearInput},
    programmes::{self as programme_rules, NewProgramme},
    reference::{self, NewReferenceItem},
    trainers,
};
use crate::{ctx::Ctx, error::ApiResult};

pub mod year;

pub const DEMO_KEY_NAME: &str = "Demo coordinator";

const ORGANISATIONS: &[(&str, SectorCode, bool)] = &[
    ("Wiltshire Council", SectorCode::Council, true),
    (
        "NHS Bath and North East Somerset, Swindon and Wiltshire Integrated Care Board",
        SectorCode::Health,
        true,
    ),
    ("Wiltshire Police", SectorCode::Police, true),
    (
        "Office of the Police and Crime Commissioner for Wiltshire",
        SectorCode::Police,
        true,
    ),
    ("Abbeyfield School, Chippenham", SectorCode::School, false),
    ("Kingsbury Green Academy, Calne", SectorCode::School, false),
    ("Matravers School, Westbury", SectorCode::School, false),
    (
        "Wiltshire Parent Carer Council",
        SectorCode::Voluntary,
        false,
    ),
    (
        "Wiltshire Centre for Independent Living",
        SectorCode::Voluntary,
        false,
    ),
    ("Wiltshire Wildlife Trust", SectorCode::Voluntary, false),
];

const LOCALITIES: &[&str] = &[
    "Calne",
    "Chippenham",
    "Devizes",
    "Marlborough",
    "Melksham",
    "Salisbury",
    "Tidworth",
    "Trowbridge",
    "Warminster",
    "Westbury",
];

const STAFF_GROUPS: &[&str] = &[
    "Early years",
    "School",
    "Health visiting",
    "Midwifery",
    "Social care",
    "Police",
    "Youth work",
    "Voluntary sector",
    "Family help",
];

const PROGRAMMES: &[(&str, &str, &str)] = &[
    (
        "five-to-thrive",
        "Five to Thrive: Attachment, Trauma and Resilience",
        "Champion training for the 0–19 workforce, tailored per staff group, with champions \
         progressing to trainers who cascade a light-touch version to the wider workforce. Year \
         one: 12 champion courses, up to 600 champions, up to 25 trainers; about 10% of champion \
         places held for voluntary-sector partners.",
    ),
    (
        "contextual-safeguarding",
        "Contextual Safeguarding",
        "Introductory briefings across the partnership, then detailed practitioner training.",
    ),
    (
        "mecc",
        "Making Every Contact Count (MECC)",
        "Brief, opportunistic health conversations, rolled out across the partnership.",
    ),
    (
        "systems-leadership",
        "Systems Leadership",
        "Cohorts of senior managers from every partner, learning to lead across the system.",
    ),
];

struct DemoCourse {
    programme: &'static str,
    code: &'static str,
    title: &'static str,
    kind: CourseKindCode,
    minutes: i32,
    cpd: f64,
    capacity: i32,
    validity: Option<i32>,
    voluntary_bp: Option<i32>,
    prerequisite: Option<&'static str>,
}

const COURSES: &[DemoCourse] = &[
    DemoCourse {
        programme: "five-to-thrive",
        code: "ftt-champion",
        title: "Five to Thrive champion training",
        kind: CourseKindCode::Champion,
        minutes: 360,
        cpd: 6.0,
        capacity: 50,
        validity: Some(36),
        voluntary_bp: Some(1000),
        prerequisite: None,
    },
    DemoCourse {
        programme: "five-to-thrive",
        code: "ftt-trainer",
        title: "Five to Thrive trainer course",
        kind: CourseKindCode::Trainer,
        minutes: 720,
        cpd: 12.0,
        capacity: 12,
        validity: Some(12),
        voluntary_bp: None,
        prerequisite: Some("ftt-champion"),
    },
    DemoCourse {
        programme: "five-to-thrive",
        code: "ftt-cascade",
        title: "Five to Thrive light-touch session",
        kind: CourseKindCode::Cascade,
        minutes: 90,
        cpd: 1.5,
        capacity: 30,
        validity: None,
        voluntary_bp: None,
        prerequisite: None,
    },
    DemoCourse {
        programme: "contextual-safeguarding",
        code: "cs-briefing",
        title: "Contextual Safeguarding briefing",
        kind: CourseKindCode::Briefing,
        minutes: 120,
        cpd: 2.0,
        capacity: 80,
        validity: None,
        voluntary_bp: None,
        prerequisite: None,
    },
    DemoCourse {
        programme: "contextual-safeguarding",
        code: "cs-practitioner",
        title: "Contextual Safeguarding practitioner training",
        kind: CourseKindCode::Practitioner,
        minutes: 360,
        cpd: 6.0,
        capacity: 30,
        validity: Some(36),
        voluntary_bp: None,
        prerequisite: Some("cs-briefing"),
    },
    DemoCourse {
        programme: "mecc",
        code: "mecc-elearning",
        title: "MECC e-learning",
        kind: CourseKindCode::Elearning,
        minutes: 60,
        cpd: 1.0,
        capacity: 1000,
        validity: None,
        voluntary_bp: None,
        prerequisite: None,
    },
    DemoCourse {
        programme: "mecc",
        code: "mecc-skills",
        title: "MECC skills session",
        kind: CourseKindCode::Practitioner,
        minutes: 180,
        cpd: 3.0,
        capacity: 20,
        validity: None,
        voluntary_bp: None,
        prerequisite: Some("mecc-elearning"),
    },
    DemoCourse {
        programme: "mecc",
        code: "mecc-train-the-trainer",
        title: "MECC train the trainer",
        kind: CourseKindCode::Trainer,
        minutes: 360,
        cpd: 6.0,
        capacity: 12,
        validity: Some(24),
        voluntary_bp: None,
        prerequisite: Some("mecc-skills"),
    },
    DemoCourse {
        programme: "systems-leadership",
        code: "sl-cohort",
        title: "Systems Leadership cohort",
        kind: CourseKindCode::Leadership,
        minutes: 1440,
        cpd: 24.0,
        capacity: 20,
        validity: None,
        voluntary_bp: None,
        prerequisite: None,
    },
];

/// (name, email, organisation index, staff group, locality, external id)
const PEOPLE: &[(&str, &str, usize, &str, &str, &str)] = &[
    (
        "Siân Roberts",
        "sian.roberts@wiltshire.example",
        0,
        "Early years",
        "Trowbridge",
        "WC-10231",
    ),
    (
        "Tomás Ó Briain",
        "tomas.obriain@wiltshire.example",
        0,
        "Social care",
        "Chippenham",
        "WC-10487",
    ),
    (
        "Priya Sharma",
        "priya.sharma@wiltshire.example",
        0,
        "Family help",
        "Salisbury",
        "WC-11002",
    ),
    (
        "Zoë Ashworth",
        "zoe.ashworth@nhs.example",
        1,
        "Health visiting",
        "Calne",
        "NHS-55120",
    ),
    (
        "Łukasz Nowak",
        "lukasz.nowak@nhs.example",
        1,
        "Midwifery",
        "Devizes",
        "NHS-55871",
    ),
    (
        "Ayşe Demir",
        "ayse.demir@police.example",
        2,
        "Police",
        "Warminster",
        "WP-3301",
    ),
    (
        "Gareth Llewellyn",
        "gareth.llewellyn@police.example",
        2,
        "Police",
        "Tidworth",
        "WP-3417",
    ),
    (
        "Olena Kovalenko (Олена Коваленко)",
        "olena.kovalenko@opcc.example",
        3,
        "Youth work",
        "Devizes",
        "OPCC-77",
    ),
    (
        "Chloé Martin",
        "chloe.martin@abbeyfield.example",
        4,
        "School",
        "Chippenham",
        "ABB-204",
    ),
    (
        "Dafydd ap Gwŷn",
        "dafydd.apgwyn@kingsbury.example",
        5,
        "School",
        "Calne",
        "KGA-118",
    ),
    (
        "Hannah Whitfield",
        "hannah.whitfield@matravers.example",
        6,
        "School",
        "Westbury",
        "MAT-052",
    ),
    (
        "Amara Okafor",
        "amara.okafor@wpcc.example",
        7,
        "Voluntary sector",
        "Melksham",
        "WPCC-9",
    ),
    (
        "Bartek Wiśniewski",
        "bartek.wisniewski@wcil.example",
        8,
        "Voluntary sector",
        "Trowbridge",
        "WCIL-31",
    ),
    (
        "Li Na (李娜)",
        "li.na@wiltshirewildlife.example",
        9,
        "Youth work",
        "Marlborough",
        "WWT-15",
    ),
];

/// Loads the demo partnership. Returns the demo coordinator key's secret when this call created
/// it (the first load), and `None` when the key already existed.
pub async fn load(db: &DatabaseConnection) -> ApiResult<Option<String>> {
    let clock = crate::clock::Clock::system();
    let ctx = Ctx::system(db, &clock);
    let mut org_ids = Vec::new();
    for (name, sector, funding) in ORGANISATIONS {
        let existing = organisations::Entity::find()
            .filter(organisations::Column::Name.eq(*name))
            .first(db)
            .await?;
        let id = match existing {
            Some(org) => org.id,
            None => {
                let input = NewOrganisation {
                    name: (*name).into(),
                    sector: *sector,
                    funding_partner: *funding,
                };
                let txn = ctx.begin().await?;
                let id = org_rules::create(&txn, input, clock.now()).await?.id;
                txn.commit().await?;
                id
            }
        };
        org_ids.push(id);
    }
    for name in LOCALITIES {
        let exists = localities::Entity::find()
            .filter(localities::Column::Name.eq(*name))
            .first(db)
            .await?;
        if exists.is_none() {
            let txn = ctx.begin().await?;
            reference::create::<localities::Entity>(
                &txn,
                NewReferenceItem {
                    name: (*name).into(),
                },
                clock.now(),
            )
            .await?;
            txn.commit().await?;
        }
    }
    for name in STAFF_GROUPS {
        let exists = staff_groups::Entity::find()
            .filter(staff_groups::Column::Name.eq(*name))
            .first(db)
            .await?;
        if exists.is_none() {
            let txn = ctx.begin().await?;
            reference::create::<staff_groups::Entity>(
                &txn,
                NewReferenceItem {
                    name: (*name).into(),
                },
                clock.now(),
            )
            .await?;
            txn.commit().await?;
        }
    }
    for (code, name, description) in PROGRAMMES {
        let exists = programmes::Entity::find()
            .filter(programmes::Column::Code.eq(*code))
            .first(db)
            .await?;
        if exists.is_none() {
            let input = NewProgramme {
                code: (*code).into(),
                name: (*name).into(),
                description: (*description).into(),
            };
            let txn = ctx.begin().await?;
            programme_rules::create(&txn, input, clock.now()).await?;
            txn.commit().await?;
        }
    }
    // Year-one targets from the seeds (12 champion courses, 600 champions, 25 trainers, 10%
    // voluntary-sector places), set for the current programme year if it has none.
    let year = trainers::steps::financial_year(crate::domain::sessions::london_today(clock.now()));
    if let Some(ftt) = programmes::Entity::find()
        .filter(programmes::Column::Code.eq("five-to-thrive"))
        .first(db)
        .await?
        && programme_years::Entity::find_by_id((ftt.id, year))
            .first(db)
            .await?
            .is_none()
    {
        let targets = ProgrammeYearInput {
            champion_sessions_target: Some(12),
            champions_target: Some(600),
            trainers_target: Some(25),
            reserved_share_bp: Some(1000),
            reach_target: None,
            ..Default::default()
        };
        years::put(&ctx, ftt.id, year, targets).await?;
    }
    let staff_group_id = |name: &str| {
        let name = name.to_owned();
        async move {
            Ok::<_, crate::error::ApiError>(
                staff_groups::Entity::find()
                    .filter(staff_groups::Column::Name.eq(name))
                    .first(db)
                    .await?
                    .map(|g| g.id),
            )
        }
    };
    for c in COURSES {
        if courses::Entity::find()
            .filter(courses::Column::Code.eq(c.code))
            .first(db)
            .await?
            .is_some()
        {
            continue;
        }
        let programme = programmes::Entity::find()
            .filter(programmes::Column::Code.eq(c.programme))
            .first(db)
            .await?
            .map(|p| p.id)
            .unwrap_or_default();
        let prerequisite = match c.prerequisite {
            Some(code) => courses::Entity::find()
                .filter(courses::Column::Code.eq(code))
                .first(db)
                .await?
                .map(|p| p.id)
                .into_iter()
                .collect(),
            None => Vec::new(),
        };
        let audience = match c.code {
            "ftt-champion" | "ftt-cascade" => {
                let mut ids = Vec::new();
                for group in [
                    "Early years",
                    "School",
                    "Health visiting",
                    "Midwifery",
                    "Social care",
                    "Youth work",
                    "Voluntary sector",
                    "Family help",
                ] {
                    ids.extend(staff_group_id(group).await?);
                }
                ids
            }
            _ => Vec::new(),
        };
        let input = NewCourse {
            programme_id: programme,
            code: c.code.into(),
            title: c.title.into(),
            description: String::new(),
            kind: c.kind,
            duration_minutes: c.minutes,
            cpd_hours: c.cpd,
            default_capacity: c.capacity,
            audience_staff_group_ids: audience,
            prerequisite_course_ids: prerequisite,
            certificate_validity_months: c.validity,
            reserved_places: c.voluntary_bp.map(|share_bp| ReservedPlacePolicy {
                sector: SectorCode::Voluntary,
                share_bp,
                release_days_before_start: 14,
            }),
            max_places_per_organisation: None,
            completion_threshold_percent: None,
        };
        course_rules::create(&ctx, input).await?;
    }
    for (name, email, org, group, locality, external) in PEOPLE {
        let exists = people::Entity::find()
            .filter(people::Column::EmailKey.eq(*email))
            .first(db)
            .await?;
        if exists.is_some() {
            continue;
        }
        let locality_id = localities::Entity::find()
            .filter(localities::Column::Name.eq(*locality))
            .first(db)
            .await?
            .map(|l| l.id);
        let input = NewPerson {
            name: (*name).into(),
            email: (*email).into(),
            staff_group_id: staff_group_id(group).await?,
            locality_id,
            memberships: vec![NewMembership {
                organisation_id: org_ids[*org],
                external_id: Some((*external).into()),
                primary: true,
            }],
        };
        people_rules::create(&ctx, input).await?;
    }

    let key_exists = api_keys::Entity::find()
        .filter(api_keys::Column::Name.eq(DEMO_KEY_NAME))
        .first(db)
        .await?
        .is_some();
    if key_exists {
        return Ok(None);
    }
    let txn = ctx.begin().await?;
    let created = keys::create(
        &txn,
        NewApiKey {
            name: DEMO_KEY_NAME.into(),
            role: KeyRole::Coordinator,
            organisation_id: None,
            person_id: None,
        },
        clock.now(),
    )
    .await?;
    txn.commit().await?;
    tracing::info!("demo data loaded");
    Ok(Some(created.secret))
}
