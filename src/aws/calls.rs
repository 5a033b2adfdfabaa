//! A record of every AWS operation the port sent, taken by an SDK interceptor so no call
//! can bypass it. Tests use it to count writes; metrics and the IAM policy check read it too.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CallRecord {
    pub service: String,
    pub operation: String,
}

/// Counts of operations sent, by (service, operation). Cheap to clone; clones share counts.
#[derive(Clone, Debug, Default)]
pub struct CallLog {
    counts: Arc<Mutex<BTreeMap<CallRecord, u64>>>,
}

impl CallLog {
    pub fn snapshot(&self) -> BTreeMap<CallRecord, u64> {
        self.counts.lock().expect("call log lock").clone()
    }

    /// Calls that change something in AWS, by the verbs AWS names them with.
    pub fn writes(&self) -> u64 {
        self.snapshot().iter().filter(|(c, _)| is_write(&c.operation)).map(|(_, n)| n).sum()
    }

    pub fn reads(&self) -> u64 {
        self.snapshot().iter().filter(|(c, _)| !is_write(&c.operation)).map(|(_, n)| n).sum()
    }

    fn record(&self, service: &str, operation: &str) {
        let key = CallRecord { service: service.to_owned(), operation: operation.to_owned() };
        *self.counts.lock().expect("call log lock").entry(key).or_default() += 1;
    }
}

/// Read operations start with one of these verbs; everything else writes.
pub fn is_write(operation: &str) -> bool {
    !["Describe", "Get", "List", "Lookup", "Head"].iter().any(|verb| operation.starts_with(verb))
}

#[derive(Debug)]
pub(crate) struct RecordCalls(pub(crate) CallLog);

impl Intercept for RecordCalls {
    fn name(&self) -> &'static str {
        "trailwarden.RecordCalls"
    }

    // After execution, not before: the operation's metadata is only in the bag once the
    // operation-level configuration has been applied, which is after client-level
    // `read_before_execution` hooks run.
    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<Metadata>() {
            self.0.record(meta.service(), meta.name());
        }
        Ok(())
    }
}
