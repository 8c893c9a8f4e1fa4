//! Trust between partners: a person belongs to their employer. Another partner that knows their
//! email gets a membership request, not the person; only the employer changes their details; a
//! partner reads the records produced for its own organisation.

use cascade::domain::api_keys::KeyRole;
use cascade_tests::{Reply, TestApp, id_of, kind};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::progression::{ftt, run_session, run_session_booked_by};

fn items(reply: &Reply) -> Vec<Value> {
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

async fn certificate_people(app: &TestApp, key: &str) -> Vec<(String, String)> {
    items(&app.get("/api/v1/certificates", key).await.expect(200))
        .iter()
        .map(|c| {
            (
                c["person_id"].as_str().unwrap_or("").to_owned(),
                c["title"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_partner_that_knows_an_email_gets_a_request_and_sees_only_what_it_paid_for() {
    let app = TestApp::spawn().await;
    let f = ftt(&app).await;
    let council = app.organisation("Wiltshire Council", "council").await;
    let police = app.organisation("Wiltshire Police", "police").await;
    let zoe = app
        .person("Zoë Ashworth", "zoe@council.example", council, "WC-1")
        .await;
    let council_key = app.key(KeyRole::Partner, Some(council), None).await;
    let police_key = app.key(KeyRole::Partner, Some(police), None).await;
    run_session(&app, f.champion, &[zoe]).await;

    // The police add "their" officer by the council's employee's address.
    let asked = app
        .post(
            "/api/v1/people",
            &police_key,
            json!({ "name": "Someone Else", "email": "ZOE@council.example",
                    "memberships": [{ "organisation_id": police, "external_id": "WP-9" }] }),
        )
        .await
        .expect(202);
    let request = id_of(&asked.body);
    assert_eq!(
        asked.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/api/v1/membership-requests/{request}").as_str())
    );
    assert_eq!(asked.body["status"], "pending");
    assert!(asked.body.get("person_id").is_none(), "{}", asked.body);
    assert!(!asked.text.contains("Zoë") && !asked.text.contains(&council.to_string()));
    // Asking again finds the same request.
    let again = app
        .post(
            "/api/v1/people",
            &police_key,
            json!({ "name": "Someone Else", "email": "zoe@council.example",
                    "memberships": [{ "organisation_id": police, "external_id": "WP-9" }] }),
        )
        .await
        .expect(202);
    assert_eq!(id_of(&again.body), request);

    // Until confirmed the police see nothing of her, and may not confirm it themselves.
    app.get(&format!("/api/v1/people/{zoe}"), &police_key)
        .await
        .problem(404);
    assert!(
        items(
            &app.get("/api/v1/people?email=zoe@council.example", &police_key)
                .await
                .expect(200)
        )
        .is_empty()
    );
    assert!(certificate_people(&app, &police_key).await.is_empty());
    let refused = app
        .post(
            &format!("/api/v1/membership-requests/{request}/confirm"),
            &police_key,
            json!({}),
        )
        .await
        .problem(403);
    assert_eq!(kind(&refused), "not-employer");
    assert_eq!(app.count(entities::memberships::Entity).await, 1);

    // The council (her employer) sees the request, with who it is about, and confirms it.
    let waiting = app
        .get("/api/v1/membership-requests?mine=false", &council_key)
        .await
        .expect(200);
    assert_eq!(items(&waiting).len(), 1);
    assert_eq!(items(&waiting)[0]["person_id"], json!(zoe));
    assert!(items(&waiting)[0].get("external_id").is_none());
    let confirmed = app
        .post(
            &format!("/api/v1/membership-requests/{request}/confirm"),
            &council_key,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(confirmed.body["status"], "confirmed");
    let seen = app
        .get(
            &format!("/api/v1/membership-requests/{request}"),
            &police_key,
        )
        .await
        .expect(200);
    assert_eq!(seen.body["person_id"], json!(zoe));

    // Now the police see her, with their own membership only — but not what the council paid
    // for, and they cannot change who she is or make themselves her employer.
    let person = app
        .get(&format!("/api/v1/people/{zoe}"), &police_key)
        .await
        .expect(200);
    assert_eq!(
        person.body["memberships"],
        json!([{ "organisation_id": police, "external_id": "WP-9", "primary": false, "active": true }])
    );
    assert_eq!(person.body["name"], "Zoë Ashworth");
    assert!(certificate_people(&app, &police_key).await.is_empty());
    assert!(
        items(
            &app.get("/api/v1/completions", &police_key)
                .await
                .expect(200)
        )
        .is_empty()
    );
    for body in [
        json!({ "name": "Renamed" }),
        json!({ "email": "mine@police.example" }),
        json!({ "active": false }),
    ] {
        let problem = app
            .patch(&format!("/api/v1/people/{zoe}"), &police_key, body)
            .await
            .problem(403);
        assert_eq!(kind(&problem), "not-employer");
    }
    let problem = app
        .put(
            &format!("/api/v1/people/{zoe}/memberships/{police}"),
            &police_key,
            json!({ "primary": true }),
        )
        .await
        .problem(403);
    assert_eq!(kind(&problem), "not-employer");
    app.get(&format!("/api/v1/trainers/{zoe}"), &police_key)
        .await
        .problem(404);

    // A place the police book and pay for is theirs to see, with its certificate.
    run_session_booked_by(&app, &police_key, f.trainer, &[zoe]).await;
    assert_eq!(
        certificate_people(&app, &police_key).await,
        [(zoe.to_string(), "FTT ftt-trainer".to_owned())]
    );
    assert_eq!(certificate_people(&app, &council_key).await.len(), 1);

    // She moves to the police: the council ends its membership, the police become employer.
    app.put(
        &format!("/api/v1/people/{zoe}/memberships/{council}"),
        &council_key,
        json!({ "active": false }),
    )
    .await
    .expect(200);
    app.put(
        &format!("/api/v1/people/{zoe}/memberships/{police}"),
        &police_key,
        json!({ "primary": true }),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/api/v1/people/{zoe}"),
        &police_key,
        json!({ "name": "Zoë Ashworth-Hale" }),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/api/v1/people/{zoe}"),
        &council_key,
        json!({ "name": "Taken back" }),
    )
    .await
    .problem(403);
    // Each keeps the certificates its organisation paid for.
    assert_eq!(
        certificate_people(&app, &council_key).await,
        [(zoe.to_string(), "FTT ftt-champion".to_owned())]
    );
    assert_eq!(certificate_people(&app, &police_key).await.len(), 1);
}

#[tokio::test]
async fn lookups_reveal_nothing_of_another_partners_staff() {
    let app = TestApp::spawn().await;
    let council = app.organisation("Wiltshire Council", "council").await;
    let police = app.organisation("Wiltshire Police", "police").await;
    let priya = app
        .person("Priya", "priya@council.example", council, "WC-1")
        .await;
    let police_key = app.key(KeyRole::Partner, Some(police), None).await;
    for path in [
        "/api/v1/people?email=priya@council.example".to_owned(),
        format!("/api/v1/people?organisation_id={police}&external_id=WC-1"),
        "/api/v1/people?external_id=WC-1".to_owned(),
        "/api/v1/membership-requests".to_owned(),
        "/api/v1/certificates".to_owned(),
        "/api/v1/completions".to_owned(),
    ] {
        let reply = app.get(&path, &police_key).await.expect(200);
        assert!(items(&reply).is_empty(), "{path}: {}", reply.text);
    }
    for path in [
        format!("/api/v1/people?organisation_id={council}"),
        format!("/api/v1/people?organisation_id={council}&external_id=WC-1"),
        format!("/api/v1/champions?organisation_id={council}"),
    ] {
        app.get(&path, &police_key).await.problem(403);
    }
    app.get(&format!("/api/v1/people/{priya}"), &police_key)
        .await
        .problem(404);
}

#[tokio::test]
async fn staff_sync_and_scim_ask_instead_of_taking_and_keep_the_employers_details() {
    let app = TestApp::spawn().await;
    let council = app.organisation("Wiltshire Council", "council").await;
    let police = app.organisation("Wiltshire Police", "police").await;
    let priya = app
        .person("Priya Ramanathan", "priya@council.example", council, "WC-1")
        .await;
    let council_key = app.key(KeyRole::Partner, Some(council), None).await;
    let police_key = app.key(KeyRole::Partner, Some(police), None).await;
    let sync = |name: &str| {
        json!({ "people": [
            { "external_id": "WP-1", "name": name, "email": "PRIYA@council.example" },
            { "external_id": "WP-2", "name": "Gareth", "email": "gareth@police.example" },
        ] })
    };
    let path = format!("/api/v1/organisations/{police}/people/sync");
    for _ in 0..2 {
        let result = app
            .post(&path, &police_key, sync("P. R."))
            .await
            .expect(200)
            .body;
        assert_eq!(
            (result["requested"].as_i64(), result["linked"].as_i64()),
            (Some(1), Some(0)),
            "{result}"
        );
    }
    let requests = items(
        &app.get("/api/v1/membership-requests?mine=true", &police_key)
            .await
            .expect(200),
    );
    assert_eq!(requests.len(), 1, "a retried sync asks once");
    assert_eq!(requests[0]["source"], "sync");
    assert_eq!(requests[0]["external_id"], "WP-1");
    let scim = app
        .request(
            "POST",
            "/scim/v2/Users",
            Some(&police_key),
            Some(
                json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                         "userName": "priya@council.example", "externalId": "WP-1",
                         "displayName": "Taken over" }),
            ),
        )
        .await;
    assert_eq!(scim.status.as_u16(), 409, "{}", scim.text);
    assert_eq!(scim.body["scimType"], "uniqueness");
    app.get(&format!("/api/v1/people/{priya}"), &police_key)
        .await
        .problem(404);

    app.post(
        &format!(
            "/api/v1/membership-requests/{}/confirm",
            id_of(&requests[0])
        ),
        &council_key,
        json!({}),
    )
    .await
    .expect(200);
    let result = app
        .post(&path, &police_key, sync("P. R."))
        .await
        .expect(200)
        .body;
    assert_eq!(result["kept_by_employer"], 1, "{result}");
    let scim = app
        .request(
            "PUT",
            &format!("/scim/v2/Users/{priya}"),
            Some(&police_key),
            Some(
                json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                         "userName": "other@police.example", "externalId": "WP-1",
                         "displayName": "Taken over" }),
            ),
        )
        .await;
    assert_eq!(scim.status.as_u16(), 200, "{}", scim.text);
    let person = app
        .get(&format!("/api/v1/people/{priya}"), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (person["name"].as_str(), person["email"].as_str()),
        (Some("Priya Ramanathan"), Some("priya@council.example"))
    );
}

/// A small deterministic generator, so a failing sequence can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[tokio::test]
async fn no_sequence_of_partner_actions_reaches_another_partners_staff_without_confirmation() {
    let app = TestApp::spawn().await;
    let mut orgs = Vec::new();
    let mut keys = Vec::new();
    for (name, sector) in [
        ("Council", "council"),
        ("Police", "police"),
        ("Health", "health"),
    ] {
        let org = app.organisation(name, sector).await;
        keys.push(app.key(KeyRole::Partner, Some(org), None).await);
        orgs.push(org);
    }
    struct P {
        id: Uuid,
        email: String,
        name: String,
        employer: usize,
        members: Vec<usize>,
    }
    let mut people = Vec::new();
    for i in 0..6 {
        let email = format!("p{i}@example.org");
        let name = format!("Person {i}");
        let id = app
            .person(&name, &email, orgs[i % 3], &format!("E{i}"))
            .await;
        people.push(P {
            id,
            email,
            name,
            employer: i % 3,
            members: vec![i % 3],
        });
    }
    let mut rng = Lcg(0x5eed_cafe);
    let mut confirmed = 0;
    for step in 0..150 {
        let x = rng.below(3);
        let pi = rng.below(people.len());
        let key = keys[x].clone();
        let p = &people[pi];
        let member = p.members.contains(&x);
        let employer = p.employer == x;
        let what = rng.below(8);
        let context = format!("step {step}: org {x}, person {pi}, action {what}");
        match what {
            0 => {
                let reply = app
                    .post(
                        "/api/v1/people",
                        &key,
                        json!({ "name": format!("Grab {step}"), "email": p.email,
                                "memberships": [{ "organisation_id": orgs[x], "external_id": format!("G{step}") }] }),
                    )
                    .await;
                assert_eq!(
                    reply.status.as_u16(),
                    if member { 409 } else { 202 },
                    "{context}: {}",
                    reply.text
                );
                assert!(reply.body.get("person_id").is_none(), "{context}");
            }
            1 => {
                let reply = app
                    .post(
                        &format!("/api/v1/organisations/{}/people/sync", orgs[x]),
                        &key,
                        json!({ "people": [{ "external_id": format!("S{step}"), "name": format!("Sync {step}"), "email": p.email }] }),
                    )
                    .await;
                assert_eq!(
                    reply.status.as_u16(),
                    if member { 422 } else { 200 },
                    "{context}: {}",
                    reply.text
                );
            }
            2 => {
                let reply = app
                    .request(
                        "POST",
                        "/scim/v2/Users",
                        Some(&key),
                        Some(
                            json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                     "userName": p.email, "externalId": format!("C{step}"),
                                     "displayName": format!("Scim {step}") }),
                        ),
                    )
                    .await;
                assert_eq!(reply.status.as_u16(), 409, "{context}: {}", reply.text);
            }
            3 => {
                let name = format!("Renamed {step}");
                let reply = app
                    .patch(
                        &format!("/api/v1/people/{}", p.id),
                        &key,
                        json!({ "name": name }),
                    )
                    .await;
                let expected = match (member, employer) {
                    (_, true) => 200,
                    (true, false) => 403,
                    _ => 404,
                };
                assert_eq!(reply.status.as_u16(), expected, "{context}: {}", reply.text);
                if employer {
                    people[pi].name = name;
                }
            }
            4 => {
                let reply = app
                    .put(
                        &format!("/api/v1/people/{}/memberships/{}", p.id, orgs[x]),
                        &key,
                        json!({ "primary": true }),
                    )
                    .await;
                let expected = match (member, employer) {
                    (_, true) => 200,
                    (true, false) => 403,
                    _ => 404,
                };
                assert_eq!(reply.status.as_u16(), expected, "{context}: {}", reply.text);
            }
            5 => {
                let reply = app.get(&format!("/api/v1/people/{}", p.id), &key).await;
                assert_eq!(
                    reply.status.as_u16(),
                    if member { 200 } else { 404 },
                    "{context}"
                );
                if member {
                    let others: Vec<&Value> = reply.body["memberships"]
                        .as_array()
                        .map(|m| {
                            m.iter()
                                .filter(|m| m["organisation_id"] != json!(orgs[x]))
                                .collect()
                        })
                        .unwrap_or_default();
                    assert!(others.is_empty(), "{context}: {}", reply.text);
                }
            }
            6 => {
                let reply = app
                    .get(&format!("/api/v1/people?email={}", p.email), &key)
                    .await
                    .expect(200);
                assert_eq!(items(&reply).len(), usize::from(member), "{context}");
            }
            _ => {
                // The employer confirms one of the requests waiting for it.
                let waiting = items(
                    &app.get(
                        "/api/v1/membership-requests?mine=false&status=pending",
                        &keys[p.employer],
                    )
                    .await
                    .expect(200),
                );
                let Some(request) = waiting.iter().find(|r| r["person_id"] == json!(p.id)) else {
                    continue;
                };
                let asker = orgs
                    .iter()
                    .position(|o| json!(o) == request["organisation_id"])
                    .unwrap_or(0);
                app.post(
                    &format!("/api/v1/membership-requests/{}/confirm", id_of(request)),
                    &keys[p.employer],
                    json!({}),
                )
                .await
                .expect(200);
                people[pi].members.push(asker);
                confirmed += 1;
            }
        }
        let now = app
            .get(&format!("/api/v1/people/{}", people[pi].id), &app.admin)
            .await
            .expect(200)
            .body;
        assert_eq!(now["name"], people[pi].name, "{context}");
        assert_eq!(now["email"], people[pi].email, "{context}");
        let memberships = now["memberships"].as_array().map(Vec::len).unwrap_or(0);
        assert_eq!(memberships, people[pi].members.len(), "{context}");
    }
    assert!(
        confirmed > 0,
        "the sequence confirmed no request: change the seed"
    );
}

#[tokio::test]
async fn a_facilitator_reads_each_booking_it_lists() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let programme = app.programme("mecc").await;
    let course = app.course(programme, "mecc-skills").await;
    let session = id_of(&app.session(course, 20, 10).await);
    let trainer_person = app.person("Trainer", "t@example.org", org, "T").await;
    let trainer = app.key(KeyRole::Trainer, None, Some(trainer_person)).await;
    app.patch(
        &format!("/api/v1/sessions/{session}"),
        &app.admin,
        json!({ "facilitator_ids": [trainer_person] }),
    )
    .await
    .expect(200);
    for (i, name) in ["Zoë", "Olena"].iter().enumerate() {
        let p = app
            .person(name, &format!("p{i}@example.org"), org, &format!("P{i}"))
            .await;
        app.book(session, p, &app.admin).await.expect(201);
    }
    let listed = items(
        &app.get(&format!("/api/v1/sessions/{session}/bookings"), &trainer)
            .await
            .expect(200),
    );
    assert_eq!(listed.len(), 2);
    for booking in &listed {
        let read = app
            .get(&format!("/api/v1/bookings/{}", id_of(booking)), &trainer)
            .await
            .expect(200);
        assert_eq!(read.body["id"], booking["id"]);
        // Reading is not managing: the facilitator does not cancel others' places.
        app.post(
            &format!("/api/v1/bookings/{}/cancel", id_of(booking)),
            &trainer,
            json!({}),
        )
        .await
        .problem(404);
    }
}

#[tokio::test]
async fn a_deactivated_persons_feed_stops_and_an_erased_persons_places_go_to_the_waitlist() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Wiltshire Council", "council").await;
    let zoe = app.person("Zoë", "zoe@example.org", org, "Z").await;
    let olena = app.person("Olena", "olena@example.org", org, "O").await;
    let feed = app
        .post(
            "/api/v1/calendar-feeds",
            &app.admin,
            json!({ "person_id": zoe }),
        )
        .await
        .expect(201)
        .body;
    let path = cascade_tests::feed_path(&feed);
    app.request("GET", &path, None, None).await.expect(200);
    app.patch(
        &format!("/api/v1/people/{zoe}"),
        &app.admin,
        json!({ "active": false }),
    )
    .await
    .expect(200);
    app.request("GET", &path, None, None).await.problem(404);
    app.patch(
        &format!("/api/v1/people/{zoe}"),
        &app.admin,
        json!({ "active": true }),
    )
    .await
    .expect(200);
    app.request("GET", &path, None, None).await.expect(200);

    // Zoë holds the only place; Olena waits. Erasing Zoë gives Olena the place.
    let programme = app.programme("mecc").await;
    let course = app.course(programme, "mecc-skills").await;
    let session = id_of(&app.session(course, 20, 1).await);
    let held = app.book(session, zoe, &app.admin).await.expect(201).body;
    let waiting = app.book(session, olena, &app.admin).await.expect(201).body;
    assert_eq!(waiting["status"], "waitlisted");
    app.post(
        &format!("/api/v1/people/{zoe}/erase"),
        &app.admin,
        json!({}),
    )
    .await
    .expect(200);
    let gone = app
        .get(&format!("/api/v1/bookings/{}", id_of(&held)), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (gone["status"].as_str(), gone["cancel_reason"].as_str()),
        (Some("cancelled"), Some("person_erased"))
    );
    let promoted = app
        .get(&format!("/api/v1/bookings/{}", id_of(&waiting)), &app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(promoted["status"], "confirmed");
    app.request("GET", &path, None, None).await.problem(404);
}
