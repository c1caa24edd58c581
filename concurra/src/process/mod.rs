//! The process engine (under construction): `Process` and `ProcessPoolExecutor` will run plain
//! functions in worker processes started from this same executable.
//!
//! Built so far: [`wire`], the framing and encoding of every value that crosses between a
//! parent and its workers.

pub mod wire;
