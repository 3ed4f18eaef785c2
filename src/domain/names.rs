//! Customer-visible names and customer-chosen ids.

use crate::error::Error;

/// Maximum length of a display name, in characters.
pub const DISPLAY_NAME_MAX: usize = 100;

/// Maximum length of a room or user id.
pub const RESOURCE_ID_MAX: usize = 128;

/// A checked display name (trimmed, 1–100 characters, no control characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// The name's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A checked customer-chosen id of a room or user (1–128 characters of
/// `[A-Za-z0-9_.:@-]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceId(String);

impl ResourceId {
    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for ResourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a display name: 1–100 characters, not only whitespace, no
/// control characters. Returned trimmed.
pub fn parse_display_name(field: &str, value: &str) -> Result<DisplayName, Error> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if trimmed.chars().count() > DISPLAY_NAME_MAX {
        return Err(Error::invalid(
            field,
            format!("must be at most {DISPLAY_NAME_MAX} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(DisplayName(trimmed.to_owned()))
}

/// Whether `value` is at most 128 characters of `[A-Za-z0-9_.:@-]` (an id,
/// or an id prefix when empty is allowed by the caller).
pub fn is_id_text(value: &str) -> bool {
    value.len() <= RESOURCE_ID_MAX
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:@-".contains(&b))
}

/// Checks a customer-chosen id (room or user): 1–128 characters of
/// `[A-Za-z0-9_.:@-]`.
pub fn parse_resource_id(field: &str, value: &str) -> Result<ResourceId, Error> {
    let ok = !value.is_empty() && is_id_text(value);
    if !ok {
        return Err(Error::invalid(
            field,
            "must be 1-128 characters of [A-Za-z0-9_.:@-]",
        ));
    }
    Ok(ResourceId(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(
            parse_display_name("n", " Production ").unwrap().as_str(),
            "Production"
        );
        assert!(parse_display_name("n", "").is_err());
        assert!(parse_display_name("n", "   ").is_err());
        assert!(parse_display_name("n", &"x".repeat(100)).is_ok());
        assert!(parse_display_name("n", &"x".repeat(101)).is_err());
        assert!(parse_display_name("n", "a\nb").is_err());
    }

    #[test]
    fn resource_ids() {
        assert!(parse_resource_id("r", "room-1:a@b.c_d").is_ok());
        assert!(parse_resource_id("r", "").is_err());
        assert!(parse_resource_id("r", "a b").is_err());
        assert!(parse_resource_id("r", &"a".repeat(129)).is_err());
    }
}
