//! `obup health`: a gRPC health probe.

use anyhow::{Context, bail};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

pub async fn run(server: &str, services: &[String]) -> anyhow::Result<()> {
    let channel = crate::client::channel(server).await?;
    let mut client = HealthClient::new(channel);
    let whole = [String::new()];
    let services = if services.is_empty() {
        &whole[..]
    } else {
        services
    };
    for service in services {
        let status = client
            .check(HealthCheckRequest {
                service: service.clone(),
            })
            .await
            .with_context(|| format!("health check of {service:?} failed"))?
            .into_inner()
            .status;
        if status != ServingStatus::Serving as i32 {
            bail!("{service:?} is not serving (status {status})");
        }
        println!(
            "{}: serving",
            if service.is_empty() { server } else { service }
        );
    }
    Ok(())
}
