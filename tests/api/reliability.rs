//! Reliability, security and data protection: the audit log, a person's export and erasure,
//! hardening (headers, CORS, limits, timeouts) and metrics.

use cascade::domain::api_keys::KeyRole;
use cascade_tests::{TestApp, id_of};
use sea_orm::{ConnectionTrait, DbBackend};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::progression::{ftt, run_session};

async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/audit?limit=200&{query}"), &app.admin)
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn every_write_is_audited_with_who_what_and_when_and_refusals_record_nothing() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Wiltshire Police", "police").await;
    let coordinator = app.key(KeyRole::Coordinator, None, None).await;
    let coordinator_id = app
        .get("/api/v1/api-keys?role=coordinator", &app.admin)
        .await
        .expect(200)
        .body["items"][0]["id"]
        .as_str()
        .unwrap_or("")
        .to_owned();

    let person = id_of(
        &app.post(
            "/api/v1/people",
            &coordinator,
            json!({
                "name": "Zoë Ashworth-Łukasiewicz",
                "email": "zoe@police.example",
                "memberships": [{ "organisation_id": org, "external_id": "P-1" }],
            }),
        )
        .await
        .expect(201)
        .body,
    );
    app.patch(
        &format!("/api/v1/people/{person}"),
        &coordinator,
        json!({ "name": "Zoë Ashworth", "email": "zoe.a@police.example" }),
    )
    .await
    .expect(200);

    let entries = audit(&app, &format!("resource=person&resource_id={person}")).await;
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert_eq!(entries[0]["action"], "create");
    assert_eq!(entries[1]["action"], "update");
    for e in &entries {
        assert_eq!(e["role"], "coordinator");
        assert_eq!(e["key_id"], coordinator_id);
        assert_eq!(e["person_id"], person.to_string());
        assert!(e["at"].as_str().is_some_and(|at| at.len() >= 20), "{e}");
    }
    assert_eq!(entries[1]["summary"], "changed email, name");
    let all = serde_json::to_string(&audit(&app, "").await).unwrap_or_default();
    assert!(
        !all.contains("Zoë") && !all.contains("zoe"),
        "no personal details in summaries: {all}"
    );

    // Filters: by key, by action, by time.
    assert_eq!(
        audit(&app, &format!("key_id={coordinator_id}")).await.len(),
        2
    );
    assert_eq!(audit(&app, "action=update").await.len(), 1);
    let later = (app.clock.now() + chrono::Duration::hours(1)).to_rfc3339();
    let later = later.replace('+', "%2B");
    assert_eq!(audit(&app, &format!("from={later}")).await.len(), 0);
    app.get(
        "/api/v1/audit?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z",
        &app.admin,
    )
    .await
    .problem(422);

    // A refused write writes nothing, not even to the log.
    let before = audit(&app, "").await.len();
    app.post(
        "/api/v1/people",
        &coordinator,
        json!({ "name": "", "email": "not an email", "memberships": [] }),
    )
    .await
    .problem(422);
    assert_eq!(audit(&app, "").await.len(), before);

    // Admins and coordinators read the log; no one else.
    app.get("/api/v1/audit", &coordinator).await.expect(200);
    let partner = app.key(KeyRole::Partner, Some(org), None).await;
    app.get("/api/v1/audit", &partner).await.problem(403);
    let learner = app.key(KeyRole::Learner, None, Some(person)).await;
    app.get("/api/v1/audit", &learner).await.problem(403);
}

#[tokio::test]
async fn a_key_cannot_revoke_itself() {
    let app = TestApp::spawn().await;
    let keys = app.get("/api/v1/api-keys", &app.admin).await.expect(200);
    let own = keys.body["items"][0]["id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let problem = app
        .post(
            &format!("/api/v1/api-keys/{own}/revoke"),
            &app.admin,
            json!({}),
        )
        .await
        .problem(409);
    assert!(problem["type"].as_str().unwrap_or("").ends_with("/own-key"));
    app.get("/api/v1/api-keys", &app.admin).await.expect(200);
}

#[tokio::test]
async fn a_person_can_export_everything_held_about_them_and_only_they_or_coordinators_can() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let zoe = app
        .person(
            "Zoë Łukasiewicz-Ó Briain",
            "zoe@example.org",
            org,
            "HR-ZOE-9",
        )
        .await;
    let other = app.person("Olena", "olena@example.org", org, "O-1").await;
    run_session(&app, f.champion, &[zoe]).await;
    let learner = app.key(KeyRole::Learner, None, Some(zoe)).await;
    app.post(
        "/api/v1/calendar-feeds",
        &learner,
        json!({ "person_id": zoe }),
    )
    .await
    .expect(201);

    let export = app
        .get(&format!("/api/v1/people/{zoe}/export"), &learner)
        .await
        .expect(200)
        .body;
    assert_eq!(export["person"]["name"], "Zoë Łukasiewicz-Ó Briain");
    assert_eq!(export["memberships"][0]["external_id"], "HR-ZOE-9");
    assert_eq!(export["bookings"].as_array().map(Vec::len), Some(1));
    assert_eq!(export["attendance"].as_array().map(Vec::len), Some(1));
    assert_eq!(export["completions"].as_array().map(Vec::len), Some(1));
    assert_eq!(export["certificates"].as_array().map(Vec::len), Some(1));
    assert_eq!(export["calendar_feeds"].as_array().map(Vec::len), Some(1));
    assert_eq!(export["api_keys"].as_array().map(Vec::len), Some(1));
    assert!(
        export["audit"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["resource"] == "booking")),
        "{export:#}"
    );
    let text = export.to_string();
    assert!(!text.contains("token_hash") && !text.contains("code_hash"));

    app.get(&format!("/api/v1/people/{zoe}/export"), &app.admin)
        .await
        .expect(200);
    app.get(&format!("/api/v1/people/{other}/export"), &learner)
        .await
        .problem(404);
    let partner = app.key(KeyRole::Partner, Some(org), None).await;
    app.get(&format!("/api/v1/people/{zoe}/export"), &partner)
        .await
        .problem(403);
}

#[tokio::test]
async fn erasure_replaces_identity_keeps_the_figures_and_revokes_feeds_keys_and_certificates() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let zoe = app
        .person(
            "Zoë Łukasiewicz-Ó Briain",
            "zoe@example.org",
            org,
            "HR-ZOE-9",
        )
        .await;
    let olena = app.person("Olena", "olena@example.org", org, "O-1").await;
    let session = run_session(&app, f.champion, &[zoe, olena]).await;
    let learner = app.key(KeyRole::Learner, None, Some(zoe)).await;
    let feed = app
        .post(
            "/api/v1/calendar-feeds",
            &learner,
            json!({ "person_id": zoe }),
        )
        .await
        .expect(201)
        .body;
    let feed_path = cascade_tests::feed_path(&feed);
    app.request("GET", &feed_path, None, None).await.expect(200);
    let cert = app
        .get(&format!("/api/v1/certificates?person_id={zoe}"), &app.admin)
        .await
        .expect(200)
        .body["items"][0]
        .clone();
    let code = cert["verification_code"].as_str().unwrap_or("").to_owned();
    let bookings_before = app
        .get(&format!("/api/v1/sessions/{session}/bookings"), &app.admin)
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .map(Vec::len);
    let progress_before = app
        .get(
            &format!("/api/v1/champions?programme_id={}", f.programme),
            &app.admin,
        )
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .map(Vec::len);

    let coordinator = app.key(KeyRole::Coordinator, None, None).await;
    app.post(
        &format!("/api/v1/people/{zoe}/erase"),
        &coordinator,
        json!({}),
    )
    .await
    .problem(403);
    let erased = app
        .post(
            &format!("/api/v1/people/{zoe}/erase"),
            &app.admin,
            json!({}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(erased["name"], "Erased person");
    assert!(
        erased["email"]
            .as_str()
            .is_some_and(|e| e.ends_with("@erased.invalid") && !e.contains("zoe")),
        "{erased}"
    );
    assert_eq!(erased["active"], false);
    assert!(erased["erased_at"].is_string());
    assert!(erased["memberships"][0]["external_id"].is_null());

    // Nothing identifying is left in what the API returns about them. (The HR id holds an `O`,
    // which certificate codes never do, so a code in the export cannot match it by chance.)
    let export = app
        .get(&format!("/api/v1/people/{zoe}/export"), &app.admin)
        .await
        .expect(200)
        .body
        .to_string();
    assert!(
        !export.contains("Zoë") && !export.contains("zoe@") && !export.contains("HR-ZOE-9"),
        "{export}"
    );

    // The feed and the person's key stop working; the certificate verifies as revoked.
    app.request("GET", &feed_path, None, None)
        .await
        .problem(404);
    app.get("/api/v1/courses", &learner).await.problem(401);
    let verified = app
        .request("GET", &format!("/api/v1/verify/{code}"), None, None)
        .await
        .expect(200)
        .body;
    assert_eq!(verified["status"], "revoked", "{verified}");
    assert!(!verified.to_string().contains("Zoë"), "{verified}");

    // Bookings, completions and champions stay, so the figures do not move.
    let bookings_after = app
        .get(&format!("/api/v1/sessions/{session}/bookings"), &app.admin)
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .map(Vec::len);
    assert_eq!(bookings_before, bookings_after);
    let progress_after = app
        .get(
            &format!("/api/v1/champions?programme_id={}", f.programme),
            &app.admin,
        )
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .map(Vec::len);
    assert_eq!(progress_before, progress_after);

    let log = audit(&app, &format!("action=erase&person_id={zoe}")).await;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["role"], "admin");
    let again = app
        .post(
            &format!("/api/v1/people/{zoe}/erase"),
            &app.admin,
            json!({}),
        )
        .await
        .problem(409);
    assert!(
        again["type"]
            .as_str()
            .unwrap_or("")
            .ends_with("/already-erased")
    );
    app.post(
        &format!("/api/v1/people/{}/erase", Uuid::now_v7()),
        &app.admin,
        json!({}),
    )
    .await
    .problem(404);
}

#[tokio::test]
async fn responses_carry_security_headers_and_cors_is_off_unless_configured() {
    let app = TestApp::spawn().await;
    let reply = app
        .request_with(
            "GET",
            "/api/v1/courses",
            Some(&app.admin),
            &[("Origin", "https://evil.example")],
            None,
        )
        .await
        .expect(200);
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(
            reply.headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{name}"
        );
    }
    assert!(reply.headers.get("x-request-id").is_some());
    assert!(reply.headers.get("access-control-allow-origin").is_none());
    let problem = app.request("GET", "/api/v1/courses", None, None).await;
    assert_eq!(problem.status.as_u16(), 401);
    assert!(problem.headers.get("x-content-type-options").is_some());

    let app = TestApp::spawn_with(|c| c.cors_origins = vec!["https://hr.example".into()]).await;
    let allowed = app
        .request_with(
            "GET",
            "/api/v1/courses",
            Some(&app.admin),
            &[("Origin", "https://hr.example")],
            None,
        )
        .await
        .expect(200);
    assert_eq!(
        allowed
            .headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://hr.example")
    );
    let refused = app
        .request_with(
            "GET",
            "/api/v1/courses",
            Some(&app.admin),
            &[("Origin", "https://evil.example")],
            None,
        )
        .await;
    assert_eq!(refused.status.as_u16(), 403);
    assert_eq!(refused.content_type, "application/problem+json");
}

#[tokio::test]
async fn repeated_authentication_failures_from_one_address_are_limited_without_locking_out_good_keys()
 {
    let app = TestApp::spawn_with(|c| c.auth_failures_per_minute = 3).await;
    for _ in 0..3 {
        app.get("/api/v1/courses", "cas_not-a-real-key")
            .await
            .problem(401);
    }
    let limited = app.get("/api/v1/courses", "cas_not-a-real-key").await;
    assert_eq!(limited.status.as_u16(), 429);
    assert!(limited.headers.get("retry-after").is_some());
    // A good key from that address (partners share proxies and NAT) carries on; the bad one
    // stays limited, and nothing it sent was read or written.
    app.get("/api/v1/courses", &app.admin).await.expect(200);
    let sessions_before = app.count(entities::sessions::Entity).await;
    app.post(
        "/api/v1/sessions",
        "cas_not-a-real-key",
        serde_json::json!({}),
    )
    .await
    .problem(429);
    assert_eq!(app.count(entities::sessions::Entity).await, sessions_before);
    assert_eq!(app.count(entities::idempotency_keys::Entity).await, 0);
}

#[tokio::test]
async fn calendar_feeds_are_limited_per_address() {
    let app = TestApp::spawn_with(|c| c.public_per_minute = 2).await;
    for _ in 0..2 {
        app.request("GET", "/api/v1/feeds/cal_nothing/calendar.ics", None, None)
            .await
            .problem(404);
    }
    app.request("GET", "/api/v1/feeds/cal_nothing/calendar.ics", None, None)
        .await
        .problem(429);
}

#[tokio::test]
async fn bodies_over_a_routes_limit_are_refused_and_requests_time_out() {
    let app = TestApp::spawn().await;
    let big = format!(
        "{{\"name\": \"{}\"}}",
        "x".repeat(cascade::guard::MAX_BODY_BYTES)
    );
    let reply = app
        .raw(
            "POST",
            "/api/v1/organisations",
            "application/json",
            big.into_bytes(),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 413);
    assert_eq!(reply.content_type, "application/problem+json");
    // Staff sync takes whole batches: a 2 MiB body reaches the handler (which then finds the
    // batch empty), where anywhere else it is refused unread.
    let org = app.organisation("Wiltshire Police", "police").await;
    let padded = format!("{{\"people\": []{}}}", " ".repeat(2 * 1024 * 1024));
    let reply = app
        .raw(
            "POST",
            &format!("/api/v1/organisations/{org}/people/sync"),
            "application/json",
            padded.into_bytes(),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 422, "{}", reply.text);
    assert_eq!(cascade_tests::Reply::error_fields(&reply.body), ["people"]);

    // A write stuck behind another transaction is abandoned at the timeout and leaves nothing.
    let app =
        TestApp::spawn_with(|c| c.request_timeout = std::time::Duration::from_millis(300)).await;
    let blocker = cascade::ctx::Ctx::system(&app.db, &app.clock)
        .begin()
        .await
        .expect("begin");
    if app.db.get_database_backend() == DbBackend::Postgres {
        blocker
            .execute_unprepared("LOCK TABLE organisations IN ACCESS EXCLUSIVE MODE")
            .await
            .expect("lock");
    }
    let create = || {
        app.request_with(
            "POST",
            "/api/v1/organisations",
            Some(&app.admin),
            &[("Idempotency-Key", "stuck-1")],
            Some(json!({ "name": "Stuck", "sector": "council" })),
        )
    };
    let reply = create().await;
    assert_eq!(reply.status.as_u16(), 503, "{}", reply.text);
    assert!(
        reply.body["type"]
            .as_str()
            .unwrap_or("")
            .ends_with("/timeout")
    );
    assert!(reply.headers.get("retry-after").is_some());
    blocker.rollback().await.expect("rollback");
    assert_eq!(app.count(entities::organisations::Entity).await, 0);

    // On PostgreSQL its Idempotency-Key was claimed before the handler blocked: the claim holds
    // while the request could still be running, then a retry takes the abandoned claim over and
    // runs once. (On SQLite the claim itself waited behind the lock, so nothing was claimed.)
    let retry = create().await;
    if app.db.get_database_backend() == DbBackend::Postgres {
        let problem = retry.problem(409);
        assert!(
            problem["type"]
                .as_str()
                .unwrap_or("")
                .ends_with("/idempotency-key-in-progress")
        );
        app.clock.advance(chrono::Duration::seconds(1));
        create().await.expect(201);
    } else {
        retry.expect(201);
    }
    create().await.expect(201);
    assert_eq!(app.count(entities::organisations::Entity).await, 1);
}

#[tokio::test]
async fn metrics_count_requests_bookings_webhook_deliveries_mail_and_the_pool() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let zoe = app.person("Zoë", "zoe@example.org", org, "Z").await;
    let session = id_of(&app.session(f.champion, 10, 1).await);
    app.book(session, zoe, &app.admin).await.expect(201);
    app.book(session, zoe, &app.admin).await.problem(409);
    app.post(
        "/api/v1/webhooks",
        &app.admin,
        json!({ "url": "http://127.0.0.1:9/hook", "secret": "s3cret-s3cret-s3cret", "event_types": ["booking.waitlisted"] }),
    )
    .await
    .expect(201);
    app.book(
        session,
        app.person("Olena", "o@example.org", org, "O").await,
        &app.admin,
    )
    .await
    .expect(201);
    // On PostgreSQL the feed holds an event back while other transactions of the cluster (other
    // tests) are running, so run the worker until the attempt is made.
    for _ in 0..100 {
        let run = cascade::domain::webhooks::run_worker(&app.state)
            .await
            .expect("webhook run");
        if run.failed_attempts > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    app.request("GET", "/metrics", None, None)
        .await
        .problem(401);
    let coordinator = app.key(KeyRole::Coordinator, None, None).await;
    app.get("/metrics", &coordinator).await.problem(403);
    // The confirmation and the waitlist answer.
    assert_eq!(app.send_mail().await.sent, 2);
    let metrics = app.get("/metrics", &app.admin).await.expect(200);
    assert!(metrics.content_type.starts_with("text/plain"));
    let text = metrics.text;
    for line in [
        "cascade_bookings_total{outcome=\"confirmed\"} 1",
        "cascade_bookings_total{outcome=\"waitlisted\"} 1",
        "cascade_bookings_total{outcome=\"refused\"} 1",
        "cascade_http_requests_total{route=\"create_booking\",status=\"201\"} 2",
        "cascade_http_requests_total{route=\"create_booking\",status=\"409\"} 1",
        "cascade_webhook_deliveries_total{result=\"failed\"} 1",
        "cascade_mail_messages_total{result=\"sent\"} 2",
        "cascade_http_request_duration_seconds_bucket{route=\"create_booking\",status=\"201\",le=\"+Inf\"} 2",
        "cascade_db_pool_connections{state=\"max\"}",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
}

/// Sends raw bytes on a fresh connection and reads until the server closes it or `wait` passes.
async fn raw_exchange(addr: &str, bytes: &[u8], wait: std::time::Duration) -> (String, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("send");
    let mut raw = Vec::new();
    let closed = tokio::time::timeout(wait, stream.read_to_end(&mut raw))
        .await
        .is_ok();
    (String::from_utf8_lossy(&raw).into_owned(), closed)
}

#[tokio::test]
async fn slow_or_half_sent_headers_are_cut_off_while_whole_requests_are_answered() {
    let app = TestApp::spawn().await;
    let addr = app
        .serve_configured(|c| c.header_read_timeout = std::time::Duration::from_millis(500))
        .await;
    let started = std::time::Instant::now();
    let (answer, closed) = raw_exchange(
        &addr,
        b"GET /healthz HTTP/1.1\r\nHost: cascade.test\r\nX-Slow: ",
        std::time::Duration::from_secs(5),
    )
    .await;
    assert!(closed, "a half-sent header block holds the connection");
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    let (answer, _) = raw_exchange(
        &addr,
        b"GET /healthz HTTP/1.1\r\nHost: cascade.test\r\nConnection: close\r\n\r\n",
        std::time::Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn unauthenticated_writes_are_refused_before_their_body_is_read_and_bodies_in_memory_are_bounded()
 {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn().await;
    let addr = app
        .serve_configured(|c| c.max_body_memory = 64 * 1024)
        .await;
    // No key, and a body that never arrives: refused at once, nothing read or written.
    let (answer, _) = raw_exchange(
        &addr,
        b"POST /api/v1/organisations HTTP/1.1\r\nHost: cascade.test\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n{",
        std::time::Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    let (answer, _) = raw_exchange(
        &addr,
        b"POST /api/v1/organisations HTTP/1.1\r\nHost: cascade.test\r\nAuthorization: Bearer cas_wrong\r\nContent-Length: 900000\r\n\r\n{",
        std::time::Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    // A keyed client sending a body slowly holds its share of the memory for bodies; another
    // body that would not fit waits for none of it: 503 `busy`.
    let mut slow = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    slow.write_all(
        format!(
            "POST /api/v1/organisations HTTP/1.1\r\nHost: cascade.test\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{{",
            app.admin
        )
        .as_bytes(),
    )
    .await
    .expect("send");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, body) = cascade_tests::http(
        &addr,
        "POST",
        "/api/v1/organisations",
        &app.admin,
        &json!({ "name": "x".repeat(9000), "sector": "council" }),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], "https://cascade.invalid/problems/busy");
    drop(slow);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, body) = cascade_tests::http(
        &addr,
        "POST",
        "/api/v1/organisations",
        &app.admin,
        &json!({ "name": "Wiltshire Council", "sector": "council" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_limits_count_the_forwarded_client_and_nobody_else_can_claim_one() {
    let app = TestApp::spawn().await;
    let verify = |addr: String, forwarded: &'static str| async move {
        let (answer, _) = raw_exchange(
            &addr,
            format!(
                "GET /api/v1/verify/NOPE-NOPE HTTP/1.1\r\nHost: cascade.test\r\nX-Forwarded-For: {forwarded}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
            std::time::Duration::from_secs(5),
        )
        .await;
        answer.split_whitespace().nth(1).unwrap_or("").to_owned()
    };
    let proxied = app
        .serve_configured(|c| {
            c.verify_per_minute = 2;
            c.trusted_proxies = vec!["127.0.0.0/8".parse().expect("cidr")];
        })
        .await;
    for _ in 0..2 {
        assert_eq!(
            verify(proxied.clone(), "203.0.113.5, 127.0.0.1").await,
            "404"
        );
    }
    assert_eq!(verify(proxied.clone(), "203.0.113.5").await, "429");
    assert_eq!(
        verify(proxied.clone(), "198.51.100.7").await,
        "404",
        "another client"
    );

    // Without a trusted proxy the header is ignored: every request is the socket's address.
    let direct = app.serve_configured(|c| c.verify_per_minute = 2).await;
    assert_eq!(verify(direct.clone(), "203.0.113.1").await, "404");
    assert_eq!(verify(direct.clone(), "203.0.113.2").await, "404");
    assert_eq!(verify(direct.clone(), "203.0.113.3").await, "429");
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_api_key_and_refusals_are_not_kept() {
    let app = TestApp::spawn().await;
    let body = json!({ "name": "Wiltshire Council", "sector": "council" });
    let send = |auth: String, key: &'static str, body: Value| {
        let app = &app;
        async move {
            app.client
                .post("/api/v1/organisations")
                .header("Authorization", auth)
                .header("Idempotency-Key", key)
                .body_json(&body)
                .send()
                .await
        }
    };
    let first = send(format!("Bearer {}", app.admin), "org-1", body.clone()).await;
    first.assert_status(poem::http::StatusCode::CREATED);
    let first: Value = first.json().await.value().deserialize();
    // The same key from the same API key, written differently, is the same request.
    let again = send(format!("bearer  {}", app.admin), "org-1", body.clone()).await;
    again.assert_status(poem::http::StatusCode::CREATED);
    let again: Value = again.json().await.value().deserialize();
    assert_eq!(first["id"], again["id"]);
    assert_eq!(app.count(entities::organisations::Entity).await, 1);

    // A refusal by scope is not kept (a retry runs again), nor is a failed authentication.
    let partner = app.key(KeyRole::Partner, Some(id_of(&first)), None).await;
    let police = json!({ "name": "Police", "sector": "police" });
    for _ in 0..2 {
        send(format!("Bearer {partner}"), "org-2", police.clone())
            .await
            .assert_status(poem::http::StatusCode::FORBIDDEN);
    }
    send("Bearer cas_wrong".to_owned(), "org-3", police.clone())
        .await
        .assert_status(poem::http::StatusCode::UNAUTHORIZED);
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let kept = entities::idempotency_keys::Entity::find()
        .filter(entities::idempotency_keys::Column::Key.is_in(["org-2", "org-3"]))
        .all(&app.db)
        .await
        .expect("claims");
    assert!(kept.is_empty(), "{kept:?}");

    // A key that is not visible ASCII is refused, never ignored.
    let bad = app
        .client
        .post("/api/v1/organisations")
        .header("Authorization", format!("Bearer {}", app.admin))
        .header(
            "Idempotency-Key",
            poem::http::HeaderValue::from_bytes("clé-1".as_bytes()).expect("header"),
        )
        .body_json(&json!({ "name": "Health", "sector": "health" }))
        .send()
        .await;
    bad.assert_status(poem::http::StatusCode::BAD_REQUEST);
    assert_eq!(app.count(entities::organisations::Entity).await, 1);
}
