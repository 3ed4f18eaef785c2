//! Rules for customer content: comment bodies, room metadata, profiles.

use std::collections::BTreeMap;

use crate::error::Error;

/// Longest comment body, in characters.
pub const BODY_MAX: usize = 10_000;
/// Most metadata entries on a room.
pub const METADATA_MAX_ENTRIES: usize = 50;

/// Checks a comment body: 1–10,000 characters, not only whitespace.
pub fn parse_body(field: &str, value: &str) -> Result<String, Error> {
    reject_nul(field, value)?;
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.chars().count() > BODY_MAX {
        return Err(Error::invalid(
            field,
            format!("must be at most {BODY_MAX} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Checks room metadata: at most 50 entries, keys 1–128 characters, values
/// at most 1,000.
pub fn parse_metadata(
    field: &str,
    value: &std::collections::HashMap<String, String>,
) -> Result<BTreeMap<String, String>, Error> {
    if value.len() > METADATA_MAX_ENTRIES {
        return Err(Error::invalid(
            field,
            format!("must have at most {METADATA_MAX_ENTRIES} entries"),
        ));
    }
    for (k, v) in value {
        reject_nul(field, k)?;
        reject_nul(field, v)?;
        if k.is_empty() || k.chars().count() > 128 {
            return Err(Error::invalid(field, "keys must be 1-128 characters"));
        }
        if v.chars().count() > 1000 {
            return Err(Error::invalid(
                field,
                "values must be at most 1000 characters",
            ));
        }
    }
    Ok(value.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// Refuses U+0000 in any text: PostgreSQL cannot store it in `text`, and
/// both backends must answer alike (INVALID_ARGUMENT, never "retry").
pub fn reject_nul(field: &str, value: &str) -> Result<(), Error> {
    if value.contains('\0') {
        return Err(Error::invalid(field, "must not contain NUL characters"));
    }
    Ok(())
}

/// Checks a bounded free-text field (profile name, avatar URL).
pub fn parse_text(field: &str, value: &str, max: usize) -> Result<String, Error> {
    if value.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        assert!(parse_body("b", "hi").is_ok());
        assert!(parse_body("b", " ").is_err());
        assert!(parse_body("b", &"x".repeat(10_000)).is_ok());
        assert!(parse_body("b", &"x".repeat(10_001)).is_err());
        assert!(parse_body("b", "a\0b").is_err());
        let nul_value = [("k".to_owned(), "v\0".to_owned())].into();
        assert!(parse_metadata("m", &nul_value).is_err());
    }
}
