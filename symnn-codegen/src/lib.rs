//! The symbolic engine behind symnn's `network!` macro.
//!
//! ```text
//! tokens ─parse─▶ ast::Network ─check─▶ (valid) ─lower─▶ Program { Graph, ... }
//!        ─diff::gradient─▶ same Graph + adjoint nodes ─schedule─▶ instruction lists ─emit─▶ Rust
//! ```
//!
//! Simplification is not a separate pass: every node goes through the rewrite rules of
//! [`simplify`] as it is created ([`graph::Graph::insert`]), so the forward pass, the
//! derivative and their shared subexpressions are simplified and hash-consed alike.
//! The derivative is built in the same graph, so it reuses forward nodes (σ' = σ(1−σ)
//! mentions the σ node itself) and never expands into trees. See `docs/DESIGN.md`.

#![warn(missing_docs)]

pub mod ast;
pub mod builtins;
pub mod check;
pub mod derivation;
pub mod diff;
pub mod emit;
pub mod graph;
pub mod lower;
pub mod resolved;
pub mod schedule;
pub mod shape;
pub mod simplify;

use proc_macro2::TokenStream;

/// Expands one `network!` invocation: the generated items, or `compile_error!`s.
pub fn expand(input: TokenStream) -> TokenStream {
    try_expand(input).unwrap_or_else(syn::Error::into_compile_error)
}

/// Runs every stage up to (not including) emission: parse, check, lower, differentiate.
pub fn derive(input: TokenStream) -> syn::Result<(ast::Network, emit::Derived)> {
    let network = ast::parse(input)?;
    let program = check::check(&network)?;
    let mut program = lower::lower(&network, program.float)?;
    let params = program.param_nodes();
    let grads = diff::gradient(&mut program.graph, program.loss, &params);
    let derivation = derivation::render(&network.name.to_string(), &program, &grads);
    Ok((
        network,
        emit::Derived {
            program,
            grads,
            derivation,
        },
    ))
}

fn try_expand(input: TokenStream) -> syn::Result<TokenStream> {
    let (network, derived) = derive(input)?;
    Ok(emit::emit(&network, &derived))
}
