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
    let declared = proto_methods()
        .keys()
        .cloned()
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(services.len(), declared.len(), "{services:?}");
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
    // Every method of every pulse.v1 service in the served descriptors.
    let methods: usize = proto_methods().values().sum();
    assert_eq!(ACCESS.len(), methods);
    for (path, access) in ACCESS {
        assert_ne!(*access, pulse::pb::Access::Unspecified, "{path}");
        // Only signing in goes without a credential.
        let public = *access == pulse::pb::Access::Public;
        assert_eq!(for_path(path) == Policy::Public, public, "{path}");
        if public {
            assert!(path.starts_with("/pulse.v1.SessionService/"), "{path}");
        }
    }
    assert_eq!(
        for_path("/pulse.v1.RoomService/DeleteRoom"),
        Policy::Secret,
        "read from `option (pulse.v1.access) = ACCESS_SECRET`"
    );
}

/// `pulse.v1` service → its number of methods, read from the descriptor set
/// the server serves by reflection (not from the generated table).
fn proto_methods() -> std::collections::BTreeMap<String, usize> {
    use prost::Message;
    let fds = prost_types::FileDescriptorSet::decode(pulse::pb::FILE_DESCRIPTOR_SET).unwrap();
    fds.file
        .iter()
        .filter(|f| f.package() == "pulse.v1")
        .flat_map(|f| f.service.iter())
        .map(|s| (format!("pulse.v1.{}", s.name()), s.method.len()))
        .collect()
}
