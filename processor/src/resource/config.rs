//! The `resource` processor's one key, `attributes` (a list of actions), and the step that
//! applies them to every resource of a batch.

use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::Deserialize;

use kafka_obs_api::{
    Batch, BuildContext, BuildError, ComponentConfig, ComponentConfigError, Processor,
    ProcessorConfig, parse_component_config,
};

use crate::attraction::{Actions, RawAction};
use crate::per_parcel::{PerParcel, Step};

/// The validated configuration of a `resource` processor.
#[derive(Debug, Clone)]
pub struct ResourceConfig {
    pub actions: Actions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    attributes: Vec<RawAction>,
}

impl ResourceConfig {
    /// Parses and checks the YAML body of a `resource` processor.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        if raw.attributes.is_empty() {
            return Err(ComponentConfigError::new(
                "attributes",
                "missing or empty; list at least one action, like `- {key: kafka.cluster, value: prod, action: upsert}`",
            ));
        }
        let actions = Actions::compile(&raw.attributes).map_err(|e| e.within("attributes"))?;
        Ok(Self { actions })
    }

    /// Applies the actions to every resource in `batch`.
    pub fn apply(&self, batch: &mut Batch) {
        let apply = |resource: &mut Option<Resource>| {
            self.actions
                .apply(&mut resource.get_or_insert_with(Resource::default).attributes);
        };
        match batch {
            Batch::Metrics(r) => r
                .resource_metrics
                .iter_mut()
                .for_each(|x| apply(&mut x.resource)),
            Batch::Logs(r) => r
                .resource_logs
                .iter_mut()
                .for_each(|x| apply(&mut x.resource)),
            Batch::Traces(r) => r
                .resource_spans
                .iter_mut()
                .for_each(|x| apply(&mut x.resource)),
        }
    }
}

impl ComponentConfig for ResourceConfig {}

impl Step for ResourceConfig {
    fn step(&mut self, mut batch: Batch) -> Result<Batch, String> {
        self.apply(&mut batch);
        Ok(batch)
    }
}

impl ProcessorConfig for ResourceConfig {
    fn build(&self, _ctx: &BuildContext) -> Result<Box<dyn Processor>, BuildError> {
        Ok(Box::new(PerParcel::new(self.clone())))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use kafka_obs_api::Batch;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::logs::v1::ResourceLogs;

    fn parse(yaml: &str) -> Result<ResourceConfig, ComponentConfigError> {
        ResourceConfig::parse(&serde_yaml_ng::from_str(yaml).expect("test yaml"))
    }

    fn text(s: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        })
    }

    #[test]
    fn testdata_parses_and_sets_every_resource() {
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(include_str!("../../testdata/resource.yaml")).unwrap();
        let config = ResourceConfig::parse(&value["resource/sidecar"]).unwrap();
        // One resource with attributes, one without a resource at all.
        let mut batch = Batch::Logs(ExportLogsServiceRequest {
            resource_logs: vec![
                ResourceLogs {
                    resource: Some(Resource {
                        attributes: vec![KeyValue {
                            key: "kafka.cluster".into(),
                            value: text("from-sdk"),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ResourceLogs::default(),
            ],
        });
        config.apply(&mut batch);
        let Batch::Logs(r) = batch else { panic!() };
        for rl in &r.resource_logs {
            let attrs = &rl.resource.as_ref().unwrap().attributes;
            let get = |k: &str| {
                attrs
                    .iter()
                    .find(|kv| kv.key == k)
                    .and_then(|kv| kv.value.clone())
            };
            assert_eq!(get("kafka.cluster"), text("orders-prod"));
            assert_eq!(get("k8s.pod.name"), text("orders-7f9c"));
        }
    }

    #[test]
    fn errors_name_the_path() {
        assert_eq!(parse("{}").expect_err("empty").path, "attributes");
        assert_eq!(
            parse("attributes: [{key: a, action: nope}]")
                .expect_err("bad action")
                .path,
            "attributes::0::action"
        );
        assert!(
            parse("actions: []")
                .expect_err("unknown")
                .message
                .contains("unknown field")
        );
    }
}
