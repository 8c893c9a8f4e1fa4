//! Strings where the OpenAPI document says string. poem-openapi reads a JSON number or boolean
//! into a `String` field (`"name": 42` becomes "42"); integrators then store what they did not
//! mean to send. [`JsonTypes`] is built from the served document once, and [`JsonTypes::check`]
//! names every field of a request body that holds a number or boolean where the document
//! promises text (enumerations included), so the request is refused before any handler runs.

use std::collections::HashMap;

use serde_json::Value;

use crate::error::FieldError;

/// One operation's address and request body schema.
struct Operation {
    method: String,
    /// The path's segments; `None` stands for a parameter.
    segments: Vec<Option<String>>,
    schema: Value,
}

/// The request body schemas of the document, by operation.
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
                let Some(schema) = op["requestBody"]["content"]
                    .as_object()
                    .and_then(|c| c.iter().find(|(t, _)| t.contains("json")))
                    .map(|(_, media)| media["schema"].clone())
                else {
                    continue;
                };
                let segments = path
                    .trim_matches('/')
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect();
                operations.push(Operation {
                    method: method.to_uppercase(),
                    segments,
                    schema,
                });
            }
        }
        // Literal segments win over parameters (`/people/sync` before `/people/{id}`).
        operations.sort_by_key(|o| std::cmp::Reverse(o.segments.iter().flatten().count()));
        Self {
            prefix,
            operations,
            components,
        }
    }

    /// Adds a field error for every number or boolean that `body` holds where the request schema
    /// of `method path` says string.
    pub fn check(&self, method: &str, path: &str, body: &Value, errors: &mut Vec<FieldError>) {
        let Some(path) = path.strip_prefix(&self.prefix) else {
            return;
        };
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let Some(op) = self.operations.iter().find(|o| {
            o.method == method
                && o.segments.len() == parts.len()
                && o.segments
                    .iter()
                    .zip(&parts)
                    .all(|(s, p)| s.as_deref().is_none_or(|s| s == *p))
        }) else {
            return;
        };
        self.walk(&op.schema, body, String::new(), errors, 0);
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
        if let Some(name) = schema["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
        {
            if let Some(target) = self.components.get(name) {
                self.walk(target, value, at, errors, depth + 1);
            }
            return;
        }
        for part in schema["allOf"].as_array().into_iter().flatten() {
            self.walk(part, value, at.clone(), errors, depth + 1);
        }
        match (schema["type"].as_str(), value) {
            (Some("string"), Value::Number(_) | Value::Bool(_)) => errors.push(FieldError::new(
                if at.is_empty() { "body".to_owned() } else { at },
                "must be text in quotes, not a number or true/false",
            )),
            (_, Value::Object(map)) => {
                let Some(properties) = schema["properties"].as_object() else {
                    return;
                };
                for (key, item) in map {
                    if let Some(property) = properties.get(key) {
                        let path = if at.is_empty() {
                            key.clone()
                        } else {
                            format!("{at}.{key}")
                        };
                        self.walk(property, item, path, errors, depth + 1);
                    }
                }
            }
            (_, Value::Array(items)) if schema["items"].is_object() => {
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
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_booleans_where_the_document_says_string_are_named() {
        let spec = serde_json::json!({
            "servers": [{ "url": "/api/v1" }],
            "paths": {
                "/people/{id}": { "patch": { "requestBody": { "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/Changes" } } } } } },
                "/people/sync": { "patch": { "requestBody": { "content": { "application/json": {
                    "schema": { "type": "object", "properties": { "n": { "type": "integer" } } } } } } } },
            },
            "components": { "schemas": {
                "Changes": { "type": "object", "properties": {
                    "name": { "type": "string" },
                    "tags": { "type": "array", "items": { "type": "string" } },
                    "inner": { "allOf": [{ "$ref": "#/components/schemas/Inner" }] },
                    "count": { "type": "integer" } } },
                "Inner": { "type": "object", "properties": { "code": { "type": "string" } } },
            } },
        });
        let types = JsonTypes::from_spec(&spec.to_string());
        let mut errors = Vec::new();
        let body = serde_json::json!({ "name": 42, "tags": ["a", true], "inner": { "code": 7 },
                                       "count": 3, "other": 1 });
        types.check("PATCH", "/api/v1/people/abc", &body, &mut errors);
        let mut fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["inner.code", "name", "tags[1]"]);
        let mut errors = Vec::new();
        types.check(
            "PATCH",
            "/api/v1/people/sync",
            &serde_json::json!({ "n": 1 }),
            &mut errors,
        );
        assert!(errors.is_empty(), "a literal segment wins: {errors:?}");
    }
}
