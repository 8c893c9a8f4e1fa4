use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "people")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// The work email as given.
    pub email: String,
    /// The email lower-cased: unique, so one person is one row however an HR system spells it.
    pub email_key: String,
    /// The name folded for search ([`name_keys`]): lower case, accents removed.
    pub name_key: String,
    /// The last word of the folded name, so a search by surname finds the person too.
    pub surname_key: String,
    pub staff_group_id: Option<Uuid>,
    pub locality_id: Option<Uuid>,
    pub active: bool,
    /// When the person's identifying fields were replaced at their request (UK GDPR erasure).
    pub erased_at: Option<DateTimeUtc>,
    /// Asked for no non-essential email (reminders, refresh and licence notices).
    pub mail_opt_out: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::memberships::Entity")]
    Memberships,
}

impl Related<super::memberships::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Memberships.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// A name (or a search for one) folded: decomposed, marks dropped, lower case, single spaces —
/// so "Siân", "SIAN" and "sian" are one key.
pub fn fold(name: &str) -> String {
    use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};
    let folded: String = name
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The search keys of a name: the whole folded name and its last word.
pub fn name_keys(name: &str) -> (String, String) {
    let key = fold(name);
    let surname = key.rsplit(' ').next().unwrap_or_default().to_owned();
    (key, surname)
}

impl ActiveModel {
    /// A row with its name and the name's search keys set (the rest left to the caller).
    pub fn with_name(name: String) -> Self {
        let mut row = <Self as Default>::default();
        row.set_name(name);
        row
    }

    /// Sets the name and its search keys together.
    pub fn set_name(&mut self, name: String) {
        let (key, surname) = name_keys(&name);
        self.name = sea_orm::Set(name);
        self.name_key = sea_orm::Set(key);
        self.surname_key = sea_orm::Set(surname);
    }
}
