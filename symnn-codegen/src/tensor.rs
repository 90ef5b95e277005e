//! Tensor nodes: whole-array operations as single nodes of the [`Graph`].
//!
//! Above [`TENSOR_THRESHOLD`] the lowering stops scalarising: a matrix product, an
//! elementwise map or a reduction over a wide array becomes one [`Node::Tensor`] whose
//! operation is a [`TensorOp`]. Scalar code reads a tensor's element through
//! [`Node::Elem`], and a tensor op reads scalars by packing them ([`TensorOp::Pack`]) or
//! broadcasting them (a scalar argument of [`TensorOp::Map`]). Everything else (the
//! seeds, small layers, loss tails, user `fn`s) stays scalar, simplified and CSE'd.
//!
//! | op | value | chain rule (adjoint `Ā` of the result) |
//! |---|---|---|
//! | `Leaf` | a declared input/target/param group, read in place | (a gradient root) |
//! | `Pack(s)` | scalars `s` laid out row-major | `s̄ₖ += Ā[k]` |
//! | `MatMul(a, b)` | `op(a) · op(b)`, `op` = transpose when flagged | `ā = Ā · op(b)ᵀ`, `b̄ = op(a)ᵀ · Ā` (transposed back) |
//! | `Map(k, args)` | `k(args[0][i], args[1][i], ...)` elementwise; a scalar arg broadcasts | `ārgⱼ = Ā ⊙ ∂k/∂laneⱼ` (summed for a scalar arg) |
//! | `Sum(t)` | `Σᵢ t[i]` (a scalar-shaped tensor) | `t̄ = Ā` broadcast |
//! | `Transpose(t)` | `tᵀ` | `t̄ = Āᵀ` |
//!
//! The rules live in [`crate::diff`]. A map's kernel is an ordinary scalar expression of
//! [`Node::Lane`] leaves in the same graph, so it is simplified and hash-consed like any
//! other, and its partial derivatives come from the scalar reverse mode
//! (`diff::kernel_derivative`); the kernel's own value appears in its derivative as one
//! more lane (the map's output), so `tanh' = 1 − y²` reads the stored activation
//! instead of calling `tanh` again.
//!
//! The node types ([`TensorOp`], [`TensorNode`], [`LeafKind`]) are defined in
//! [`crate::graph`], which stores them, and re-exported here; this module holds the
//! constructors that normalise them.
//!
//! Maps are normalised as they are built ([`Graph::map`]): duplicate and unused
//! arguments are dropped, constants and cheap inner maps are folded into the kernel
//! (so `tanh(W·x + b)` is one map over `[W·x, b]`), and a map that just returns one of
//! its tensor arguments is that argument.

use std::collections::HashMap;

pub use crate::graph::{rows_cols, LeafKind, TensorId, TensorNode, TensorOp};
use crate::graph::{Graph, Node, NodeId};
use crate::shape::Shape;

/// Products with at least this many multiply-adds, and elementwise maps and reductions
/// over arrays of at least this many elements, become tensor nodes (emitted as loops);
/// smaller ones are scalarised and unrolled. A network can override it with
/// `#[symnn(tensor_threshold = N)]`: `0` sends every array operation to the tensor
/// path, a number above the largest layer keeps everything scalar.
///
/// Measured (docs/PERFORMANCE.md): unrolled code is as fast as loops up to a few
/// hundred multiply-adds per layer (2-8-8-1, the seeds), and loses above.
pub const TENSOR_THRESHOLD: u64 = 256;

/// The derivation views print a matrix product (and a transpose) of the scalar tier
/// as a matrix formula when one of its matrices has more than this many elements
/// (a 4×4 matrix still prints per element, a 4×5 one as `A · x`); `dense` layers always
/// print as matrix formulas. Only what is printed changes, never the generated code
/// ([`crate::resolved::DerivationView`]).
pub const MATRIX_VIEW_ELEMENTS: usize = 16;

/// The shape of `op(a) · op(b)`: a vector when `op(b)` is a vector (not transposed),
/// else a matrix.
pub fn matmul_shape(a: Shape, b: Shape, ta: bool, tb: bool) -> Shape {
    let (ar, ac) = rows_cols(a);
    let (br, bc) = rows_cols(b);
    let m = if ta { ac } else { ar };
    let p = if tb { br } else { bc };
    if matches!(b, Shape::Vector(_)) && !tb {
        Shape::Vector(m)
    } else {
        Shape::Matrix(m, p)
    }
}

impl Graph {
    /// Lane `j` of a map kernel.
    pub fn lane(&mut self, j: usize) -> NodeId {
        self.insert(Node::Lane(u32::try_from(j).expect("fewer than 2^32 lanes")))
    }

    /// Element `k` (row-major) of tensor `t`.
    pub fn elem(&mut self, t: NodeId, k: usize) -> NodeId {
        self.insert(Node::Elem(
            t,
            u32::try_from(k).expect("fewer than 2^32 elements"),
        ))
    }

    /// A declared group read in place.
    pub fn leaf_tensor(&mut self, kind: LeafKind, offset: usize, shape: Shape) -> NodeId {
        let offset = u32::try_from(offset).expect("the check stage bounds array sizes");
        self.tensor(shape, TensorOp::Leaf { kind, offset })
    }

    /// Scalars laid out as a tensor of `shape`.
    pub fn pack(&mut self, shape: Shape, items: Vec<NodeId>) -> NodeId {
        self.tensor(shape, TensorOp::Pack(items))
    }

    /// `op(a) · op(b)`. A transpose operand folds into the flag.
    pub fn matmul(&mut self, a: NodeId, b: NodeId, ta: bool, tb: bool) -> NodeId {
        if let Some(TensorOp::Transpose(inner)) = self.tensor_node(a).map(|t| t.op.clone()) {
            return self.matmul(inner, b, !ta, tb);
        }
        if let Some(TensorOp::Transpose(inner)) = self.tensor_node(b).map(|t| t.op.clone()) {
            return self.matmul(a, inner, ta, !tb);
        }
        let shape = matmul_shape(self.shape_of(a), self.shape_of(b), ta, tb);
        self.tensor(shape, TensorOp::MatMul { a, b, ta, tb })
    }

    /// The sum of all elements of `t`, as a scalar node.
    pub fn sum_all(&mut self, t: NodeId) -> NodeId {
        let s = self.tensor(Shape::Scalar, TensorOp::Sum(t));
        self.elem(s, 0)
    }

    /// `tᵀ`.
    pub fn transpose(&mut self, t: NodeId) -> NodeId {
        if let Some(TensorOp::Transpose(inner)) = self.tensor_node(t).map(|t| t.op.clone()) {
            return inner;
        }
        let (r, c) = rows_cols(self.shape_of(t));
        self.tensor(Shape::Matrix(c, r), TensorOp::Transpose(t))
    }

    /// `kernel` applied elementwise over `args` (tensors of `shape`, or scalars that
    /// broadcast), normalised (see the module docs).
    pub fn map(&mut self, shape: Shape, kernel: NodeId, args: Vec<NodeId>) -> NodeId {
        let (mut kernel, mut args) = self.normalise_map(shape, kernel, args);
        // A sigmoid reached through a cheap map (`ln(1 - σ(z))`: the `1 - σ` map is
        // folded first) is folded on another pass; each pass removes one level.
        while self.takes_ln(kernel)
            && args.iter().any(|&a| {
                self.tensor_node(a).is_some_and(|t| {
                    t.shape == shape
                        && matches!(t.op, TensorOp::Map { kernel: k, .. } if self.is_sigmoid(k))
                })
            })
        {
            (kernel, args) = self.normalise_map(shape, kernel, args);
        }
        if let Node::Lane(j) = self.node(kernel) {
            let arg = args[j as usize];
            if self.shape_of(arg) == shape && self.is_tensor(arg) {
                return arg;
            }
        }
        self.tensor(shape, TensorOp::Map { kernel, args })
    }

    fn normalise_map(
        &mut self,
        shape: Shape,
        kernel: NodeId,
        args: Vec<NodeId>,
    ) -> (NodeId, Vec<NodeId>) {
        // Lift leaves other than lanes and constants out of the kernel (a user `fn`
        // body may read params), and fold constant and cheap-map arguments in.
        let mut new_args: Vec<NodeId> = Vec::new();
        let mut lane_of: HashMap<NodeId, NodeId> = HashMap::new();
        let mut replace: HashMap<NodeId, NodeId> = HashMap::new();
        for (j, &arg) in args.iter().enumerate() {
            let lane = self.lane(j);
            let value = match self.node(arg) {
                Node::Const(_) => arg,
                _ => match self.tensor_node(arg).map(|t| (t.shape, t.op.clone())) {
                    Some((
                        s,
                        TensorOp::Map {
                            kernel: k,
                            args: inner,
                        },
                    )) if s == shape
                        && (self.is_cheap(k) || self.is_sigmoid_under_ln(k, kernel)) =>
                    {
                        // Inline the inner kernel, its lanes mapped to outer arguments.
                        let inner_lanes: Vec<NodeId> = inner
                            .iter()
                            .map(|&a| self.arg_lane(a, &mut new_args, &mut lane_of))
                            .collect();
                        self.substitute(k, &|g, n| match g.node(n) {
                            Node::Lane(i) => Some(inner_lanes[i as usize]),
                            _ => None,
                        })
                    }
                    _ => self.arg_lane(arg, &mut new_args, &mut lane_of),
                },
            };
            replace.insert(lane, value);
        }
        // Arguments sit behind temporary lanes numbered from `LANE_BASE`, above every
        // lane of the kernels involved; the final renumbering maps them down.
        let kernel = self.substitute(kernel, &|_, n| replace.get(&n).copied());
        // Leaves that are not lanes or constants become arguments.
        let stray: Vec<NodeId> = self
            .kernel_nodes(kernel)
            .into_iter()
            .filter(|&n| {
                matches!(
                    self.node(n),
                    Node::Input(_)
                        | Node::Target(_)
                        | Node::Param(_)
                        | Node::Elem(..)
                        | Node::Tensor(_)
                )
            })
            .collect();
        let mut stray_map = HashMap::new();
        for n in stray {
            let lane = self.arg_lane(n, &mut new_args, &mut lane_of);
            stray_map.insert(n, lane);
        }
        let kernel = self.substitute(kernel, &|_, n| stray_map.get(&n).copied());
        // `new_args[j]` is behind lane `BASE + j`; keep the used ones, renumbered.
        let used: Vec<bool> = {
            let nodes = self.kernel_nodes(kernel);
            let mut used = vec![false; new_args.len()];
            for n in nodes {
                if let Node::Lane(i) = self.node(n) {
                    used[(i - LANE_BASE) as usize] = true;
                }
            }
            used
        };
        let mut final_args = Vec::new();
        let mut final_lane = HashMap::new();
        for (j, &arg) in new_args.iter().enumerate() {
            if used[j] {
                let lane = self.lane(final_args.len());
                final_args.push(arg);
                final_lane.insert(self.lane(LANE_BASE as usize + j), lane);
            }
        }
        let kernel = self.substitute(kernel, &|_, n| final_lane.get(&n).copied());
        (kernel, final_args)
    }

    /// The (temporary, high-numbered) lane standing for `arg`, added once.
    fn arg_lane(
        &mut self,
        arg: NodeId,
        args: &mut Vec<NodeId>,
        lane_of: &mut HashMap<NodeId, NodeId>,
    ) -> NodeId {
        if let Some(&lane) = lane_of.get(&arg) {
            return lane;
        }
        let lane = self.lane(LANE_BASE as usize + args.len());
        args.push(arg);
        lane_of.insert(arg, lane);
        lane
    }

    /// Whether a kernel has no function calls or powers (worth recomputing rather
    /// than storing: inlining it into a consumer duplicates it if it is also used
    /// elsewhere).
    fn is_cheap(&self, kernel: NodeId) -> bool {
        self.kernel_nodes(kernel).iter().all(|&n| {
            !matches!(
                self.node(n),
                Node::Call(..) | Node::Pow(..) | Node::Powi(..) | Node::Div(..)
            )
        })
    }

    /// Whether `inner` is a sigmoid kernel ([`Graph::is_sigmoid`]) and the kernel
    /// `outer` takes a logarithm: then it is inlined although it is not cheap, so that
    /// `ln(σ(z))` and `ln(1 - σ(z))` become softplus terms (`simplify::stable_logs`)
    /// instead of `ln(0) = -∞` where σ rounds to 0 or 1 (`bce` on a wide sigmoid layer,
    /// |z| > ~37). Only under a logarithm: folding every sigmoid into every consumer
    /// (the backward `σ(1 - σ) ⊙ δ` map too) recomputes its `exp` there and made the
    /// 64-32-10 sigmoid `sgd_step` 1.27× slower (`--bench wide`).
    fn is_sigmoid_under_ln(&self, inner: NodeId, outer: NodeId) -> bool {
        self.is_sigmoid(inner) && self.takes_ln(outer)
    }

    /// Whether a kernel takes a logarithm.
    fn takes_ln(&self, kernel: NodeId) -> bool {
        self.kernel_nodes(kernel)
            .iter()
            .any(|&n| matches!(self.node(n), Node::Call(crate::graph::Func::Ln, _)))
    }

    /// Whether a kernel is cheap but for `sigmoid` calls (`sigmoid(z)`, `1 - sigmoid(z)`).
    fn is_sigmoid(&self, kernel: NodeId) -> bool {
        let nodes = self.kernel_nodes(kernel);
        nodes
            .iter()
            .any(|&n| matches!(self.node(n), Node::Call(crate::graph::Func::Sigmoid, _)))
            && nodes.iter().all(|&n| {
                !matches!(
                    self.node(n),
                    Node::Call(f, _) if f != crate::graph::Func::Sigmoid
                ) && !matches!(self.node(n), Node::Pow(..) | Node::Powi(..) | Node::Div(..))
            })
    }

    /// The scalar expression `root` with nodes replaced where `f` says so, rebuilt
    /// through the simplifying constructors. Tensor nodes are never entered.
    pub fn substitute(
        &mut self,
        root: NodeId,
        f: &dyn Fn(&Graph, NodeId) -> Option<NodeId>,
    ) -> NodeId {
        let nodes = self.kernel_nodes(root);
        let mut done: HashMap<NodeId, NodeId> = HashMap::new();
        for n in nodes {
            let new = if let Some(r) = f(self, n) {
                r
            } else {
                let node = self.node(n);
                if node.is_leaf() || self.is_tensor(n) {
                    n
                } else {
                    let rebuilt = node.map_children(|c| done.get(&c).copied().unwrap_or(c));
                    if rebuilt == node {
                        n
                    } else {
                        self.insert(rebuilt)
                    }
                }
            };
            done.insert(n, new);
        }
        done[&root]
    }
}

/// Lanes at and above this number are temporaries of [`Graph::map`]'s normalisation.
const LANE_BASE: u32 = 1 << 30;
