//! SQS: the queue AWS events arrive on (EventBridge → SQS). Read with the controller's own
//! credentials, in the queue's region; not part of the pass's port, since no policy owns it.

use jiff::Timestamp;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use trailwarden_core::Scope;

use super::AwsResult;
use super::clients::Service;
use super::sdk::SdkAws;

const SQS: Service<aws_sdk_sqs::Client> = Service { name: "SQS", client: |c| c.sqs(), paced: false, kept: None, bounded: false };

/// How long one receive waits for messages: SQS's longest long poll.
const LONG_POLL_SECONDS: i32 = 20;

/// A long poll answers after up to [`LONG_POLL_SECONDS`] by design, longer than the attempt
/// timeout every other call has: its own limits leave it that time, and still end it.
fn long_poll_timeouts() -> aws_sdk_sqs::config::Builder {
    let attempt = std::time::Duration::from_secs(LONG_POLL_SECONDS as u64 + 10);
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(super::sdk::CONNECT_TIMEOUT)
        .operation_attempt_timeout(attempt)
        .operation_timeout(attempt * 2)
        .build();
    aws_sdk_sqs::config::Builder::default().timeout_config(timeouts)
}

/// One message of the events queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueMessage {
    pub id: String,
    /// What deleting the message takes.
    pub receipt: String,
    pub body: String,
    /// When SQS received it.
    pub sent_at: Option<Timestamp>,
}

/// The scope a queue is read in: our own account, the region its URL names (the
/// `sqs.<region>.amazonaws.com` host) or, for another host (an emulator), `fallback`.
fn queue_scope(queue_url: &str, fallback: &str) -> Scope {
    let host = queue_url.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or_default();
    let region = host.strip_prefix("sqs.").and_then(|h| h.split('.').next()).filter(|r| !r.is_empty()).unwrap_or(fallback);
    Scope { role_arn: None, external_id: None, region: region.to_owned() }
}

impl SdkAws {
    /// Up to 10 messages, waiting up to 20 s for one (`long_poll`), or not at all.
    pub async fn receive_messages(&self, queue_url: &str, region: &str, long_poll: bool) -> AwsResult<Vec<QueueMessage>> {
        let scope = queue_scope(queue_url, region);
        let out = self
            .call(&scope, &SQS, "ReceiveMessage", |sqs| {
                sqs.receive_message()
                    .queue_url(queue_url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(if long_poll { LONG_POLL_SECONDS } else { 0 })
                    .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp)
                    .customize()
                    .config_override(long_poll_timeouts())
                    .send()
            })
            .await?;
        Ok(out
            .messages()
            .iter()
            .map(|m| QueueMessage {
                id: m.message_id().unwrap_or_default().to_owned(),
                receipt: m.receipt_handle().unwrap_or_default().to_owned(),
                body: m.body().unwrap_or_default().to_owned(),
                sent_at: m
                    .attributes()
                    .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp))
                    .and_then(|ms| ms.parse::<i64>().ok())
                    .and_then(|ms| Timestamp::from_millisecond(ms).ok()),
            })
            .collect())
    }

    /// Deletes the messages whose receipts are given, in one call.
    pub async fn delete_messages(&self, queue_url: &str, region: &str, receipts: &[String]) -> AwsResult<()> {
        if receipts.is_empty() {
            return Ok(());
        }
        let scope = queue_scope(queue_url, region);
        let entries: Vec<_> = receipts
            .iter()
            .enumerate()
            .map(|(i, receipt)| {
                DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(receipt).build().expect("id and receipt are set")
            })
            .collect();
        let out = self
            .call(&scope, &SQS, "DeleteMessageBatch", |sqs| {
                sqs.delete_message_batch().queue_url(queue_url).set_entries(Some(entries)).send()
            })
            .await?;
        match out.failed().first() {
            None => Ok(()),
            Some(failed) => Err(super::AwsError {
                service: "SQS",
                operation: "DeleteMessageBatch",
                kind: super::ErrorKind::Other,
                code: failed.code().to_owned(),
                message: format!("{} of {} messages not deleted: {}", out.failed().len(), receipts.len(), failed.message().unwrap_or_default()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_read_in_the_region_its_url_names() {
        assert_eq!(queue_scope("https://sqs.eu-west-1.amazonaws.com/111122223333/trail-events", "us-east-1").region, "eu-west-1");
        assert_eq!(queue_scope("http://127.0.0.1:4566/111122223333/trail-events", "us-east-1").region, "us-east-1");
    }
}
