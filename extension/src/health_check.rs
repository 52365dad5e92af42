//! `health_check`: an HTTP endpoint for liveness/readiness probes.
//!
//! 200 while every component runs, 503 otherwise with a body naming each component that is not
//! running and why, so a failing probe explains itself in `kubectl describe`.

use std::net::{TcpListener, ToSocketAddrs};
use std::time::Instant;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use futures::future::BoxFuture;
use kafka_obs_api::{
    BuildContext, BuildError, ComponentConfig, ComponentConfigError, ComponentStatus, Extension,
    ExtensionConfig, ExtensionFactory, FactoryMeta, RunContext, RunError, Stability,
    parse_component_config,
};
use serde::Deserialize;

pub static FACTORY: ExtensionFactory = ExtensionFactory::new(
    FactoryMeta {
        type_name: "health_check",
        aliases: &[],
        stability: Stability::Beta,
        kinds: &[],
        description: "HTTP health endpoint: 200 when every pipeline component runs, 503 naming the failed ones",
    },
    |config| Ok(Box::new(HealthCheckConfig::parse(config)?)),
);

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    /// Listen address. The Collector's historical default is 0.0.0.0:13133; we listen on
    /// loopback unless told otherwise, as its newer versions do.
    pub endpoint: String,
    pub path: String,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self {
            endpoint: "127.0.0.1:13133".into(),
            path: "/".into(),
        }
    }
}

impl HealthCheckConfig {
    pub fn parse(config: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let c: HealthCheckConfig = parse_component_config(config)?;
        if !c.path.starts_with('/') {
            return Err(ComponentConfigError::new("path", "must start with '/'"));
        }
        if !c.endpoint.contains(':') {
            return Err(ComponentConfigError::new(
                "endpoint",
                "write host:port, e.g. 127.0.0.1:13133",
            ));
        }
        Ok(c)
    }
}

impl ComponentConfig for HealthCheckConfig {
    fn listen_addresses(&self) -> Vec<(String, String)> {
        vec![("endpoint".into(), self.endpoint.clone())]
    }
}

impl ExtensionConfig for HealthCheckConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Extension>, BuildError> {
        let bind_err = |source| BuildError::Bind {
            address: self.endpoint.clone(),
            source,
        };
        // From the pool, so a reload hands the socket over (api/src/listeners.rs).
        let addr = self
            .endpoint
            .to_socket_addrs()
            .map_err(bind_err)?
            .next()
            .ok_or_else(|| bind_err(std::io::ErrorKind::NotFound.into()))?;
        let listener = ctx.listeners.open(addr).map_err(bind_err)?;
        Ok(Box::new(HealthCheck {
            listener,
            path: self.path.clone(),
        }))
    }
}

struct HealthCheck {
    listener: TcpListener,
    path: String,
}

impl Extension for HealthCheck {
    fn run(self: Box<Self>, ctx: RunContext) -> BoxFuture<'static, Result<(), RunError>> {
        Box::pin(async move {
            let started = Instant::now();
            let health = ctx.health.clone();
            let app = Router::new().route(
                &self.path,
                get(move || {
                    let health = health.clone();
                    async move {
                        let failing: Vec<serde_json::Value> = health
                            .unhealthy()
                            .into_iter()
                            .map(|(component, status)| {
                                let (state, reason) = match status {
                                    ComponentStatus::Failed(r) => ("failed", r),
                                    ComponentStatus::Starting => ("starting", String::new()),
                                    ComponentStatus::Stopped => ("stopped", String::new()),
                                    ComponentStatus::Running => ("running", String::new()),
                                };
                                serde_json::json!({"component": component, "status": state, "reason": reason})
                            })
                            .collect();
                        let uptime = started.elapsed().as_secs();
                        if failing.is_empty() {
                            (
                                StatusCode::OK,
                                axum::Json(serde_json::json!({"status": "Server available", "uptime_seconds": uptime})),
                            )
                        } else {
                            (
                                StatusCode::SERVICE_UNAVAILABLE,
                                axum::Json(serde_json::json!({"status": "Server not available", "uptime_seconds": uptime, "components": failing})),
                            )
                        }
                    }
                }),
            );
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            let stop = ctx.shutdown.clone();
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testdata_matches_the_typed_config() {
        let text = include_str!("../testdata/health_check.yaml");
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap();
        let c: HealthCheckConfig = parse_component_config(&v).unwrap();
        assert_eq!(
            c,
            HealthCheckConfig {
                endpoint: "127.0.0.1:13134".into(),
                path: "/health".into()
            }
        );
        let d: HealthCheckConfig = parse_component_config(&serde_yaml_ng::Value::Null).unwrap();
        assert_eq!(d, HealthCheckConfig::default());
    }

    #[test]
    fn rejects_relative_paths() {
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str("path: health").unwrap();
        let e = FACTORY.validate(&v).unwrap_err();
        assert_eq!(e.path, "path");
    }
}
