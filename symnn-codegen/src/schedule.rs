//! Schedule + CSE + dead-code elimination: turn the DAG into a flat instruction list.
//!
//! CSE is already done by hash-consing (an expression that occurs twice is one node),
//! so scheduling is: keep the nodes some root needs, in id order (a topological order),
//! each exactly once. Leaves (inputs, targets, params, constants) are operands, not
//! instructions, and a stop-gradient is an alias of its operand.

use crate::graph::{Func, Graph, Node, NodeId};
use crate::tensor::{rows_cols, TensorOp};

/// The instructions computing `roots`, in evaluation order.
pub fn schedule(g: &Graph, roots: &[NodeId]) -> Vec<NodeId> {
    let live = g.reachable(roots);
    g.iter()
        .filter(|(id, node)| {
            live[id.index()] && !node.is_leaf() && !matches!(node, Node::StopGradient(_))
        })
        .map(|(id, _)| id)
        .collect()
}

/// `(operations, function calls)` the emitted code spends on one node: arithmetic and
/// comparisons count one each, a libm call counts one op and one call.
pub fn node_cost(node: Node) -> (usize, usize) {
    match node {
        Node::Const(_)
        | Node::Input(_)
        | Node::Target(_)
        | Node::Param(_)
        | Node::StopGradient(_)
        | Node::Lane(_)
        | Node::Var(_)
        | Node::Elem(..)
        // (A tensor's cost depends on its definition: see `cost`.)
        | Node::Tensor(_) => (0, 0),
        Node::Neg(_)
        | Node::Add(..)
        | Node::Sub(..)
        | Node::Mul(..)
        | Node::Div(..)
        | Node::Max(..)
        | Node::Min(..)
        | Node::IfGt(..)
        | Node::IfGe(..)
        | Node::IfEq(..) => (1, 0),
        Node::Powi(..) | Node::Pow(..) => (1, 1),
        Node::Call(f, _) => match f {
            Func::Abs | Func::Relu => (1, 0),
            // 1 / (1 + exp(-x)): neg, exp, add, div.
            Func::Sigmoid => (4, 1),
            // max(x, 0) + ln_1p(exp(-|x|)): max, abs, neg, exp, ln_1p, add.
            Func::Softplus => (6, 2),
            Func::Exp | Func::Ln | Func::Sqrt | Func::Sin | Func::Cos | Func::Tanh => (1, 1),
        },
    }
}

/// Total `(operations, calls)` of a schedule. A tensor node counts what its loops
/// do: `2·m·k·p` for a product, its kernel's cost per element for a map, one add
/// per element for a sum.
pub fn cost(g: &Graph, instructions: &[NodeId]) -> (usize, usize) {
    instructions
        .iter()
        .map(|&id| tensor_cost(g, id).unwrap_or_else(|| node_cost(g.node(id))))
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
}

fn tensor_cost(g: &Graph, id: NodeId) -> Option<(usize, usize)> {
    let def = g.tensor_node(id)?;
    let len = def.shape.len();
    Some(match &def.op {
        TensorOp::MatMul { a, ta, .. } => {
            let (r, c) = rows_cols(g.shape_of(*a));
            let inner = if *ta { r } else { c };
            (2 * len * inner, 0)
        }
        TensorOp::Map { kernel, .. } => {
            let nodes = schedule(g, &[*kernel]);
            let (ops, calls) = cost(g, &nodes);
            (ops * len, calls * len)
        }
        TensorOp::Sum(t) => (g.shape_of(*t).len(), 0),
        TensorOp::Leaf { .. } | TensorOp::Pack(_) | TensorOp::Transpose(_) => (0, 0),
    })
}
