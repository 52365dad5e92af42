//! The walk of an `attributes` processor over a batch: every span, log record and data point
//! the include/exclude rules select gets the actions on its own attributes.

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

use kafka_obs_api::Batch;

use super::config::AttributesConfig;
use super::match_rules::Item;
use crate::per_parcel::Step;

impl AttributesConfig {
    fn selected(&self, item: &Item<'_>) -> bool {
        self.include.as_ref().is_none_or(|r| r.matches(item))
            && self.exclude.as_ref().is_none_or(|r| !r.matches(item))
    }

    /// Applies the actions to `attributes` when the rules select the item.
    fn visit(
        &self,
        resource: &[KeyValue],
        scope: Option<&InstrumentationScope>,
        name: Option<&str>,
        body: Option<&AnyValue>,
        attributes: &mut Vec<KeyValue>,
    ) {
        let item = Item {
            resource,
            scope,
            name,
            body,
            attributes,
        };
        if self.selected(&item) {
            self.actions.apply(attributes);
        }
    }

    /// Applies the actions to every selected item of `batch`.
    pub fn apply(&self, batch: &mut Batch) {
        let no_attrs: &[KeyValue] = &[];
        match batch {
            Batch::Traces(r) => {
                for rs in &mut r.resource_spans {
                    let resource = rs.resource.as_ref().map_or(no_attrs, |r| &r.attributes);
                    for ss in &mut rs.scope_spans {
                        for span in &mut ss.spans {
                            self.visit(
                                resource,
                                ss.scope.as_ref(),
                                Some(&span.name),
                                None,
                                &mut span.attributes,
                            );
                        }
                    }
                }
            }
            Batch::Logs(r) => {
                for rl in &mut r.resource_logs {
                    let resource = rl.resource.as_ref().map_or(no_attrs, |r| &r.attributes);
                    for sl in &mut rl.scope_logs {
                        for log in &mut sl.log_records {
                            self.visit(
                                resource,
                                sl.scope.as_ref(),
                                None,
                                log.body.as_ref(),
                                &mut log.attributes,
                            );
                        }
                    }
                }
            }
            Batch::Metrics(r) => {
                for rm in &mut r.resource_metrics {
                    let resource = rm.resource.as_ref().map_or(no_attrs, |r| &r.attributes);
                    for sm in &mut rm.scope_metrics {
                        let scope = sm.scope.as_ref();
                        for metric in &mut sm.metrics {
                            let name = metric.name.as_str();
                            let visit = |attrs: &mut Vec<KeyValue>| {
                                self.visit(resource, scope, Some(name), None, attrs)
                            };
                            match &mut metric.data {
                                Some(Data::Gauge(g)) => g
                                    .data_points
                                    .iter_mut()
                                    .for_each(|p| visit(&mut p.attributes)),
                                Some(Data::Sum(s)) => s
                                    .data_points
                                    .iter_mut()
                                    .for_each(|p| visit(&mut p.attributes)),
                                Some(Data::Histogram(h)) => h
                                    .data_points
                                    .iter_mut()
                                    .for_each(|p| visit(&mut p.attributes)),
                                Some(Data::ExponentialHistogram(h)) => h
                                    .data_points
                                    .iter_mut()
                                    .for_each(|p| visit(&mut p.attributes)),
                                Some(Data::Summary(s)) => s
                                    .data_points
                                    .iter_mut()
                                    .for_each(|p| visit(&mut p.attributes)),
                                None => {}
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Step for AttributesConfig {
    fn step(&mut self, mut batch: Batch) -> Result<Batch, String> {
        self.apply(&mut batch);
        Ok(batch)
    }
}

#[cfg(test)]
mod tests;
