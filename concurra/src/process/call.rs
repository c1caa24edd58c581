//! What crosses to a worker: [`Remote`] work (a function and its argument), encoded as a call
//! frame, and the [`Pending`] side that turns the worker's reply into the Future's outcome.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::bootstrap::CallHead;
use super::identity::{self, Entry, Outcome};
use super::wire::{self, FrameKind};
use crate::chunk::Chunk;
use crate::error::{Error, Result};
use crate::executor::{Apply, Fallible};
use crate::future::{self, Future, Promise};

/// Work that can run in another process: a `fn` item or a closure that captures nothing,
/// called with no argument, or bound to one by [`Apply`]. Arguments and values are `serde`
/// types; they travel encoded with `postcard`. (Chunks of a map travel as one call each:
/// [`ProcessPoolExecutor::map_chunked`](super::ProcessPoolExecutor::map_chunked) and the
/// [`ProcessPool`](crate::pool::ProcessPool).)
///
/// [`Fallible`]`(f)` and `Fallible(Apply(f, a))` run a function returning `Result<T, E>`
/// (any `E: Display`): its `Err` fails the future with [`Error::Failed`], holding a
/// [`RemoteError`] (the error's message and type name: the error crosses as text).
///
/// A function pointer or a capturing closure does not compile (its code cannot cross).
#[diagnostic::on_unimplemented(
    message = "a process runs `fn` items or closures that capture nothing, over serde types; `{Self}` is not one",
    label = "cannot be sent to another process",
    note = "write the work as a `fn` item (or a closure that captures nothing) and pass its argument with `Apply(f, arg)`: a process cannot receive captured variables, and the argument and return types must implement `serde::Serialize + DeserializeOwned`",
    note = "for any closure, use a thread engine instead: `ThreadPoolExecutor`, `ThreadPool` or `Thread`"
)]
pub trait Remote: private::Encode {}

impl<W: private::Encode> Remote for W {}

/// A function applied to every item of a chunk in one call (Python's `chunksize`): the work
/// `Apply(Chunked(f), items)` gives a [`Chunk`], so one failing item fails only its place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chunked<F>(pub(crate) F);

pub(crate) mod private {
    use super::Result;

    /// The crate's side of [`Remote`](super::Remote): how to encode the call and decode the
    /// reply. Not nameable outside the crate, so `Remote` cannot be implemented elsewhere.
    #[allow(unreachable_pub)]
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be sent to a process: a process runs `fn` items or closures that capture nothing, over serde types",
        label = "cannot be sent to another process",
        note = "write the work as a `fn` item (or a closure that captures nothing) and pass its argument with `Apply(f, arg)`; the argument and the return type must implement `serde::Serialize + serde::de::DeserializeOwned`",
        note = "for any closure, use a thread engine instead: `ThreadPoolExecutor`, `ThreadPool` or `Thread`"
    )]
    pub trait Encode: Sized {
        /// What the Future gives.
        type Output: Send + 'static;
        /// Appends the call frame for call `id`.
        fn encode(self, id: u64, out: &mut Vec<u8>) -> Result<()>;
        /// The outcome from a reply payload.
        fn decode(payload: &[u8]) -> Result<Self::Output>;
        /// The function's name, for messages.
        fn name() -> &'static str;
    }
}

/// Appends a call frame: the head, then the encoded argument.
fn call_frame<A: Serialize>(
    out: &mut Vec<u8>,
    id: u64,
    entry: Entry,
    arg: &A,
    name: &str,
) -> Result<()> {
    wire::frame_with(out, FrameKind::Call, id, |buf| {
        wire::append(&CallHead { entry }, buf).map_err(|e| e.to_string())?;
        wire::append(arg, buf).map_err(|e| format!("the argument of {name}: {e}"))
    })
}

/// One outcome from the worker as the Future's `Result`.
fn from_outcome<T>(outcome: Outcome<T>) -> Result<T> {
    match outcome {
        Outcome::Value(v) => Ok(v),
        Outcome::Panicked { message, location } => Err(Error::Panicked { message, location }),
        Outcome::Decode(e) => Err(Error::Decode(e)),
        Outcome::Encode(e) => Err(Error::Encode(e)),
    }
}

fn decode_reply<R: DeserializeOwned>(payload: &[u8], name: &str) -> Result<R> {
    postcard::from_bytes(payload)
        .map_err(|e| Error::Decode(format!("the value returned by {name}: {e}")))
}

impl<F, A, T> private::Encode for Apply<F, A>
where
    F: Fn(A) -> T + Copy + Send + 'static,
    A: Serialize + DeserializeOwned,
    T: Serialize + DeserializeOwned + Send + 'static,
{
    type Output = T;

    fn encode(self, id: u64, out: &mut Vec<u8>) -> Result<()> {
        call_frame(out, id, Entry::of(self.0), &self.1, Self::name())
    }

    fn decode(payload: &[u8]) -> Result<T> {
        from_outcome(decode_reply::<Outcome<T>>(payload, Self::name())?)
    }

    fn name() -> &'static str {
        identity::name::<F>()
    }
}

impl<F, T> private::Encode for F
where
    F: Fn() -> T + Copy + Send + 'static,
    T: Serialize + DeserializeOwned + Send + 'static,
{
    type Output = T;

    fn encode(self, id: u64, out: &mut Vec<u8>) -> Result<()> {
        // A closure capturing only the zero-sized `F` is zero-sized too.
        call_frame(out, id, Entry::of(move |(): ()| self()), &(), Self::name())
    }

    fn decode(payload: &[u8]) -> Result<T> {
        from_outcome(decode_reply::<Outcome<T>>(payload, Self::name())?)
    }

    fn name() -> &'static str {
        identity::name::<F>()
    }
}

/// A fallible function's `Err` as it crossed from another process: its message (`Display`)
/// and the name of its type. [`Error::task_error`]`::<RemoteError>()` reads it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteError {
    type_name: String,
    message: String,
}

impl RemoteError {
    pub(crate) fn of<E: std::fmt::Display>(error: &E) -> Self {
        RemoteError {
            type_name: std::any::type_name::<E>().to_string(),
            message: error.to_string(),
        }
    }

    /// The error's type, as `std::any::type_name` spells it (`core::num::error::ParseIntError`).
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The error's message (its `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RemoteError {}

/// A fallible function's outcome from its reply: its `Err` as [`Error::Failed`].
fn decode_fallible<T: DeserializeOwned>(payload: &[u8], name: &str) -> Result<T> {
    let outcome = decode_reply::<Outcome<std::result::Result<T, RemoteError>>>(payload, name)?;
    from_outcome(outcome)?.map_err(Error::failed)
}

impl<F, T, E> private::Encode for Fallible<F>
where
    F: Fn() -> std::result::Result<T, E> + Copy + Send + 'static,
    E: std::fmt::Display,
    T: Serialize + DeserializeOwned + Send + 'static,
{
    type Output = T;

    fn encode(self, id: u64, out: &mut Vec<u8>) -> Result<()> {
        let f = self.0;
        let run = move |(): ()| f().map_err(|e| RemoteError::of(&e));
        call_frame(out, id, Entry::of(run), &(), Self::name())
    }

    fn decode(payload: &[u8]) -> Result<T> {
        decode_fallible(payload, Self::name())
    }

    fn name() -> &'static str {
        identity::name::<F>()
    }
}

impl<F, A, T, E> private::Encode for Fallible<Apply<F, A>>
where
    F: Fn(A) -> std::result::Result<T, E> + Copy + Send + 'static,
    A: Serialize + DeserializeOwned,
    E: std::fmt::Display,
    T: Serialize + DeserializeOwned + Send + 'static,
{
    type Output = T;

    fn encode(self, id: u64, out: &mut Vec<u8>) -> Result<()> {
        let Apply(f, arg) = self.0;
        let run = move |a: A| f(a).map_err(|e| RemoteError::of(&e));
        call_frame(out, id, Entry::of(run), &arg, Self::name())
    }

    fn decode(payload: &[u8]) -> Result<T> {
        decode_fallible(payload, Self::name())
    }

    fn name() -> &'static str {
        identity::name::<F>()
    }
}

/// A chunk's outcome as it crosses back: the values, and each failed item's position with
/// its panic's message and location.
///
/// Decoding it is bounded: at most [`MAX_CHUNK_VALUES`] values (a length prefix of values
/// that take no bytes, `()` say, would otherwise have the reader push `()` 2^60 times), and
/// the errors' positions must fit the chunk, in order (else the chunk's items would come out
/// shifted or missing).
#[derive(Serialize, Deserialize)]
pub(crate) struct ChunkReply<T> {
    #[serde(deserialize_with = "bounded_values")]
    #[serde(bound(deserialize = "T: Deserialize<'de>"))]
    values: Vec<T>,
    errors: Vec<(usize, String, Option<String>)>,
}

/// The most values a chunk reply may hold: as many as the largest frame has bytes. Only a
/// chunk of values that encode in no bytes (`()`) can reach it; a longer one is a decode
/// error. (Under the fuzzer, 64 Ki: counting 64 Mi `()`s to the limit took it a second,
/// which left it 100 inputs a second.)
pub(crate) const MAX_CHUNK_VALUES: usize = if cfg!(fuzzing) {
    1 << 16
} else {
    wire::MAX_FRAME
};

/// A chunk's values, refused past [`MAX_CHUNK_VALUES`].
fn bounded_values<'de, D, T>(deserializer: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Values<T>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Values<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "at most {MAX_CHUNK_VALUES} values")
        }

        fn visit_seq<S: serde::de::SeqAccess<'de>>(
            self,
            mut seq: S,
        ) -> std::result::Result<Vec<T>, S::Error> {
            // As serde's own `Vec`: room for no more than 1 MiB ahead of the values.
            let room = (1 << 20) / std::mem::size_of::<T>().max(1);
            let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(room));
            while let Some(value) = seq.next_element()? {
                if values.len() == MAX_CHUNK_VALUES {
                    return Err(serde::de::Error::custom(format_args!(
                        "a chunk of more than {MAX_CHUNK_VALUES} values"
                    )));
                }
                values.push(value);
            }
            Ok(values)
        }
    }

    deserializer.deserialize_seq(Values(std::marker::PhantomData))
}

impl<T> From<Chunk<T>> for ChunkReply<T> {
    fn from(chunk: Chunk<T>) -> Self {
        let errors = chunk
            .errors()
            .iter()
            .map(|(at, e)| match e {
                Error::Panicked { message, location } => (*at, message.clone(), location.clone()),
                other => (*at, other.to_string(), None),
            })
            .collect();
        let (values, _) = chunk.into_parts();
        ChunkReply { values, errors }
    }
}

impl<T> TryFrom<ChunkReply<T>> for Chunk<T> {
    type Error = Error;

    /// The chunk, if its errors' positions rise and lie inside it.
    fn try_from(reply: ChunkReply<T>) -> Result<Self> {
        let len = reply.values.len() + reply.errors.len();
        let mut next = 0;
        for (at, ..) in &reply.errors {
            if *at < next || *at >= len {
                return Err(Error::Decode(format!(
                    "a chunk reply with an error at position {at} of {len} (after {next})"
                )));
            }
            next = at + 1;
        }
        let errors = reply
            .errors
            .into_iter()
            .map(|(at, message, location)| (at, Error::Panicked { message, location }))
            .collect();
        Ok(Chunk::from_parts(reply.values, errors))
    }
}

impl<F, A, T> private::Encode for Apply<Chunked<F>, Vec<A>>
where
    F: Fn(A) -> T + Copy + Send + 'static,
    A: Serialize + DeserializeOwned,
    T: Serialize + DeserializeOwned + Send + 'static,
{
    type Output = Chunk<T>;

    fn encode(self, id: u64, out: &mut Vec<u8>) -> Result<()> {
        let f = self.0 .0;
        // One catch for the whole chunk (a panic fails only its item), as the thread pool's.
        let each = move |items: Vec<A>| ChunkReply::from(Chunk::run(&f, items));
        call_frame(out, id, Entry::of(each), &self.1, Self::name())
    }

    fn decode(payload: &[u8]) -> Result<Chunk<T>> {
        from_outcome(decode_reply::<Outcome<ChunkReply<T>>>(
            payload,
            Self::name(),
        )?)
        .and_then(Chunk::try_from)
    }

    fn name() -> &'static str {
        identity::name::<F>()
    }
}

/// A call's waiting side, its type erased: the engine holds these by call id.
pub(crate) trait Pending: Send {
    /// Marks the future running; false if it was cancelled (do not send the call).
    fn start(&self) -> bool;
    /// As [`start`](Pending::start), naming this thread as the runner (a wait on the
    /// future from it is then an error, not a deadlock).
    fn start_here(&self) -> bool {
        self.start()
    }
    /// Completes the future from the worker's reply payload.
    fn reply(self: Box<Self>, payload: &[u8]);
    /// Fails the future.
    fn fail(self: Box<Self>, error: Error);
    /// Cancels the future if it is still pending.
    fn cancel(self: Box<Self>);
    /// The future's identity ([`Future::ptr_eq`]).
    fn future_id(&self) -> usize;
    /// Whether the future was cancelled (by its holder: the engine never completed it).
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// A call's waiting side: its promise and how a reply's bytes become its outcome.
struct PendingCall<T> {
    promise: Promise<T>,
    future_id: usize,
    decode: fn(&[u8]) -> Result<T>,
}

impl<T: Send + 'static> PendingCall<T> {
    /// The waiting side of a new future, decoding replies with `decode`.
    fn pair(decode: fn(&[u8]) -> Result<T>) -> (Box<dyn Pending>, Future<T>) {
        let (promise, future) = future::pair();
        let pending = PendingCall {
            future_id: future.id(),
            promise,
            decode,
        };
        (Box::new(pending), future)
    }
}

impl<T: Send + 'static> Pending for PendingCall<T> {
    fn start(&self) -> bool {
        self.promise.set_running_or_notify_cancel()
    }

    fn start_here(&self) -> bool {
        self.promise.start_here()
    }

    fn reply(self: Box<Self>, payload: &[u8]) {
        let _ = self.promise.complete((self.decode)(payload));
    }

    fn fail(self: Box<Self>, error: Error) {
        let _ = self.promise.set_error(error);
    }

    fn cancel(self: Box<Self>) {
        self.promise.cancel();
    }

    fn future_id(&self) -> usize {
        self.future_id
    }

    fn is_cancelled(&self) -> bool {
        self.promise.is_cancelled()
    }
}

/// An encoded call and its waiting side.
pub(crate) struct Call {
    /// The call frame (its id's top bit is set if it is the worker's last call).
    pub(crate) frame: Vec<u8>,
    pub(crate) pending: Box<dyn Pending>,
    /// Its future is marked running: it was sent to a worker that died before starting it,
    /// and waits to be sent again.
    pub(crate) started: bool,
    /// How long it may run (`None`: the pool's task timeout, if any).
    pub(crate) timeout: Option<std::time::Duration>,
}

/// A call encoded once, for any engine, with the producer side of its [`Future`]: the
/// function's identity in this build and its encoded argument (the payload a worker's
/// trampoline reads). Made from [`Remote`] work by [`EncodedCall::new`]; a
/// [`DynExecutor`](crate::DynExecutor) runs it on a thread of this process
/// ([`run`](EncodedCall::run)), in a worker process, or elsewhere, and answers it with
/// [`reply`](EncodedCall::reply) (the reply's bytes), [`fail`](EncodedCall::fail) or
/// [`cancel`](EncodedCall::cancel). A call dropped unanswered is cancelled if it had not
/// started ([`Error::Abandoned`] if it had), never left pending.
pub struct EncodedCall {
    name: &'static str,
    payload: Vec<u8>,
    /// The future's producer side; `None` once answered.
    pending: Option<Box<dyn Pending>>,
    /// How long the call may run once started ([`with_time_limit`](Self::with_time_limit)).
    time_limit: Option<std::time::Duration>,
}

/// The bytes ahead of a frame's payload: length, version, kind, id.
const FRAME_HEAD: usize = 14;

impl EncodedCall {
    /// Encodes `work` and makes the future its answer completes.
    ///
    /// # Errors
    /// [`Error::Encode`] if the argument does not serialize.
    pub fn new<W: Remote + 'static>(work: W) -> Result<(EncodedCall, Future<W::Output>)> {
        let (call, future) = Call::new(work, 0)?;
        let Call {
            mut frame, pending, ..
        } = call;
        frame.drain(..FRAME_HEAD);
        Ok((
            EncodedCall {
                name: W::name(),
                payload: frame,
                pending: Some(pending),
                time_limit: None,
            },
            future,
        ))
    }

    /// A call received as bytes from another process of the same build (a remote engine's
    /// worker node runs it in its local process pool), with a future of the reply's bytes:
    /// what [`reply`](Self::reply) must be given on the side that made the call.
    ///
    /// # Safety
    /// `payload` must be the [`payload`](Self::payload) of a call made by [`new`](Self::new)
    /// in a process of this very build (the same [`build_id`](crate::build_id)): the payload
    /// names its function by its place in the build, and running it jumps there. A payload
    /// from another build, or forged, can run any code of this executable. A remote engine
    /// routes calls by build id and trusts its broker to carry them unaltered.
    #[allow(unsafe_code)]
    pub unsafe fn from_payload(payload: Vec<u8>) -> (EncodedCall, Future<Vec<u8>>) {
        let (pending, future) = PendingCall::pair(|bytes| Ok(bytes.to_vec()));
        (
            EncodedCall {
                name: "a call from another process",
                payload,
                pending: Some(pending),
                time_limit: None,
            },
            future,
        )
    }

    /// This call with a time limit counted from its start: an engine that can stop a running
    /// call (the process pool, a remote engine) fails its future with [`Error::Timeout`] past
    /// it; the thread pool, which cannot, ignores it.
    #[must_use]
    pub fn with_time_limit(mut self, limit: std::time::Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// The call's time limit, if it has one ([`with_time_limit`](Self::with_time_limit)).
    pub fn time_limit(&self) -> Option<std::time::Duration> {
        self.time_limit
    }

    /// Whether the call's future was cancelled by its holder ([`Future::cancel`]) before the
    /// engine answered it: an engine that keeps calls queued elsewhere (a broker) looks here
    /// to withdraw them.
    pub fn is_cancelled(&self) -> bool {
        self.pending.as_ref().is_some_and(|p| p.is_cancelled())
    }

    /// The function's name, for messages.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The encoded call, as a worker reads it.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Marks the call's future running (Python's `set_running_or_notify_cancel`); false if it
    /// was cancelled: drop the call then, do not run it.
    pub fn start(&self) -> bool {
        self.pending.as_ref().is_some_and(|p| p.start())
    }

    /// Completes the future from the reply's bytes (what [`run`](Self::run) or a worker
    /// gives): the value, the function's panic or `Err`, or a decoding error.
    pub fn reply(mut self, bytes: &[u8]) {
        if let Some(pending) = self.pending.take() {
            pending.reply(bytes);
        }
    }

    /// Fails the future with `error` (the engine could not run the call).
    pub fn fail(mut self, error: Error) {
        if let Some(pending) = self.pending.take() {
            pending.fail(error);
        }
    }

    /// Cancels the future if it has not started.
    pub fn cancel(mut self) {
        if let Some(pending) = self.pending.take() {
            pending.cancel();
        }
    }

    /// Runs the call in this thread, unless its future was cancelled, and completes the
    /// future: what a worker process does with it. A panic in the function is the future's
    /// [`Error::Panicked`], as a worker's.
    pub fn run(mut self) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        if !pending.start_here() {
            return;
        }
        let mut out = Vec::new();
        match postcard::take_from_bytes::<CallHead>(&self.payload) {
            // The payload was made by `new` in this process, from a `Remote` work: its entry
            // names a trampoline of this build.
            Ok((head, args)) => {
                head.entry.resolve()(args, &mut out);
            }
            Err(e) => {
                let outcome: Outcome<()> = Outcome::Decode(format!("a call's head: {e}"));
                out = postcard::to_allocvec(&outcome).expect("a message always encodes");
            }
        }
        pending.reply(&out);
    }

    /// As a process pool's call with id `id`; `None` if it cannot be one (its future then
    /// fails with the reason).
    pub(crate) fn into_call(mut self, id: u64) -> Option<Call> {
        let pending = self.pending.take()?;
        let mut frame = Vec::with_capacity(FRAME_HEAD + self.payload.len());
        let framed = wire::frame_with(&mut frame, FrameKind::Call, id, |buf| {
            buf.extend_from_slice(&self.payload);
            Ok(())
        });
        if let Err(e) = framed {
            pending.fail(e);
            return None;
        }
        Some(Call {
            frame,
            pending,
            started: false,
            timeout: self.time_limit,
        })
    }
}

impl Drop for EncodedCall {
    /// Unanswered: cancelled if it had not started (a started one's future is abandoned).
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.cancel();
        }
    }
}

impl std::fmt::Debug for EncodedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedCall")
            .field("name", &self.name)
            .field("bytes", &self.payload.len())
            .field("answered", &self.pending.is_none())
            .finish()
    }
}

/// The top bit of a call id: the worker exits after replying to this call.
pub(crate) const LAST: u64 = 1 << 63;

/// The second bit of a call id: the worker replies on the direct line.
pub(crate) const DIRECT: u64 = 1 << 62;

/// The bits of a call id that are not the id.
pub(crate) const FLAGS: u64 = LAST | DIRECT;

impl Call {
    /// Encodes `work` as call `id`, with the future its reply completes.
    ///
    /// # Errors
    /// [`Error::Encode`] if the argument does not serialize.
    pub(crate) fn new<W: Remote + 'static>(work: W, id: u64) -> Result<(Call, Future<W::Output>)> {
        let mut frame = Vec::new();
        work.encode(id, &mut frame)?;
        let (pending, future) = PendingCall::pair(W::decode);
        Ok((
            Call {
                frame,
                pending,
                started: false,
                timeout: None,
            },
            future,
        ))
    }

    /// The call id (without the flag bits).
    pub(crate) fn id(&self) -> u64 {
        u64::from_le_bytes(self.frame[6..14].try_into().expect("a call frame")) & !FLAGS
    }

    /// Whether the reply comes on the worker's direct line.
    pub(crate) fn is_direct(&self) -> bool {
        self.frame[13] & 0x40 != 0
    }

    /// Asks for the reply on the worker's direct line.
    pub(crate) fn mark_direct(&mut self) {
        self.frame[13] |= 0x40;
    }

    /// Marks this call as its worker's last.
    pub(crate) fn mark_last(&mut self) {
        self.frame[13] |= 0x80;
    }

    /// Clears [`mark_last`](Call::mark_last) and [`mark_direct`](Call::mark_direct), for a
    /// call sent again to another worker.
    pub(crate) fn unmark_last(&mut self) {
        self.frame[13] &= 0x3f;
    }
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call").field("id", &self.id()).finish()
    }
}
