//! # symnn
//!
//! Train small neural networks with zero interpretation overhead. Write the network as a
//! few lines of DSL inside [`network!`]; at compile time the macro differentiates the
//! loss symbolically (reverse mode over a hash-consed expression DAG), simplifies it,
//! eliminates common subexpressions and emits plain straight-line Rust for `forward`,
//! `loss`, `gradient` and a fused `sgd_step`.
//!
//! ```
//! use symnn::network;
//!
//! network! {
//!     /// XOR with one hidden layer.
//!     pub struct Xor {
//!         input x[2];
//!         target t[1];
//!         let h = dense(x, 4, tanh);
//!         output y = dense(h, 1, sigmoid);
//!         loss = bce(y, t);
//!     }
//! }
//!
//! let mut net = Xor::new();
//! let data = [([0.0, 0.0], [0.0]), ([0.0, 1.0], [1.0]), ([1.0, 0.0], [1.0]), ([1.0, 1.0], [0.0])];
//! for _ in 0..2000 {
//!     for (x, t) in &data {
//!         net.sgd_step(x, t, 0.5);
//!     }
//! }
//! assert!(net.forward(&[0.0, 1.0])[0] > 0.5);
//! println!("{}", Xor::derivation());
//! ```
//!
//! The DSL and the generated API are described in `docs/DSL.md`, the engine in
//! `docs/DESIGN.md`, and the training runtime (optimizers, [`Trainer`], data, metrics,
//! checkpoints, plots) in `docs/RUNTIME.md`.
//!
//! Without the default `std` feature the crate is `#![no_std]`: generated networks
//! and the runtime's core (`Model`, `Float` via the `libm` feature, `init`, the
//! optimizers, `math`) need neither std nor an allocator; see `docs/EMBEDDED.md`.
#![no_std]
#![warn(missing_docs)]

// Lets the crate's own unit tests and doctests name `::symnn` like users do.
extern crate self as symnn;

pub use symnn_macros::network;
pub use symnn_runtime::*;

/// Support for generated code. Not public API: may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use symnn_runtime::__private::*;
}

/// The README's code blocks are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
