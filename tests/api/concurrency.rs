//! Concurrent requests never overbook, and reserved places never go to the wrong sector — with
//! tasks against one app, and with two app instances (replicas) over real sockets on one database.
//! Every test checks the database afterwards, not only the responses.

use std::{collections::HashMap, sync::Arc};

use cascade_tests::{TestApp, http, id_of};
use entities::{
    bookings,
    enums::{BookingStatus, Place, Sector},
    organisations, sessions,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

struct Scenario {
    session: Uuid,
    volunteers: Vec<Uuid>,
    staff: Vec<Uuid>,
}

/// A session of 20 places, 2 of them reserved for the voluntary sector, and `volunteers` +
/// `staff` people who want them.
async fn scenario(app: &TestApp, volunteers: usize, staff: usize) -> Scenario {
    let programme = app.programme("five-to-thrive").await;
    let course = json!({
        "programme_id": programme, "code": "ftt-champion", "title": "Champion training", "kind": "champion",
        "duration_minutes": 360, "cpd_hours": 6, "default_capacity": 20,
        "reserved_places": { "sector": "voluntary", "share_bp": 1000 },
    });
    let course = id_of(
        &app.post("/api/v1/courses", &app.admin, course)
            .await
            .expect(201)
            .body,
    );
    let session = id_of(&app.session(course, 30, 20).await);
    let charity = app
        .organisation("Wiltshire Centre for Independent Living", "voluntary")
        .await;
    let council = app.organisation("Wiltshire Council", "council").await;
    let police = app.organisation("Wiltshire Police", "police").await;
    let mut v = Vec::new();
    for i in 0..volunteers {
        v.push(
            app.person(
                &format!("Volunteer {i}"),
                &format!("v{i}@example.org"),
                charity,
                &format!("V{i}"),
            )
            .await,
        );
    }
    let mut s = Vec::new();
    for i in 0..staff {
        let org = if i % 2 == 0 { council } else { police };
        s.push(
            app.person(
                &format!("Staff {i}"),
                &format!("s{i}@example.org"),
                org,
                &format!("S{i}"),
            )
            .await,
        );
    }
    Scenario {
        session,
        volunteers: v,
        staff: s,
    }
}

/// Checks the database: confirmed within capacity and equal to the session's counters, reserved
/// places only for the voluntary sector, and waitlist sequence numbers distinct.
async fn check_invariants(app: &TestApp, session: Uuid) -> (usize, usize, usize) {
    let rows = bookings::Entity::find()
        .filter(bookings::Column::SessionId.eq(session))
        .all(&app.db)
        .await
        .expect("bookings");
    let sectors: HashMap<Uuid, Sector> = organisations::Entity::find()
        .all(&app.db)
        .await
        .expect("organisations")
        .into_iter()
        .map(|o| (o.id, o.sector))
        .collect();
    let confirmed: Vec<_> = rows
        .iter()
        .filter(|b| b.status == BookingStatus::Confirmed)
        .collect();
    let reserved: Vec<_> = confirmed
        .iter()
        .filter(|b| b.place == Some(Place::Reserved))
        .collect();
    let waiting: Vec<_> = rows
        .iter()
        .filter(|b| b.status == BookingStatus::Waitlisted)
        .collect();
    assert!(
        confirmed.len() <= 20,
        "overbooked: {} confirmed",
        confirmed.len()
    );
    assert!(
        reserved.len() <= 2,
        "{} reserved places taken",
        reserved.len()
    );
    for b in &reserved {
        assert_eq!(
            sectors[&b.organisation_id],
            Sector::Voluntary,
            "a reserved place went to another sector"
        );
    }
    let mut seqs: Vec<i64> = waiting.iter().filter_map(|b| b.waitlist_seq).collect();
    assert_eq!(
        seqs.len(),
        waiting.len(),
        "every waiting booking has a sequence number"
    );
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs.len(),
        waiting.len(),
        "waitlist sequence numbers are distinct"
    );
    let row = sessions::Entity::find_by_id(session)
        .one(&app.db)
        .await
        .expect("session")
        .expect("exists");
    assert_eq!(
        row.confirmed_count as usize,
        confirmed.len(),
        "confirmed counter matches the bookings"
    );
    assert_eq!(
        row.reserved_confirmed as usize,
        reserved.len(),
        "reserved counter matches the bookings"
    );
    assert_eq!(
        row.waitlist_count as usize,
        waiting.len(),
        "waitlist counter matches the bookings"
    );
    let mut people: Vec<Uuid> = rows
        .iter()
        .filter(|b| {
            matches!(
                b.status,
                BookingStatus::Confirmed | BookingStatus::Waitlisted
            )
        })
        .map(|b| b.person_id)
        .collect();
    let active = people.len();
    people.sort();
    people.dedup();
    assert_eq!(people.len(), active, "nobody holds two active bookings");
    (confirmed.len(), reserved.len(), waiting.len())
}

/// Waitlist positions as the API reports them, in queue order.
async fn positions(app: &TestApp, session: Uuid) -> Vec<i64> {
    let items = cascade_tests::collect_all(
        app,
        &format!("/api/v1/sessions/{session}/bookings?status=waitlisted"),
        &app.admin,
        200,
    )
    .await;
    let mut positions: Vec<i64> = items
        .iter()
        .filter_map(|b| b["waitlist_position"].as_i64())
        .collect();
    positions.sort_unstable();
    positions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_bookings_for_twenty_places_confirm_exactly_twenty() {
    let app = Arc::new(TestApp::spawn().await);
    let s = scenario(&app, 15, 85).await;
    let mut everyone: Vec<Uuid> = s.staff.iter().chain(&s.volunteers).copied().collect();
    everyone.sort(); // mixes the sectors in request order
    let mut tasks = tokio::task::JoinSet::new();
    for person in everyone {
        let app = app.clone();
        let session = s.session;
        tasks.spawn(async move {
            let reply = app.book(session, person, &app.admin).await;
            (reply.status.as_u16(), reply.text)
        });
    }
    while let Some(outcome) = tasks.join_next().await {
        let (status, text) = outcome.expect("task");
        assert_eq!(status, 201, "{text}");
    }
    let (confirmed, reserved, waiting) = check_invariants(&app, s.session).await;
    assert_eq!(confirmed, 20);
    assert_eq!(
        reserved, 2,
        "with volunteers asking, both reserved places are theirs"
    );
    assert_eq!(waiting, 80);
    assert_eq!(
        positions(&app, s.session).await,
        (1..=80).collect::<Vec<i64>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cancellations_and_bookings_never_push_confirmed_above_capacity() {
    let app = Arc::new(TestApp::spawn().await);
    let s = scenario(&app, 10, 50).await;
    let mut first = Vec::new();
    for person in s.staff.iter().take(25) {
        first.push(id_of(
            &app.book(s.session, *person, &app.admin)
                .await
                .expect(201)
                .body,
        ));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for booking in first.into_iter().step_by(2) {
        let app = app.clone();
        tasks.spawn(async move {
            app.post(
                &format!("/api/v1/bookings/{booking}/cancel"),
                &app.admin,
                json!({}),
            )
            .await
            .status
            .as_u16()
        });
    }
    for person in s.staff.iter().skip(25).chain(&s.volunteers).copied() {
        let app = app.clone();
        let session = s.session;
        tasks.spawn(async move { app.book(session, person, &app.admin).await.status.as_u16() });
    }
    while let Some(status) = tasks.join_next().await {
        assert!(matches!(status.expect("task"), 200 | 201));
    }
    let (confirmed, reserved, _) = check_invariants(&app, s.session).await;
    assert_eq!(
        confirmed, 20,
        "freed places are refilled from the waitlist and new bookings"
    );
    assert_eq!(reserved, 2);
    let waiting = positions(&app, s.session).await;
    assert_eq!(waiting, (1..=waiting.len() as i64).collect::<Vec<i64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_with_their_own_pools_over_real_sockets_never_overbook() {
    let app = TestApp::spawn().await;
    let s = scenario(&app, 15, 85).await;
    let replicas = [app.serve_replica().await, app.serve_replica().await];
    let mut everyone: Vec<Uuid> = s.staff.iter().chain(&s.volunteers).copied().collect();
    everyone.sort();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, person) in everyone.into_iter().enumerate() {
        let addr = replicas[i % 2].clone();
        let key = app.admin.clone();
        let path = format!("/api/v1/sessions/{}/bookings", s.session);
        tasks.spawn(async move {
            http(&addr, "POST", &path, &key, &json!({ "person_id": person })).await
        });
    }
    while let Some(reply) = tasks.join_next().await {
        let (status, body) = reply.expect("task");
        assert_eq!(status, 201, "{body}");
    }
    let (confirmed, reserved, waiting) = check_invariants(&app, s.session).await;
    assert_eq!((confirmed, reserved, waiting), (20, 2, 80));
    assert_eq!(
        positions(&app, s.session).await,
        (1..=80).collect::<Vec<i64>>()
    );
}

/// A read's key is checked on a connection kept for its handler's reads; a handler that also
/// reads through the pool (or writes) needs a second connection meanwhile. Many such reads at
/// once must not take every connection and then wait for each other: only half the pool is
/// ever kept (the pool gives up waiting after 30 s, so a deadlock answers 500).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_reads_never_wait_on_each_others_connections() {
    let app = Arc::new(TestApp::spawn().await);
    let s = scenario(&app, 1, 1).await;
    let person = s.staff[0];
    let session = s.session;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..300 {
        let app = app.clone();
        tasks.spawn(async move {
            // Handlers that read through the pool beside the kept connection (with every
            // connection keepable, this deadlocks within the first few hundred).
            let path = if i % 2 == 0 {
                format!("/api/v1/people/{person}")
            } else {
                format!("/api/v1/sessions/{session}")
            };
            let reply = app.get(&path, &app.admin).await;
            (path, reply.status.as_u16(), reply.text)
        });
    }
    while let Some(outcome) = tasks.join_next().await {
        let (path, status, text) = outcome.expect("task");
        assert_eq!(status, 200, "{path}: {text}");
    }
}
