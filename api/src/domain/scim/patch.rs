//! SCIM PATCH (RFC 7644 §3.5.2): add, replace and remove operations applied to a User's
//! current representation, which is then written as a whole like a PUT.

use super::*;

/// A PATCH operation (RFC 7644 §3.5.2; the op's name in any case, as Entra ID sends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Add,
    Replace,
    Remove,
}

/// Applies a PatchOp's operations to a User's representation (RFC 7644 §3.5.2).
pub(super) fn apply_patch(current: &Value, patch: &Value) -> ScimResult<Value> {
    let ops = patch
        .as_object()
        .and_then(|p| get_ci(p, "Operations"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ScimError::new(
                StatusCode::BAD_REQUEST,
                Some("invalidSyntax"),
                "A PatchOp needs an Operations list.",
            )
        })?;
    let mut user = current.clone();
    for op in ops {
        let obj = op.as_object().ok_or_else(|| {
            ScimError::new(
                StatusCode::BAD_REQUEST,
                Some("invalidSyntax"),
                "Each operation must be an object.",
            )
        })?;
        let kind = match text(obj, "op").unwrap_or_default().to_lowercase().as_str() {
            "add" => Op::Add,
            "replace" => Op::Replace,
            "remove" => Op::Remove,
            _ => {
                return Err(ScimError::new(
                    StatusCode::BAD_REQUEST,
                    Some("invalidSyntax"),
                    "op must be add, replace or remove.",
                ));
            }
        };
        let path = text(obj, "path");
        let value = get_ci(obj, "value").cloned();
        match (kind, path, value) {
            (Op::Add | Op::Replace, None, Some(Value::Object(values))) => {
                for (k, v) in values {
                    set_path(&mut user, kind, &k, Some(v))?;
                }
            }
            (Op::Add | Op::Replace, Some(path), Some(v)) => {
                set_path(&mut user, kind, &path, Some(v))?;
            }
            (Op::Remove, Some(path), _) => set_path(&mut user, kind, &path, None)?,
            (Op::Remove, None, _) => {
                return Err(ScimError::new(
                    StatusCode::BAD_REQUEST,
                    Some("noTarget"),
                    "remove needs a path.",
                ));
            }
            (Op::Add | Op::Replace, _, _) => {
                return Err(ScimError::invalid("add and replace need a value."));
            }
        }
    }
    Ok(user)
}

/// `path` without `prefix` (compared in any case), if it starts with it.
pub(super) fn strip_prefix_ci<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    path.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .map(|_| &path[prefix.len()..])
}

/// Sets (or with `None` removes) the attribute a PATCH path names: `attr`, `attr.sub`,
/// `emails[type eq "work"].value`, the enterprise URN (its writable attributes) or the URN
/// followed by `:attr`.
pub(super) fn set_path(
    user: &mut Value,
    op: Op,
    path: &str,
    value: Option<Value>,
) -> ScimResult<()> {
    let bad = || {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidPath"),
            format!("Cascade cannot change {path:?}."),
        )
    };
    let path = strip_prefix_ci(path, &format!("{USER_SCHEMA}:")).unwrap_or(path);
    if let Some(rest) = strip_prefix_ci(path, ENTERPRISE_SCHEMA) {
        let root = user.as_object_mut().ok_or_else(bad)?;
        let ext = root
            .entry(ENTERPRISE_SCHEMA.to_owned())
            .or_insert_with(|| json!({}));
        return match rest.strip_prefix(':') {
            Some(attr) if !attr.is_empty() => set_key(ext, attr, value).ok_or_else(bad),
            _ if !rest.is_empty() => Err(bad()),
            // The whole extension: the attributes Cascade keeps (organization is the key's).
            _ => {
                for attr in ["employeeNumber", "department"] {
                    let v = value
                        .as_ref()
                        .and_then(Value::as_object)
                        .and_then(|o| get_ci(o, attr))
                        .cloned();
                    if value.is_none() || v.is_some() || op == Op::Replace {
                        set_key(ext, attr, v).ok_or_else(bad)?;
                    }
                }
                Ok(())
            }
        };
    }
    if path
        .get(..6)
        .is_some_and(|h| h.eq_ignore_ascii_case("emails"))
    {
        return set_emails(user, op, &path[6..], value).ok_or_else(bad);
    }
    if let Some(part) = strip_prefix_ci(path, "name.") {
        let obj = user.as_object_mut().ok_or_else(bad)?;
        let key = obj
            .keys()
            .find(|k| k.eq_ignore_ascii_case("name"))
            .cloned()
            .unwrap_or_else(|| "name".to_owned());
        let name = obj.entry(key).or_insert_with(|| json!({}));
        if !name.is_object() {
            *name = json!({});
        }
        let before = name.as_object().map(joined_parts).unwrap_or_default();
        set_key(name, part, value).ok_or_else(bad)?;
        // The formatted name follows the parts it was made from (or was never given).
        if let Some(n) = name.as_object_mut()
            && ["givenName", "middleName", "familyName"]
                .iter()
                .any(|p| p.eq_ignore_ascii_case(part))
            && text(n, "formatted").is_none_or(|f| f == before)
        {
            let after = joined_parts(n);
            set_key(name, "formatted", (!after.is_empty()).then(|| json!(after)));
        }
        return Ok(());
    }
    if path.contains('.') || path.contains('[') {
        return Err(bad());
    }
    set_key(user, path, value).ok_or_else(bad)
}

/// A PATCH of `emails` (`rest` is what follows the attribute name: empty, `.value`, or a value
/// filter such as `[type eq "work"]` with an optional `.sub`). The `type` and `primary` of each
/// email are kept as sent; a filter that matches none adds an email (as Entra ID expects).
pub(super) fn set_emails(user: &mut Value, op: Op, rest: &str, value: Option<Value>) -> Option<()> {
    let obj = user.as_object_mut()?;
    let key = obj
        .keys()
        .find(|k| k.eq_ignore_ascii_case("emails"))
        .cloned()
        .unwrap_or_else(|| "emails".to_owned());
    let list = obj.entry(key).or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    let items = list.as_array_mut()?;
    // [attr eq "value"], then .sub
    let (selector, sub) = match rest.strip_prefix('[') {
        Some(inner) => {
            let (filter, after) = inner.split_once(']')?;
            let mut parts = filter.trim().splitn(3, char::is_whitespace);
            let (attr, eq, wanted) = (parts.next()?, parts.next()?, parts.next()?);
            if !eq.eq_ignore_ascii_case("eq") {
                return None;
            }
            let wanted = wanted.trim().trim_matches('"').to_owned();
            let sub = after.strip_prefix('.').map(str::to_owned);
            (Some((attr.to_owned(), wanted)), sub)
        }
        None if rest.is_empty() => (None, None),
        None => (None, Some(rest.strip_prefix('.')?.to_owned())),
    };
    let matches = |e: &Value, sel: &(String, String)| {
        e.as_object()
            .and_then(|o| get_ci(o, &sel.0))
            .is_some_and(|v| match v {
                Value::String(s) => s.eq_ignore_ascii_case(&sel.1),
                other => other.to_string().eq_ignore_ascii_case(&sel.1),
            })
    };
    match (&selector, &sub, op) {
        (None, None, Op::Remove) => items.clear(),
        (None, None, Op::Replace) => *items = as_emails(value?)?,
        (None, None, Op::Add) => {
            for email in as_emails(value?)? {
                if !items.iter().any(|e| e.get("value") == email.get("value")) {
                    items.push(email);
                }
            }
        }
        (Some(sel), None, Op::Remove) => items.retain(|e| !matches(e, sel)),
        (Some(sel), sub, _) => {
            let found = items
                .iter_mut()
                .filter(|e| matches(e, sel))
                .fold(0, |n, e| {
                    match sub {
                        Some(sub) => set_key(e, sub, value.clone()),
                        None => value.clone().map(|v| *e = v),
                    };
                    n + 1
                });
            if found == 0 && op != Op::Remove {
                let mut email = json!({ sel.0.clone(): sel.1.clone() });
                match sub {
                    Some(sub) => set_key(&mut email, sub, value)?,
                    None => email = value?,
                }
                items.push(email);
            }
        }
        // emails.value (no filter): the email Cascade uses.
        (None, Some(sub), _) => {
            let index = items
                .iter()
                .position(|e| e.get("primary").and_then(boolean) == Some(true))
                .unwrap_or(0);
            match items.get_mut(index) {
                Some(email) => set_key(email, sub, value)?,
                None if op != Op::Remove => {
                    let mut email = json!({ "type": "work", "primary": true });
                    set_key(&mut email, sub, value)?;
                    items.push(email);
                }
                None => {}
            }
        }
    }
    Some(())
}

/// A PATCH value for `emails`: a list, one email object, or a bare address.
pub(super) fn as_emails(value: Value) -> Option<Vec<Value>> {
    match value {
        Value::Array(list) => Some(list),
        Value::Object(_) => Some(vec![value]),
        Value::String(s) => Some(vec![json!({ "value": s, "type": "work", "primary": true })]),
        _ => None,
    }
}

/// Sets or removes `key` in an object, matching an existing key in any case.
pub(super) fn set_key(target: &mut Value, key: &str, value: Option<Value>) -> Option<()> {
    let obj = target.as_object_mut()?;
    let existing = obj.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned();
    let key = existing.unwrap_or_else(|| key.to_owned());
    match value {
        Some(v) => {
            obj.insert(key, v);
        }
        None => {
            obj.remove(&key);
        }
    }
    Some(())
}
