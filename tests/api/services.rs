//! The served services are the contract's: every `pulse.v1` service in the
//! protos is registered and reported by health, and every RPC's access
//! comes from the proto's `(pulse.v1.access)` option.

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{Backend, spawn_app};

#[tokio::test]
async fn every_proto_service_is_served_and_reports_health() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut health = HealthClient::new(app.channel().await);
    let services = pulse::auth::policy::SERVICES;
    assert_eq!(services.len(), 8, "{services:?}");
    for service in services.iter().chain([&""]) {
        let status = health
            .check(HealthCheckRequest {
                service: (*service).to_owned(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e:?}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
}

#[test]
fn every_rpc_declares_its_access_in_the_proto() {
    use pulse::auth::policy::{ACCESS, Policy, for_path};
    // 4 account, 1 audit, 19 environment, 1 event, 4 auth, 4 room, 6 thread,
    // 2 user.
    assert_eq!(ACCESS.len(), 41);
    for (path, access) in ACCESS {
        assert_ne!(*access, pulse::pb::Access::Unspecified, "{path}");
        assert_ne!(for_path(path), Policy::Public, "{path}");
    }
    assert_eq!(
        for_path("/pulse.v1.RoomService/DeleteRoom"),
        Policy::Secret,
        "read from `option (pulse.v1.access) = ACCESS_SECRET`"
    );
}
