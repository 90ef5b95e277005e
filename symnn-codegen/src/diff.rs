//! Reverse-mode differentiation on the DAG.
//!
//! The stage's entry is [`loss_gradient`] (the loss gradient the emitter writes);
//! [`gradient`] and [`wrt_leaves`] are the reverse mode itself, which `lower` also uses
//! for `diff`/`laplacian` in a program and `derivatives` for the derivative methods.
//!
//! Like micrograd's `backward()`, but every adjoint is itself a node of the same graph:
//! one adjoint per node, accumulated while walking the nodes in reverse id order
//! (children always have smaller ids, so that is a reverse topological order). Each
//! derivative rule below reads like the textbook chain rule and mentions forward nodes
//! by id — σ' = σ(1−σ) uses the σ node itself — so the derivative shares all of the
//! forward computation and nothing is ever expanded into a tree.
//!
//! Tensor nodes ([`crate::tensor`]) take part in the same walk: their adjoint is a
//! tensor node, collected from scalar code reading their elements and from the tensor
//! operations using them, and passed on by the matrix-calculus rules of
//! `tensor_local_adjoints` (`dL/dW = δ·xᵀ`, `dL/dx = Wᵀ·δ`, `δ = adj ⊙ f'`).

use std::collections::{BTreeMap, HashMap};

use crate::graph::{Func, Graph, LeafKind, Node, NodeId};
use crate::resolved::Slot;
use crate::tensor::TensorOp;

/// The loss gradient of a lowered program, split as the emitter writes it, with the
/// parameter leaves it was taken with respect to (the derivative methods differentiate
/// again with respect to the same leaves).
#[derive(Debug)]
pub struct LossGradient {
    /// `∂L/∂params[k]` for every parameter in storage order (its scalar part: 0 for
    /// the parameters of a group read as a whole tensor, unless also read one by one).
    pub grads: Vec<NodeId>,
    /// `(group index, tensor adjoint)` for the parameter groups read as whole tensors
    /// (groups whose adjoint is 0 left out).
    pub group_grads: Vec<(usize, NodeId)>,
    /// The parameter leaf nodes in storage order; `None` for a parameter the scalar
    /// code never reads (a group read only as a whole tensor).
    pub params: Vec<Option<NodeId>>,
    /// The parameter groups read as whole tensors: `(group index, leaf tensor node)`.
    pub groups: Vec<(usize, NodeId)>,
}

/// Stage 4, differentiate: `∂loss/∂θ` of a lowered program (its graph `g`, its `loss`
/// node and its parameter groups `params` in layout order), built in the same graph.
pub fn loss_gradient(g: &mut Graph, loss: NodeId, params: &[Slot]) -> LossGradient {
    let num_params = params.iter().map(|s| s.shape.len()).sum();
    let leaves: Vec<Option<NodeId>> = (0..num_params)
        .map(|k| {
            let k = u32::try_from(k).expect("the check stage bounds every array's size");
            g.find(Node::Param(k))
        })
        .collect();
    let groups: Vec<(usize, NodeId)> = g
        .iter()
        .filter_map(|(id, _)| match &g.tensor_node(id)?.op {
            TensorOp::Leaf {
                kind: LeafKind::Param,
                offset,
            } => params
                .iter()
                .position(|s| s.offset == *offset as usize && s.shape.len() == g.shape_of(id).len())
                .map(|group| (group, id)),
            _ => None,
        })
        .collect();
    let (grads, group_grads) = param_gradient(g, loss, &leaves, &groups);
    LossGradient {
        grads,
        group_grads,
        params: leaves,
        groups,
    }
}

/// `d output / d wrt[k]` for every `k`, as nodes of `g` (a constant 0 where `output`
/// does not depend on `wrt[k]`). A `wrt` that is a tensor node (a parameter group read
/// as a whole) gets its tensor adjoint.
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
    for i in 0..n {
        let id = NodeId::from_index(i);
        if g.children(id).iter().any(|c| depends[c.index()]) {
            depends[i] = true;
        }
    }

    let mut adjoints = Adjoints {
        scalar: vec![None; n],
        tensor: HashMap::new(),
        depends,
    };
    adjoints.scalar[output.index()] = Some(g.constant(1.0));
    for i in (0..n).rev() {
        let id = NodeId::from_index(i);
        if g.is_tensor(id) {
            let Some(adj) = adjoints.total_tensor(g, id) else {
                continue;
            };
            adjoints.scalar[i] = Some(adj);
            for (child, contribution) in tensor_local_adjoints(g, id, adj) {
                adjoints.add(g, child, contribution);
            }
            continue;
        }
        let Some(adj) = adjoints.scalar[i] else {
            continue;
        };
        if let Node::Elem(t, k) = g.node(id) {
            if adjoints.depends[t.index()] {
                let pending = adjoints.tensor.entry(t).or_default();
                let sum = match pending.elems.get(&k) {
                    Some(&prev) => g.add(prev, adj),
                    None => adj,
                };
                pending.elems.insert(k, sum);
            }
            continue;
        }
        for (child, contribution) in local_adjoints(g, id, adj) {
            adjoints.add(g, child, contribution);
        }
    }
    wrt.iter()
        .map(|w| {
            adjoints
                .scalar
                .get(w.index())
                .copied()
                .flatten()
                .unwrap_or_else(|| g.constant(0.0))
        })
        .collect()
}

/// `∂root/∂θ` for every parameter, split as the emitter writes it: one scalar per
/// parameter in storage order (`params[k]` is parameter `k`'s scalar leaf, `None` if
/// the graph never reads it one by one; 0 there), and a tensor adjoint per group read
/// as a whole tensor (`groups`: `(group index, leaf tensor)`; groups whose adjoint is 0
/// are left out).
pub fn param_gradient(
    g: &mut Graph,
    root: NodeId,
    params: &[Option<NodeId>],
    groups: &[(usize, NodeId)],
) -> ParamSplit {
    let mut wrt: Vec<NodeId> = params.iter().flatten().copied().collect();
    let scalars = wrt.len();
    wrt.extend(groups.iter().map(|&(_, leaf)| leaf));
    let mut found = gradient(g, root, &wrt);
    let group_part = found.split_off(scalars);
    let zero = g.constant(0.0);
    let mut found = found.into_iter();
    let grads = params
        .iter()
        .map(|p| match p {
            Some(_) => found.next().unwrap_or(zero),
            None => zero,
        })
        .collect();
    let group_grads = groups
        .iter()
        .zip(group_part)
        .filter(|&(_, adjoint)| g.as_const(adjoint) != Some(0.0))
        .map(|(&(group, _), adjoint)| (group, adjoint))
        .collect();
    (grads, group_grads)
}

/// `∂root/∂v` for each leaf `v` of `vars` (input or parameter leaves, or the
/// lowering's placeholders), by reverse mode: the scalar leaf's adjoint plus, where the
/// leaf is also read inside a whole-array leaf tensor, that tensor's adjoint element.
pub fn wrt_leaves(g: &mut Graph, root: NodeId, vars: &[NodeId]) -> Vec<NodeId> {
    let leaf = |node: Node| match node {
        Node::Input(k) => Some((LeafKind::Input, k)),
        Node::Param(k) => Some((LeafKind::Param, k)),
        _ => None,
    };
    let keys: Vec<Option<(LeafKind, u32)>> = vars.iter().map(|&v| leaf(g.node(v))).collect();
    // Leaf tensors (created before `root`) holding one of the variables.
    let mut covering: Vec<(NodeId, Vec<(usize, usize)>)> = Vec::new();
    for i in 0..=root.index() {
        let id = NodeId::from_index(i);
        let Some(def) = g.tensor_node(id) else {
            continue;
        };
        let TensorOp::Leaf { kind, offset } = def.op else {
            continue;
        };
        let len = u32::try_from(def.shape.len()).expect("bounded sizes");
        let hits: Vec<(usize, usize)> = keys
            .iter()
            .enumerate()
            .filter_map(|(j, key)| match key {
                Some((k, index)) if *k == kind && (offset..offset + len).contains(index) => {
                    Some((j, (*index - offset) as usize))
                }
                _ => None,
            })
            .collect();
        if !hits.is_empty() {
            covering.push((id, hits));
        }
    }
    let mut wrt: Vec<NodeId> = vars.to_vec();
    wrt.extend(covering.iter().map(|(t, _)| *t));
    let adjoints = gradient(g, root, &wrt);
    let mut result: Vec<NodeId> = adjoints[..vars.len()].to_vec();
    for ((_, hits), &adjoint) in covering.iter().zip(&adjoints[vars.len()..]) {
        if g.as_const(adjoint) == Some(0.0) {
            continue;
        }
        for &(j, k) in hits {
            let e = g.elem(adjoint, k);
            result[j] = g.add(result[j], e);
        }
    }
    result
}

/// A derivative with respect to the parameters, split as the emitter writes it: one
/// node per parameter, and `(group, tensor adjoint)` per group read as a whole.
pub type ParamSplit = (Vec<NodeId>, Vec<(usize, NodeId)>);

/// The adjoints accumulated so far.
struct Adjoints {
    /// A scalar node's adjoint; for a tensor node, once processed, its total adjoint.
    scalar: Vec<Option<NodeId>>,
    /// Contributions waiting for their tensor node (all its users come later in id
    /// order, so they are complete when the reverse walk reaches it).
    tensor: HashMap<NodeId, PendingTensor>,
    depends: Vec<bool>,
}

/// The contributions to one tensor's adjoint: single elements (from scalar code
/// reading `t[k]`) and whole tensors (from tensor operations using `t`).
#[derive(Default)]
struct PendingTensor {
    elems: BTreeMap<u32, NodeId>,
    tensors: Vec<NodeId>,
}

impl Adjoints {
    fn add(&mut self, g: &mut Graph, child: NodeId, contribution: NodeId) {
        if !self.depends[child.index()] {
            return;
        }
        if g.is_tensor(child) {
            self.tensor
                .entry(child)
                .or_default()
                .tensors
                .push(contribution);
            return;
        }
        let slot = &mut self.scalar[child.index()];
        *slot = Some(match *slot {
            Some(prev) => g.add(prev, contribution),
            None => contribution,
        });
    }

    /// The sum of every contribution to tensor `t`'s adjoint: element contributions
    /// packed (zeros elsewhere), whole-tensor ones added elementwise.
    fn total_tensor(&mut self, g: &mut Graph, t: NodeId) -> Option<NodeId> {
        let pending = self.tensor.remove(&t)?;
        let shape = g.shape_of(t);
        let mut parts = pending.tensors;
        if !pending.elems.is_empty() {
            let zero = g.constant(0.0);
            let mut items = vec![zero; shape.len()];
            for (k, v) in pending.elems {
                items[k as usize] = v;
            }
            parts.push(g.pack(shape, items));
        }
        let first = *parts.first()?;
        if parts.len() == 1 {
            return Some(first);
        }
        let lanes: Vec<NodeId> = (0..parts.len()).map(|j| g.lane(j)).collect();
        let kernel = g.sum(lanes);
        Some(g.map(shape, kernel, parts))
    }
}

/// The matrix-calculus rule of one tensor node: for each operand `c`, its share of
/// the adjoint `adj` (a tensor of the node's shape). See the table in
/// [`crate::tensor`].
fn tensor_local_adjoints(g: &mut Graph, id: NodeId, adj: NodeId) -> Vec<(NodeId, NodeId)> {
    let Some(def) = g.tensor_node(id).cloned() else {
        return Vec::new();
    };
    match def.op {
        TensorOp::Leaf { .. } => Vec::new(),
        // s̄ₖ = Ā[k]
        TensorOp::Pack(items) => items
            .iter()
            .enumerate()
            .map(|(k, &item)| (item, g.elem(adj, k)))
            .collect(),
        // C = op(a)·op(b): op(a)‾ = C̄·op(b)ᵀ, op(b)‾ = op(a)ᵀ·C̄, transposed back when
        // the operand was transposed.
        TensorOp::MatMul { a, b, ta, tb } => {
            let da = if ta {
                g.matmul(b, adj, tb, true)
            } else {
                g.matmul(adj, b, false, !tb)
            };
            let db = if tb {
                g.matmul(adj, a, true, ta)
            } else {
                g.matmul(a, adj, !ta, false)
            };
            vec![(a, da), (b, db)]
        }
        // ārgⱼ = Ā ⊙ ∂k/∂laneⱼ, with the map's own value available as a lane; summed
        // over the elements for a broadcast scalar.
        TensorOp::Map { kernel, args } => {
            let (out, adj_lane) = (args.len(), args.len() + 1);
            let mut extended = args.clone();
            extended.extend([id, adj]);
            let mut result = Vec::new();
            for (j, &arg) in args.iter().enumerate() {
                let d = kernel_derivative(g, kernel, j, out);
                if g.as_const(d) == Some(0.0) {
                    continue;
                }
                let a = g.lane(adj_lane);
                let k = g.mul(a, d);
                let contribution = g.map(def.shape, k, extended.clone());
                if g.is_tensor(arg) {
                    result.push((arg, contribution));
                } else {
                    result.push((arg, g.sum_all(contribution)));
                }
            }
            result
        }
        // t̄ = Ā broadcast.
        TensorOp::Sum(t) => {
            let a = g.elem(adj, 0);
            let lane = g.lane(0);
            let shape = g.shape_of(t);
            vec![(t, g.map(shape, lane, vec![a]))]
        }
        // t̄ = Āᵀ
        TensorOp::Transpose(t) => vec![(t, g.transpose(adj))],
    }
}

/// `∂kernel/∂lane_j` of a map kernel, by the scalar reverse mode, with the kernel's own
/// value written as lane `out` (so the derivative reads the stored output instead of
/// recomputing it: `tanh' = 1 − y²`).
fn kernel_derivative(g: &mut Graph, kernel: NodeId, j: usize, out: usize) -> NodeId {
    let lane = g.lane(j);
    let d = gradient(g, kernel, &[lane])[0];
    let out = g.lane(out);
    if matches!(g.node(kernel), Node::Lane(_) | Node::Const(_)) {
        return d;
    }
    g.substitute(d, &|_, n| (n == kernel).then_some(out))
}

/// The chain-rule piece of one node: for each operand `c`, `adj * d(node)/dc`.
fn local_adjoints(g: &mut Graph, id: NodeId, adj: NodeId) -> Vec<(NodeId, NodeId)> {
    let zero = g.constant(0.0);
    match g.node(id) {
        Node::Const(_)
        | Node::Input(_)
        | Node::Target(_)
        | Node::Param(_)
        | Node::Lane(_)
        | Node::Var(_)
        | Node::StopGradient(_)
        // (Elements and tensors are handled by `gradient` and `tensor_local_adjoints`.)
        | Node::Elem(..)
        | Node::Tensor(_) => vec![],
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
            // (At k = i32::MIN + 1, a second derivative, `k - 1` is the last `powi`.)
            let lower = match k.checked_sub(1) {
                Some(k1) if k1 != i32::MIN => g.insert(Node::Powi(a, k1)),
                _ => {
                    let e = g.constant(f64::from(k) - 1.0);
                    g.insert(Node::Pow(a, e))
                }
            };
            let d = g.scale(f64::from(k), lower);
            vec![(a, g.mul(adj, d))]
        }
        Node::Pow(a, b) => {
            // d(a^b) = b a^(b-1) da + a^b ln(a) db, where a^b ln(a) is 0 at a = 0 (a^b is
            // 0 near any b > 0): ln of 1 there, not 0·(-∞) = NaN.
            let one = g.constant(1.0);
            let bm1 = g.sub(b, one);
            let lower = g.insert(Node::Pow(a, bm1));
            let da = g.mul(b, lower);
            let a_or_one = g.insert(Node::IfEq(a, zero, one, a));
            let ln_a = g.call(Func::Ln, a_or_one);
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
