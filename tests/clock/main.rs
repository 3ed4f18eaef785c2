//! Tests of expiry and grace periods that move the clock
//! (`pulse::domain::time::advance`) instead of sleeping until a deadline
//! passes: minutes and hours go by at once, and a deadline can be
//! approached from both sides.
//!
//! A binary of its own: the clock is process-wide, so moving it here
//! cannot disturb `tests/api`; within this binary every test holds
//! [`serial`] for its whole run, so no test sees another's move. The
//! servers run in process (`spawn_app`), so they read the moved clock;
//! `pulse` child processes would not. What measures time with `Instant`
//! (cache TTLs, flush intervals) is not moved: a test waits for those by
//! polling with a deadline ([`helpers::eventually`]).

#[path = "../api/helpers/mod.rs"]
#[allow(dead_code, unused_imports)] // the part of the helpers these tests use
mod helpers;

mod keys;
mod tokens;

use std::time::Duration;

/// Held by every test of this binary for its whole run: one test moves
/// the clock at a time.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// Moves this process's clock forward by `seconds`.
pub fn advance(seconds: u64) {
    pulse::domain::time::advance(Duration::from_secs(seconds));
}

/// `seconds` from now by the (moved) clock, as a protobuf timestamp.
pub fn in_seconds(seconds: i64) -> prost_types::Timestamp {
    pulse::domain::time::to_timestamp(pulse::domain::time::now_micros() + seconds * 1_000_000)
}
