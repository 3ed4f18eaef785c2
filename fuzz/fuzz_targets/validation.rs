//! Request validation: every validator either refuses its input or returns
//! a value that satisfies the rule it documents; none panics. Also decodes
//! arbitrary bytes as request messages (prost) and validates their fields.

#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use pulse::domain::audit::EventType;
use pulse::domain::content::{BODY_MAX, parse_body, parse_metadata, parse_text};
use pulse::domain::ids::{AdminTokenId, EnvironmentId, KeyId, accept_request_id};
use pulse::domain::names::{
    DISPLAY_NAME_MAX, RESOURCE_ID_MAX, parse_display_name, parse_resource_id,
};
use pulse::domain::time::parse_expire_time;
use pulse::pb;

const NOW: i64 = 1_800_000_000_000_000;

fn check_text(text: &str) {
    if let Ok(name) = parse_display_name("f", text) {
        let name = name.as_str();
        assert!(!name.is_empty() && name.chars().count() <= DISPLAY_NAME_MAX);
        assert_eq!(name, name.trim());
        assert!(!name.chars().any(char::is_control));
    }
    if let Ok(id) = parse_resource_id("f", text) {
        let id = id.as_str();
        assert!(!id.is_empty() && id.len() <= RESOURCE_ID_MAX);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:@-".contains(&b))
        );
    }
    let ids = [
        (
            "env_",
            EnvironmentId::parse("f", text).map(EnvironmentId::into_string),
        ),
        ("key_", KeyId::parse("f", text).map(KeyId::into_string)),
        (
            "adm_",
            AdminTokenId::parse("f", text).map(AdminTokenId::into_string),
        ),
    ];
    for (prefix, id) in ids {
        if let Ok(id) = id {
            let body = id.strip_prefix(prefix).expect("prefix");
            assert!(!body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }
    if let Ok(body) = parse_body("f", text) {
        assert!(!body.trim().is_empty() && body.chars().count() <= BODY_MAX);
    }
    if let Ok(t) = parse_text("f", text, 256) {
        assert!(t.chars().count() <= 256 && !t.chars().any(char::is_control));
    }
    if let Some(id) = accept_request_id(text) {
        assert!(id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()));
    }
    if let Ok(t) = EventType::parse("f", text) {
        assert_eq!(t.as_str(), text);
    }
}

fuzz_target!(|data: &[u8]| {
    check_text(&String::from_utf8_lossy(data));
    if data.len() >= 12 {
        let seconds = i64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
        let nanos = i32::from_le_bytes(data[8..12].try_into().expect("4 bytes"));
        let at = prost_types::Timestamp { seconds, nanos };
        if let Ok(micros) = parse_expire_time("f", &at, NOW) {
            assert!(micros > NOW && micros - NOW <= 10 * 366 * 86_400 * 1_000_000);
        }
    }
    if let Ok(req) = pb::CreateRoomRequest::decode(data) {
        check_text(&req.room_id);
        if let Ok(metadata) = parse_metadata("f", &req.metadata) {
            assert!(metadata.len() <= 50);
        }
    }
    if let Ok(req) = pb::CreateCommentRequest::decode(data) {
        check_text(&req.body);
        check_text(&req.thread_id);
    }
    if let Ok(req) = pb::CreateKeyRequest::decode(data) {
        check_text(&req.environment_id);
        if let Some(at) = req.expire_time {
            let _ = parse_expire_time("f", &at, NOW);
        }
    }
});
