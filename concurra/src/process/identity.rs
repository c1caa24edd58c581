//! Function identity: how a worker finds the function a parent asked for, without a registry.
//!
//! A worker is the parent's own executable started again, so every function sits at the same
//! distance from any fixed function of the binary in both processes (address-space layout
//! randomisation moves the whole image, never one function against another). A call names
//! its function by that distance:
//!
//! 1. The parent instantiates [`trampoline::<F, A, T>`](trampoline) for the submitted
//!    function's type `F` and takes its address relative to [`base`], this module's anchor.
//! 2. The worker adds the distance to its own [`base`] and calls the trampoline there.
//! 3. The trampoline decodes `A`, calls `F` (conjured: see below), and encodes `T` or the panic.
//!
//! Two checks make step 2 sound. The handshake proves that the worker runs the very file the
//! parent runs (`sys::exe_fingerprint`, compared on both sides before any call), so the
//! distance leads to the same trampoline. And only distances computed by [`Entry::of`] travel:
//! the lines are private pipes between the two processes, handed over on a private socket pair.
//!
//! `F` must be a zero-sized `Copy` type: a `fn` item or a closure that captures nothing. The
//! worker cannot receive an `F` (code does not cross processes), so it makes one from no bytes,
//! which is a copy of the parent's value since a zero-sized value has no bytes to differ in.
//! A function pointer or a capturing closure is refused at compile time.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::unwind;

/// The identity of the running build, the same on every machine that runs a copy of this
/// executable and different for any other build: `elf-<hex>`, the GNU build-id note the
/// linker wrote into the file (a hash of the linked output; Debian's and most distributions'
/// toolchains write one by default), or `hash-<size>-<hex>`, a 128-bit hash of the file's
/// bytes when it has no such note (macOS, or a linker run with `--build-id=none`).
///
/// Why the build id first: it is a few hundred bytes of the file's headers, read in
/// microseconds, where hashing a debug build (tens of megabytes) costs tens of milliseconds
/// at every start of every process; both are fixed by the bytes of the build, unlike the
/// local engine's fingerprint (device, inode, size, time), which differs between machines.
/// Read once per process and cached. Remote engines route calls by it (a function's
/// identity, its offset in the build, means something only within one build).
///
/// ```
/// let id = concurra::build_id().unwrap();
/// assert!(id.starts_with("elf-") || id.starts_with("hash-"));
/// assert_eq!(id, concurra::build_id().unwrap());
/// ```
///
/// # Errors
/// [`Error::Io`](crate::Error::Io) if the executable cannot be read.
pub fn build_id() -> crate::Result<&'static str> {
    crate::sys::exe_build_id()
        .map_err(|e| crate::Error::io("cannot read this executable's build id", e))
}

/// The signature of every trampoline: arguments in, encoded outcome appended to `out`; true if
/// the function returned (false: it panicked or its argument did not decode).
pub(crate) type Trampoline = fn(args: &[u8], out: &mut Vec<u8>) -> bool;

/// What a worker sends back for one call.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome<T> {
    /// The function returned this value.
    Value(T),
    /// The function panicked.
    Panicked {
        /// The panic message.
        message: String,
        /// Where it panicked, when known.
        location: Option<String>,
    },
    /// The arguments did not decode in the worker.
    Decode(String),
    /// The value did not encode in the worker.
    Encode(String),
}

/// The anchor every distance is measured from.
#[inline(never)]
fn base(_: &[u8], _: &mut Vec<u8>) -> bool {
    false
}

/// A function's identity on the wire: its trampoline's distance from [`base`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry(u64);

impl Entry {
    /// The entry for calling `F` on an `A`, giving a `T`.
    pub(crate) fn of<F, A, T>(_: F) -> Entry
    where
        F: Fn(A) -> T + Copy + 'static,
        A: DeserializeOwned,
        T: Serialize,
    {
        const { assert_zero_sized::<F>() };
        let target = trampoline::<F, A, T> as Trampoline as usize;
        Entry((target as u64).wrapping_sub(base as Trampoline as usize as u64))
    }

    /// The trampoline this entry names, in this process.
    ///
    /// Only call it for an entry made by [`Entry::of`] in a process running the same
    /// executable file (the handshake checks this).
    pub(crate) fn resolve(self) -> Trampoline {
        let address = (base as Trampoline as usize as u64).wrapping_add(self.0) as usize;
        // The `as usize` casts in `of` exposed the trampolines' provenance; take it back.
        let pointer = std::ptr::with_exposed_provenance::<()>(address);
        // SAFETY: `Entry` values are only made by `Entry::of`, as the distance between `base`
        // and a `Trampoline` of this executable, and they reach a worker only after the
        // handshake proved it runs the same file. Both processes load the image as a whole,
        // so `base + distance` is the address of that same trampoline here, and a function
        // pointer of the same signature is exactly what lives there.
        #[allow(unsafe_code)]
        unsafe {
            std::mem::transmute::<*const (), Trampoline>(pointer)
        }
    }
}

/// Fails to compile for a type with a size: a function pointer or a capturing closure.
const fn assert_zero_sized<F>() {
    assert!(
        std::mem::size_of::<F>() == 0,
        "a process task must be a fn item or a closure that captures nothing \
         (not a fn pointer, not a capturing closure): its code cannot cross processes. \
         Pass what the closure captured as an argument, `Apply(f, arg)`, or run closures \
         on a thread engine (ThreadPoolExecutor, ThreadPool, Thread)"
    );
}

/// Makes the value of a zero-sized `Copy` type.
fn conjure<F: Copy>() -> F {
    const { assert_zero_sized::<F>() };
    // SAFETY: `F` has no bytes (checked at compile time above), so "all bytes zero" is no
    // bytes at all. It is `Copy`, so making another one duplicates no ownership: the
    // parent holds one and could copy it freely. The types that reach here are `fn` items and
    // closures that capture nothing, both inhabited, with no invariant on their (empty) bytes.
    #[allow(unsafe_code)]
    unsafe {
        std::mem::zeroed::<F>()
    }
}

/// Decodes an `A`, calls `F` on it (a panic is caught) and appends the encoded outcome.
pub(crate) fn trampoline<F, A, T>(args: &[u8], out: &mut Vec<u8>) -> bool
where
    F: Fn(A) -> T + Copy + 'static,
    A: DeserializeOwned,
    T: Serialize,
{
    let outcome = match postcard::from_bytes::<A>(args) {
        Err(e) => Outcome::Decode(format!("the argument of {}: {e}", name::<F>())),
        Ok(arg) => {
            let f = conjure::<F>();
            match unwind::catch(move || f(arg)) {
                Ok(value) => Outcome::Value(value),
                Err(crate::Error::Panicked { message, location }) => {
                    Outcome::Panicked { message, location }
                }
                Err(other) => Outcome::Panicked {
                    message: other.to_string(),
                    location: None,
                },
            }
        }
    };
    let returned = matches!(outcome, Outcome::Value(_));
    encode_outcome::<F, T>(&outcome, out);
    returned
}

/// Appends `outcome`, or an `Encode` outcome if the value does not serialize.
fn encode_outcome<F, T: Serialize>(outcome: &Outcome<T>, out: &mut Vec<u8>) {
    let start = out.len();
    if let Err(e) = super::wire::append(outcome, out) {
        out.truncate(start);
        let failed: Outcome<()> =
            Outcome::Encode(format!("the value returned by {}: {e}", name::<F>()));
        super::wire::append(&failed, out).expect("a string always encodes");
    }
}

/// The function's name for messages.
pub(crate) fn name<F>() -> &'static str {
    std::any::type_name::<F>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u32) -> u32 {
        x * 2
    }

    fn call<T: DeserializeOwned>(entry: Entry, args: &[u8]) -> Outcome<T> {
        let mut out = Vec::new();
        entry.resolve()(args, &mut out);
        postcard::from_bytes(&out).unwrap()
    }

    #[test]
    fn an_entry_resolves_to_its_trampoline() {
        let entry = Entry::of::<_, u32, u32>(double);
        let args = postcard::to_allocvec(&21u32).unwrap();
        assert!(matches!(call::<u32>(entry, &args), Outcome::Value(42)));
    }

    #[test]
    fn closures_that_capture_nothing_cross() {
        let entry = Entry::of::<_, (u8, u8), u16>(|(a, b): (u8, u8)| u16::from(a) + u16::from(b));
        let args = postcard::to_allocvec(&(200u8, 100u8)).unwrap();
        assert!(matches!(call::<u16>(entry, &args), Outcome::Value(300)));
    }

    #[test]
    fn bad_arguments_are_a_decode_outcome() {
        let entry = Entry::of::<_, String, u32>(|s: String| s.len() as u32);
        assert!(matches!(call::<u32>(entry, &[0xff]), Outcome::Decode(_)));
    }

    #[test]
    fn a_panic_is_an_outcome() {
        let entry = Entry::of::<_, (), ()>(|()| panic!("boom"));
        let args = postcard::to_allocvec(&()).unwrap();
        match call::<()>(entry, &args) {
            Outcome::Panicked { message, .. } => assert_eq!(message, "boom"),
            other => panic!("{other:?}"),
        }
    }
}
