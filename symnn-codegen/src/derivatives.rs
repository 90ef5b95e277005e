//! The derivative methods of SPEC §5.3 (`input_jacobian`, `input_gradient`, `hvp`,
//! `param_jacobian`) as nodes of the lowered program's graph, built from its loss
//! gradient with [`crate::diff`]'s reverse mode. (A stage between `diff` and `emit`:
//! it reads the lowered program, so it is not part of `diff`, which `lower` uses.)

use crate::diff::{param_gradient, wrt_leaves, LossGradient, ParamSplit};
use crate::graph::{Graph, Node, NodeId};
use crate::tensor::TensorOp;

/// The nodes of the derivative methods of SPEC §5.3 (`input_jacobian`,
/// `input_gradient`, `hvp`, `param_jacobian`).
#[derive(Debug)]
pub struct DerivativeMethods {
    /// `∂output_o/∂input_i`, row-major `O × I`.
    pub input_jacobian: Vec<NodeId>,
    /// `∂L/∂input`.
    pub input_gradient: Vec<NodeId>,
    /// `(∂²L/∂θ²)·v`, split like the gradient; `v[k]` is read as `Input(I + k)`.
    pub hvp: ParamSplit,
    /// Per output `o`: `∂output_o/∂θ`, split like the gradient.
    pub param_jacobian: Vec<ParamSplit>,
}

/// Builds the derivative methods' nodes in the program's graph, from the loss
/// gradient and the parameter leaves it was taken with respect to; `None` for a program
/// whose output or loss contains `diff`/`laplacian` (that would need one more
/// derivative order, and SPEC §5.3 allows leaving the methods out).
///
/// `hvp` is reverse-over-reverse on the same graph: the gradient of `s = ∇L · v` (v a
/// new leaf vector) is `H·v`, exact and symmetric, simplified and CSE'd with the
/// gradient it reuses. A weight gradient `δ·xᵀ` enters `s` as `δᵀ·(V·x)`, never
/// materialised.
pub fn derivative_methods(
    program: &mut crate::lower::Lowered,
    gradient: &LossGradient,
) -> Option<DerivativeMethods> {
    use crate::tensor::LeafKind;
    if program.has_diff || !program.rolled.is_empty() {
        return None;
    }
    let LossGradient {
        grads,
        group_grads,
        params,
        groups,
    } = gradient;
    let (num_inputs, loss) = (program.num_inputs(), program.loss);
    let slots: Vec<(usize, crate::shape::Shape)> =
        program.params.iter().map(|s| (s.offset, s.shape)).collect();
    let outputs = program.output.elems.clone();
    let g = &mut program.graph;
    let inputs: Vec<NodeId> = (0..num_inputs)
        .map(|k| g.insert(Node::Input(u32::try_from(k).expect("bounded sizes"))))
        .collect();
    let input_jacobian = outputs
        .iter()
        .flat_map(|&o| wrt_leaves(g, o, &inputs))
        .collect();
    let input_gradient = wrt_leaves(g, loss, &inputs);

    let v = |g: &mut Graph, k: usize| {
        g.insert(Node::Input(
            u32::try_from(num_inputs + k).expect("bounded sizes"),
        ))
    };
    let mut terms = Vec::new();
    for (k, &d) in grads.iter().enumerate() {
        if g.as_const(d) != Some(0.0) {
            let vk = v(g, k);
            terms.push(g.mul(d, vk));
        }
    }
    for &(group, adjoint) in group_grads {
        let (offset, shape) = slots[group];
        let vg = g.leaf_tensor(LeafKind::Input, num_inputs + offset, shape);
        let product = g.insert(Node::Lane(0));
        let lane1 = g.lane(1);
        let product = g.mul(product, lane1);
        let outer = match g.tensor_node(adjoint).map(|t| t.op.clone()) {
            Some(TensorOp::MatMul {
                a,
                b,
                ta: false,
                tb: true,
            }) if matches!(g.shape_of(a), crate::shape::Shape::Vector(_))
                && matches!(g.shape_of(b), crate::shape::Shape::Vector(_)) =>
            {
                Some((a, b))
            }
            _ => None,
        };
        let term = match outer {
            // Σᵢⱼ aᵢ bⱼ Vᵢⱼ = aᵀ·(V·b)
            Some((a, b)) => {
                let vb = g.matmul(vg, b, false, false);
                let m = g.map(g.shape_of(a), product, vec![a, vb]);
                g.sum_all(m)
            }
            None => {
                let m = g.map(shape, product, vec![adjoint, vg]);
                g.sum_all(m)
            }
        };
        terms.push(term);
    }
    let s = g.sum(terms);
    let hvp = param_gradient(g, s, params, groups);
    let param_jacobian = outputs
        .iter()
        .map(|&o| param_gradient(g, o, params, groups))
        .collect();
    Some(DerivativeMethods {
        input_jacobian,
        input_gradient,
        hvp,
        param_jacobian,
    })
}
