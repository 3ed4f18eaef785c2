//! `signing_keys`: the Ed25519 keys of an environment's user tokens.

use sea_orm::entity::prelude::*;

table! {
    /// A row of `signing_keys`.
    "signing_keys", id, Debug {
        /// The environment whose tokens it signs.
        pub environment_id: String,
        /// Raw 32-byte Ed25519 public key.
        pub public_key: Vec<u8>,
        /// PKCS#8 private key sealed with AES-256-GCM under the master key
        /// (nonce ‖ ciphertext ‖ tag), bound to `id` and `environment_id`.
        pub sealed_private_key: Vec<u8>,
        /// Creation time, µs.
        pub create_time: i64,
        /// When it starts signing (standby until then), µs.
        pub activate_time: i64,
        /// When it was revoked, µs; `None` while it works.
        pub revoke_time: Option<i64>,
    }
}

impl From<Model> for crate::domain::records::SigningKey {
    fn from(m: Model) -> Self {
        Self {
            seq: m.seq,
            id: m.id,
            environment_id: m.environment_id,
            public_key: m.public_key,
            sealed_private_key: m.sealed_private_key,
            create_time: m.create_time,
            activate_time: m.activate_time,
            revoke_time: m.revoke_time,
        }
    }
}
