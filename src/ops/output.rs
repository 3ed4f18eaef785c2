//! How ops commands print: aligned tables (comfy-table, borderless) and
//! JSON shapes that stay stable for scripts.

use comfy_table::{ContentArrangement, presets};
use serde_json::{Value, json};

use crate::pb;

/// A borderless table with left-aligned columns.
pub struct Table(comfy_table::Table);

impl Table {
    /// A table with these column headers.
    pub fn new<const N: usize>(header: [&str; N]) -> Self {
        let mut table = comfy_table::Table::new();
        table
            .load_preset(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(header);
        Self(table)
    }

    /// Adds a row.
    pub fn row<const N: usize>(&mut self, cells: [String; N]) {
        self.0.add_row(cells);
    }

    /// Prints it to stdout (without the preset's one-space margin and
    /// trailing spaces).
    pub fn print(&self) {
        for line in self.0.lines() {
            let line = line.strip_prefix(' ').unwrap_or(&line);
            println!("{}", line.trim_end());
        }
    }
}

/// RFC 3339, or `-` when unset.
pub fn time(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

/// The text, or `-` when empty.
pub fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

/// `publishable` / `secret` / `restricted`.
pub fn kind(kind: i32) -> &'static str {
    match pb::ApiKeyKind::try_from(kind) {
        Ok(pb::ApiKeyKind::Publishable) => "publishable",
        Ok(pb::ApiKeyKind::Secret) => "secret",
        Ok(pb::ApiKeyKind::Restricted) => "restricted",
        _ => "unknown",
    }
}

/// `active` / `revoked` / `expired`.
pub fn state(state: i32) -> &'static str {
    match pb::ApiKeyState::try_from(state) {
        Ok(pb::ApiKeyState::Active) => "active",
        Ok(pb::ApiKeyState::Revoked) => "revoked",
        Ok(pb::ApiKeyState::Expired) => "expired",
        _ => "unknown",
    }
}

/// An environment as JSON.
pub fn environment_json(e: &pb::Environment) -> Value {
    json!({
        "id": e.id,
        "display_name": e.display_name,
        "create_time": e.create_time.as_ref().map(ToString::to_string),
        "update_time": e.update_time.as_ref().map(ToString::to_string),
    })
}

/// A key as JSON (`value` only for publishable keys, as the API says;
/// `permissions` only for restricted keys).
pub fn api_key_json(k: &pb::ApiKey) -> Value {
    json!({
        "id": k.id,
        "environment_id": k.environment_id,
        "kind": kind(k.kind),
        "prefix": k.prefix,
        "value": k.value,
        "state": state(k.state),
        "display_name": k.display_name,
        "permissions": k.permissions,
        "allowed_cidrs": k.allowed_cidrs,
        "create_time": k.create_time.as_ref().map(ToString::to_string),
        "revoke_time": k.revoke_time.as_ref().map(ToString::to_string),
        "last_use_time": k.last_use_time.as_ref().map(ToString::to_string),
        "success_count_24h": k.success_count_24h,
        "expire_time": k.expire_time.as_ref().map(ToString::to_string),
    })
}
