//! A string that must never be printed: secret keys, admin tokens, user tokens.

use std::fmt;

/// A secret string. `Debug` and `Display` redact it; the only way to read it
/// is [`Secret::expose`], so every place that reveals a secret is greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// Reveals the secret, e.g. to return it once to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reveals and unwraps the secret.
    pub fn into_exposed(self) -> String {
        self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("sk_live_value".into());
        assert!(!format!("{s:?}").contains("live"));
        assert!(!format!("{s}").contains("live"));
        assert_eq!(s.expose(), "sk_live_value");
    }
}
