//! What crosses the broker besides the call's own bytes: the envelope's fields and the
//! answer a worker sends back, and how an answer becomes the Future's outcome.

use std::time::Duration;

use concurra::process::EncodedCall;
use concurra::Error;
use serde::{Deserialize, Serialize};

/// The fields of a call's stream entry.
pub(crate) mod field {
    /// The submitter's id: its result stream is the results prefix plus this.
    pub(crate) const CLIENT: &str = "c";
    /// The call's number at its submitter.
    pub(crate) const TASK: &str = "t";
    /// The call's time limit once started, in ms (0: none).
    pub(crate) const LIMIT: &str = "d";
    /// How many times a call whose worker was lost may be run again.
    pub(crate) const RETRIES: &str = "r";
    /// How long its answer is kept unread, in ms.
    pub(crate) const EXPIRY: &str = "x";
    /// The encoded call ([`EncodedCall::payload`]).
    pub(crate) const PAYLOAD: &str = "p";
    /// In a result entry: the encoded [`Answer`](super::Answer).
    pub(crate) const ANSWER: &str = "o";
}

/// A worker's answer to one call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Answer {
    /// The reply's bytes, as the local process pool gave them (the value, the panic, the
    /// function's `Err`): [`EncodedCall::reply`] decodes them.
    Reply(Vec<u8>),
    /// The local process running the call died (an abort, a signal).
    WorkerDied {
        /// The local process's pid (on the worker's machine).
        pid: u32,
        /// Its exit code, or minus the signal.
        exitcode: i32,
    },
    /// The worker that held the call stopped renewing its lease, and the call was not to be
    /// run again.
    WorkerLost {
        /// How many times it was handed to a worker.
        attempts: u32,
        /// The lease, in ms.
        lease_ms: u64,
    },
    /// The call ran past its time limit and was killed.
    Timeout {
        /// The limit, in ms.
        limit_ms: u64,
    },
    /// The call was stopped on request (cancelled while running).
    Stopped,
    /// Anything else the worker could not do (the error's text).
    Failed(String),
}

impl Answer {
    /// The answer for a local outcome of the call's bytes.
    pub(crate) fn from_local(outcome: concurra::Result<Vec<u8>>) -> Answer {
        match outcome {
            Ok(bytes) => Answer::Reply(bytes),
            Err(Error::WorkerDied { pid, exitcode }) => Answer::WorkerDied { pid, exitcode },
            Err(Error::Timeout { after, .. }) => Answer::Timeout {
                limit_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
            },
            Err(e) if e.is_cancelled() || e.is_terminated() => Answer::Stopped,
            Err(e) => Answer::Failed(e.to_string()),
        }
    }

    /// Completes `call`'s future with this answer.
    pub(crate) fn answer(self, call: EncodedCall) {
        match self {
            Answer::Reply(bytes) => call.reply(&bytes),
            Answer::WorkerDied { pid, exitcode } => call.fail(Error::WorkerDied { pid, exitcode }),
            Answer::WorkerLost { attempts, lease_ms } => call.fail(Error::WorkerLost {
                attempts,
                lease: Duration::from_millis(lease_ms),
            }),
            Answer::Timeout { limit_ms } => {
                call.fail(Error::timeout(Duration::from_millis(limit_ms)))
            }
            Answer::Stopped => call.cancel(),
            Answer::Failed(message) => call.fail(Error::Broker(format!(
                "the worker failed the call: {message}"
            ))),
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("an answer always encodes")
    }

    pub(crate) fn decode(bytes: &[u8]) -> concurra::Result<Answer> {
        postcard::from_bytes(bytes).map_err(|e| Error::Decode(format!("a worker's answer: {e}")))
    }
}
