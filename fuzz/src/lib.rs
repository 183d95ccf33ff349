//! The harness behind the fuzz targets in `fuzz_targets/`: what each
//! asserts about a decoder (`checks`), the allocation counter that bounds
//! its memory (`alloc`), the `#[procedure]`s whose generated handlers are
//! fuzzed (`procedures`), a loopback peer for the full request path
//! (`remote`) and seed inputs (`seeds`). See README.md.

pub mod alloc;
pub mod checks;
pub mod procedures;
pub mod remote;
pub mod seeds;
