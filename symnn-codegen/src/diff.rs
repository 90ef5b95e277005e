//! Reverse-mode differentiation on the DAG.
//!
//! Like micrograd's `backward()`, but every adjoint is itself a node of the same graph:
//! one adjoint per node, accumulated while walking the nodes in reverse id order
//! (children always have smaller ids, so that is a reverse topological order). Each
//! derivative rule below reads like the textbook chain rule and mentions forward nodes
//! by id — σ' = σ(1−σ) uses the σ node itself — so the derivative shares all of the
//! forward computation and nothing is ever expanded into a tree.

use crate::graph::{Func, Graph, Node, NodeId};

/// `d output / d wrt[k]` for every `k`, as nodes of `g` (a constant 0 where `output`
/// does not depend on `wrt[k]`).
pub fn gradient(g: &mut Graph, output: NodeId, wrt: &[NodeId]) -> Vec<NodeId> {
    let n = output.index() + 1;
    // Only nodes that depend on some `wrt` need an adjoint; skipping the rest keeps
    // input-only subexpressions out of the derivative.
    let mut depends = vec![false; n];
    for w in wrt {
        if w.index() < n {
            depends[w.index()] = true;
        }
    }
    for (id, node) in g.iter().take(n) {
        if node.children().any(|c| depends[c.index()]) {
            depends[id.index()] = true;
        }
    }

    let mut adjoint: Vec<Option<NodeId>> = vec![None; n];
    adjoint[output.index()] = Some(g.constant(1.0));
    for i in (0..n).rev() {
        let Some(adj) = adjoint[i] else { continue };
        let id = NodeId::from_index(i);
        for (child, contribution) in local_adjoints(g, id, adj) {
            if !depends[child.index()] {
                continue;
            }
            let slot = &mut adjoint[child.index()];
            *slot = Some(match *slot {
                Some(prev) => g.add(prev, contribution),
                None => contribution,
            });
        }
    }
    wrt.iter()
        .map(|w| {
            adjoint
                .get(w.index())
                .copied()
                .flatten()
                .unwrap_or_else(|| g.constant(0.0))
        })
        .collect()
}

/// The chain-rule piece of one node: for each operand `c`, `adj * d(node)/dc`.
fn local_adjoints(g: &mut Graph, id: NodeId, adj: NodeId) -> Vec<(NodeId, NodeId)> {
    let zero = g.constant(0.0);
    match g.node(id) {
        Node::Const(_)
        | Node::Input(_)
        | Node::Target(_)
        | Node::Param(_)
        | Node::StopGradient(_) => vec![],
        Node::Neg(a) => vec![(a, g.neg(adj))],
        Node::Add(a, b) => vec![(a, adj), (b, adj)],
        Node::Sub(a, b) => vec![(a, adj), (b, g.neg(adj))],
        Node::Mul(a, b) => vec![(a, g.mul(adj, b)), (b, g.mul(adj, a))],
        Node::Div(a, b) => {
            // d(a/b) = da/b - (a/b) db/b: both share adj/b.
            let q = g.div(adj, b);
            let qv = g.mul(q, id);
            vec![(a, q), (b, g.neg(qv))]
        }
        Node::Call(f, a) => {
            let d = match f {
                Func::Exp => g.mul(adj, id),
                Func::Ln => g.div(adj, a),
                Func::Sqrt => {
                    let half = g.scale(0.5, adj);
                    g.div(half, id)
                }
                Func::Abs => {
                    let minus = g.neg(adj);
                    let negative = g.insert(Node::IfGt(zero, a, minus, zero));
                    g.insert(Node::IfGt(a, zero, adj, negative))
                }
                Func::Sin => {
                    let c = g.call(Func::Cos, a);
                    g.mul(adj, c)
                }
                Func::Cos => {
                    let s = g.call(Func::Sin, a);
                    let m = g.mul(adj, s);
                    g.neg(m)
                }
                Func::Tanh => {
                    let t2 = g.mul(id, id);
                    let d = g.rsub(1.0, t2);
                    g.mul(adj, d)
                }
                Func::Sigmoid => {
                    let one_minus = g.rsub(1.0, id);
                    let d = g.mul(id, one_minus);
                    g.mul(adj, d)
                }
                Func::Relu => g.insert(Node::IfGt(a, zero, adj, zero)),
                Func::Softplus => {
                    let s = g.call(Func::Sigmoid, a);
                    g.mul(adj, s)
                }
            };
            vec![(a, d)]
        }
        Node::Powi(a, k) => {
            // (`k - 1` cannot overflow: the check stage rejects `k = i32::MIN`.)
            let lower = g.insert(Node::Powi(a, k - 1));
            let d = g.scale(f64::from(k), lower);
            vec![(a, g.mul(adj, d))]
        }
        Node::Pow(a, b) => {
            // d(a^b) = b a^(b-1) da + a^b ln(a) db
            let one = g.constant(1.0);
            let bm1 = g.sub(b, one);
            let lower = g.insert(Node::Pow(a, bm1));
            let da = g.mul(b, lower);
            let ln_a = g.call(Func::Ln, a);
            let db = g.mul(id, ln_a);
            vec![(a, g.mul(adj, da)), (b, g.mul(adj, db))]
        }
        // max(a, b) passes the gradient to `a` on ties; min(a, b) likewise.
        Node::Max(a, b) => vec![
            (a, g.insert(Node::IfGe(a, b, adj, zero))),
            (b, g.insert(Node::IfGe(a, b, zero, adj))),
        ],
        Node::Min(a, b) => vec![
            (a, g.insert(Node::IfGe(b, a, adj, zero))),
            (b, g.insert(Node::IfGe(b, a, zero, adj))),
        ],
        Node::IfGt(p, q, t, e) => vec![
            (t, g.insert(Node::IfGt(p, q, adj, zero))),
            (e, g.insert(Node::IfGt(p, q, zero, adj))),
        ],
        Node::IfGe(p, q, t, e) => vec![
            (t, g.insert(Node::IfGe(p, q, adj, zero))),
            (e, g.insert(Node::IfGe(p, q, zero, adj))),
        ],
        // The condition is data (a class index): no derivative flows into `p` or `q`.
        Node::IfEq(p, q, t, e) => vec![
            (t, g.insert(Node::IfEq(p, q, adj, zero))),
            (e, g.insert(Node::IfEq(p, q, zero, adj))),
        ],
    }
}
