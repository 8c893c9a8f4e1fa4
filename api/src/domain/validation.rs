//! Collecting every field error of a request before refusing it, and the checks shared by
//! several resources.

use crate::db::FirstRow as _;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;
use validator::Validate;

use crate::error::{ApiError, ApiResult, FieldError};

/// Field errors gathered from the `validator` derive and from rules that need the database.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// Starts with the errors of the struct's own `#[validate]` rules.
    pub fn of(input: &impl Validate) -> Self {
        match input.validate() {
            Ok(()) => Self::default(),
            Err(errors) => match ApiError::from(errors) {
                ApiError::Validation(list) => Self(list),
                _ => Self::default(),
            },
        }
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Adds the error when `ok` is false.
    pub fn check(&mut self, ok: bool, field: &str, message: &str) {
        if !ok {
            self.add(field, message);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Refuses the request (422) when any error was collected.
    pub fn finish(mut self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            self.0.sort_by(|a, b| a.field.cmp(&b.field));
            self.0.dedup();
            Err(ApiError::Validation(self.0))
        }
    }
}

/// A display text (a person's or an organisation's name, a title): trimmed and in Unicode NFC, so
/// the same name typed on two systems is stored once and renders the same everywhere.
pub fn clean_text(value: &str) -> String {
    value.trim().nfc().collect()
}

/// Checks a cleaned display text: not empty, at most `max` characters, no control characters.
pub fn check_text(errors: &mut FieldErrors, field: &str, value: &str, max: usize) {
    if value.is_empty() {
        errors.add(field, "must not be empty");
    } else if value.chars().count() > max {
        errors.add(field, format!("must be at most {max} characters"));
    } else if value.chars().any(char::is_control) {
        errors.add(field, "must not contain control characters");
    }
}

/// Checks a code: lower-case letters, digits and hyphens, 2 to 40 characters.
pub fn check_code(errors: &mut FieldErrors, field: &str, value: &str) {
    let ok = (2..=40).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    errors.check(
        ok,
        field,
        "must be 2 to 40 lower-case letters, digits or hyphens, not starting or ending with a hyphen",
    );
}

/// Refuses with 409 and `message` when a row other than `except` already holds `value` in
/// `column`. The unique index stays the real guard; this only gives the conflict a precise message.
pub async fn ensure_free<E: EntityTrait>(
    db: &impl ConnectionTrait,
    column: E::Column,
    value: &str,
    except: Option<(E::Column, Uuid)>,
    message: impl FnOnce() -> String,
) -> ApiResult<()> {
    let mut query = E::find().filter(column.eq(value));
    if let Some((id_column, id)) = except {
        query = query.filter(id_column.ne(id));
    }
    if query.first(db).await?.is_some() {
        return Err(ApiError::Conflict(message()));
    }
    Ok(())
}

/// A work email address, checked in one place for people, staff sync and SCIM: valid (as
/// `validator` reads RFC 5321/5322) and at most 254 characters. People are found by its
/// [`key`](Email::key): trimmed and lower-cased, so addresses differing only in case are one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    text: String,
    key: String,
}

impl Email {
    pub const MAX_LEN: usize = 254;

    /// Parses an address as sent, or says why it is refused (a field error's message).
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.len() > Self::MAX_LEN {
            return Err("must be at most 254 characters");
        }
        if !validator::ValidateEmail::validate_email(&raw) {
            return Err("must be a valid email address");
        }
        Ok(Self {
            text: raw.trim().to_owned(),
            key: Self::key_of(raw),
        })
    }

    /// The address as stored (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key people are found by.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The lookup key of any text (a filter value need not be a valid address to find nothing).
    pub fn key_of(raw: &str) -> String {
        raw.trim().to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn emails_are_checked_once_and_keyed_without_case() {
        let email = Email::parse("Aoife.Ni@Example.ORG").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(email.key(), "aoife.ni@example.org");
        assert_eq!(email.as_str(), "Aoife.Ni@Example.ORG");
        assert_eq!(
            Email::parse("not an address"),
            Err("must be a valid email address")
        );
        let long = format!("{}@example.org", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err("must be at most 254 characters"));
    }
}
