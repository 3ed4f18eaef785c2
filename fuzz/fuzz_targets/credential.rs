//! Credential parsing (`pk_`/`sk_`/`ak_`): never panics; accepts only what
//! is shaped like a credential we issue; never accepts a valid credential
//! with one byte changed (the CRC32 checksum catches every such change).

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use pulse::auth::credential::{self, CredentialKind};

static ISSUED: LazyLock<Vec<String>> = LazyLock::new(|| {
    [
        CredentialKind::Publishable,
        CredentialKind::Secret,
        CredentialKind::Admin,
    ]
    .map(|kind| credential::generate(kind).plaintext.expose().to_owned())
    .to_vec()
});

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(parsed) = credential::parse(text)
    {
        let body = &text[parsed.kind.prefix().len()..];
        assert!(body.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(text.len() <= 64, "accepted an oversized credential");
        assert_eq!(parsed.hash, credential::hash(text));
    }
    // A real credential with one byte replaced is always rejected.
    if let [which, position, byte, ..] = *data {
        let issued = &ISSUED[usize::from(which) % ISSUED.len()];
        let mut forged = issued.as_bytes().to_vec();
        let at = usize::from(position) % forged.len();
        if forged[at] != byte {
            forged[at] = byte;
            if let Ok(forged) = String::from_utf8(forged) {
                assert!(
                    credential::parse(&forged).is_none(),
                    "accepted a forged credential"
                );
            }
        }
        assert!(credential::parse(issued).is_some());
    }
});
