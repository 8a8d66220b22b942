//! ravelin's core: pure Rust engines for guarding AI APIs. Only `python` touches pyo3.

pub mod budget;
pub mod error;
pub mod injection;
pub mod inspect;
pub mod keys;
pub mod normalize;
pub mod pii;
pub mod ratelimit;
#[cfg(target_arch = "x86_64")]
mod simd;
pub mod text;
pub mod tokens;
pub mod usage;

mod python;

pub use error::{CoreError, ErrorKind};
