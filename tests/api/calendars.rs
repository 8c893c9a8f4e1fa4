//! Calendars: parsed with the `ical` crate (and, in CI, Python's `icalendar`), checked for
//! daylight saving, folding, escaping, stable UIDs and a SEQUENCE that only rises.

use cascade::domain::api_keys::KeyRole;
use cascade_tests::{TestApp, id_of, keep_ics};
use chrono::{NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::London;
use ical::{
    IcalParser,
    parser::ical::component::{IcalCalendar, IcalEvent},
    property::Property,
};
use serde_json::{Value, json};

use crate::progression::{ftt, today};

fn parse(ics: &str) -> IcalCalendar {
    let mut calendars = IcalParser::new(std::io::BufReader::new(ics.as_bytes()));
    let calendar = calendars
        .next()
        .expect("one calendar")
        .expect("a valid calendar");
    assert!(calendars.next().is_none(), "exactly one calendar");
    calendar
}

fn prop<'a>(props: &'a [Property], name: &str) -> Option<&'a Property> {
    props.iter().find(|p| p.name == name)
}

fn value(props: &[Property], name: &str) -> String {
    prop(props, name)
        .and_then(|p| p.value.clone())
        .unwrap_or_default()
}

fn param(props: &[Property], name: &str, param: &str) -> Option<String> {
    prop(props, name)?
        .params
        .as_ref()?
        .iter()
        .find(|(k, _)| k == param)
        .and_then(|(_, v)| v.first().cloned())
}

/// The UTC instant of an event's local DTSTART in its TZID.
fn start_instant(e: &IcalEvent) -> String {
    assert_eq!(
        param(&e.properties, "DTSTART", "TZID").as_deref(),
        Some("Europe/London")
    );
    let local = NaiveDateTime::parse_from_str(&value(&e.properties, "DTSTART"), "%Y%m%dT%H%M%S")
        .expect("local time");
    London
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc).to_rfc3339())
        .unwrap_or_default()
}

/// Checks what the `ical` parser does not: CRLF line ends, 75-octet folding without splitting a
/// character, and a UTC DTSTAMP.
fn check_lines(ics: &str) {
    assert!(ics.ends_with("\r\n"));
    for line in ics.split("\r\n") {
        assert!(
            !line.contains('\n') && !line.contains('\r'),
            "bare line break in {line:?}"
        );
        assert!(line.len() <= 75, "line of {} octets: {line:?}", line.len());
    }
    for stamp in ics.split("\r\n").filter(|l| l.starts_with("DTSTAMP")) {
        assert!(
            stamp.starts_with("DTSTAMP:") && stamp.ends_with('Z'),
            "{stamp}"
        );
    }
}

async fn ics(app: &TestApp, path: &str, key: Option<&str>, name: &str) -> (String, IcalCalendar) {
    let reply = app.request("GET", path, key, None).await.expect(200);
    assert_eq!(reply.content_type, "text/calendar; charset=utf-8");
    check_lines(&reply.text);
    keep_ics(name, &reply.text);
    let parsed = parse(&reply.text);
    (reply.text, parsed)
}

fn uids(c: &IcalCalendar) -> Vec<String> {
    c.events
        .iter()
        .map(|e| value(&e.properties, "UID"))
        .collect()
}

fn sequences(c: &IcalCalendar) -> Vec<String> {
    c.events
        .iter()
        .map(|e| value(&e.properties, "SEQUENCE"))
        .collect()
}

#[tokio::test]
async fn each_sitting_is_an_event_at_the_right_instant_on_both_daylight_saving_sundays() {
    let app = TestApp::spawn_dated().await;
    let f = ftt(&app).await;
    let body = json!({
        "course_id": f.champion,
        "sittings": [
            { "date": "2027-03-28", "start": "10:00", "end": "12:30" },
            { "date": "2027-10-31", "start": "10:00", "end": "12:30" },
            { "date": "2027-01-15", "start": "09:30", "end": "16:00" },
        ],
        "venue": { "name": "Corn Exchange", "address": "Market Place\nDevizes" },
    });
    let session = app
        .post("/api/v1/sessions", &app.admin, body)
        .await
        .expect(201)
        .body;
    let id = id_of(&session);
    let (_, cal) = ics(
        &app,
        &format!("/api/v1/sessions/{id}/calendar.ics"),
        Some(&app.admin),
        "session",
    )
    .await;
    assert_eq!(value(&cal.properties, "METHOD"), "PUBLISH");
    assert_eq!(cal.timezones.len(), 1);
    assert_eq!(value(&cal.timezones[0].properties, "TZID"), "Europe/London");
    assert_eq!(cal.events.len(), 3);
    let instants: Vec<String> = cal.events.iter().map(start_instant).collect();
    assert_eq!(
        instants,
        [
            "2027-01-15T09:30:00+00:00",
            "2027-03-28T09:00:00+00:00",
            "2027-10-31T10:00:00+00:00"
        ]
    );
    let api: Vec<String> = session["sittings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["starts_at"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(instants, api, "the calendar and the API agree");
    assert_eq!(
        uids(&cal),
        [1, 2, 3].map(|n| format!("session-{id}-sitting-{n}@cascade"))
    );
    assert_eq!(sequences(&cal), ["1", "1", "1"]);
    assert_eq!(value(&cal.events[0].properties, "STATUS"), "CONFIRMED");
    assert_eq!(
        value(&cal.events[0].properties, "LOCATION"),
        "Corn Exchange\\\\, Market Place\\\\nDevizes".replace("\\\\", "\\")
    );
    assert_eq!(
        value(&cal.events[0].properties, "SUMMARY"),
        "FTT ftt-champion (1 of 3)"
    );
}

#[tokio::test]
async fn long_welsh_titles_fold_at_75_octets_and_text_is_escaped() {
    let app = TestApp::spawn().await;
    let programme = app.programme("pump-i-ffynnu").await;
    let title = "Hyfforddiant Pencampwyr Pump i Ffynnu: Ymlyniad, Trawma a Gwydnwch; sesiwn ŵyl ym Mhontypŵl \\ Llŷn";
    let course = json!({
        "programme_id": programme, "code": "pif-pencampwyr", "title": title, "kind": "champion",
        "duration_minutes": 360, "cpd_hours": 6, "default_capacity": 20,
    });
    let course = id_of(
        &app.post("/api/v1/courses", &app.admin, course)
            .await
            .expect(201)
            .body,
    );
    let id = id_of(&app.session(course, 30, 20).await);
    let (text, cal) = ics(
        &app,
        &format!("/api/v1/sessions/{id}/calendar.ics"),
        Some(&app.admin),
        "welsh",
    )
    .await;
    let escaped = cascade::render::calendar_ics::escape_text(title);
    assert_eq!(escaped, "Hyfforddiant Pencampwyr Pump i Ffynnu: Ymlyniad\\\\, Trawma a Gwydnwch\\\\; sesiwn ŵyl ym Mhontypŵl \\\\\\\\ Llŷn".replace("\\\\", "\\"));
    assert_eq!(
        value(&cal.events[0].properties, "SUMMARY"),
        escaped,
        "unfolded, the line is whole"
    );
    assert!(
        text.lines().any(|l| l.starts_with(' ')),
        "the long line was folded"
    );
}

#[tokio::test]
async fn updates_keep_uids_and_raise_the_sequence_and_cancelling_marks_every_event() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let id = id_of(&app.session(f.champion, 30, 20).await);
    let path = format!("/api/v1/sessions/{id}/calendar.ics");
    let (_, before) = ics(&app, &path, Some(&app.admin), "before").await;
    app.patch(
        &format!("/api/v1/sessions/{id}"),
        &app.admin,
        json!({ "venue": { "name": "County Hall, Trowbridge" } }),
    )
    .await
    .expect(200);
    let (_, after) = ics(&app, &path, Some(&app.admin), "after").await;
    assert_eq!(uids(&before), uids(&after));
    assert_eq!(
        (sequences(&before), sequences(&after)),
        (vec!["1".to_owned()], vec!["2".to_owned()])
    );
    app.post(
        &format!("/api/v1/sessions/{id}/cancel"),
        &app.admin,
        json!({ "reason": "Trainer unwell" }),
    )
    .await
    .expect(200);
    let (_, cancelled) = ics(&app, &path, Some(&app.admin), "cancelled").await;
    assert_eq!(uids(&cancelled), uids(&before));
    assert_eq!(sequences(&cancelled), ["3"]);
    assert_eq!(
        value(&cancelled.events[0].properties, "STATUS"),
        "CANCELLED"
    );
}

#[tokio::test]
async fn an_invitation_becomes_a_cancellation_with_the_same_uids_and_a_higher_sequence() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Council", "council").await;
    let tomas = app
        .person("Ó Briain, Tomás", "tomas@example.org", org, "T")
        .await;
    let other = app.person("Other", "other@example.org", org, "O").await;
    let body = json!({
        "course_id": f.champion,
        "sittings": [
            { "date": today(&app) + chrono::Duration::days(20), "start": "09:30", "end": "12:30" },
            { "date": today(&app) + chrono::Duration::days(21), "start": "09:30", "end": "12:30" },
        ],
        "venue": { "name": "Hall" }, "capacity": 1,
    });
    let session = id_of(
        &app.post("/api/v1/sessions", &app.admin, body)
            .await
            .expect(201)
            .body,
    );
    let booking = id_of(&app.book(session, tomas, &app.admin).await.expect(201).body);
    let waiting = id_of(&app.book(session, other, &app.admin).await.expect(201).body);
    let learner = app.key(KeyRole::Learner, None, Some(tomas)).await;
    let path = format!("/api/v1/bookings/{booking}/invite.ics");
    let (text, invite) = ics(&app, &path, Some(&learner), "invite").await;
    assert_eq!(value(&invite.properties, "METHOD"), "REQUEST");
    assert_eq!(invite.events.len(), 2, "one event per sitting");
    assert!(
        text.contains("ATTENDEE;CN=\"Ó Briain, Tomás\";"),
        "the name is quoted as a parameter value"
    );
    assert_eq!(
        value(&invite.events[0].properties, "ATTENDEE"),
        "mailto:tomas@example.org"
    );
    assert!(prop(&invite.events[0].properties, "ORGANIZER").is_some());
    assert_eq!(sequences(&invite), ["1", "1"]);
    let problem = app
        .request(
            "GET",
            &format!("/api/v1/bookings/{waiting}/invite.ics"),
            Some(&app.admin),
            None,
        )
        .await
        .problem(409);
    assert!(
        problem["type"]
            .as_str()
            .unwrap_or("")
            .ends_with("/booking-waitlisted")
    );

    app.patch(
        &format!("/api/v1/sessions/{session}"),
        &app.admin,
        json!({ "online_url": "https://meet.example.org/x" }),
    )
    .await
    .expect(200);
    let (_, updated) = ics(&app, &path, Some(&learner), "invite-updated").await;
    assert_eq!(
        (value(&updated.properties, "METHOD"), sequences(&updated)),
        ("REQUEST".to_owned(), vec!["2".to_owned(), "2".to_owned()])
    );
    app.post(
        &format!("/api/v1/bookings/{booking}/cancel"),
        &learner,
        json!({}),
    )
    .await
    .expect(200);
    let (_, cancel) = ics(&app, &path, Some(&learner), "invite-cancel").await;
    assert_eq!(value(&cancel.properties, "METHOD"), "CANCEL");
    assert_eq!(uids(&cancel), uids(&invite));
    assert_eq!(
        sequences(&cancel),
        ["3", "3"],
        "higher than every invitation sent"
    );
    assert!(
        cancel
            .events
            .iter()
            .all(|e| value(&e.properties, "STATUS") == "CANCELLED")
    );

    // The person promoted from the waitlist is invited; when the session is cancelled, CANCEL.
    let (_, promoted) = ics(
        &app,
        &format!("/api/v1/bookings/{waiting}/invite.ics"),
        Some(&app.admin),
        "promoted",
    )
    .await;
    assert_eq!(value(&promoted.properties, "METHOD"), "REQUEST");
    app.post(
        &format!("/api/v1/sessions/{session}/cancel"),
        &app.admin,
        json!({ "reason": "Venue flooded" }),
    )
    .await
    .expect(200);
    let (_, withdrawn) = ics(
        &app,
        &format!("/api/v1/bookings/{waiting}/invite.ics"),
        Some(&app.admin),
        "session-cancel",
    )
    .await;
    assert_eq!(
        (
            value(&withdrawn.properties, "METHOD"),
            sequences(&withdrawn)
        ),
        ("CANCEL".to_owned(), vec!["3".to_owned(), "3".to_owned()])
    );
}

#[tokio::test]
async fn a_subscription_feed_is_reached_by_its_secret_token_which_can_be_rotated_and_revoked() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Council", "council").await;
    let me = app.person("Siân", "sian@example.org", org, "S").await;
    let them = app.person("Them", "them@example.org", org, "T").await;
    let learner = app.key(KeyRole::Learner, None, Some(me)).await;
    let booked = id_of(&app.session(f.champion, 20, 10).await);
    let given_up = id_of(&app.session(f.champion, 40, 10).await);
    let facilitated = id_of(&app.session(f.champion, 60, 10).await);
    let cancelled = id_of(&app.book(given_up, me, &learner).await.expect(201).body);
    app.post(
        &format!("/api/v1/bookings/{cancelled}/cancel"),
        &learner,
        json!({}),
    )
    .await
    .expect(200);
    app.book(booked, me, &learner).await.expect(201);
    app.patch(
        &format!("/api/v1/sessions/{facilitated}"),
        &app.admin,
        json!({ "facilitator_ids": [me] }),
    )
    .await
    .expect(200);

    app.post(
        "/api/v1/calendar-feeds",
        &learner,
        json!({ "person_id": them }),
    )
    .await
    .problem(404);
    let both = app
        .post(
            "/api/v1/calendar-feeds",
            &learner,
            json!({ "person_id": me, "programme_id": f.programme }),
        )
        .await
        .problem(422);
    assert!(both["errors"].is_array());
    let feed = app
        .post(
            "/api/v1/calendar-feeds",
            &learner,
            json!({ "person_id": me }),
        )
        .await
        .expect(201)
        .body;
    let url = feed["url"].as_str().unwrap_or("").to_owned();
    assert!(
        url.starts_with("http://cascade.test/api/v1/feeds/cal_"),
        "{url}"
    );
    assert_eq!(feed["webcal_url"], url.replace("http://", "webcal://"));
    let path = url.trim_start_matches("http://cascade.test").to_owned();
    let listed = app
        .get("/api/v1/calendar-feeds", &learner)
        .await
        .expect(200)
        .body;
    assert_eq!(
        listed["items"][0]["url"],
        Value::Null,
        "the address is shown only once"
    );

    let reply = app.request("GET", &path, None, None).await.expect(200);
    assert_eq!(reply.headers["cache-control"], "private, max-age=300");
    let etag = reply.headers["etag"].to_str().unwrap_or("").to_owned();
    let (_, cal) = ics(&app, &path, None, "feed").await;
    assert_eq!(value(&cal.properties, "X-WR-CALNAME"), "Training — Siân");
    let statuses: Vec<(String, String)> = cal
        .events
        .iter()
        .map(|e| (value(&e.properties, "UID"), value(&e.properties, "STATUS")))
        .collect();
    assert_eq!(
        statuses,
        [
            (
                format!("session-{booked}-sitting-1@cascade"),
                "CONFIRMED".to_owned()
            ),
            (
                format!("session-{given_up}-sitting-1@cascade"),
                "CANCELLED".to_owned()
            ),
            (
                format!("session-{facilitated}-sitting-1@cascade"),
                "CONFIRMED".to_owned()
            ),
        ]
    );
    let unchanged = app
        .client
        .get(&path)
        .header("If-None-Match", &etag)
        .send()
        .await;
    unchanged.assert_status(poem::http::StatusCode::NOT_MODIFIED);

    let rotated = app
        .post(
            &format!("/api/v1/calendar-feeds/{}/rotate", id_of(&feed)),
            &learner,
            json!({}),
        )
        .await
        .expect(200)
        .body;
    app.request("GET", &path, None, None).await.problem(404);
    let new_path = cascade_tests::feed_path(&rotated);
    app.request("GET", &new_path, None, None).await.expect(200);
    app.post(
        &format!("/api/v1/calendar-feeds/{}/revoke", id_of(&feed)),
        &learner,
        json!({}),
    )
    .await
    .expect(200);
    app.request("GET", &new_path, None, None).await.problem(404);

    let programme_feed = app
        .post(
            "/api/v1/calendar-feeds",
            &learner,
            json!({ "programme_id": f.programme }),
        )
        .await
        .expect(201)
        .body;
    let programme_path = cascade_tests::feed_path(&programme_feed);
    let (_, programme_cal) = ics(&app, &programme_path, None, "programme-feed").await;
    assert_eq!(programme_cal.events.len(), 3);
}

#[tokio::test]
async fn sequence_rises_through_book_cancel_rebook_move_and_session_cancel() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Council", "council").await;
    let zoe = app.person("Zoë", "zoe@example.org", org, "Z").await;
    let learner = app.key(KeyRole::Learner, None, Some(zoe)).await;
    let session = id_of(&app.session(f.champion, 20, 10).await);
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
    // (what the person's calendar holds after each step: method and SEQUENCE, by invitation
    // and by feed, for the one UID of the one sitting)
    let mut seen: Vec<(String, i64)> = Vec::new();
    let mut check = |label: &str, invite: &IcalCalendar, feed: &IcalCalendar| {
        let method = value(&invite.properties, "METHOD");
        let sequence: i64 = sequences(invite)[0].parse().expect("a number");
        let in_feed: i64 = feed
            .events
            .iter()
            .find(|e| value(&e.properties, "UID") == uids(invite)[0])
            .map(|e| value(&e.properties, "SEQUENCE").parse().expect("a number"))
            .expect("the feed shows the sitting");
        assert_eq!(
            in_feed, sequence,
            "{label}: the feed agrees with the invitation"
        );
        if let Some((_, last)) = seen.last() {
            assert!(sequence > *last, "{label}: {sequence} after {seen:?}");
        }
        seen.push((method, sequence));
    };
    let first = id_of(&app.book(session, zoe, &learner).await.expect(201).body);
    let invite_path = |b: uuid::Uuid| format!("/api/v1/bookings/{b}/invite.ics");
    let (_, i) = ics(&app, &invite_path(first), Some(&learner), "seq-book").await;
    let (_, fd) = ics(&app, &feed_path, None, "seq-book-feed").await;
    check("booked", &i, &fd);
    app.post(
        &format!("/api/v1/bookings/{first}/cancel"),
        &learner,
        json!({}),
    )
    .await
    .expect(200);
    let (_, i) = ics(&app, &invite_path(first), Some(&learner), "seq-cancel").await;
    let (_, fd) = ics(&app, &feed_path, None, "seq-cancel-feed").await;
    check("cancelled", &i, &fd);
    let again = id_of(&app.book(session, zoe, &learner).await.expect(201).body);
    let (_, i) = ics(&app, &invite_path(again), Some(&learner), "seq-rebook").await;
    let (_, fd) = ics(&app, &feed_path, None, "seq-rebook-feed").await;
    check("booked again", &i, &fd);
    let moved = today(&app) + chrono::Duration::days(22);
    app.patch(
        &format!("/api/v1/sessions/{session}"),
        &app.admin,
        json!({ "sittings": [{ "date": moved, "start": "10:00", "end": "16:00" }] }),
    )
    .await
    .expect(200);
    let (_, i) = ics(&app, &invite_path(again), Some(&learner), "seq-moved").await;
    let (_, fd) = ics(&app, &feed_path, None, "seq-moved-feed").await;
    check("session moved", &i, &fd);
    app.post(
        &format!("/api/v1/sessions/{session}/cancel"),
        &app.admin,
        json!({ "reason": "Trainer unwell" }),
    )
    .await
    .expect(200);
    let (_, i) = ics(
        &app,
        &invite_path(again),
        Some(&learner),
        "seq-session-cancel",
    )
    .await;
    let (_, fd) = ics(&app, &feed_path, None, "seq-session-cancel-feed").await;
    check("session cancelled", &i, &fd);
    let methods: Vec<&str> = seen.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        methods,
        ["REQUEST", "CANCEL", "REQUEST", "REQUEST", "CANCEL"]
    );
}

#[tokio::test]
async fn a_feeds_name_shows_no_backslashes_and_links_are_written_as_ascii() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let org = app.organisation("Council", "council").await;
    let tomas = app
        .person("Ó Briain, Tomás", "tomas@example.org", org, "T")
        .await;
    let body = json!({
        "course_id": f.champion,
        "sittings": [{ "date": today(&app) + chrono::Duration::days(20), "start": "09:30", "end": "12:30" }],
        "online_url": "https://meet.example/salle-réunion?équipe=1",
    });
    let session = id_of(
        &app.post("/api/v1/sessions", &app.admin, body)
            .await
            .expect(201)
            .body,
    );
    app.book(session, tomas, &app.admin).await.expect(201);
    let feed = app
        .post(
            "/api/v1/calendar-feeds",
            &app.admin,
            json!({ "person_id": tomas }),
        )
        .await
        .expect(201)
        .body;
    let path = cascade_tests::feed_path(&feed);
    let (text, parsed) = ics(&app, &path, None, "feed-name-and-link").await;
    let unfolded = text.replace("\r\n ", "");
    assert!(
        unfolded.contains("\r\nX-WR-CALNAME:Training — Ó Briain Tomás\r\n"),
        "{unfolded}"
    );
    assert!(
        unfolded.contains("\r\nNAME:Training — Ó Briain\\, Tomás\r\n"),
        "{unfolded}"
    );
    assert_eq!(
        value(&parsed.properties, "NAME"),
        "Training — Ó Briain\\, Tomás"
    );
    let url = value(&parsed.events[0].properties, "URL");
    assert_eq!(url, "https://meet.example/salle-r%C3%A9union?%C3%A9quipe=1");
    assert!(url.is_ascii());
}
