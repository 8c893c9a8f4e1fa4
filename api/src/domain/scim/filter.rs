//! SCIM filters (RFC 7644 §3.4.2.2): the subset Cascade answers — `eq` on userName,
//! externalId, employeeNumber, emails and active, joined by `and` / `or` — parsed into a tree and
//! turned into one SQL condition.

use super::*;

/// An attribute a filter may compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterAttr {
    Id,
    UserName,
    ExternalId,
    EmployeeNumber,
    Email,
    Active,
}

/// A parsed `filter` (RFC 7644 §3.4.2.2): `eq` comparisons joined by `and`, `or` and
/// parentheses (`and` binds tighter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Eq(FilterAttr, String),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

pub(super) const FILTER_HELP: &str = "Supported filters: eq on userName, externalId, employeeNumber, \
     emails.value, active or id, joined by and, or and parentheses, e.g. \
     userName eq \"jo@example.org\" or externalId eq \"E1\".";

pub(super) fn invalid_filter(detail: impl std::fmt::Display) -> ScimError {
    ScimError::new(
        StatusCode::BAD_REQUEST,
        Some("invalidFilter"),
        format!("{detail} {FILTER_HELP}"),
    )
}

#[derive(Debug, PartialEq)]
pub(super) enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
}

pub(super) fn tokens(raw: &str) -> ScimResult<Vec<Token>> {
    let mut out = Vec::new();
    let mut chars = raw.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                out.push(if c == '(' { Token::Open } else { Token::Close });
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => return Err(invalid_filter("A quoted value is not closed.")),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped) => value.push(escaped),
                            None => return Err(invalid_filter("A quoted value is not closed.")),
                        },
                        Some(other) => value.push(other),
                    }
                }
                out.push(Token::Quoted(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

pub(super) struct FilterParser {
    pub(super) tokens: std::iter::Peekable<std::vec::IntoIter<Token>>,
}

impl FilterParser {
    fn keyword(&mut self, word: &str) -> bool {
        let found =
            matches!(self.tokens.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word));
        if found {
            self.tokens.next();
        }
        found
    }

    fn or(&mut self) -> ScimResult<Filter> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> ScimResult<Filter> {
        let mut left = self.term()?;
        while self.keyword("and") {
            left = Filter::And(Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }

    fn term(&mut self) -> ScimResult<Filter> {
        match self.tokens.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.tokens.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err(invalid_filter("A parenthesis is not closed.")),
                }
            }
            Some(Token::Word(attr)) => {
                let attr = filter_attr(&attr)?;
                match self.tokens.next() {
                    Some(Token::Word(op)) if op.eq_ignore_ascii_case("eq") => {}
                    Some(Token::Word(op)) => {
                        return Err(invalid_filter(format!(
                            "The operator {op:?} is not supported."
                        )));
                    }
                    _ => return Err(invalid_filter("An operator is missing.")),
                }
                let value = match (self.tokens.next(), attr) {
                    (Some(Token::Quoted(v)), _) => v,
                    (Some(Token::Word(w)), FilterAttr::Active)
                        if w.eq_ignore_ascii_case("true") || w.eq_ignore_ascii_case("false") =>
                    {
                        w.to_lowercase()
                    }
                    _ => return Err(invalid_filter("A value is missing or not quoted.")),
                };
                Ok(Filter::Eq(attr, value))
            }
            _ => Err(invalid_filter("An attribute is missing.")),
        }
    }
}

pub(super) fn filter_attr(raw: &str) -> ScimResult<FilterAttr> {
    let lower = raw.to_lowercase();
    let enterprise = format!("{}:", ENTERPRISE_SCHEMA.to_lowercase());
    let core = format!("{}:", USER_SCHEMA.to_lowercase());
    let attr = lower
        .strip_prefix(&enterprise)
        .or_else(|| lower.strip_prefix(&core))
        .unwrap_or(&lower);
    Ok(match attr {
        "id" => FilterAttr::Id,
        "username" => FilterAttr::UserName,
        "externalid" => FilterAttr::ExternalId,
        "employeenumber" => FilterAttr::EmployeeNumber,
        "emails" | "emails.value" => FilterAttr::Email,
        "active" => FilterAttr::Active,
        _ => return Err(invalid_filter(format!("Cannot filter on {raw:?}."))),
    })
}

/// Parses the filters Cascade answers (attribute names in any case).
pub fn parse_filter(raw: &str) -> ScimResult<Filter> {
    let mut parser = FilterParser {
        tokens: tokens(raw)?.into_iter().peekable(),
    };
    let filter = parser.or()?;
    match parser.tokens.next() {
        None => Ok(filter),
        Some(_) => Err(invalid_filter("The filter has more after its end.")),
    }
}

/// The memberships of a people subquery: those whose person has this email.
pub(super) fn person_with_email(email: &str) -> sea_orm::Condition {
    sea_orm::Condition::all().add(
        memberships::Column::PersonId.in_subquery(
            sea_orm::sea_query::Query::select()
                .column(people::Column::Id)
                .from(people::Entity)
                .and_where(people::Column::EmailKey.eq(email_key(email)))
                .to_owned(),
        ),
    )
}

/// A filter as a condition on memberships; every comparison is served by an index.
pub(super) fn condition(filter: &Filter) -> sea_orm::Condition {
    use sea_orm::Condition;
    match filter {
        Filter::And(a, b) => Condition::all().add(condition(a)).add(condition(b)),
        Filter::Or(a, b) => Condition::any().add(condition(a)).add(condition(b)),
        Filter::Eq(attr, v) => match attr {
            FilterAttr::Id => Condition::all().add(
                memberships::Column::PersonId.eq(v.parse::<Uuid>().unwrap_or_else(|_| Uuid::nil())),
            ),
            FilterAttr::ExternalId => Condition::all().add(memberships::Column::ExternalId.eq(v)),
            FilterAttr::EmployeeNumber => {
                Condition::all().add(memberships::Column::EmployeeNumber.eq(v))
            }
            FilterAttr::Active => Condition::all().add(memberships::Column::Active.eq(v == "true")),
            FilterAttr::Email => person_with_email(v),
            // A User provisioned by SCIM has its own userName; one from a staff sync shows its
            // email as its userName.
            FilterAttr::UserName => Condition::any()
                .add(memberships::Column::ScimUserNameKey.eq(v.to_lowercase()))
                .add(
                    Condition::all()
                        .add(memberships::Column::ScimUserNameKey.is_null())
                        .add(person_with_email(v)),
                ),
        },
    }
}
