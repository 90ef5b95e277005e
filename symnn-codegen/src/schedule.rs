//! Schedule + CSE + dead-code elimination: turn the DAG into a flat instruction list.
//!
//! CSE is already done by hash-consing (an expression that occurs twice is one node),
//! so scheduling is: keep the nodes some root needs, in id order (a topological order),
//! each exactly once. Leaves (inputs, targets, params, constants) are operands, not
//! instructions, and a stop-gradient is an alias of its operand.

use crate::graph::{Func, Graph, Node, NodeId};

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
        | Node::StopGradient(_) => (0, 0),
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

/// Total `(operations, calls)` of a schedule.
pub fn cost(g: &Graph, instructions: &[NodeId]) -> (usize, usize) {
    instructions
        .iter()
        .map(|&id| node_cost(g.node(id)))
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
}
