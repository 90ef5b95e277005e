//! The symbolic engine behind symnn's `network!` macro.
//!
//! ```text
//! tokens ─ast::parse─▶ ast::Network ─check::check─▶ resolved::Program ─lower::lower─▶ lower::Lowered
//!        ─diff::gradient─▶ same Graph + adjoint nodes ─emit::emit─▶ Rust
//!                                                   └─derivation::Derivation─▶ derivation() text,
//!                                                        derivation_latex(), graph_dot(), rustdoc formulas
//! ```
//!
//! This file is the only place where the stages meet ([`derive`]). Every user-facing
//! rule lives in [`check`], which reports all mistakes at once and hands over a
//! [`resolved::Program`] (names as ids, shapes, evaluated loops, laid-out parameters);
//! from there on nothing can fail.
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
pub mod tensor;

use proc_macro2::TokenStream;

/// Expands one `network!` invocation: the generated items, or `compile_error!`s.
pub fn expand(input: TokenStream) -> TokenStream {
    try_expand(input).unwrap_or_else(syn::Error::into_compile_error)
}

/// Runs every stage up to (not including) emission: parse, check, lower, differentiate.
pub fn derive(input: TokenStream) -> syn::Result<(ast::Network, emit::Derived)> {
    let network = ast::parse(input)?;
    let resolved = check::check(&network)?;
    let mut program = lower::lower(&resolved);
    // The scalar parameters the graph reads, then the groups read as whole tensors.
    let params = program.param_nodes();
    let mut wrt: Vec<graph::NodeId> = params.iter().flatten().copied().collect();
    let scalars = wrt.len();
    let groups = program.param_tensors();
    wrt.extend(groups.iter().map(|&(_, leaf)| leaf));
    let mut found = diff::gradient(&mut program.graph, program.loss, &wrt);
    let group_part = found.split_off(scalars);
    let zero = program.graph.constant(0.0);
    let mut found = found.into_iter();
    let grads: Vec<graph::NodeId> = params
        .iter()
        .map(|p| match p {
            Some(_) => found.next().unwrap_or(zero),
            None => zero,
        })
        .collect();
    let group_grads: Vec<(usize, graph::NodeId)> = groups
        .iter()
        .zip(group_part)
        .filter(|&(_, adjoint)| program.graph.as_const(adjoint) != Some(0.0))
        .map(|(&(group, _), adjoint)| (group, adjoint))
        .collect();
    let plan =
        derivation::Derivation::new(&network.name.to_string(), &program, &grads, &group_grads);
    let (derivation, derivation_latex, graph_dot, docs) = plan.all();
    Ok((
        network,
        emit::Derived {
            program,
            grads,
            group_grads,
            derivation,
            derivation_latex,
            graph_dot,
            docs,
        },
    ))
}

fn try_expand(input: TokenStream) -> syn::Result<TokenStream> {
    let (network, derived) = derive(input)?;
    Ok(emit::emit(&network, &derived))
}
