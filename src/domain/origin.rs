//! Browser origins allowed to call the API cross-origin (`--cors-allow-origin`).
//!
//! A browser sends `Origin: scheme://host[:port]`, lowercase, without a
//! path and without the scheme's default port, and CORS matches it byte
//! for byte. So an entry is accepted only in that exact form: one that
//! could never match (a trailing `/`, `:443` on https, a path) is an error
//! at start, not an allow-list that silently allows nothing. Wildcards and
//! `null` are refused: the allow-list names the consoles it trusts.

/// Checks one origin; returns it in the form browsers send (scheme and
/// host lowercased), or a message saying what is wrong.
pub fn parse(value: &str) -> Result<String, String> {
    let value = value.trim();
    let shown = value.chars().take(80).collect::<String>();
    let bad = |why: &str| Err(format!("invalid origin {shown:?}: {why}"));
    if value.is_empty() {
        return bad("empty");
    }
    if value == "*" || value.eq_ignore_ascii_case("null") {
        return bad("name exact origins such as https://console.example.com");
    }
    let Some((scheme, rest)) = value.split_once("://") else {
        return bad("not scheme://host[:port]");
    };
    let scheme = if scheme.eq_ignore_ascii_case("http") {
        "http"
    } else if scheme.eq_ignore_ascii_case("https") {
        "https"
    } else {
        return bad("the scheme must be http or https");
    };
    if rest.contains(['/', '?', '#']) {
        return bad("an origin has no path, not even a trailing /");
    }
    if rest.contains('@') {
        return bad("no user info");
    }
    let Ok(authority) = rest.parse::<http::uri::Authority>() else {
        return bad("not scheme://host[:port]");
    };
    if authority.host().is_empty() {
        return bad("no host");
    }
    let default_port = if scheme == "https" { 443 } else { 80 };
    if authority.port_u16() == Some(default_port) {
        return bad("drop the default port: browsers never send it");
    }
    if authority.as_str().ends_with(':') {
        return bad("empty port");
    }
    Ok(format!(
        "{scheme}://{}",
        authority.as_str().to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn accepts_exact_origins() {
        for (given, expected) in [
            ("http://console.example", "http://console.example"),
            ("https://Console.Example.com", "https://console.example.com"),
            ("HTTPS://a.example:8443", "https://a.example:8443"),
            ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
            ("http://[::1]:3000", "http://[::1]:3000"),
            (" http://a.example ", "http://a.example"),
        ] {
            assert_eq!(parse(given).as_deref(), Ok(expected), "{given}");
        }
    }

    #[test]
    fn refuses_what_never_matches() {
        for given in [
            "",
            "*",
            "null",
            "console.example",
            "ftp://a.example",
            "https://a.example/",
            "https://a.example/app",
            "https://a.example?x=1",
            "https://a.example:443",
            "http://a.example:80",
            "https://user@a.example",
            "https://a.example:",
            "https://",
        ] {
            assert!(parse(given).is_err(), "{given:?} was accepted");
        }
    }
}

/// An origin checked by [`parse`]: what the settings hold, so the CORS
/// layer never checks text again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    /// The origin as browsers send it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Origin {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        parse(value).map(Origin)
    }
}
