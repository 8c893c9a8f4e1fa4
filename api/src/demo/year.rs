//! A programme year under way, relative to today, made through the API itself (in process, as an
//! integrator would make it): past champion sessions completed with attendance and no-shows,
//! champions with certificates, trainers at each pipeline step (two accredited), cascade sessions
//! with named and headcount attendance, contributions, costs and no-show charges, and upcoming
//! sessions with bookings, a reserved voluntary-sector place and a waitlist. The messages these
//! cause are queued like any others, so the mail folder fills as soon as the server runs.
//!
//! Loaded once: when the Five to Thrive champion course already has sessions, nothing is done.

use crate::db::FirstRow as _;
use chrono::{Duration, NaiveDate};
use poem::{Endpoint, IntoResponse, Request, http::Method};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    config::Config,
    ctx::Ctx,
    domain::{
        api_keys::{self, KeyRole, NewApiKey},
        sessions::london_today,
    },
    error::{ApiError, ApiResult},
    state::AppState,
};

/// The demo people who sign in: a member of staff, and a coordinator (granted the role).
pub const DEMO_STAFF_EMAIL: &str = "sian.roberts@wiltshire.example";
pub const DEMO_COORDINATOR_EMAIL: &str = "priya.sharma@wiltshire.example";

struct Client<E> {
    app: E,
    key: String,
}

impl<E: Endpoint> Client<E> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> ApiResult<Value> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(
                format!("/api/v1{path}")
                    .parse()
                    .map_err(|e| ApiError::Internal(anyhow::anyhow!("demo path {path}: {e}")))?,
            )
            .header("Authorization", format!("Bearer {}", self.key));
        let mut req = match body {
            Some(b) => {
                req = req.header("Content-Type", "application/json");
                req.body(b.to_string())
            }
            None => req.finish(),
        };
        req.extensions_mut().insert(crate::guard::InProcess);
        // Boxed: the whole middleware stack's future is large, and the loader's caller may be
        // on a small stack (a test thread); on the heap it costs one allocation per request.
        let resp = Box::pin(self.app.call(req))
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("demo {method} {path}: {e}")))?
            .into_response();
        let status = resp.status();
        let bytes = resp
            .into_body()
            .into_vec()
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("demo {path}: {e}")))?;
        let text = String::from_utf8_lossy(&bytes);
        if !status.is_success() {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "demo {method} {path}: {status} {text}"
            )));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> ApiResult<Value> {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> ApiResult<Value> {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> ApiResult<Value> {
        self.call(Method::PUT, path, Some(body)).await
    }
}

fn id(v: &Value) -> ApiResult<Uuid> {
    v["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("demo: no id in {v}")))
}

/// Loads the year, unless it is there already. Returns whether it loaded it.
pub async fn load(state: &AppState) -> ApiResult<bool> {
    let loaded = match entities::courses::Entity::find()
        .filter(entities::courses::Column::Code.eq("ftt-champion"))
        .first(&state.db)
        .await?
    {
        Some(course) => entities::sessions::Entity::find()
            .filter(entities::sessions::Column::CourseId.eq(course.id))
            .first(&state.db)
            .await?
            .is_some(),
        None => true, // not the demo partnership: leave it alone
    };
    if loaded {
        return Ok(false);
    }
    let ctx = Ctx::system(&state.db, &state.clock);
    let txn = ctx.begin().await?;
    let key = api_keys::create(
        &txn,
        NewApiKey {
            name: "Demo year loader".into(),
            role: KeyRole::Admin,
            organisation_id: None,
            person_id: None,
        },
        ctx.now(),
    )
    .await?;
    txn.commit().await?;
    let client = Client {
        app: crate::app(state.clone()),
        key: key.secret,
    };
    let result = fill(&client, state).await;
    // The loader's key is not left behind, whatever happened.
    let txn = ctx.begin().await?;
    api_keys::revoke(&txn, key.key.id, ctx.now()).await?;
    txn.commit().await?;
    result
}

async fn fill<E: Endpoint>(c: &Client<E>, state: &AppState) -> ApiResult<bool> {
    let courses = c.get("/courses?limit=100").await?;
    let course = |code: &str| -> ApiResult<Uuid> {
        courses["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x["code"] == code)
            .map(id)
            .transpose()?
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("demo: no course {code}")))
    };
    let champion = course("ftt-champion")?;
    let trainer_course = course("ftt-trainer")?;
    let cascade_course = course("ftt-cascade")?;
    let briefing = course("cs-briefing")?;
    let programmes = c.get("/programmes?limit=50").await?;
    let ftt = programmes["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["code"] == "five-to-thrive")
        .map(id)
        .transpose()?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("demo: no Five to Thrive")))?;
    let people = c.get("/people?limit=100").await?;
    let person = |email: &str| -> ApiResult<Uuid> {
        people["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["email"] == email)
            .map(id)
            .transpose()?
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("demo: nobody has {email}")))
    };
    let sian = person("sian.roberts@wiltshire.example")?;
    let tomas = person("tomas.obriain@wiltshire.example")?;
    let priya = person("priya.sharma@wiltshire.example")?;
    let zoe = person("zoe.ashworth@nhs.example")?;
    let lukasz = person("lukasz.nowak@nhs.example")?;
    let ayse = person("ayse.demir@police.example")?;
    let gareth = person("gareth.llewellyn@police.example")?;
    let olena = person("olena.kovalenko@opcc.example")?;
    let chloe = person("chloe.martin@abbeyfield.example")?;
    let dafydd = person("dafydd.apgwyn@kingsbury.example")?;
    let hannah = person("hannah.whitfield@matravers.example")?;
    let amara = person("amara.okafor@wpcc.example")?;
    let bartek = person("bartek.wisniewski@wcil.example")?;
    let li = person("li.na@wiltshirewildlife.example")?;

    let today = london_today(state.clock.now());
    let day = |offset: i64| -> NaiveDate { today + Duration::days(offset) };
    let year = crate::domain::trainers::steps::financial_year(today);

    // The year's charges beside its targets: no-shows and late cancellations cost their partner.
    c.put(
        &format!("/programmes/{ftt}/years/{year}"),
        json!({
            "champion_sessions_target": 12, "champions_target": 600, "trainers_target": 25,
            "reserved_share_bp": 1000,
            "late_cancel_full_day_pence": 5000, "no_show_full_day_pence": 7500,
            "late_cancel_half_day_pence": 2500, "no_show_half_day_pence": 3750,
            "licence_fee_per_champion_pence": 1000,
        }),
    )
    .await?;

    // Two champion sessions already held, each with a no-show.
    let attendees = |present: &[Uuid], absent: &[Uuid]| -> Value {
        let mut all: Vec<Value> = present
            .iter()
            .map(|p| json!({ "person_id": p, "attended_sittings": [1] }))
            .collect();
        all.extend(
            absent
                .iter()
                .map(|p| json!({ "person_id": p, "attended_sittings": [] })),
        );
        Value::Array(all)
    };
    let first = c
        .post(
            "/past-sessions",
            json!({
                "course_id": champion, "capacity": 10,
                "sittings": [{ "date": day(-70), "start": "09:30", "end": "16:00" }],
                "venue": { "name": "Corn Exchange", "address": "Market Place, Devizes" },
                "attendees": attendees(&[sian, tomas, zoe, lukasz, amara], &[gareth]),
                "issue_certificates": true,
            }),
        )
        .await?;
    let second = c
        .post(
            "/past-sessions",
            json!({
                "course_id": champion, "capacity": 10,
                "sittings": [{ "date": day(-35), "start": "09:30", "end": "16:00" }],
                "venue": { "name": "Salisbury Guildhall", "address": "Market Place, Salisbury" },
                "attendees": attendees(&[priya, ayse, chloe, dafydd, bartek], &[hannah]),
                "issue_certificates": true,
            }),
        )
        .await?;

    // Trainers at each step: Siân nominated; Tomás through the trainer course; Zoë and Łukasz
    // accredited (co-delivery with the licensing provider, recorded with a reason).
    let step = |person: Uuid, code: &str, extra: Value| {
        let mut body = json!({
            "programme_id": ftt, "step": code,
            "evidence": format!("Demo: {code} recorded by the training team"),
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        (person, body)
    };
    for who in [sian, tomas, zoe, lukasz] {
        let (p, body) = step(who, "nominated", json!({ "effective_on": day(-60) }));
        c.post(&format!("/trainers/{p}/steps"), body).await?;
    }
    for who in [tomas, zoe, lukasz] {
        c.post(
            "/completions",
            json!({ "person_id": who, "course_id": trainer_course, "completed_on": day(-40) }),
        )
        .await?;
    }
    for who in [zoe, lukasz] {
        for (code, extra) in [
            (
                "co_delivered",
                json!({
                    "override_reason": "Co-delivered with the licensing provider's trainers",
                    "effective_on": day(-30),
                }),
            ),
            ("observed", json!({ "effective_on": day(-25) })),
            ("accredited", json!({ "effective_on": day(-21) })),
        ] {
            let (p, body) = step(who, code, extra);
            c.post(&format!("/trainers/{p}/steps"), body).await?;
        }
    }
    let localities = c.get("/localities?limit=50").await?;
    let locality = localities["items"][0]["id"].clone();
    let orgs = c.get("/organisations?limit=50").await?;
    let org_ids: Vec<Value> = orgs["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| o["id"].clone())
        .collect();
    c.post(
        "/cascade-sessions",
        json!({
            "course_id": cascade_course, "lead_trainer_id": zoe, "co_trainer_id": lukasz,
            "delivered_on": day(-14), "start": "14:00", "duration_minutes": 90,
            "mode": "in_person", "locality_id": locality,
            "attendee_ids": [olena, li], "headcounts": [],
        }),
    )
    .await?;
    c.post(
        "/cascade-sessions",
        json!({
            "course_id": cascade_course, "lead_trainer_id": lukasz,
            "delivered_on": day(-7), "start": "10:00", "duration_minutes": 90,
            "mode": "online", "locality_id": locality, "attendee_ids": [],
            "headcounts": org_ids.iter().take(3).enumerate()
                .map(|(i, o)| json!({ "organisation_id": o, "count": 6 + 4 * i }))
                .collect::<Vec<_>>(),
        }),
    )
    .await?;

    // Funding: the funding partners' contributions and the year's costs.
    for (org, pence) in org_ids
        .iter()
        .take(4)
        .zip([1_200_000, 800_000, 500_000, 150_000])
    {
        let Some(org) = org.as_str() else { continue };
        c.put(
            &format!("/programmes/{ftt}/years/{year}/contributions/{org}"),
            json!({ "amount_pence": pence }),
        )
        .await?;
    }
    for cost in [
        json!({ "category": "venue", "session_id": first["id"], "amount_pence": 18000 }),
        json!({ "category": "trainer", "session_id": second["id"], "amount_pence": 45000 }),
        json!({ "category": "other", "amount_pence": 12500, "description": "Printed workbooks" }),
    ] {
        c.post(&format!("/programmes/{ftt}/years/{year}/costs"), cost)
            .await?;
    }

    // Coming up: a champion session with a reserved voluntary-sector place, and a briefing
    // that is full with a waitlist.
    let upcoming = c
        .post(
            "/sessions",
            json!({
                "course_id": champion, "capacity": 10,
                "sittings": [{ "date": day(24), "start": "09:30", "end": "16:00" }],
                "venue": { "name": "Corn Exchange", "address": "Market Place, Devizes" },
            }),
        )
        .await?;
    let upcoming = id(&upcoming)?;
    for who in [hannah, gareth, li] {
        c.post(
            &format!("/sessions/{upcoming}/bookings"),
            json!({ "person_id": who }),
        )
        .await?;
    }
    let full = c
        .post(
            "/sessions",
            json!({
                "course_id": briefing, "capacity": 3,
                "sittings": [{ "date": day(10), "start": "13:00", "end": "14:30" }],
                "online_url": "https://meet.example.org/cs-briefing",
            }),
        )
        .await?;
    let full = id(&full)?;
    for who in [sian, tomas, chloe, olena, dafydd] {
        c.post(
            &format!("/sessions/{full}/bookings"),
            json!({ "person_id": who }),
        )
        .await?;
    }

    // The demo coordinator signs in as one.
    c.put(
        &format!("/people/{priya}/sign-in-role"),
        json!({ "role": "coordinator" }),
    )
    .await?;
    Ok(true)
}

/// Sign-in links for the demo member of staff and the demo coordinator, valid 15 minutes.
pub async fn sign_in_links(state: &AppState, config: &Config) -> ApiResult<Vec<(String, String)>> {
    let ctx = Ctx::system(&state.db, &state.clock);
    let mut out = Vec::new();
    for (who, email) in [
        ("member of staff", DEMO_STAFF_EMAIL),
        ("coordinator", DEMO_COORDINATOR_EMAIL),
    ] {
        let Some(person) = entities::people::Entity::find()
            .filter(entities::people::Column::EmailKey.eq(email))
            .first(&state.db)
            .await?
        else {
            continue;
        };
        let token = crate::domain::sign_in::issue_link(&ctx, person.id).await?;
        out.push((
            who.to_owned(),
            format!("{}/sign-in/{token}", config.public_url),
        ));
    }
    Ok(out)
}
