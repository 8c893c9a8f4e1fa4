//! A SCIM User as Cascade reads and writes it: parsing a request body into what is stored,
//! representing a person and membership as a User, and projecting `attributes` /
//! `excludedAttributes`.

use super::*;

/// A User as sent by an identity provider, read leniently (attribute names in any case,
/// booleans as strings).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct UserInput {
    /// Cascade's name for the person: `displayName`, else `name.formatted`, else the parts.
    pub(super) name: String,
    /// The work email: the primary one, else the `work` one, else the first, else `userName`.
    pub(super) email: String,
    pub(super) user_name: String,
    pub(super) external_id: String,
    pub(super) employee_number: Option<String>,
    /// `None` while `active` is unassigned: the membership stays as it is.
    pub(super) active: Option<bool>,
    pub(super) department: Option<String>,
    /// The provider's view of the User, kept as sent (see `StoredUser`).
    pub(super) stored: StoredUser,
}

/// What an identity provider last sent of the core attributes, stored on the membership and
/// shown back while it agrees with the person's own name and email.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StoredUser {
    pub(super) user_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) emails: Vec<Map<String, Value>>,
    /// Whether `active` is assigned (its value is the membership's).
    #[serde(default)]
    pub(super) active_assigned: bool,
}

/// The sub-attributes of `name` Cascade keeps (RFC 7643 §4.1.1).
pub(super) const NAME_PARTS: [&str; 6] = [
    "formatted",
    "familyName",
    "givenName",
    "middleName",
    "honorificPrefix",
    "honorificSuffix",
];

/// The value of `key` in `obj`, whatever its case.
pub(super) fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

pub(super) fn text(obj: &Map<String, Value>, key: &str) -> Option<String> {
    get_ci(obj, key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

pub(super) fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The given, middle and family names joined with spaces (empty when none is given).
pub(super) fn joined_parts(name: &Map<String, Value>) -> String {
    ["givenName", "middleName", "familyName"]
        .into_iter()
        .filter_map(|k| text(name, k))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Cascade's name for a User: `displayName`, else `name.formatted`, else the parts joined.
pub(super) fn name_of(
    display_name: Option<&str>,
    name: Option<&Map<String, Value>>,
) -> Option<String> {
    display_name
        .map(str::to_owned)
        .or_else(|| name.and_then(|n| text(n, "formatted")))
        .or_else(|| name.map(joined_parts).filter(|j| !j.is_empty()))
}

/// The email Cascade uses: the primary one, else the `work` one, else the first.
pub(super) fn email_of(emails: &[Map<String, Value>]) -> Option<String> {
    let valued = |e: &&Map<String, Value>| text(e, "value").is_some();
    emails
        .iter()
        .filter(valued)
        .find(|e| get_ci(e, "primary").and_then(boolean) == Some(true))
        .or_else(|| {
            emails
                .iter()
                .filter(valued)
                .find(|e| text(e, "type").is_some_and(|t| t.eq_ignore_ascii_case("work")))
        })
        .or_else(|| emails.iter().find(valued))
        .and_then(|e| text(e, "value"))
}

pub(super) fn parse_user(body: &Value) -> ScimResult<UserInput> {
    let obj = body.as_object().ok_or_else(|| {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            "A User must be a JSON object.",
        )
    })?;
    let user_name =
        text(obj, "userName").ok_or_else(|| ScimError::invalid("userName is required."))?;
    let name_obj: Option<Map<String, Value>> =
        get_ci(obj, "name").and_then(Value::as_object).map(|n| {
            NAME_PARTS
                .iter()
                .filter_map(|part| text(n, part).map(|v| ((*part).to_owned(), json!(v))))
                .collect()
        });
    let name_obj = name_obj.filter(|n| !n.is_empty());
    let display_name = text(obj, "displayName");
    let name = name_of(display_name.as_deref(), name_obj.as_ref())
        .ok_or_else(|| ScimError::invalid("displayName or name is required."))?;
    let mut emails: Vec<Map<String, Value>> = Vec::new();
    match get_ci(obj, "emails") {
        None => {}
        Some(Value::Array(list)) => {
            for e in list.iter().filter_map(Value::as_object) {
                let Some(value) = text(e, "value") else {
                    continue;
                };
                let mut kept = Map::new();
                kept.insert("value".into(), json!(value));
                if let Some(t) = text(e, "type") {
                    kept.insert("type".into(), json!(t));
                }
                if let Some(p) = get_ci(e, "primary") {
                    let p = boolean(p).ok_or_else(|| {
                        ScimError::invalid("emails.primary must be true or false.")
                    })?;
                    kept.insert("primary".into(), json!(p));
                }
                emails.push(kept);
            }
        }
        Some(_) => return Err(ScimError::invalid("emails must be a list.")),
    }
    let email = email_of(&emails)
        .or_else(|| user_name.contains('@').then(|| user_name.clone()))
        .ok_or_else(|| {
            ScimError::invalid(
                "A work email is required: in emails, or as a userName that is an email address.",
            )
        })?;
    let enterprise = get_ci(obj, ENTERPRISE_SCHEMA).and_then(Value::as_object);
    // externalId is Cascade's key for the person (the membership's external id, unique in the
    // organisation); employeeNumber is kept as sent, and stands in for a missing externalId.
    let employee_number = enterprise.and_then(|e| text(e, "employeeNumber"));
    let external = text(obj, "externalId");
    let external_id = match (external, employee_number.clone()) {
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => {
            return Err(ScimError::invalid(
                "externalId (or the enterprise employeeNumber) is required: it is your organisation's key for the person.",
            ));
        }
    };
    let active = get_ci(obj, "active")
        .map(|v| boolean(v).ok_or_else(|| ScimError::invalid("active must be true or false.")))
        .transpose()?;
    Ok(UserInput {
        name,
        email,
        external_id,
        employee_number,
        active,
        department: enterprise.and_then(|e| text(e, "department")),
        stored: StoredUser {
            user_name: user_name.clone(),
            name: name_obj,
            display_name,
            emails,
            active_assigned: active.is_some(),
        },
        user_name,
    })
}

/// The SCIM representation of a person as `organisation` knows them: what the identity
/// provider sent (see `StoredUser`) while it agrees with the person's name and email, the
/// person's own otherwise (someone else changed them, or the User came from a staff sync).
pub(super) fn represent(
    base_url: &str,
    person: &people::Model,
    membership: &memberships::Model,
    department: Option<&str>,
) -> Value {
    let external = membership.external_id.clone();
    let mut enterprise = Map::new();
    if let Some(e) = &membership.employee_number {
        enterprise.insert("employeeNumber".into(), json!(e));
    }
    if let Some(d) = department {
        enterprise.insert("department".into(), json!(d));
    }
    // An extension with no values is not there (RFC 7643 §3.3); nor is its schema.
    let schemas = if enterprise.is_empty() {
        json!([USER_SCHEMA])
    } else {
        json!([USER_SCHEMA, ENTERPRISE_SCHEMA])
    };
    let stored: Option<StoredUser> = membership
        .scim_attributes
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let own_name = || {
        (
            Some(person.name.clone()),
            Some(json!({ "formatted": person.name })),
        )
    };
    let (display_name, name) = match &stored {
        Some(s)
            if name_of(s.display_name.as_deref(), s.name.as_ref())
                .is_some_and(|n| clean_text(&n) == person.name) =>
        {
            (s.display_name.clone(), s.name.clone().map(Value::Object))
        }
        _ => own_name(),
    };
    let emails = match &stored {
        Some(s) if email_of(&s.emails).is_some_and(|e| email_key(&e) == person.email_key) => {
            json!(s.emails)
        }
        _ => json!([{ "value": person.email, "type": "work", "primary": true }]),
    };
    let modified = person.updated_at.max(membership.updated_at);
    let mut user = json!({
        "schemas": schemas,
        "id": person.id,
        "externalId": external,
        "userName": stored.as_ref().map_or(&person.email, |s| &s.user_name),
        "name": name,
        "displayName": display_name,
        "emails": emails,
        "active": membership.active,
        ENTERPRISE_SCHEMA: (!enterprise.is_empty()).then_some(enterprise),
        "meta": {
            "resourceType": "User",
            "created": membership.created_at.min(person.created_at),
            "lastModified": modified,
            "location": format!("{base_url}/scim/v2/Users/{}", person.id),
        },
    });
    if let Some(obj) = user.as_object_mut() {
        obj.retain(|_, v| !v.is_null());
        // RFC 7644 §3.5.2.2: a removed attribute is unassigned, and not returned.
        if stored.as_ref().is_some_and(|s| !s.active_assigned) {
            obj.remove("active");
        }
    }
    user
}

/// Loads people and staff groups for memberships, in two queries.
pub(super) async fn represent_all(
    db: &impl ConnectionTrait,
    base_url: &str,
    list: &[memberships::Model],
) -> ScimResult<Vec<Value>> {
    let ids: Vec<Uuid> = list.iter().map(|m| m.person_id).collect();
    let persons: HashMap<Uuid, people::Model> = people::Entity::find()
        .filter(people::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let group_ids: Vec<Uuid> = persons.values().filter_map(|p| p.staff_group_id).collect();
    let groups: HashMap<Uuid, String> = staff_groups::Entity::find()
        .filter(staff_groups::Column::Id.is_in(group_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    Ok(list
        .iter()
        .filter_map(|m| {
            let p = persons.get(&m.person_id)?;
            let dept = m.department.as_deref().or_else(|| {
                p.staff_group_id
                    .and_then(|g| groups.get(&g))
                    .map(String::as_str)
            });
            Some(represent(base_url, p, m, dept))
        })
        .collect())
}

/// `attributes` and `excludedAttributes` (RFC 7644 §3.9), applied to a User representation:
/// with `attributes`, only the named attributes (and `id` and `schemas`, always returned) stay;
/// `excludedAttributes` removes the named ones (never `id` or `schemas`). Names are compared
/// without regard to case; `name.givenName` names a sub-attribute, and
/// `urn:…:enterprise:2.0:User:department` an extension's attribute.
pub fn project(user: &mut Value, attributes: &[String], excluded: &[String]) {
    const ALWAYS: [&str; 2] = ["id", "schemas"];
    let Some(obj) = user.as_object_mut() else {
        return;
    };
    // (top-level key as written in the representation, optional sub-attribute)
    let split = |path: &str| -> (String, Option<String>) {
        if let Some(rest) = path
            .get(..ENTERPRISE_SCHEMA.len())
            .filter(|head| head.eq_ignore_ascii_case(ENTERPRISE_SCHEMA))
            .map(|_| &path[ENTERPRISE_SCHEMA.len()..])
        {
            let sub = rest.strip_prefix(':').filter(|s| !s.is_empty());
            return (ENTERPRISE_SCHEMA.to_owned(), sub.map(str::to_owned));
        }
        match path.split_once('.') {
            Some((top, sub)) => (top.to_owned(), Some(sub.to_owned())),
            None => (path.to_owned(), None),
        }
    };
    let key_of = |obj: &serde_json::Map<String, Value>, name: &str| {
        obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
    };
    if !attributes.is_empty() {
        let wanted: Vec<(String, Option<String>)> = attributes.iter().map(|a| split(a)).collect();
        let keys: Vec<String> = obj.keys().cloned().collect();
        for key in keys {
            if ALWAYS.contains(&key.as_str()) {
                continue;
            }
            let asked: Vec<&Option<String>> = wanted
                .iter()
                .filter(|(top, _)| top.eq_ignore_ascii_case(&key))
                .map(|(_, sub)| sub)
                .collect();
            if asked.is_empty() {
                obj.remove(&key);
            } else if asked.iter().all(|s| s.is_some())
                && let Some(inner) = obj.get_mut(&key).and_then(Value::as_object_mut)
            {
                let subs: Vec<&str> = asked.iter().filter_map(|s| s.as_deref()).collect();
                inner.retain(|k, _| subs.iter().any(|s| s.eq_ignore_ascii_case(k)));
                if inner.is_empty() {
                    obj.remove(&key);
                }
            }
        }
    }
    for path in excluded {
        let (top, sub) = split(path);
        let Some(key) = key_of(obj, &top).filter(|k| !ALWAYS.contains(&k.as_str())) else {
            continue;
        };
        match sub {
            None => {
                obj.remove(&key);
            }
            Some(sub) => {
                if let Some(inner) = obj.get_mut(&key).and_then(Value::as_object_mut) {
                    inner.retain(|k, _| !k.eq_ignore_ascii_case(&sub));
                }
            }
        }
    }
}
