//! The `attributes` processor's keys (the Collector's): `actions`, `include`, `exclude`.

use serde::Deserialize;

use kafka_obs_api::{
    BuildContext, BuildError, ComponentConfig, ComponentConfigError, Processor, ProcessorConfig,
    parse_component_config,
};

use super::match_rules::{MatchProperties, RawMatch};
use crate::attraction::{Actions, RawAction};
use crate::per_parcel::PerParcel;

/// The validated configuration of an `attributes` processor.
#[derive(Debug, Clone)]
pub struct AttributesConfig {
    pub(super) actions: Actions,
    pub(super) include: Option<MatchProperties>,
    pub(super) exclude: Option<MatchProperties>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    actions: Vec<RawAction>,
    #[serde(default)]
    include: Option<RawMatch>,
    #[serde(default)]
    exclude: Option<RawMatch>,
}

impl AttributesConfig {
    /// Parses and checks the YAML body of an `attributes` processor.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        if raw.actions.is_empty() {
            return Err(ComponentConfigError::new(
                "actions",
                "missing or empty; list at least one action, like `- {key: user.id, action: hash}`",
            ));
        }
        let actions = Actions::compile(&raw.actions).map_err(|e| e.within("actions"))?;
        let rule = |key: &str, raw: &Option<RawMatch>| {
            raw.as_ref()
                .map(|r| MatchProperties::compile(r).map_err(|e| e.within(key)))
                .transpose()
        };
        Ok(Self {
            actions,
            include: rule("include", &raw.include)?,
            exclude: rule("exclude", &raw.exclude)?,
        })
    }
}

impl ComponentConfig for AttributesConfig {}

impl ProcessorConfig for AttributesConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Processor>, BuildError> {
        // Which signal a rule property belongs to is known only here, from the pipelines.
        for (key, rule) in [("include", &self.include), ("exclude", &self.exclude)] {
            let Some(rule) = rule else { continue };
            for kind in &ctx.kinds {
                if let Some(property) = rule.foreign_property(*kind) {
                    return Err(BuildError::Other(format!(
                        "processors::{}::{key}::{property}: {kind} have no {property}; remove it, or use this processor only in pipelines of the signal that has it",
                        ctx.id
                    )));
                }
            }
        }
        Ok(Box::new(PerParcel::new(self.clone())))
    }
}
