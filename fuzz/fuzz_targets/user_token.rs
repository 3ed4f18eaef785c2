//! User-token (JWT, EdDSA) verification: never panics, and accepts exactly
//! one token — the one signed below. Any other input, including the real
//! token with some bytes changed (header, claims or signature), is refused.

#![no_main]

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use pulse::auth::tokens::{Claims, ISSUER, verify_with_key};
use pulse::domain::rooms::RoomAccess;
use ring::signature::{Ed25519KeyPair, KeyPair};

const KID: &str = "sig_fuzz";
const ENV: &str = "env_fuzz";
const NOW: i64 = 1_800_000_000;

struct Fixture {
    public_key: Vec<u8>,
    token: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let pair = Ed25519KeyPair::from_seed_unchecked(&[7; 32]).expect("seed");
    let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": KID});
    let claims = Claims {
        iss: ISSUER.into(),
        sub: "user-1".into(),
        env: ENV.into(),
        key_id: "key_fuzz".into(),
        iat: NOW,
        iat_us: NOW * 1_000_000,
        exp: NOW + 3600,
        jti: "jti".into(),
        rooms: [("design-*".to_owned(), RoomAccess::Write)].into(),
        room_access: None,
        groups: Vec::new(),
    };
    let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("json"));
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json")));
    let signature = pair.sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
    let fixture = Fixture {
        public_key: pair.public_key().as_ref().to_vec(),
        token,
    };
    assert!(
        verify_with_key(KID, &fixture.public_key, ENV, &fixture.token, NOW).is_ok(),
        "the real token must verify"
    );
    fixture
});

fn verify(token: &str) -> Option<Claims> {
    let f = &*FIXTURE;
    verify_with_key(KID, &f.public_key, ENV, token, NOW).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let real = &FIXTURE.token;
    let candidate = if mode % 2 == 0 {
        // Arbitrary text.
        String::from_utf8_lossy(rest).into_owned()
    } else {
        // The real token with up to 8 bytes replaced.
        let mut bytes = real.as_bytes().to_vec();
        for change in rest.chunks_exact(3).take(8) {
            let at = usize::from(u16::from_le_bytes([change[0], change[1]])) % bytes.len();
            bytes[at] = change[2];
        }
        String::from_utf8_lossy(&bytes).into_owned()
    };
    if verify(&candidate).is_some() {
        assert_eq!(&candidate, real, "accepted a forged token");
    }
    // Right token, wrong environment or expired: refused.
    assert!(verify_with_key(KID, &FIXTURE.public_key, "env_other", real, NOW).is_err());
});
