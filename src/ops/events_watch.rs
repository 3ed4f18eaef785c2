//! `pulse events watch [ENV] [--type T …] [--after EVT] [--json]`: tails
//! the audit log live, one line per event (like `kubectl get -w`), or one
//! JSON object per line. When the server ends the stream because the
//! client fell behind or the server restarts, it resumes after the last
//! event printed, so nothing is skipped or printed twice.

use std::time::Duration;

use anyhow::anyhow;
use clap::Subcommand;
use serde_json::json;
use tonic::Code;

use super::{Admin, Connection, failed, print_json};
use crate::pb;
use crate::pb::event_service_client::EventServiceClient;

/// `pulse events …`
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print events as they are committed, on any replica, until stopped.
    Watch {
        /// Only this environment's events (`env_…`); default: the whole account.
        environment_id: Option<String>,
        /// Only events of this type (e.g. `key.revoked`), repeatable.
        #[arg(long = "type", value_name = "TYPE")]
        types: Vec<String>,
        /// First print every event after this one (`evt_…`), then live ones.
        #[arg(long, value_name = "EVENT_ID")]
        after: Option<String>,
    },
}

/// Runs `pulse events …`.
pub async fn events(conn: Connection, command: EventsCommand) -> anyhow::Result<()> {
    let EventsCommand::Watch {
        environment_id,
        types,
        after,
    } = command;
    let admin = Admin::connect(conn).await?;
    let mut client = EventServiceClient::new(admin.channel.clone());
    let json = admin.conn.json;
    let mut after = after.unwrap_or_default();
    if !json {
        println!(
            "{}",
            line(["TIME", "TYPE", "ENVIRONMENT", "TARGET", "ACTOR", "ID"])
        );
    }
    loop {
        let request = admin.request(pb::WatchEventsRequest {
            environment_id: environment_id.clone().unwrap_or_default(),
            types: types.clone(),
            after_event_id: after.clone(),
        });
        let mut stream = client
            .watch_events(request)
            .await
            .map_err(failed)?
            .into_inner();
        let status = loop {
            match stream.message().await {
                Ok(Some(event)) => {
                    print_event(&event, json);
                    after = event.id;
                }
                Ok(None) => return Err(anyhow!("the server ended the stream")),
                Err(status) => break status,
            }
        };
        // Fell behind, or the server is going away: resume where we are.
        if !matches!(status.code(), Code::ResourceExhausted | Code::Unavailable) {
            return Err(failed(status));
        }
        tracing::info!(code = ?status.code(), message = status.message(), "watch ended; resuming");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn print_event(e: &pb::AuditEvent, json: bool) {
    let time = super::output::time(&e.create_time);
    if json {
        print_json(&json!({
            "id": e.id,
            "type": e.r#type,
            "actor": e.actor,
            "environment_id": e.environment_id,
            "target_id": e.target_id,
            "request_id": e.request_id,
            "peer": e.peer,
            "create_time": time,
            "details": e.details,
        }));
    } else {
        let env = super::output::or_dash(&e.environment_id);
        println!(
            "{}",
            line([&time, &e.r#type, &env, &e.target_id, &e.actor, &e.id])
        );
    }
}

/// One aligned line (columns wide enough for their usual values: the
/// table cannot be measured ahead, it never ends).
fn line(cells: [&str; 6]) -> String {
    let widths = [30, 20, 30, 30, 30, 0];
    let mut out = String::new();
    for (cell, width) in cells.iter().zip(widths) {
        out.push_str(&format!("{cell:<width$} "));
    }
    out.trim_end().to_owned()
}
