//! SCIM 2.0 for partners' identity providers, tried with the RFC 7643/7644 examples.

use cascade::domain::api_keys::KeyRole;
use cascade_tests::{Reply, TestApp, id_of};
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// RFC 7643 §8.2's enterprise user, as an identity provider would create it.
fn barbara() -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara",
            "middleName": "Jane",
            "honorificPrefix": "Ms.",
            "honorificSuffix": "III"
        },
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "emails": [
            { "value": "bjensen@example.com", "type": "work", "primary": true },
            { "value": "babs@jensen.org", "type": "home" }
        ],
        "userType": "Employee",
        "title": "Tour Guide",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": true,
        "password": "t1meMa$heen",
        ENTERPRISE: {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
        }
    })
}

fn scim_error(reply: Reply, status: u16) -> Value {
    let reply = reply.expect(status);
    assert_eq!(reply.content_type, "application/scim+json");
    assert_eq!(reply.body["schemas"], json!([ERROR]));
    assert_eq!(reply.body["status"], status.to_string());
    reply.body
}

struct Partner {
    app: TestApp,
    key: String,
}

async fn partner() -> Partner {
    let app = TestApp::spawn().await;
    app.reference("staff-groups", "Tour Operations").await;
    let org = app.organisation("Wiltshire Police", "police").await;
    let key = app.key(KeyRole::Partner, Some(org), None).await;
    Partner { app, key }
}

/// A list path with `filter` in its query.
fn filtered(filter: &str) -> String {
    format!(
        "/Users?filter={}",
        filter.replace(' ', "+").replace('"', "%22")
    )
}

impl Partner {
    /// A User after a PatchOp that must succeed.
    async fn patched(&self, id: &impl std::fmt::Display, operations: Value) -> Value {
        self.patch(id, operations).await.expect(200).body
    }

    /// The person a User is, read through the REST API with the partner's key.
    async fn person(&self, id: &impl std::fmt::Display) -> Value {
        self.app
            .get(&format!("/api/v1/people/{id}"), &self.key)
            .await
            .expect(200)
            .body
    }

    /// Sends a SCIM PatchOp with these operations to a User.
    async fn patch(&self, id: &impl std::fmt::Display, operations: Value) -> Reply {
        self.send(
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({ "schemas": [PATCH], "Operations": operations })),
        )
        .await
    }

    /// How many Users a filter finds.
    async fn total(&self, filter: &str) -> Value {
        self.send("GET", &filtered(filter), None)
            .await
            .expect(200)
            .body["totalResults"]
            .clone()
    }

    /// Sends a SCIM request; a POST carries an Idempotency-Key, as a careful client's would.
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let key = format!("scim-{}", uuid::Uuid::now_v7());
        let headers: &[(&str, &str)] = if method == "POST" {
            &[("Idempotency-Key", &key)]
        } else {
            &[]
        };
        self.app
            .request_with(
                method,
                &format!("/scim/v2{path}"),
                Some(&self.key),
                headers,
                body,
            )
            .await
    }
}

#[tokio::test]
async fn discovery_describes_what_cascade_supports() {
    let p = partner().await;
    let config = p
        .send("GET", "/ServiceProviderConfig", None)
        .await
        .expect(200);
    assert_eq!(config.content_type, "application/scim+json");
    assert_eq!(config.body["patch"]["supported"], true);
    assert_eq!(config.body["filter"]["supported"], true);
    assert_eq!(config.body["bulk"]["supported"], false);
    let types = p.send("GET", "/ResourceTypes", None).await.expect(200).body;
    assert_eq!(types["Resources"][0]["endpoint"], "/Users");
    assert_eq!(
        types["Resources"][0]["schemaExtensions"][0]["schema"],
        ENTERPRISE
    );
    let schemas = p.send("GET", "/Schemas", None).await.expect(200).body;
    assert_eq!(schemas["totalResults"], 2);
    let user = p
        .send("GET", &format!("/Schemas/{USER}"), None)
        .await
        .expect(200)
        .body;
    assert!(
        user["attributes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["name"] == "userName"))
    );
    scim_error(p.send("GET", "/Groups", None).await, 404);
}

#[tokio::test]
async fn the_rfc_enterprise_user_is_created_found_and_refused_twice() {
    let p = partner().await;
    let created = p.send("POST", "/Users", Some(barbara())).await.expect(201);
    let user = created.body.clone();
    let id = id_of(&user);
    assert_eq!(
        created
            .headers
            .get("location")
            .and_then(|v| v.to_str().ok()),
        user["meta"]["location"].as_str()
    );
    assert_eq!(user["userName"], "bjensen@example.com");
    assert_eq!(user["displayName"], "Babs Jensen");
    assert_eq!(user["externalId"], "701984");
    assert_eq!(user["active"], true);
    assert_eq!(user[ENTERPRISE]["employeeNumber"], "701984");
    assert_eq!(user[ENTERPRISE]["department"], "Tour Operations");
    // The partner is the key's: organization is not stored, so not shown.
    assert!(user[ENTERPRISE].get("organization").is_none(), "{user}");
    assert_eq!(user["meta"]["resourceType"], "User");
    assert!(user.get("password").is_none());

    // The same person through the REST API, as a member of the partner.
    let person = p.person(&id).await;
    assert_eq!(person["email"], "bjensen@example.com");
    assert_eq!(person["memberships"][0]["external_id"], "701984");

    assert_eq!(
        p.send("GET", &format!("/Users/{id}"), None)
            .await
            .expect(200)
            .body,
        user
    );
    for filter in [
        "userName%20eq%20%22BJensen@example.com%22",
        "externalId%20eq%20%22701984%22",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber%20eq%20%22701984%22",
    ] {
        let found = p
            .send("GET", &format!("/Users?filter={filter}"), None)
            .await
            .expect(200)
            .body;
        assert_eq!(
            found["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
        );
        assert_eq!(found["totalResults"], 1, "{filter}");
        assert_eq!(found["Resources"][0]["id"], json!(id));
    }
    let none = p
        .send(
            "GET",
            "/Users?filter=userName%20eq%20%22nobody@example.com%22",
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(none["totalResults"], 0);
    let bad = scim_error(
        p.send("GET", "/Users?filter=title%20co%20%22Guide%22", None)
            .await,
        400,
    );
    assert_eq!(bad["scimType"], "invalidFilter");

    let again = scim_error(p.send("POST", "/Users", Some(barbara())).await, 409);
    assert_eq!(again["scimType"], "uniqueness");
    let mut same_email = barbara();
    same_email["externalId"] = json!("701985");
    same_email[ENTERPRISE]["employeeNumber"] = json!("701985");
    assert_eq!(
        scim_error(p.send("POST", "/Users", Some(same_email)).await, 409)["scimType"],
        "uniqueness"
    );
}

#[tokio::test]
async fn the_rfc_minimal_user_needs_your_key_and_an_email_and_bad_input_writes_nothing() {
    let p = partner().await;
    // RFC 7643 §8.1: Cascade needs the organisation's key for the person.
    let minimal = json!({ "schemas": [USER], "id": "2819c223-7f76-453a-919d-413861904646", "userName": "bjensen@example.com" });
    let refused = scim_error(p.send("POST", "/Users", Some(minimal.clone())).await, 400);
    assert_eq!(refused["scimType"], "invalidValue");
    let mut with_key = minimal;
    with_key["externalId"] = json!("bjensen");
    with_key["displayName"] = json!("Barbara Jensen");
    let rfc_create = json!({ "schemas": [USER], "userName": "bjensen", "externalId": "bjensen",
        "name": { "formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara" } });
    let no_email = scim_error(p.send("POST", "/Users", Some(rfc_create)).await, 400);
    assert!(
        no_email["detail"]
            .as_str()
            .is_some_and(|d| d.contains("email"))
    );
    let syntax = scim_error(
        p.app
            .raw_as(
                &p.key,
                "POST",
                "/scim/v2/Users",
                "application/scim+json",
                b"{not json".to_vec(),
            )
            .await,
        400,
    );
    assert_eq!(syntax["scimType"], "invalidSyntax");
    assert_eq!(p.app.count(entities::people::Entity).await, 0);
    let created = p
        .send("POST", "/Users", Some(with_key))
        .await
        .expect(201)
        .body;
    assert_eq!(created["displayName"], "Barbara Jensen");
    assert_eq!(created["emails"][0]["value"], "bjensen@example.com");
}

#[tokio::test]
async fn patch_put_and_delete_change_the_membership_as_a_leaver() {
    let p = partner().await;
    let id = id_of(
        &p.send("POST", "/Users", Some(barbara()))
            .await
            .expect(201)
            .body,
    );
    let programme = p.app.programme("mecc").await;
    let course = p.app.course(programme, "mecc-skills").await;
    let session = id_of(&p.app.session(course, 20, 10).await);
    let booking = id_of(&p.app.book(session, id, &p.key).await.expect(201).body);

    // RFC 7644 §3.5.2: replace active with false; the future place goes as a leaver's.
    let off = p
        .patched(
            &id,
            json!([{ "op": "replace", "path": "active", "value": false }]),
        )
        .await;
    assert_eq!(off["active"], false);
    let place = p
        .app
        .get(&format!("/api/v1/bookings/{booking}"), &p.key)
        .await
        .expect(200)
        .body;
    assert_eq!(place["status"], "cancelled");
    assert_eq!(place["cancel_reason"], "left_organisation");

    // The way Azure AD sends it: capitalised op, no path, a boolean as a string.
    let on = p
        .patched(
            &id,
            json!([{ "op": "Replace", "value": { "active": "True" } }]),
        )
        .await;
    assert_eq!(on["active"], true);

    let renamed = p
        .patched(&id, json!([
            { "op": "replace", "path": "name.givenName", "value": "Siân" },
            { "op": "replace", "path": "name.familyName", "value": "Llewellyn" },
            { "op": "replace", "path": "emails[type eq \"work\"].value", "value": "sian.llewellyn@example.com" },
            { "op": "remove", "path": format!("{ENTERPRISE}:department") },
        ])).await;
    // Only the parts named change; the formatted name was not made from them, so it stays.
    assert_eq!(
        renamed["name"],
        json!({ "formatted": "Ms. Barbara J Jensen, III", "familyName": "Llewellyn",
            "givenName": "Siân", "middleName": "Jane", "honorificPrefix": "Ms.", "honorificSuffix": "III" })
    );
    // userName is the provider's login name: an email change leaves it alone, and the email
    // keeps its type and primary as sent, beside the other email.
    assert_eq!(renamed["userName"], "bjensen@example.com");
    assert_eq!(
        renamed["emails"],
        json!([{ "value": "sian.llewellyn@example.com", "type": "work", "primary": true },
            { "value": "babs@jensen.org", "type": "home" }])
    );
    assert_eq!(renamed["displayName"], "Babs Jensen");
    assert!(renamed[ENTERPRISE].get("department").is_none());
    let person = p
        .app
        .get(&format!("/api/v1/people/{id}"), &p.app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(person["email"], "sian.llewellyn@example.com");
    assert_eq!(person["name"], "Babs Jensen");
    let bad_path = scim_error(
        p.patch(&id, json!([{ "op": "replace", "path": "x509Certificates", "value": 1 }, { "op": "explode" }]))
            .await,
        400,
    );
    assert_eq!(bad_path["scimType"], "invalidSyntax");

    // PUT replaces: the department comes back, the external id changes.
    let mut replacement = barbara();
    replacement["externalId"] = json!("PC-1001");
    replacement[ENTERPRISE]["employeeNumber"] = json!("PC-1001");
    let replaced = p
        .send("PUT", &format!("/Users/{id}"), Some(replacement))
        .await
        .expect(200)
        .body;
    assert_eq!(replaced["externalId"], "PC-1001");
    assert_eq!(replaced[ENTERPRISE]["department"], "Tour Operations");
    assert_eq!(replaced["userName"], "bjensen@example.com");

    // ETags: a replace made on a stale read is refused in SCIM's format.
    let read = p
        .send("GET", &format!("/Users/{id}"), None)
        .await
        .expect(200);
    let tag = read
        .headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let stale = format!("\"{}\"", "0".repeat(32));
    scim_error(
        p.app
            .request_with(
                "PUT",
                &format!("/scim/v2/Users/{id}"),
                Some(&p.key),
                &[("If-Match", &stale)],
                Some(barbara()),
            )
            .await,
        412,
    );
    p.app
        .request_with(
            "PUT",
            &format!("/scim/v2/Users/{id}"),
            Some(&p.key),
            &[("If-Match", &tag)],
            Some(read.body),
        )
        .await
        .expect(200);

    p.send("DELETE", &format!("/Users/{id}"), None)
        .await
        .expect(204);
    // Deleted, the User is gone for SCIM (RFC 7644 §3.6); the person stays, as a leaver.
    scim_error(p.send("GET", &format!("/Users/{id}"), None).await, 404);
    let listed = p.send("GET", "/Users", None).await.expect(200).body;
    assert_eq!(listed["totalResults"], 0);
    let person = p.person(&id).await;
    assert_eq!(person["active"], false);
    // Created again, the same person comes back, active, with their records.
    let again = p
        .send("POST", "/Users", Some(barbara()))
        .await
        .expect(201)
        .body;
    assert_eq!(id_of(&again), id);
    assert_eq!(again["active"], true);
    p.send("GET", &format!("/Users/{id}"), None)
        .await
        .expect(200);
}

#[tokio::test]
async fn each_partner_sees_only_its_own_staff_and_other_keys_are_refused() {
    let p = partner().await;
    let council = p.app.organisation("Wiltshire Council", "council").await;
    let council_key = p.app.key(KeyRole::Partner, Some(council), None).await;
    let id = id_of(
        &p.send("POST", "/Users", Some(barbara()))
            .await
            .expect(201)
            .body,
    );
    let theirs = |method: &'static str, path: String, body: Option<Value>| {
        let key = council_key.clone();
        let app = &p.app;
        async move { app.request(method, &path, Some(&key), body).await }
    };
    scim_error(
        theirs("GET", format!("/scim/v2/Users/{id}"), None).await,
        404,
    );
    scim_error(
        theirs("DELETE", format!("/scim/v2/Users/{id}"), None).await,
        404,
    );
    let listed = theirs("GET", "/scim/v2/Users".into(), None)
        .await
        .expect(200)
        .body;
    assert_eq!(listed["totalResults"], 0);

    // The council employs her too. Knowing her email does not make her theirs: the create is
    // refused and a membership request waits for the police (her employer) to confirm it.
    let mut second = barbara();
    second["externalId"] = json!("WC-77");
    second[ENTERPRISE]["employeeNumber"] = json!("WC-77");
    let refused = theirs("POST", "/scim/v2/Users".into(), Some(second.clone())).await;
    assert_eq!(refused.body["scimType"], "uniqueness");
    scim_error(refused, 409);
    let filtered = theirs(
        "GET",
        "/scim/v2/Users?filter=externalId%20eq%20%22WC-77%22".into(),
        None,
    )
    .await
    .expect(200)
    .body;
    assert_eq!(filtered["totalResults"], 0);
    let waiting = p
        .app
        .get("/api/v1/membership-requests?mine=false", &p.key)
        .await
        .expect(200)
        .body;
    let request = id_of(&waiting["items"][0]);
    assert_eq!(waiting["items"][0]["person_id"], json!(id));
    p.app
        .post(
            &format!("/api/v1/membership-requests/{request}/confirm"),
            &p.key,
            json!({}),
        )
        .await
        .expect(200);
    let linked = theirs(
        "GET",
        "/scim/v2/Users?filter=externalId%20eq%20%22WC-77%22".into(),
        None,
    )
    .await
    .expect(200)
    .body;
    assert_eq!(id_of(&linked["Resources"][0]), id);
    let person = p
        .app
        .get(&format!("/api/v1/people/{id}"), &p.app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(person["memberships"].as_array().map(Vec::len), Some(2));
    // Leaving the police leaves her active, employed by the council.
    p.send("DELETE", &format!("/Users/{id}"), None)
        .await
        .expect(204);
    let person = p
        .app
        .get(&format!("/api/v1/people/{id}"), &p.app.admin)
        .await
        .expect(200)
        .body;
    assert_eq!(person["active"], true);

    scim_error(
        p.app
            .request("GET", "/scim/v2/Users", Some(&p.app.admin), None)
            .await,
        403,
    );
    let anonymous = p.app.request("GET", "/scim/v2/Users", None, None).await;
    assert!(anonymous.headers.contains_key("www-authenticate"));
    scim_error(anonymous, 401);
}

#[tokio::test]
async fn users_are_paged_by_start_index_and_count() {
    let p = partner().await;
    for i in 0..3 {
        p.send(
            "POST",
            "/Users",
            Some(
                json!({ "schemas": [USER], "userName": format!("u{i}@example.org"),
            "externalId": format!("E{i}"), "displayName": format!("User {i}") }),
            ),
        )
        .await
        .expect(201);
    }
    let first = p
        .send("GET", "/Users?startIndex=1&count=2", None)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (first["totalResults"].clone(), first["itemsPerPage"].clone()),
        (json!(3), json!(2))
    );
    let rest = p
        .send("GET", "/Users?startIndex=3&count=2", None)
        .await
        .expect(200)
        .body;
    assert_eq!(rest["Resources"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["startIndex"], 3);
    let ids: Vec<&Value> = first["Resources"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(rest["Resources"].as_array().into_iter().flatten())
        .map(|u| &u["id"])
        .collect();
    assert_eq!(ids.len(), 3);
    assert_ne!(ids[0], ids[2]);
    let zero = p.send("GET", "/Users?count=0", None).await.expect(200).body;
    assert_eq!(
        (zero["totalResults"].clone(), zero["Resources"].clone()),
        (json!(3), json!([]))
    );
    scim_error(p.send("GET", "/Users?count=many", None).await, 400);
}

#[tokio::test]
async fn a_partner_over_its_request_limit_is_told_when_to_retry_in_scim_format() {
    let app = TestApp::spawn_with(|c| c.key_requests_per_minute = 2).await;
    let org = app.organisation("Wiltshire Police", "police").await;
    let key = app.key(KeyRole::Partner, Some(org), None).await;
    for _ in 0..2 {
        app.request("GET", "/scim/v2/Users", Some(&key), None)
            .await
            .expect(200);
    }
    let limited = app.request("GET", "/scim/v2/Users", Some(&key), None).await;
    assert!(limited.headers.contains_key("retry-after"));
    scim_error(limited, 429);
}

#[tokio::test]
async fn a_department_that_is_no_staff_group_is_kept_as_sent_and_employee_number_apart() {
    let p = partner().await;
    let mut user = barbara();
    user[ENTERPRISE]["department"] = json!("Nowhere");
    user[ENTERPRISE]["employeeNumber"] = json!("E-5521");
    let created = p
        .send("POST", "/Users", Some(user.clone()))
        .await
        .expect(201)
        .body;
    assert_eq!(created[ENTERPRISE]["department"], "Nowhere");
    assert_eq!(
        created["externalId"], "701984",
        "externalId is Cascade's key"
    );
    assert_eq!(
        created[ENTERPRISE]["employeeNumber"], "E-5521",
        "kept as sent"
    );
    let id = id_of(&created);
    let person = p
        .app
        .get(&format!("/api/v1/people/{id}"), &p.app.admin)
        .await
        .expect(200)
        .body;
    assert!(person.get("staff_group_id").is_none(), "{person}");
    let by_number = p
        .send(
            "GET",
            &format!("/Users?filter={ENTERPRISE}:employeeNumber%20eq%20%22E-5521%22"),
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(by_number["totalResults"], 1);
    // A department that names a staff group sets it.
    user[ENTERPRISE]["department"] = json!("tour operations");
    let replaced = p
        .send("PUT", &format!("/Users/{id}"), Some(user))
        .await
        .expect(200)
        .body;
    assert_eq!(replaced[ENTERPRISE]["department"], "tour operations");
    let person = p
        .app
        .get(&format!("/api/v1/people/{id}"), &p.app.admin)
        .await
        .expect(200)
        .body;
    assert!(person["staff_group_id"].is_string(), "{person}");
}

#[tokio::test]
async fn attributes_excluded_attributes_and_search_by_post() {
    let p = partner().await;
    let id = id_of(
        &p.send("POST", "/Users", Some(barbara()))
            .await
            .expect(201)
            .body,
    );
    let only = p
        .send(
            "GET",
            &format!("/Users/{id}?attributes=userName,name.givenName"),
            None,
        )
        .await
        .expect(200)
        .body;
    let mut keys: Vec<&str> = only
        .as_object()
        .expect("user")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "name", "schemas", "userName"], "{only}");
    assert_eq!(only["name"], json!({ "givenName": "Barbara" }));
    let without = p
        .send(
            "GET",
            &format!("/Users?excludedAttributes=active,emails,{ENTERPRISE}:department"),
            None,
        )
        .await
        .expect(200)
        .body;
    let user = &without["Resources"][0];
    assert!(
        user.get("active").is_none() && user.get("emails").is_none(),
        "{user}"
    );
    assert!(user[ENTERPRISE].get("department").is_none(), "{user}");
    assert_eq!(user[ENTERPRISE]["employeeNumber"], "701984");
    for path in ["/Users/.search", "/.search"] {
        let found = p
            .send(
                "POST",
                path,
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                    "filter": "externalId eq \"701984\"", "attributes": ["displayName"],
                    "startIndex": 1, "count": 10 })),
            )
            .await
            .expect(200)
            .body;
        assert_eq!(found["totalResults"], 1, "{path}: {found}");
        assert_eq!(found["Resources"][0]["displayName"], "Babs Jensen");
        assert!(found["Resources"][0].get("userName").is_none());
    }
}

/// What Microsoft Entra ID sends with its default attribute mappings: userPrincipalName as
/// userName, objectId as externalId, a capitalised op, string booleans, and deactivation by
/// PATCH.
#[tokio::test]
async fn entra_id_shaped_provisioning_creates_updates_and_deactivates() {
    let p = partner().await;
    let created = p
        .send(
            "POST",
            "/Users",
            Some(json!({
                "schemas": [USER, ENTERPRISE],
                "externalId": "7f3c2b8e-0d4a-4c57-9f5e-1a2b3c4d5e6f",
                "userName": "Aoife.OBrien@police.example.onmicrosoft.com",
                "active": "True",
                "displayName": "Aoife O'Brien",
                "emails": [{ "primary": "True", "type": "work", "value": "aoife.obrien@police.example" }],
                "name": { "formatted": "Aoife O'Brien", "familyName": "O'Brien", "givenName": "Aoife" },
                ENTERPRISE: { "employeeNumber": "E-20417", "department": "Neighbourhood Policing" },
            })),
        )
        .await
        .expect(201)
        .body;
    let id = id_of(&created);
    assert_eq!(
        created["userName"],
        "Aoife.OBrien@police.example.onmicrosoft.com"
    );
    assert_eq!(created["emails"][0]["value"], "aoife.obrien@police.example");
    assert_eq!(created["active"], true);
    assert_eq!(
        created["externalId"],
        "7f3c2b8e-0d4a-4c57-9f5e-1a2b3c4d5e6f"
    );
    assert_eq!(created[ENTERPRISE]["employeeNumber"], "E-20417");
    assert_eq!(created[ENTERPRISE]["department"], "Neighbourhood Policing");

    // Entra matches users by userName before it creates them, in any case.
    let found = p
        .send(
            "GET",
            "/Users?filter=userName+eq+%22aoife.obrien%40police.example.onmicrosoft.com%22",
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], created["id"]);

    // A surname change: the part, the derived formatted name and displayName, in one PATCH.
    let married = p
        .patched(
            &id,
            json!([
                { "op": "Replace", "path": "name.familyName", "value": "Ní Bhriain" },
                { "op": "Replace", "path": "displayName", "value": "Aoife Ní Bhriain" },
                { "op": "Add", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "E-20418" },
            ]),
        )
        .await;
    assert_eq!(
        married["name"],
        json!({ "formatted": "Aoife Ní Bhriain", "familyName": "Ní Bhriain", "givenName": "Aoife" }),
        "the formatted name was made of the parts, so it follows them"
    );
    assert_eq!(married["displayName"], "Aoife Ní Bhriain");
    assert_eq!(married[ENTERPRISE]["employeeNumber"], "E-20418");
    assert_eq!(
        married["externalId"],
        "7f3c2b8e-0d4a-4c57-9f5e-1a2b3c4d5e6f"
    );
    let person = p.person(&id).await;
    assert_eq!(person["name"], "Aoife Ní Bhriain");

    // Deactivation: Replace active with the string "False".
    let off = p
        .patched(
            &id,
            json!([
                { "op": "Replace", "path": "active", "value": "False" },
            ]),
        )
        .await;
    assert_eq!(off["active"], false);
    let inactive = p
        .send("GET", "/Users?filter=active+eq+false", None)
        .await
        .expect(200)
        .body;
    assert_eq!(inactive["totalResults"], 1);
}

/// What Okta sends: a plain login as userName, no externalId (employeeNumber is the key), name
/// parts without a formatted name, a PUT to deactivate.
#[tokio::test]
async fn okta_shaped_provisioning_creates_renames_and_deactivates() {
    let p = partner().await;
    let user = json!({
        "schemas": [USER, ENTERPRISE],
        "userName": "wdavies",
        "name": { "givenName": "Wyn", "familyName": "Davies" },
        "emails": [{ "primary": true, "value": "wyn.davies@police.example", "type": "work" }],
        "active": true,
        "locale": "cy-GB",
        ENTERPRISE: { "employeeNumber": "00417" },
    });
    let created = p
        .send("POST", "/Users", Some(user.clone()))
        .await
        .expect(201)
        .body;
    let id = id_of(&created);
    assert_eq!(created["userName"], "wdavies");
    assert_eq!(created["externalId"], "00417");
    assert!(created.get("displayName").is_none(), "{created}");
    let person = p.person(&id).await;
    assert_eq!(person["name"], "Wyn Davies");
    assert_eq!(person["email"], "wyn.davies@police.example");

    // A given-name change alone: the other parts stay, and so does a formatted name made from
    // them (here none was sent, so it is made).
    let renamed = p
        .patched(
            &id,
            json!([
                { "op": "replace", "value": { "name.givenName": "Wynford" } },
            ]),
        )
        .await;
    assert_eq!(
        renamed["name"],
        json!({ "givenName": "Wynford", "familyName": "Davies", "formatted": "Wynford Davies" })
    );
    let again = p
        .patched(
            &id,
            json!([
                { "op": "replace", "path": "name.familyName", "value": "Dafis" },
            ]),
        )
        .await;
    assert_eq!(again["name"]["formatted"], "Wynford Dafis");
    assert_eq!(again["name"]["givenName"], "Wynford");

    // What is kept is bounded: an overlong userName or name part is refused, nothing written.
    for (field, value) in [
        ("userName", json!("x".repeat(300))),
        ("name", json!({ "givenName": "y".repeat(201) })),
    ] {
        let mut long = json!({ "schemas": [USER], "userName": "long", "externalId": "L1",
            "displayName": "Long", "emails": [{ "value": "long@police.example" }] });
        long[field] = value;
        let refused = scim_error(p.send("POST", "/Users", Some(long)).await, 400);
        assert_eq!(refused["scimType"], "invalidValue", "{field}");
    }
    assert_eq!(p.total(r#"externalId eq "L1""#).await, 0);

    // Another User may not take the same userName, in any case.
    let clash = scim_error(
        p.send(
            "POST",
            "/Users",
            Some(
                json!({ "schemas": [USER], "userName": "WDavies", "externalId": "00999",
                "displayName": "W Davies", "emails": [{ "value": "w.davies@police.example" }] }),
            ),
        )
        .await,
        409,
    );
    assert_eq!(clash["scimType"], "uniqueness");

    // Okta deactivates with a PUT of the whole user.
    let mut off = user;
    off["active"] = json!(false);
    let off = p
        .send("PUT", &format!("/Users/{id}"), Some(off))
        .await
        .expect(200)
        .body;
    assert_eq!(off["active"], false);
    assert_eq!(
        off["name"],
        json!({ "givenName": "Wyn", "familyName": "Davies" })
    );
}

#[tokio::test]
async fn and_or_filters_and_removals_behave_as_the_rfc_says() {
    let p = partner().await;
    for (n, given) in [(1, "Ana"), (2, "Ben"), (3, "Cai")] {
        p.send(
            "POST",
            "/Users",
            Some(json!({ "schemas": [USER], "userName": format!("user{n}"), "externalId": format!("X{n}"),
                "name": { "givenName": given, "familyName": "Test" },
                "emails": [{ "value": format!("user{n}@police.example") }] })),
        )
        .await
        .expect(201);
    }
    assert_eq!(
        p.total(r#"userName eq "user1" or externalId eq "X2""#)
            .await,
        2
    );
    assert_eq!(
        p.total(r#"userName eq "user1" and externalId eq "X2""#)
            .await,
        0
    );
    assert_eq!(
        p.total(r#"(userName eq "user1" or userName eq "user3") and active eq true"#)
            .await,
        2
    );
    assert_eq!(
        p.total(r#"emails.value eq "USER2@police.example""#).await,
        1
    );
    assert_eq!(
        p.total(r#"externalId eq "X1" or externalId eq "X2" or externalId eq "X3""#)
            .await,
        3
    );
    for bad in [
        r#"userName co "user""#,
        r#"title eq "x""#,
        r#"(userName eq "user1""#,
        r#"userName eq "user1" or"#,
    ] {
        let err = scim_error(p.send("GET", &filtered(bad), None).await, 400);
        assert_eq!(err["scimType"], "invalidFilter", "{bad}");
    }

    let id = id_of(
        &p.send("GET", "/Users?filter=userName+eq+%22user1%22", None)
            .await
            .expect(200)
            .body["Resources"][0],
    );
    // Removing name leaves displayName-less users without a name: refused, nothing written.
    let refused = scim_error(
        p.patch(
            &id,
            json!([
                { "op": "remove", "path": "name" },
            ]),
        )
        .await,
        400,
    );
    assert_eq!(refused["scimType"], "invalidValue");
    // With a displayName, name can go; removing active makes it unassigned (the membership
    // stays as it was); changing externalId alone changes only that.
    let user = p
        .patched(
            &id,
            json!([
                { "op": "add", "path": "displayName", "value": "Ana Test" },
                { "op": "remove", "path": "name" },
                { "op": "remove", "path": "active" },
                { "op": "replace", "path": "externalId", "value": "X1-new" },
            ]),
        )
        .await;
    assert!(user.get("name").is_none(), "{user}");
    assert!(user.get("active").is_none(), "{user}");
    assert_eq!(user["externalId"], "X1-new");
    assert_eq!(user["userName"], "user1");
    assert_eq!(user["displayName"], "Ana Test");
    let person = p.person(&id).await;
    assert_eq!(person["active"], true);
    // Removing the enterprise extension removes what it held.
    let user = p
        .patched(
            &id,
            json!([
                { "op": "add", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "77" },
            ]),
        )
        .await;
    assert_eq!(user[ENTERPRISE]["employeeNumber"], "77");
    let user = p
        .patched(
            &id,
            json!([
                { "op": "remove", "path": ENTERPRISE },
            ]),
        )
        .await;
    assert!(user.get(ENTERPRISE).is_none(), "{user}");
    assert_eq!(user["schemas"], json!([USER]));
}

#[tokio::test]
async fn erasure_removes_what_the_identity_provider_sent() {
    let p = partner().await;
    let id = id_of(
        &p.send("POST", "/Users", Some(barbara()))
            .await
            .expect(201)
            .body,
    );
    p.app
        .post(
            &format!("/api/v1/people/{id}/erase"),
            &p.app.admin,
            json!({}),
        )
        .await
        .expect(200);
    let user = p
        .send("GET", &format!("/Users/{id}"), None)
        .await
        .expect(200)
        .body;
    let text = user.to_string().to_lowercase();
    for gone in ["jensen", "babs", "701984"] {
        assert!(!text.contains(gone), "{gone} in {user}");
    }
    assert_eq!(p.total(r#"userName eq "bjensen@example.com""#).await, 0);
}
