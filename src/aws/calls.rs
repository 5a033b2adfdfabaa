//! A record of every AWS operation the port sent, taken by an SDK interceptor so no call
//! can bypass it. Tests count writes with it, metrics are fed from it, and the IAM policy
//! check compares it with the actions the policy grants.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::ops::metrics::AwsMetrics;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CallRecord {
    pub service: String,
    pub operation: String,
}

/// Counts of operations sent, by (service, operation). Cheap to clone; clones share counts.
#[derive(Clone, Default)]
pub struct CallLog {
    counts: Arc<Mutex<BTreeMap<CallRecord, u64>>>,
    metrics: Option<AwsMetrics>,
}

impl std::fmt::Debug for CallLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallLog").field("counts", &self.snapshot()).finish()
    }
}

impl CallLog {
    pub fn with_metrics(metrics: Option<AwsMetrics>) -> Self {
        CallLog { counts: Arc::default(), metrics }
    }

    pub fn snapshot(&self) -> BTreeMap<CallRecord, u64> {
        self.counts.lock().expect("call log lock").clone()
    }

    /// Calls that change something in AWS.
    pub fn writes(&self) -> u64 {
        self.snapshot().iter().filter(|(c, _)| is_write(&c.operation)).map(|(_, n)| n).sum()
    }

    pub fn reads(&self) -> u64 {
        self.snapshot().iter().filter(|(c, _)| !is_write(&c.operation)).map(|(_, n)| n).sum()
    }

    /// Counts one operation. The port calls it directly only for operations an SDK
    /// component makes past our interceptor.
    pub(crate) fn count(&self, service: &str, operation: &str) {
        let key = CallRecord { service: service.to_owned(), operation: operation.to_owned() };
        *self.counts.lock().expect("call log lock").entry(key).or_default() += 1;
    }

    fn record(&self, service: &str, operation: &str, outcome: Outcome, seconds: f64) {
        self.count(service, operation);
        if let Some(metrics) = &self.metrics {
            metrics.record(service, operation, outcome.label(), seconds, outcome == Outcome::Throttled);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Success,
    Error,
    Throttled,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
            Outcome::Throttled => "throttled",
        }
    }
}

/// Whether an operation changes something in AWS. Reads start with one of these verbs;
/// AssumeRole only obtains credentials; ReceiveMessage reads the events queue.
pub fn is_write(operation: &str) -> bool {
    !["Describe", "Get", "List", "Lookup", "Head", "AssumeRole", "ReceiveMessage"].iter().any(|verb| operation.starts_with(verb))
}

/// The AWS call a task made last, to name what a pass past its deadline was waiting on.
/// Set by the interceptor inside [`LastCall::track`]; a pass that waits on a read another
/// pass started (a shared read) or on a lock has made no call of its own meanwhile.
#[derive(Clone, Debug, Default)]
pub struct LastCall(Arc<Mutex<Option<(String, Instant)>>>);

tokio::task_local! {
    static LAST_CALL: LastCall;
}

impl LastCall {
    /// Runs `work` with its AWS calls noted here.
    pub async fn track<F: std::future::Future>(&self, work: F) -> F::Output {
        LAST_CALL.scope(self.clone(), work).await
    }

    /// "S3/GetBucketPolicy, started 12 s ago", or what stands for it.
    pub fn describe(&self) -> String {
        match &*self.0.lock().expect("last call lock") {
            Some((call, at)) => format!("the last AWS call it made, {call}, started {} s ago", at.elapsed().as_secs()),
            None => "it had made no AWS call (waiting on a shared read, a lock or a turn)".to_owned(),
        }
    }

    fn note(service: &str, operation: &str) {
        let _ = LAST_CALL.try_with(|last| *last.0.lock().expect("last call lock") = Some((format!("{service}/{operation}"), Instant::now())));
    }
}

#[derive(Debug)]
pub(crate) struct RecordCalls(pub(crate) CallLog);

#[derive(Debug, Clone)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl Intercept for RecordCalls {
    fn name(&self) -> &'static str {
        "trailwarden.RecordCalls"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    // The operation's metadata is in the bag by serialization (see below).
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<Metadata>() {
            LastCall::note(meta.service(), meta.name());
        }
        Ok(())
    }

    // Recorded after execution, not before: the operation's metadata is only in the bag
    // once the operation-level configuration has been applied, which is after
    // client-level `read_before_execution` hooks run.
    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(meta) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let seconds = cfg.load::<Started>().map(|s| s.0.elapsed().as_secs_f64()).unwrap_or_default();
        let outcome = match context.output_or_error() {
            Some(Ok(_)) => Outcome::Success,
            _ if context.response().is_some_and(is_throttled) => Outcome::Throttled,
            _ => Outcome::Error,
        };
        self.0.record(meta.service(), meta.name(), outcome, seconds);
        Ok(())
    }
}

fn is_throttled(response: &aws_smithy_runtime_api::http::Response) -> bool {
    let status = response.status().as_u16();
    let error_type = response.headers().get("x-amzn-errortype").unwrap_or_default();
    status == 429 || error_type.starts_with("Throttling") || error_type.starts_with("TooManyRequests") || (status == 503 && error_type.is_empty())
}
