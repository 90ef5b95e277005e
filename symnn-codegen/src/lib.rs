//! The symbolic engine behind symnn's `network!` macro.
//!
//! ```text
//! tokens ─ast::parse─▶ ast::Network ─check::check─▶ resolved::Program ─lower::lower─▶ lower::Lowered
//!        ─diff::loss_gradient─▶ same Graph + adjoint nodes ─emit::emit─▶ Rust
//!        ─derivatives::derivative_methods─▶ + input_jacobian, input_gradient, hvp, param_jacobian
//!                                                   └─derivation::Derivation─▶ derivation() text,
//!                                                        derivation_latex(), graph_dot(), rustdoc formulas
//! ```
//!
//! This file is the only place where the stages meet ([`derive()`]). Every user-facing
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
pub mod bptt;
pub mod builtins;
pub mod check;
pub mod derivation;
pub mod derivatives;
pub mod diff;
pub mod emit;
pub mod graph;
pub mod loops;
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

/// Runs every stage up to (not including) emission: parse, check, lower, differentiate,
/// derivation, derivative methods.
pub fn derive(input: TokenStream) -> syn::Result<(ast::Network, emit::Derived)> {
    let network = ast::parse(input)?;
    let resolved = check::check(&network)?;
    let mut program = lower::lower(&resolved);
    // `to_onnx` reads the forward pass with every array operation a tensor node, and
    // every loop unrolled: left out when rolled loops would unroll too far.
    let onnx = (program.unrolled_size() <= emit::ONNX_UNROLLED_LIMIT)
        .then(|| lower::lower_at(&resolved, 0));
    // Loops emitted as Rust loops: each iteration's reverse pass, and the program's
    // gradient around them (that of `L + Σ seed · arg`, see `bptt`).
    let rolled = bptt::differentiate(&mut program);
    let root = rolled.as_ref().map_or(program.loss, |r| r.total);
    let gradient = diff::loss_gradient(&mut program.graph, root, &program.params);
    // (The derivation is planned before the derivative methods add their nodes: it
    // reads sharing from the whole graph, and must not change for them.)
    let plan = derivation::Derivation::new(
        &network.name.to_string(),
        &program,
        &gradient.grads,
        &gradient.group_grads,
    );
    // The derivation is a view: `dense` layers and large products print as matrix
    // formulas even where the code scalarises them, from a second lowering used only
    // for printing (made only when it differs, `lower::lower_matrix_view`).
    let matrix_view = resolved.derivation == resolved::DerivationView::Matrix
        && program.matrix_view_differs
        && program.rolled.is_empty();
    let (mut derivation, derivation_latex, graph_dot, docs) = if matrix_view {
        derivation::matrix_view(&network.name.to_string(), &resolved)
    } else {
        plan.all()
    };
    if let Some(rolled) = &rolled {
        derivation.push_str(&derivation::rolled_loops(
            &network.name.to_string(),
            &program,
            rolled,
        ));
    }
    let block = block_lowering(&resolved, &program);
    let derivatives = derivatives::derivative_methods(&mut program, &gradient);
    let diff::LossGradient {
        grads, group_grads, ..
    } = gradient;
    Ok((
        network,
        emit::Derived {
            header: resolved.header,
            program,
            grads,
            group_grads,
            derivation,
            derivation_latex,
            graph_dot,
            docs,
            derivatives,
            onnx,
            rolled,
            block,
        },
    ))
}

/// The batch gradient's own lowering, with every array operation a tensor node
/// (threshold 0), for a program that has tensor nodes (so its batch code is the block
/// tier) and no rolled loops. A block mixing scalarised layers (`Lanes` across the
/// block) with tensor ones transposes between the two at every boundary and reduces
/// each scalarised parameter's lanes one by one; all tensors, a small layer is one
/// more matrix product (4-32-16-4: 2.4 → 1.1 ms a step, docs/PERFORMANCE.md, "Small
/// MLP"). The batch methods fall back to the program's own lowering where the block
/// target refuses this one.
fn block_lowering(
    resolved: &resolved::Program,
    program: &lower::Lowered,
) -> Option<Box<emit::Derived>> {
    let g = &program.graph;
    let tensor = g.iter().any(|(id, _)| g.is_tensor(id));
    if !tensor || resolved.tensor_threshold == 0 || !program.rolled.is_empty() {
        return None;
    }
    let mut block = lower::lower_at(resolved, 0);
    if !block.rolled.is_empty() {
        return None;
    }
    let diff::LossGradient {
        grads, group_grads, ..
    } = diff::loss_gradient(&mut block.graph, block.loss, &block.params);
    Some(Box::new(emit::Derived {
        header: resolved.header.clone(),
        program: block,
        grads,
        group_grads,
        derivation: String::new(),
        derivation_latex: String::new(),
        graph_dot: String::new(),
        docs: derivation::Docs::default(),
        derivatives: None,
        onnx: None,
        rolled: None,
        block: None,
    }))
}

fn try_expand(input: TokenStream) -> syn::Result<TokenStream> {
    let (_, derived) = derive(input)?;
    Ok(emit::emit(&derived))
}
