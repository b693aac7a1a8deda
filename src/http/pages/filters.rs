//! The history page's filters, as they travel in the URL query.

use serde::Deserialize;

use crate::domain::{Actor, Cursor, ListQuery, Outcome, SearchTerms, Status};

/// The raw query of the history page and of the routes that return to it.
/// Every field is text so a hand-edited URL never fails to parse: values
/// that mean nothing are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct HistoryParams {
    pub status: Option<String>,
    pub outcome: Option<String>,
    pub q: Option<String>,
    pub owner: Option<String>,
    pub cursor: Option<String>,
    /// Set by the no-script close form's redirect: the session just closed.
    pub closed: Option<String>,
    /// Set by the no-script undo form's redirect: the session just reopened.
    pub reopened: Option<String>,
    /// Set by the redirect after a prepared session was deleted.
    pub deleted: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filters {
    pub status: Option<Status>,
    pub outcome: Option<Outcome>,
    pub q: String,
    pub owner: OwnerFilter,
}

/// Whose sessions: the viewer's own (the default, `owner=` or `owner=mine`),
/// everyone's (`owner=all`), or one engineer's (`owner=<username>`).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum OwnerFilter {
    #[default]
    Mine,
    Everyone,
    User(String),
}

impl OwnerFilter {
    pub fn parse(value: &str) -> Self {
        match value.trim() {
            "" | "mine" => OwnerFilter::Mine,
            "all" => OwnerFilter::Everyone,
            name => OwnerFilter::User(name.to_lowercase()),
        }
    }

    /// The value of the `owner` query parameter; none for the default.
    pub fn param(&self) -> Option<&str> {
        match self {
            OwnerFilter::Mine => None,
            OwnerFilter::Everyone => Some("all"),
            OwnerFilter::User(name) => Some(name),
        }
    }

    /// `owner=<viewer's own name>` is Mine.
    pub fn for_viewer(self, viewer: &Actor) -> Self {
        match self {
            OwnerFilter::User(name) if name == viewer.username => OwnerFilter::Mine,
            other => other,
        }
    }

    fn username<'a>(&'a self, viewer: &'a Actor) -> Option<&'a str> {
        match self {
            OwnerFilter::Mine => Some(&viewer.username),
            OwnerFilter::Everyone => None,
            OwnerFilter::User(name) => Some(name),
        }
    }
}

/// One `<option>` of a filter `<select>`.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

impl Filters {
    /// Cards per page; the page stays light enough at this size (see the
    /// page-weight test).
    pub const PAGE_SIZE: u32 = 50;

    pub fn from_params(p: &HistoryParams) -> Self {
        let text = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").to_owned();
        Filters {
            status: p.status.as_deref().and_then(Status::parse),
            outcome: p.outcome.as_deref().and_then(Outcome::parse),
            q: text(&p.q),
            owner: p
                .owner
                .as_deref()
                .map(OwnerFilter::parse)
                .unwrap_or_default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Filters::default()
    }

    /// The list to show, starting after `cursor` (an unknown cursor starts
    /// from the newest).
    pub fn list_query(&self, actor: &Actor, cursor: Option<&str>) -> ListQuery {
        ListQuery {
            status: self.status,
            outcome: self.outcome,
            owner: self.owner.username(actor).map(str::to_owned),
            search: SearchTerms::parse(&self.q),
            after: cursor.and_then(Cursor::decode),
            limit: Self::PAGE_SIZE,
            // Cards show no steps.
            with_steps: false,
        }
    }

    /// The filters as URL query pairs, without the leading `?`.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        let mut pairs = Vec::new();
        if let Some(s) = self.status {
            pairs.push(("status", s.as_str()));
        }
        if let Some(o) = self.outcome {
            pairs.push(("outcome", o.as_str()));
        }
        if !self.q.is_empty() {
            pairs.push(("q", self.q.as_str()));
        }
        if let Some(owner) = self.owner.param() {
            pairs.push(("owner", owner));
        }
        pairs
    }

    /// `?status=active&q=…` or empty: appended to the routes that redirect
    /// back here, so a view survives an action.
    pub fn query(&self) -> String {
        self.query_with(&[])
    }

    pub fn query_with(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = self.pairs();
        pairs.extend_from_slice(extra);
        if pairs.is_empty() {
            return String::new();
        }
        let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("?{encoded}")
    }

    /// The API export of this view for `viewer`, as CSV: the same filters,
    /// with "mine" spelled as the owner's name as the API takes it.
    pub fn export_href(&self, viewer: &Actor) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![("format", "csv")];
        if let Some(s) = self.status {
            pairs.push(("status", s.as_str()));
        }
        if let Some(o) = self.outcome {
            pairs.push(("outcome", o.as_str()));
        }
        if let Some(owner) = self.owner.username(viewer) {
            pairs.push(("owner", owner));
        }
        if !self.q.is_empty() {
            pairs.push(("q", self.q.as_str()));
        }
        let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("/api/sessions/export?{encoded}")
    }

    /// Status filter choices in the order people think of them.
    pub fn status_choices(&self) -> Vec<Choice> {
        [Status::Active, Status::Prepared, Status::Completed]
            .into_iter()
            .map(|s| Choice {
                value: s.as_str(),
                label: s.label(),
                selected: self.status == Some(s),
            })
            .collect()
    }

    pub fn outcome_choices(&self) -> Vec<Choice> {
        Outcome::ALL
            .into_iter()
            .map(|o| Choice {
                value: o.as_str(),
                label: o.label(),
                selected: self.outcome == Some(o),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(status: &str, q: &str) -> HistoryParams {
        HistoryParams {
            status: Some(status.into()),
            q: Some(q.into()),
            ..Default::default()
        }
    }

    #[test]
    fn filters_round_trip_through_the_query_and_drop_nonsense() {
        let f = Filters::from_params(&params("active", " disk & net "));
        assert_eq!(f.query(), "?status=active&q=disk+%26+net");
        let f = Filters::from_params(&params("bogus", ""));
        assert!(f.is_empty());
        assert_eq!(f.query(), "");
        assert_eq!(f.query_with(&[("closed", "x")]), "?closed=x");
    }

    #[test]
    fn the_export_link_keeps_the_view_and_names_the_owner() {
        let dana = Actor::new("dana");
        let f = Filters::from_params(&params("completed", "disk"));
        assert_eq!(
            f.export_href(&dana),
            "/api/sessions/export?format=csv&status=completed&owner=dana&q=disk"
        );
        let everyone = Filters::from_params(&HistoryParams {
            owner: Some("all".into()),
            ..Default::default()
        });
        assert_eq!(
            everyone.export_href(&dana),
            "/api/sessions/export?format=csv"
        );
    }

    #[test]
    fn the_owner_filter_names_one_engineer_everyone_or_the_viewer() {
        let dana = Actor::new("dana");
        let lee = Filters::from_params(&HistoryParams {
            owner: Some("Lee".into()),
            ..Default::default()
        });
        assert_eq!(lee.owner, OwnerFilter::User("lee".into()));
        assert_eq!(lee.query(), "?owner=lee");
        assert_eq!(lee.list_query(&dana, None).owner.as_deref(), Some("lee"));
        assert_eq!(
            OwnerFilter::parse("dana").for_viewer(&dana),
            OwnerFilter::Mine
        );
        assert_eq!(OwnerFilter::parse("mine"), OwnerFilter::Mine);
        assert_eq!(OwnerFilter::parse("all").param(), Some("all"));
    }
}
