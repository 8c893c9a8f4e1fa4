//! Requests checked against the OpenAPI document before any handler runs, so a refusal names
//! every field in the documented terms: a missing required field (`name: required`), a value of
//! the wrong type (poem-openapi itself reads `"name": 42` into a string, and names only `body`
//! when parsing fails), a value outside an enumeration (listing the allowed ones), and path and
//! query parameters by their documented names and expected form (`id: must be a UUID`, never
//! `param0`). [`JsonTypes`] is built once from the served document; [`JsonTypes::check`] adds a
//! field error per problem and leaves everything it does not understand to the handler.

use std::collections::HashMap;

use serde_json::Value;

use crate::error::FieldError;

/// One segment of a documented path.
#[derive(Debug)]
enum Segment {
    Literal(String),
    Param(String),
}

/// One operation's address, parameters and request body schema.
struct Operation {
    method: String,
    segments: Vec<Segment>,
    /// (name, location, required, schema) of each parameter.
    params: Vec<(String, String, bool, Value)>,
    body: Option<Value>,
}

/// The document's operations and schemas.
#[derive(Default)]
pub struct JsonTypes {
    prefix: String,
    operations: Vec<Operation>,
    components: HashMap<String, Value>,
}

impl JsonTypes {
    /// Reads the document (as served: `servers[0].url` is the prefix of every path).
    pub fn from_spec(spec: &str) -> Self {
        let Ok(doc) = serde_json::from_str::<Value>(spec) else {
            return Self::default();
        };
        let prefix = doc["servers"][0]["url"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned();
        let components = doc["components"]["schemas"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let body = op["requestBody"]["content"]
                    .as_object()
                    .and_then(|c| c.iter().find(|(t, _)| t.contains("json")))
                    .map(|(_, media)| media["schema"].clone());
                let params = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| {
                        Some((
                            p["name"].as_str()?.to_owned(),
                            p["in"].as_str()?.to_owned(),
                            p["required"].as_bool().unwrap_or(false),
                            p["schema"].clone(),
                        ))
                    })
                    .collect();
                let segments = path
                    .trim_matches('/')
                    .split('/')
                    .map(
                        |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                            Some(name) => Segment::Param(name.to_owned()),
                            None => Segment::Literal(s.to_owned()),
                        },
                    )
                    .collect();
                operations.push(Operation {
                    method: method.to_uppercase(),
                    segments,
                    params,
                    body,
                });
            }
        }
        // Literal segments win over parameters (`/people/sync` before `/people/{id}`).
        operations.sort_by_key(|o| {
            std::cmp::Reverse(
                o.segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count(),
            )
        });
        Self {
            prefix,
            operations,
            components,
        }
    }

    /// Adds a field error for every way the request departs from its documented operation:
    /// its path parameters, its query parameters (`query`: decoded pairs) and its JSON body.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        errors: &mut Vec<FieldError>,
    ) {
        let Some(path) = path.strip_prefix(&self.prefix) else {
            return;
        };
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let Some(op) = self.operations.iter().find(|o| {
            o.method == method
                && o.segments.len() == parts.len()
                && o.segments.iter().zip(&parts).all(|(s, p)| match s {
                    Segment::Literal(l) => l == p,
                    Segment::Param(_) => true,
                })
        }) else {
            return;
        };
        let param = |name: &str, location: &str| {
            op.params
                .iter()
                .find(|(n, l, _, _)| n == name && l == location)
        };
        for (segment, raw) in op.segments.iter().zip(&parts) {
            if let Segment::Param(name) = segment
                && let Some((_, _, _, schema)) = param(name, "path")
            {
                let raw = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
                if let Some(why) = self.scalar_problem(schema, &raw) {
                    errors.push(FieldError::new(name.clone(), why));
                }
            }
        }
        for (name, location, required, schema) in &op.params {
            if location != "query" {
                continue;
            }
            let given: Vec<&str> = query
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect();
            if given.is_empty() {
                if *required {
                    errors.push(FieldError::new(name.clone(), "required"));
                }
                continue;
            }
            for raw in given {
                if let Some(why) = self.scalar_problem(schema, raw) {
                    errors.push(FieldError::new(name.clone(), why));
                }
            }
        }
        if let (Some(schema), Some(body)) = (&op.body, body) {
            self.walk(schema, body, String::new(), errors, 0);
        }
    }

    /// Follows `$ref` and single-element `allOf` to the schema that says what a value is.
    fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        for _ in 0..16 {
            if let Some(name) = schema["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                && let Some(target) = self.components.get(name)
            {
                schema = target;
            } else if let Some([only]) = schema["allOf"].as_array().map(Vec::as_slice) {
                schema = only;
            } else {
                break;
            }
        }
        schema
    }

    /// Why a parameter's text does not fit its schema, if it does not.
    fn scalar_problem(&self, schema: &Value, raw: &str) -> Option<String> {
        let schema = self.resolve(schema);
        match schema["type"].as_str() {
            Some("integer") => raw
                .parse::<i64>()
                .is_err()
                .then(|| "must be a whole number".to_owned())
                .or_else(|| bounds(schema, raw.parse::<f64>().ok()?)),
            Some("number") => raw
                .parse::<f64>()
                .is_err()
                .then(|| "must be a number".to_owned()),
            Some("boolean") => {
                (!matches!(raw, "true" | "false")).then(|| "must be true or false".to_owned())
            }
            Some("string") => string_problem(schema, raw),
            _ => None,
        }
    }

    fn walk(
        &self,
        schema: &Value,
        value: &Value,
        at: String,
        errors: &mut Vec<FieldError>,
        depth: u8,
    ) {
        if depth > 32 {
            return;
        }
        let schema = self.resolve(schema);
        let field = |at: &str| {
            if at.is_empty() {
                "body".to_owned()
            } else {
                at.to_owned()
            }
        };
        if let Some(parts) = schema["allOf"].as_array() {
            for part in parts {
                self.walk(part, value, at.clone(), errors, depth + 1);
            }
        }
        if value.is_null() {
            // Optional fields take null (as "clear"); a required one is reported by its parent.
            return;
        }
        let problem = match (schema["type"].as_str(), value) {
            (Some("string"), Value::String(text)) => string_problem(schema, text),
            (Some("string"), _) => Some(match schema["enum"].as_array() {
                Some(allowed) => format!("must be one of {}", one_of(allowed)),
                None => {
                    "must be text in quotes, not a number, true/false, list or object".to_owned()
                }
            }),
            (Some("integer"), Value::Number(n)) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 => bounds(schema, f),
                _ => Some("must be a whole number".to_owned()),
            },
            (Some("integer"), _) => Some("must be a whole number".to_owned()),
            (Some("number"), Value::Number(n)) => n.as_f64().and_then(|f| bounds(schema, f)),
            (Some("number"), _) => Some("must be a number".to_owned()),
            (Some("boolean"), Value::Bool(_)) => None,
            (Some("boolean"), _) => Some("must be true or false".to_owned()),
            (Some("array"), Value::Array(items)) => {
                if schema["items"].is_object() {
                    for (i, item) in items.iter().enumerate() {
                        self.walk(
                            &schema["items"],
                            item,
                            format!("{at}[{i}]"),
                            errors,
                            depth + 1,
                        );
                    }
                }
                None
            }
            (Some("array"), _) => Some("must be a list".to_owned()),
            (Some("object") | None, Value::Object(map)) => {
                for required in schema["required"].as_array().into_iter().flatten() {
                    if let Some(name) = required.as_str()
                        && map.get(name).is_none_or(Value::is_null)
                    {
                        errors.push(FieldError::new(join(&at, name), "required"));
                    }
                }
                if let Some(properties) = schema["properties"].as_object() {
                    for (key, item) in map {
                        if let Some(property) = properties.get(key) {
                            self.walk(property, item, join(&at, key), errors, depth + 1);
                        }
                    }
                }
                None
            }
            (Some("object"), _) => Some("must be an object".to_owned()),
            _ => None,
        };
        if let Some(why) = problem {
            errors.push(FieldError::new(field(&at), why));
        }
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

fn one_of(allowed: &[Value]) -> String {
    allowed
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A string's problem against its schema's enumeration and format, if any.
fn string_problem(schema: &Value, text: &str) -> Option<String> {
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.iter().any(|a| a.as_str() == Some(text))
    {
        return Some(format!("must be one of {}", one_of(allowed)));
    }
    let ok = match schema["format"].as_str() {
        Some("uuid") => uuid::Uuid::parse_str(text).is_ok(),
        Some("date") => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
        Some("date-time") => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        _ => true,
    };
    (!ok).then(|| {
        match schema["format"].as_str() {
            Some("uuid") => "must be a UUID",
            Some("date") => "must be a date, YYYY-MM-DD",
            _ => "must be a date and time (RFC 3339, with its offset, e.g. 2027-03-29T09:30:00Z)",
        }
        .to_owned()
    })
}

/// A number's problem against the schema's `minimum` and `maximum`, if any.
fn bounds(schema: &Value, n: f64) -> Option<String> {
    if let Some(min) = schema["minimum"].as_f64()
        && n < min
    {
        return Some(format!("must be at least {min}"));
    }
    if let Some(max) = schema["maximum"].as_f64()
        && n > max
    {
        return Some(format!("must be at most {max}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(errors: &[FieldError]) -> Vec<String> {
        let mut out: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn departures_from_the_document_are_named_in_its_terms() {
        let spec = serde_json::json!({
            "servers": [{ "url": "/api/v1" }],
            "paths": {
                "/people/{id}": { "patch": {
                    "parameters": [
                        { "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } },
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "maximum": 200 } },
                    ],
                    "requestBody": { "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/Changes" } } } } } },
                "/people/sync": { "patch": { "requestBody": { "content": { "application/json": {
                    "schema": { "type": "object", "properties": { "n": { "type": "integer" } } } } } } } },
            },
            "components": { "schemas": {
                "Changes": { "type": "object", "required": ["name", "sector"], "properties": {
                    "name": { "type": "string" },
                    "sector": { "$ref": "#/components/schemas/Sector" },
                    "tags": { "type": "array", "items": { "type": "string" } },
                    "inner": { "allOf": [{ "$ref": "#/components/schemas/Inner" }] },
                    "count": { "type": "integer" } } },
                "Sector": { "type": "string", "enum": ["council", "health"] },
                "Inner": { "type": "object", "properties": { "code": { "type": "string" },
                                                             "on": { "type": "string", "format": "date" } } },
            } },
        });
        let types = JsonTypes::from_spec(&spec.to_string());
        let mut errors = Vec::new();
        let body = serde_json::json!({ "tags": ["a", true], "sector": "martians",
            "inner": { "code": 7, "on": "2026-13-01" }, "count": 3.5, "other": 1 });
        let query = [("limit".to_owned(), "abc".to_owned())];
        types.check(
            "PATCH",
            "/api/v1/people/not-a-uuid",
            &query,
            Some(&body),
            &mut errors,
        );
        assert_eq!(
            names(&errors),
            [
                "count: must be a whole number",
                "id: must be a UUID",
                "inner.code: must be text in quotes, not a number, true/false, list or object",
                "inner.on: must be a date, YYYY-MM-DD",
                "limit: must be a whole number",
                "name: required",
                "sector: must be one of council, health",
                "tags[1]: must be text in quotes, not a number, true/false, list or object",
            ]
        );
        let mut errors = Vec::new();
        let body = serde_json::json!({ "n": 1 });
        types.check(
            "PATCH",
            "/api/v1/people/sync",
            &[],
            Some(&body),
            &mut errors,
        );
        assert!(errors.is_empty(), "a literal segment wins: {errors:?}");
    }
}
