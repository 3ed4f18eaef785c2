//! The lifecycle of user-token signing keys, computed from their times.
//!
//! An environment has several signing keys; what each may do follows from
//! its `activate_time`, its `revoke_time` and the other keys' activation
//! times, so every replica reaches the same answer from the same rows and
//! the clock, with no state to keep in sync:
//!
//! - **STANDBY** while `now < activate_time`: published, signs nothing.
//! - **ACTIVE**: the non-revoked key with the greatest `activate_time ≤ now`
//!   (ties: the greater `seq`). It signs new tokens.
//! - **RETIRING**: an older non-revoked key that was replaced; it verifies
//!   until its `retire_time`, the activation of the key that replaced it
//!   plus [`RETIRE_AFTER`] (the longest user-token lifetime: every token
//!   it signed has expired by then). Afterwards it is **gone**.
//! - **REVOKED** once `revoke_time` is set: verifies nothing, unpublished,
//!   listed for [`REVOKED_LISTED_FOR`] after the revocation, then gone.

/// µs a replaced key keeps verifying: the longest user-token lifetime.
pub const RETIRE_AFTER: i64 = 86_400 * 1_000_000;
/// µs a revoked key stays in `ListSigningKeys`.
pub const REVOKED_LISTED_FOR: i64 = 86_400 * 1_000_000;

/// What decides a key's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyTimes {
    /// Insertion order (breaks ties between equal activation times).
    pub seq: i64,
    /// When it starts signing, µs.
    pub activate_time: i64,
    /// When it was revoked, µs.
    pub revoke_time: Option<i64>,
}

/// A key's state at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not signing yet.
    Standby,
    /// Signs new tokens.
    Active,
    /// Replaced; verifies until `retire_time` (µs).
    Retiring {
        /// When its last token has expired.
        retire_time: i64,
    },
    /// Revoked at `revoke_time` (µs), still listed.
    Revoked {
        /// When.
        revoke_time: i64,
    },
    /// Neither published, verifying nor listed.
    Gone,
}

impl KeyState {
    /// Whether a token signed by the key is accepted (and the key is in
    /// the JWKS): STANDBY, ACTIVE or RETIRING.
    pub fn verifies(self) -> bool {
        matches!(self, Self::Standby | Self::Active | Self::Retiring { .. })
    }

    /// Whether `ListSigningKeys` shows it.
    pub fn listed(self) -> bool {
        self != Self::Gone
    }
}

/// Whether the key ever signed: activated before any revocation.
fn ever_active(key: &KeyTimes, now: i64) -> bool {
    key.activate_time <= now && key.revoke_time.is_none_or(|r| r > key.activate_time)
}

/// The state of each of an environment's keys at `now` (µs), in the order
/// given.
pub fn states(keys: &[KeyTimes], now: i64) -> Vec<KeyState> {
    let order = |k: &KeyTimes| (k.activate_time, k.seq);
    let active = keys
        .iter()
        .filter(|k| k.revoke_time.is_none() && k.activate_time <= now)
        .max_by_key(|k| order(k))
        .map(|k| k.seq);
    keys.iter()
        .map(|key| {
            if let Some(revoke_time) = key.revoke_time {
                return if now < revoke_time.saturating_add(REVOKED_LISTED_FOR) {
                    KeyState::Revoked { revoke_time }
                } else {
                    KeyState::Gone
                };
            }
            if key.activate_time > now {
                return KeyState::Standby;
            }
            if Some(key.seq) == active {
                return KeyState::Active;
            }
            // Replaced by the next key that signed after it (revoked or
            // not: from that instant this one signed nothing).
            let successor = keys
                .iter()
                .filter(|k| ever_active(k, now) && order(k) > order(key))
                .map(|k| k.activate_time)
                .min();
            match successor {
                Some(at) if now < at.saturating_add(RETIRE_AFTER) => KeyState::Retiring {
                    retire_time: at.saturating_add(RETIRE_AFTER),
                },
                _ => KeyState::Gone,
            }
        })
        .collect()
}

/// The index (in `keys`) of the key that signs at `now`, if any.
pub fn active(keys: &[KeyTimes], now: i64) -> Option<usize> {
    states(keys, now)
        .iter()
        .position(|s| *s == KeyState::Active)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600 * 1_000_000;

    fn key(seq: i64, activate_time: i64, revoke_time: Option<i64>) -> KeyTimes {
        KeyTimes {
            seq,
            activate_time,
            revoke_time,
        }
    }

    #[test]
    fn one_key_is_active() {
        assert_eq!(states(&[key(1, 0, None)], 10), [KeyState::Active]);
        assert_eq!(active(&[key(1, 0, None)], 10), Some(0));
    }

    #[test]
    fn rotation_goes_standby_active_retiring_gone() {
        let keys = [key(1, 0, None), key(2, 100, None)];
        // Before activation: the new key waits, the old one signs.
        assert_eq!(states(&keys, 50), [KeyState::Active, KeyState::Standby]);
        // At activation the roles swap; the old key verifies for 24 h.
        let retiring = KeyState::Retiring {
            retire_time: 100 + RETIRE_AFTER,
        };
        assert_eq!(states(&keys, 100), [retiring, KeyState::Active]);
        assert_eq!(
            states(&keys, 99 + RETIRE_AFTER),
            [retiring, KeyState::Active]
        );
        assert_eq!(
            states(&keys, 100 + RETIRE_AFTER),
            [KeyState::Gone, KeyState::Active]
        );
        assert!(KeyState::Standby.verifies() && retiring.verifies());
        assert!(!KeyState::Gone.verifies() && !KeyState::Gone.listed());
    }

    #[test]
    fn ties_go_to_the_later_key() {
        let keys = [key(1, 5, None), key(2, 5, None)];
        assert_eq!(states(&keys, 5)[1], KeyState::Active);
        assert!(matches!(states(&keys, 5)[0], KeyState::Retiring { .. }));
    }

    #[test]
    fn revoking_the_active_key_with_a_replacement() {
        // Key 2 replaced key 1 at 1 h; key 2 was revoked at 2 h and key 3
        // took over at once.
        let keys = [key(1, 0, None), key(2, H, Some(2 * H)), key(3, 2 * H, None)];
        let s = states(&keys, 2 * H);
        assert_eq!(
            s,
            [
                // Still retiring from key 2's activation, not key 3's.
                KeyState::Retiring {
                    retire_time: H + RETIRE_AFTER
                },
                KeyState::Revoked { revoke_time: 2 * H },
                KeyState::Active,
            ]
        );
        assert!(!s[1].verifies() && s[1].listed());
        // A day after the revocation it is no longer listed.
        assert_eq!(states(&keys, 2 * H + REVOKED_LISTED_FOR)[1], KeyState::Gone);
    }

    #[test]
    fn a_key_revoked_in_standby_never_replaced_anyone() {
        let keys = [key(1, 0, None), key(2, 100, Some(50))];
        assert_eq!(
            states(&keys, 200),
            [KeyState::Active, KeyState::Revoked { revoke_time: 50 }]
        );
    }

    #[test]
    fn without_a_working_key_nothing_is_active() {
        assert_eq!(active(&[key(1, 0, Some(1))], 10), None);
        assert_eq!(active(&[key(1, 100, None)], 10), None);
        assert_eq!(active(&[], 10), None);
    }
}
