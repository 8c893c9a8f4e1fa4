//! Webhooks, delivered to a real HTTP receiver on 127.0.0.1: signed, in order, retried, scoped
//! to the partner, turned off by 410, logged and redeliverable.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use cascade::domain::api_keys::KeyRole;
use cascade_tests::{Reply, TestApp, id_of};
use chrono::Duration;
use hmac::{Hmac, KeyInit, Mac};
use poem::http::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "whsec-test-0123456789";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    event: String,
    delivery: String,
    signature: String,
    body: Vec<u8>,
}

/// A webhook receiver on a real socket: it answers with the scripted statuses in turn, then 200.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    url: String,
    /// How long it takes to answer.
    delay_ms: u64,
}

impl Receiver {
    async fn start(script: &[u16]) -> Self {
        Self::start_slow(script, 0).await
    }

    async fn start_slow(script: &[u16], delay_ms: u64) -> Self {
        let mut receiver = Self {
            delay_ms,
            ..Self::default()
        };
        receiver
            .script
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(script);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        drop(listener);
        let state = receiver.clone();
        // A redirect points back here, so a client that followed it would be seen to.
        let location = format!("http://{addr}/hooks/redirected");
        let endpoint = poem::endpoint::make(move |mut req: poem::Request| {
            let state = state.clone();
            let location = location.clone();
            async move {
                let header = |name: &str| req.header(name).unwrap_or("").to_owned();
                let (event, delivery, signature) = (
                    header("cascade-event"),
                    header("cascade-delivery"),
                    header("cascade-signature"),
                );
                let body = req.take_body().into_vec().await.unwrap_or_default();
                tokio::time::sleep(std::time::Duration::from_millis(state.delay_ms)).await;
                state
                    .got
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(Received {
                        event,
                        delivery,
                        signature,
                        body,
                    });
                let status = state
                    .script
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .pop_front()
                    .unwrap_or(200);
                let mut answer = poem::Response::builder()
                    .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
                if (300..400).contains(&status) {
                    answer = answer.header("location", location);
                }
                answer.finish()
            }
        });
        let server = poem::Server::new(poem::listener::TcpListener::bind(addr.to_string()));
        tokio::spawn(async move { server.run(endpoint).await });
        cascade_tests::wait_listening(addr).await;
        receiver.url = format!("http://{addr}/hooks/cascade");
        receiver
    }

    fn got(&self) -> Vec<Received> {
        self.got
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Runs the delivery worker at the test clock's time until the receiver has `expected` requests
/// (on PostgreSQL an event is queued once every older transaction in the cluster has ended).
async fn settle(app: &TestApp, receiver: &Receiver, expected: usize) -> Vec<Received> {
    for _ in 0..200 {
        cascade::domain::webhooks::deliver_due(
            &cascade::ctx::Ctx::system(&app.db, &app.clock),
            &targets(app),
        )
        .await
        .expect("delivery run");
        if receiver.got().len() >= expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    receiver.got()
}

/// Checks a request's signature as a receiver would, with its own HMAC.
fn verify(received: &Received, secret: &str) -> i64 {
    let (t, v1) = received
        .signature
        .split_once(",v1=")
        .unwrap_or_else(|| panic!("bad signature header {:?}", received.signature));
    let t = t.trim_start_matches("t=");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&received.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, expected, "signature of {}", received.event);
    t.parse().expect("timestamp")
}

async fn register(app: &TestApp, key: &str, url: &str, types: &[&str]) -> Value {
    app.post(
        "/api/v1/webhooks",
        key,
        json!({ "url": url, "secret": SECRET, "event_types": types }),
    )
    .await
    .expect(201)
    .body
}

#[tokio::test]
async fn deliveries_are_signed_sent_in_order_retried_logged_and_redeliverable() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(&[500]).await;
    let org = app.organisation("Council", "council").await;
    let a = app.person("Siân", "sian@example.org", org, "1").await;
    let b = app.person("Zoë", "zoe@example.org", org, "2").await;
    let programme = app.programme("mecc").await;
    let course = app.course(programme, "mecc-skills").await;
    let session = id_of(&app.session(course, 20, 1).await);
    let hook = register(
        &app,
        &app.admin,
        &receiver.url,
        &[
            "booking.confirmed",
            "booking.waitlisted",
            "booking.cancelled",
            "booking.promoted",
        ],
    )
    .await;
    let hook_id = id_of(&hook);
    assert!(hook.get("secret").is_none(), "the secret is never shown");

    let first = id_of(&app.book(session, a, &app.admin).await.expect(201).body);
    app.book(session, b, &app.admin).await.expect(201);
    app.post(
        &format!("/api/v1/bookings/{first}/cancel"),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);

    // The first attempt fails; nothing after it is sent until it succeeds.
    let got = settle(&app, &receiver, 1).await;
    assert_eq!(got.len(), 1);
    cascade::domain::webhooks::deliver_due(
        &cascade::ctx::Ctx::system(&app.db, &app.clock),
        &targets(&app),
    )
    .await
    .expect("run");
    assert_eq!(receiver.got().len(), 1, "the retry waits for its backoff");

    app.clock.advance(Duration::seconds(31));
    let got = settle(&app, &receiver, 5).await;
    let events: Vec<&str> = got.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "booking.confirmed",
            "booking.confirmed",
            "booking.waitlisted",
            "booking.cancelled",
            "booking.promoted"
        ]
    );
    assert_eq!(
        got[0].delivery, got[1].delivery,
        "a retry is the same delivery"
    );
    for r in &got {
        let t = verify(r, SECRET);
        assert!((app.clock.now().timestamp() - t).abs() <= 60);
        let body: Value = serde_json::from_slice(&r.body).expect("json body");
        assert_eq!(body["type"], r.event.as_str());
        assert_eq!(body["organisation_id"], json!(org));
    }
    let body: Value = serde_json::from_slice(&got[1].body).expect("json");
    assert_eq!(body["data"]["booking_id"], json!(first));
    assert_eq!(body["data"]["person_id"], json!(a));

    let log = app
        .get(
            &format!("/api/v1/webhooks/{hook_id}/deliveries"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    let items = log["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 4);
    assert!(
        items.iter().all(|d| d["status"] == "delivered"),
        "{items:?}"
    );
    assert_eq!(items[0]["attempts"], 2);
    assert_eq!(items[0]["last_status_code"], 200);
    assert_eq!(items[0]["id"], got[0].delivery.as_str());

    let redelivered = app
        .post(
            &format!(
                "/api/v1/webhooks/{hook_id}/deliveries/{}/redeliver",
                got[0].delivery
            ),
            &app.admin,
            json!({}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(redelivered["status"], "pending");
    let got = settle(&app, &receiver, 6).await;
    assert_eq!(got.len(), 6);
    assert_eq!(got[5].delivery, got[0].delivery);
}

#[tokio::test]
async fn a_delivery_failing_for_24_hours_is_given_up_and_the_next_goes() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(&[500, 500]).await;
    let org = app.organisation("Council", "council").await;
    let a = app.person("A", "a@example.org", org, "1").await;
    let b = app.person("B", "b@example.org", org, "2").await;
    let programme = app.programme("mecc").await;
    let course = app.course(programme, "mecc-skills").await;
    let session = id_of(&app.session(course, 20, 10).await);
    let hook = id_of(&register(&app, &app.admin, &receiver.url, &["booking.confirmed"]).await);
    app.book(session, a, &app.admin).await.expect(201);
    app.book(session, b, &app.admin).await.expect(201);
    assert_eq!(settle(&app, &receiver, 1).await.len(), 1);

    app.clock.advance(Duration::hours(25));
    let got = settle(&app, &receiver, 3).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].delivery, got[1].delivery);
    assert_ne!(got[2].delivery, got[0].delivery);
    let failed = app
        .get(
            &format!("/api/v1/webhooks/{hook}/deliveries?status=failed"),
            &app.admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(failed["items"][0]["attempts"], 2);
    assert_eq!(
        failed["items"][0]["last_error"],
        "the receiver answered 500"
    );
}

#[tokio::test]
async fn a_partner_receives_only_its_staff_events_and_a_410_turns_a_subscription_off() {
    let app = TestApp::spawn().await;
    let council = app.organisation("Council", "council").await;
    let police = app.organisation("Police", "police").await;
    let officer = app.person("Officer", "o@example.org", council, "1").await;
    let constable = app.person("Constable", "c@example.org", police, "2").await;
    let partner = app.key(KeyRole::Partner, Some(police), None).await;
    let programme = app.programme("f2t").await;
    let course = app.course(programme, "f2t-core").await;
    let session = id_of(&app.session(course, 20, 10).await);

    let receiver = Receiver::start(&[]).await;
    let hook = register(
        &app,
        &partner,
        &receiver.url,
        &["booking.confirmed", "session.cancelled"],
    )
    .await;
    assert_eq!(hook["organisation_id"], json!(police));
    app.post(
        "/api/v1/webhooks",
        &partner,
        json!({ "url": receiver.url, "secret": SECRET, "event_types": ["booking.confirmed"],
                "organisation_id": council }),
    )
    .await
    .problem(403);
    let gone = Receiver::start(&[410]).await;
    let coordinators = id_of(&register(&app, &app.admin, &gone.url, &["booking.confirmed"]).await);
    let listed = app.get("/api/v1/webhooks", &partner).await.expect(200).body;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    app.get(&format!("/api/v1/webhooks/{coordinators}"), &partner)
        .await
        .problem(404);

    app.book(session, officer, &app.admin).await.expect(201);
    app.book(session, constable, &app.admin).await.expect(201);
    app.post(
        &format!("/api/v1/sessions/{session}/cancel"),
        &app.admin,
        json!({ "reason": "Venue flooded" }),
    )
    .await
    .expect(200);
    let got = settle(&app, &receiver, 2).await;
    let events: Vec<&str> = got.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(events, ["booking.confirmed", "session.cancelled"]);
    let body: Value = serde_json::from_slice(&got[0].body).expect("json");
    assert_eq!(body["data"]["person_id"], json!(constable));

    // The coordinator's receiver answers 410: the subscription is turned off and sends no more.
    assert_eq!(settle(&app, &gone, 1).await.len(), 1);
    let off = app
        .get(&format!("/api/v1/webhooks/{coordinators}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(off["active"], false);
    assert!(
        off["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("410"))
    );
    cascade::domain::webhooks::deliver_due(
        &cascade::ctx::Ctx::system(&app.db, &app.clock),
        &targets(&app),
    )
    .await
    .expect("run");
    assert_eq!(gone.got().len(), 1);
    let on = app
        .patch(
            &format!("/api/v1/webhooks/{coordinators}"),
            &app.admin,
            json!({ "active": true }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(on["active"], true);
    assert!(on["disabled_reason"].is_null());
    assert_eq!(
        settle(&app, &gone, 2).await.len(),
        2,
        "it resumes where it stopped"
    );
}

#[tokio::test]
async fn a_bad_registration_is_refused_field_by_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let problem = app
        .post(
            "/api/v1/webhooks",
            &app.admin,
            json!({ "url": "ftp://example.org/x", "secret": "short", "event_types": ["booking.exploded"] }),
        )
        .await
        .problem(422);
    assert_eq!(
        Reply::error_fields(&problem),
        ["event_types[0]", "secret", "url"]
    );
    let problem = app
        .post(
            "/api/v1/webhooks",
            &app.admin,
            json!({ "url": "https://hr.example/hooks", "secret": SECRET, "event_types": [] }),
        )
        .await
        .problem(422);
    assert_eq!(Reply::error_fields(&problem), ["event_types"]);
    assert_eq!(app.count(entities::webhooks::Entity).await, 0);
}

#[tokio::test]
async fn two_workers_with_their_own_pools_send_each_event_once() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start_slow(&[], 50).await;
    let org = app.organisation("Council", "council").await;
    let programme = app.programme("mecc").await;
    let course = app.course(programme, "mecc-skills").await;
    let session = id_of(&app.session(course, 20, 10).await);
    register(&app, &app.admin, &receiver.url, &["booking.confirmed"]).await;
    for i in 0..6 {
        let person = app
            .person(
                &format!("P{i}"),
                &format!("p{i}@example.org"),
                org,
                &format!("{i}"),
            )
            .await;
        app.book(session, person, &app.admin).await.expect(201);
    }
    let other = cascade::db::connect(&app.url).await.expect("second pool");
    for _ in 0..200 {
        let rules = targets(&app);
        let (first, second) = (
            cascade::ctx::Ctx::system(&app.db, &app.clock),
            cascade::ctx::Ctx::system(&other, &app.clock),
        );
        let (one, two) = tokio::join!(
            cascade::domain::webhooks::deliver_due(&first, &rules),
            cascade::domain::webhooks::deliver_due(&second, &rules),
        );
        one.expect("first replica");
        two.expect("second replica");
        if receiver.got().len() >= 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let mut deliveries: Vec<String> = receiver.got().into_iter().map(|r| r.delivery).collect();
    assert_eq!(deliveries.len(), 6);
    deliveries.sort();
    deliveries.dedup();
    assert_eq!(deliveries.len(), 6, "no event was sent twice");
}

fn targets(app: &TestApp) -> cascade::domain::webhook_targets::Targets {
    cascade::domain::webhook_targets::Targets::from_config(&app.state.config)
}

#[tokio::test]
async fn webhooks_never_reach_internal_addresses_at_registration_or_at_sending() {
    let strict = TestApp::spawn_with(|c| {
        c.webhook_allow_http = false;
        c.webhook_allow_hosts.clear();
    })
    .await;
    for url in [
        "http://hooks.example/cascade",
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://10.0.0.5/hook",
        "https://192.168.1.20/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.100.100.200/hook",
        "https://[::1]/hook",
        "https://[fd00:ec2::254]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
    ] {
        let problem = strict
            .post(
                "/api/v1/webhooks",
                &strict.admin,
                json!({ "url": url, "secret": SECRET, "event_types": ["booking.confirmed"] }),
            )
            .await
            .problem(422);
        assert_eq!(Reply::error_fields(&problem), ["url"], "{url}: {problem}");
    }
    assert_eq!(strict.count(entities::webhooks::Entity).await, 0);
    // A public name is accepted (here it does not resolve yet; every send checks again).
    strict
        .post(
            "/api/v1/webhooks",
            &strict.admin,
            json!({ "url": "https://hooks.example/cascade", "secret": SECRET,
                    "event_types": ["booking.confirmed"] }),
        )
        .await
        .expect(201);

    // Subscriptions the operator allowed (the suite allows 127.0.0.1) are refused at sending
    // once the rules no longer allow them: by address, and by a name that resolves to it.
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(&[]).await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    register(&app, &app.admin, &receiver.url, &["booking.confirmed"]).await;
    register(&app, &app.admin, &by_name, &["booking.confirmed"]).await;
    let org = app.organisation("Council", "council").await;
    let person = app.person("Zoë", "zoe@example.org", org, "Z").await;
    let programme = app.programme("mecc").await;
    let course = app.course(programme, "mecc-skills").await;
    let session = id_of(&app.session(course, 20, 10).await);
    app.book(session, person, &app.admin).await.expect(201);
    // (http stays allowed here, so that what refuses them is the address.)
    let mut rules = (*strict.state.config).clone();
    rules.webhook_allow_http = true;
    let rules = cascade::domain::webhook_targets::Targets::from_config(&rules);
    // Each run sends what is due and returns; it runs until both refusals are logged (on
    // PostgreSQL an event is queued only once older transactions in the cluster have ended).
    let logged_errors = || async {
        use sea_orm::EntityTrait;
        entities::webhook_deliveries::Entity::find()
            .all(&app.db)
            .await
            .expect("deliveries")
            .into_iter()
            .filter_map(|d| d.last_error)
            .collect::<Vec<String>>()
    };
    for _ in 0..200 {
        cascade::domain::webhooks::deliver_due(
            &cascade::ctx::Ctx::system(&app.db, &app.clock),
            &rules,
        )
        .await
        .expect("delivery run");
        if logged_errors().await.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(receiver.got().is_empty(), "an internal address was reached");
    let errors = logged_errors().await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("loopback")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("internal addresses")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn a_receiver_that_redirects_is_not_followed() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(&[307]).await;
    register(&app, &app.admin, &receiver.url, &["booking.confirmed"]).await;
    let org = app.organisation("Council", "council").await;
    let person = app.person("Zoë", "zoe@example.org", org, "Z").await;
    let programme = app.programme("mecc").await;
    let course = app.course(programme, "mecc-skills").await;
    let session = id_of(&app.session(course, 20, 10).await);
    app.book(session, person, &app.admin).await.expect(201);
    // A delivery run sends and awaits each request: a followed redirect would have reached the
    // receiver before the run returned.
    let got = settle(&app, &receiver, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(receiver.got().len(), 1, "the redirect was followed");
}

#[tokio::test]
async fn a_new_subscription_gets_only_what_happens_after_it_is_registered() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Council", "council").await;
    let programme = app.programme("mecc").await;
    let course = app.course(programme, "mecc-skills").await;
    let session = id_of(&app.session(course, 20, 10).await);
    // On PostgreSQL, a transaction that stays open (here, as another database's could) holds
    // the feed readers' horizon back: the history below is committed but not yet "visible" to
    // them, and must still count as history for the new subscription.
    let open = if app.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        let txn = sea_orm::TransactionTrait::begin(&app.db)
            .await
            .expect("begin");
        sea_orm::ConnectionTrait::execute_unprepared(&txn, "SELECT pg_current_xact_id()")
            .await
            .expect("an xid");
        Some(txn)
    } else {
        None
    };
    // History: three bookings before anyone subscribes.
    for i in 0..3 {
        let person = app
            .person(
                &format!("Old {i}"),
                &format!("old{i}@example.org"),
                org,
                &format!("O{i}"),
            )
            .await;
        app.book(session, person, &app.admin).await.expect(201);
    }
    let receiver = Receiver::start(&[]).await;
    register(&app, &app.admin, &receiver.url, &["booking.confirmed"]).await;
    if let Some(txn) = open {
        txn.commit().await.expect("commit");
    }
    let newcomer = app.person("New", "new@example.org", org, "N").await;
    let booking = app
        .book(session, newcomer, &app.admin)
        .await
        .expect(201)
        .body;
    let got = settle(&app, &receiver, 1).await;
    // A few more runs: nothing older may follow.
    for _ in 0..10 {
        cascade::domain::webhooks::deliver_due(
            &cascade::ctx::Ctx::system(&app.db, &app.clock),
            &targets(&app),
        )
        .await
        .expect("delivery run");
    }
    let got_after = receiver.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got_after.len(), 1, "history was sent");
    let body: Value = serde_json::from_slice(&got_after[0].body).expect("json");
    assert_eq!(body["subject_id"], booking["id"]);
}
