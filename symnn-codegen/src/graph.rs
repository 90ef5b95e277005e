//! The expression DAG: scalar nodes in an arena, addressed by [`NodeId`], hash-consed.
//!
//! Invariants (egg / cranelift-entity style):
//! - a node's children always have smaller ids, so id order is a topological order and
//!   reverse mode is one reversed loop;
//! - an identical node is stored once ([`Graph::insert`] looks it up in a memo table
//!   first), with the operands of `+` and `*` sorted so that `a*b` and `b*a` meet;
//! - every node passes through the rewrite rules of [`crate::simplify`] before it is
//!   stored, so the graph only ever holds simplified nodes.
//!
//! This module is the arena under the rules: it stores and interns nodes as given.
//! [`Graph::insert`] and the constructors of each operation (`add`, `mul`, ...), which
//! simplify first, are defined in [`crate::simplify`]; the definitions of tensor nodes
//! ([`TensorOp`]) are here with the nodes that store them, their normalising
//! constructors in [`crate::tensor`].

use std::collections::HashMap;
use std::fmt;

pub use crate::builtins::Func;
use crate::shape::Shape;

/// Index of a node in a [`Graph`]. Prints as `v3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u32);

impl NodeId {
    /// The index into the arena.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The id of the node at this arena index.
    pub fn from_index(index: usize) -> NodeId {
        NodeId(u32::try_from(index).expect("more than 4 billion nodes"))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// One scalar operation. The meaning of each variant is its formula.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// A constant (the `f64` bits, so the node can be hashed).
    Const(u64),
    /// `input[k]` (flattened)
    Input(u32),
    /// `target[k]`
    Target(u32),
    /// `params[k]`
    Param(u32),
    /// `-a`
    Neg(NodeId),
    /// `a + b`
    Add(NodeId, NodeId),
    /// `a - b`
    Sub(NodeId, NodeId),
    /// `a * b`
    Mul(NodeId, NodeId),
    /// `a / b`
    Div(NodeId, NodeId),
    /// `f(a)`
    Call(Func, NodeId),
    /// `a^n`
    Powi(NodeId, i32),
    /// `a^b`
    Pow(NodeId, NodeId),
    /// `max(a, b)`
    Max(NodeId, NodeId),
    /// `min(a, b)`
    Min(NodeId, NodeId),
    /// `if a > b { t } else { e }`
    IfGt(NodeId, NodeId, NodeId, NodeId),
    /// `if a >= b { t } else { e }`
    IfGe(NodeId, NodeId, NodeId, NodeId),
    /// `if a == b { t } else { e }` (false when either is NaN); `IfEq(k, j, 1, 0)` is the
    /// indicator `[k == j]` of a one-hot target (`sparse_cross_entropy`)
    IfEq(NodeId, NodeId, NodeId, NodeId),
    /// `a`, but the derivative does not flow through it (used for the shift of a
    /// log-sum-exp, whose gradient contribution is exactly zero).
    StopGradient(NodeId),
    /// A whole array computed by a tensor operation ([`crate::tensor`]); its
    /// definition is [`Graph::tensor_def`].
    Tensor(TensorId),
    /// Element `k` (row-major) of the tensor node `t`.
    Elem(NodeId, u32),
    /// Argument `j` of the elementwise kernel of a [`TensorOp::Map`] (only inside
    /// kernels).
    Lane(u32),
    /// Element `j` of a rolled loop's run-time array (`crate::lower::Rolled`): in a
    /// loop body, the carried state, captured values, per-step reads and adjoint
    /// seeds; in the program around it, the loop's results and its arguments' seeds.
    Var(u32),
}

impl Node {
    /// A constant node.
    pub fn constant(value: f64) -> Node {
        Node::Const(value.to_bits())
    }

    /// The constant's value, if this is a constant.
    pub fn as_const(&self) -> Option<f64> {
        match *self {
            Node::Const(bits) => Some(f64::from_bits(bits)),
            _ => None,
        }
    }

    /// Whether this is a leaf (constant, input, target, parameter or kernel lane).
    pub fn is_leaf(&self) -> bool {
        matches!(
            self,
            Node::Const(_)
                | Node::Input(_)
                | Node::Target(_)
                | Node::Param(_)
                | Node::Lane(_)
                | Node::Var(_)
        )
    }

    /// The scalar operands, in order (a tensor node's operands are in its definition:
    /// use [`Graph::children`]).
    pub fn children(&self) -> impl Iterator<Item = NodeId> {
        let (list, len): ([NodeId; 4], usize) = match *self {
            Node::Const(_)
            | Node::Input(_)
            | Node::Target(_)
            | Node::Param(_)
            | Node::Lane(_)
            | Node::Var(_)
            | Node::Tensor(_) => ([NodeId(0); 4], 0),
            Node::Neg(a)
            | Node::Call(_, a)
            | Node::Powi(a, _)
            | Node::StopGradient(a)
            | Node::Elem(a, _) => ([a, a, a, a], 1),
            Node::Add(a, b)
            | Node::Sub(a, b)
            | Node::Mul(a, b)
            | Node::Div(a, b)
            | Node::Pow(a, b)
            | Node::Max(a, b)
            | Node::Min(a, b) => ([a, b, a, b], 2),
            Node::IfGt(a, b, t, e) | Node::IfGe(a, b, t, e) | Node::IfEq(a, b, t, e) => {
                ([a, b, t, e], 4)
            }
        };
        list.into_iter().take(len)
    }

    /// The same node with every scalar operand replaced by `f(operand)`.
    pub fn map_children(self, mut f: impl FnMut(NodeId) -> NodeId) -> Node {
        match self {
            Node::Const(_)
            | Node::Input(_)
            | Node::Target(_)
            | Node::Param(_)
            | Node::Lane(_)
            | Node::Var(_)
            | Node::Tensor(_) => self,
            Node::Neg(a) => Node::Neg(f(a)),
            Node::Add(a, b) => Node::Add(f(a), f(b)),
            Node::Sub(a, b) => Node::Sub(f(a), f(b)),
            Node::Mul(a, b) => Node::Mul(f(a), f(b)),
            Node::Div(a, b) => Node::Div(f(a), f(b)),
            Node::Call(func, a) => Node::Call(func, f(a)),
            Node::Powi(a, n) => Node::Powi(f(a), n),
            Node::Pow(a, b) => Node::Pow(f(a), f(b)),
            Node::Max(a, b) => Node::Max(f(a), f(b)),
            Node::Min(a, b) => Node::Min(f(a), f(b)),
            Node::IfGt(a, b, t, e) => Node::IfGt(f(a), f(b), f(t), f(e)),
            Node::IfGe(a, b, t, e) => Node::IfGe(f(a), f(b), f(t), f(e)),
            Node::IfEq(a, b, t, e) => Node::IfEq(f(a), f(b), f(t), f(e)),
            Node::StopGradient(a) => Node::StopGradient(f(a)),
            Node::Elem(t, k) => Node::Elem(f(t), k),
        }
    }

    /// Evaluates a scalar node from its operands' values (in [`Node::children`]
    /// order), the way the emitted code does. Leaves other than constants, and
    /// tensors, give NaN (an element's value is its operand's: the tensor's element,
    /// which the caller passes).
    pub fn eval(&self, args: &[f64]) -> f64 {
        let a = |i: usize| args.get(i).copied().unwrap_or(f64::NAN);
        match *self {
            Node::Const(bits) => f64::from_bits(bits),
            Node::Input(_)
            | Node::Target(_)
            | Node::Param(_)
            | Node::Lane(_)
            | Node::Var(_)
            | Node::Tensor(_) => f64::NAN,
            Node::Elem(..) => a(0),
            Node::Neg(_) => -a(0),
            Node::Add(..) => a(0) + a(1),
            Node::Sub(..) => a(0) - a(1),
            Node::Mul(..) => a(0) * a(1),
            Node::Div(..) => a(0) / a(1),
            Node::Call(f, _) => f.eval(a(0)),
            Node::Powi(_, n) => a(0).powi(n),
            Node::Pow(..) => a(0).powf(a(1)),
            Node::Max(..) => a(0).max(a(1)),
            Node::Min(..) => a(0).min(a(1)),
            Node::IfGt(..) => {
                if a(0) > a(1) {
                    a(2)
                } else {
                    a(3)
                }
            }
            Node::IfGe(..) => {
                if a(0) >= a(1) {
                    a(2)
                } else {
                    a(3)
                }
            }
            Node::IfEq(..) => {
                if a(0) == a(1) {
                    a(2)
                } else {
                    a(3)
                }
            }
            Node::StopGradient(_) => a(0),
        }
    }
}

/// Index of a tensor node's definition in its [`Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(pub u32);

/// Which flattened array a [`TensorOp::Leaf`] lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeafKind {
    /// `input`
    Input,
    /// `target`
    Target,
    /// `params`
    Param,
}

/// A whole-array operation. Operands are node ids: tensor nodes, or scalar nodes where
/// noted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TensorOp {
    /// Elements `offset..offset + len` of the input, target or parameter array.
    Leaf {
        /// The array.
        kind: LeafKind,
        /// The first element.
        offset: u32,
    },
    /// Scalar nodes, row-major.
    Pack(Vec<NodeId>),
    /// `op(a) · op(b)` with `op(m) = mᵀ` when the flag is set; a vector is a column.
    MatMul {
        /// Left factor.
        a: NodeId,
        /// Right factor.
        b: NodeId,
        /// Transpose `a`.
        ta: bool,
        /// Transpose `b`.
        tb: bool,
    },
    /// `kernel` elementwise: element `i` is the kernel with lane `j` set to `args[j][i]`
    /// (a scalar node broadcasts). The kernel is a scalar expression of
    /// [`Node::Lane`]s and constants only.
    Map {
        /// The kernel's root.
        kernel: NodeId,
        /// One per lane.
        args: Vec<NodeId>,
    },
    /// The sum of all elements (a tensor of shape `Scalar`).
    Sum(NodeId),
    /// The transpose of a matrix.
    Transpose(NodeId),
}

/// A tensor node: its shape and operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorNode {
    /// The shape (a vector is `n × 1` for products).
    pub shape: Shape,
    /// The operation.
    pub op: TensorOp,
}

impl TensorOp {
    /// The operand nodes (tensors and scalars), in order.
    pub fn operands(&self) -> Vec<NodeId> {
        match self {
            TensorOp::Leaf { .. } => Vec::new(),
            TensorOp::Pack(items) => items.clone(),
            TensorOp::MatMul { a, b, .. } => vec![*a, *b],
            TensorOp::Map { args, .. } => args.clone(),
            TensorOp::Sum(t) | TensorOp::Transpose(t) => vec![*t],
        }
    }
}

/// `(rows, cols)` of a shape as a matrix: a vector is a column, a scalar is `1 × 1`.
pub fn rows_cols(shape: Shape) -> (usize, usize) {
    match shape {
        Shape::Scalar => (1, 1),
        Shape::Vector(n) => (n, 1),
        Shape::Matrix(r, c) => (r, c),
    }
}

/// The arena of hash-consed, simplified nodes.
#[derive(Default, Debug, Clone)]
pub struct Graph {
    nodes: Vec<Node>,
    memo: HashMap<Node, NodeId>,
    tensors: Vec<TensorNode>,
    tensor_memo: HashMap<TensorNode, NodeId>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> Node {
        self.nodes[id.index()]
    }

    /// The constant value of a node, if it is a constant.
    pub fn as_const(&self, id: NodeId) -> Option<f64> {
        self.node(id).as_const()
    }

    /// The id of this exact node, if the graph holds it (no insertion).
    pub fn find(&self, node: Node) -> Option<NodeId> {
        self.memo.get(&canonicalize(node)).copied()
    }

    /// Test-only: adds a node with its operands canonicalised but *without* the rewrite
    /// rules, so a test can state the exact node a rule must produce (an expectation
    /// built with [`Graph::insert`] would be rewritten the same way as the input).
    #[cfg(test)]
    pub(crate) fn insert_raw(&mut self, node: Node) -> NodeId {
        self.intern(canonicalize(node))
    }

    /// Adds a node exactly as given (already canonical and simplified).
    pub(crate) fn intern(&mut self, node: Node) -> NodeId {
        if let Some(&id) = self.memo.get(&node) {
            return id;
        }
        let id = NodeId::from_index(self.nodes.len());
        debug_assert!(
            node.children().all(|c| c < id),
            "children must precede their parent"
        );
        debug_assert!(
            !matches!(node, Node::Elem(t, _) if !self.is_tensor(t)),
            "an element is read from a tensor node"
        );
        self.nodes.push(node);
        self.memo.insert(node, id);
        id
    }

    /// Adds a tensor node (or finds the identical one). Constructors that normalise
    /// live in [`crate::tensor`].
    pub(crate) fn tensor(&mut self, shape: Shape, op: TensorOp) -> NodeId {
        let def = TensorNode { shape, op };
        if let Some(&id) = self.tensor_memo.get(&def) {
            return id;
        }
        debug_assert!(def
            .op
            .operands()
            .iter()
            .all(|c| c.index() < self.nodes.len()));
        let t = TensorId(u32::try_from(self.tensors.len()).expect("fewer than 2^32 tensors"));
        self.tensors.push(def.clone());
        let id = self.intern(Node::Tensor(t));
        self.tensor_memo.insert(def, id);
        id
    }

    /// The definition of a tensor.
    pub fn tensor_def(&self, t: TensorId) -> &TensorNode {
        &self.tensors[t.0 as usize]
    }

    /// The tensor node `id` is, if it is one.
    pub fn tensor_node(&self, id: NodeId) -> Option<&TensorNode> {
        match self.node(id) {
            Node::Tensor(t) => Some(self.tensor_def(t)),
            _ => None,
        }
    }

    /// The shape of a node's value: a tensor's shape, or `Scalar`.
    pub fn shape_of(&self, id: NodeId) -> Shape {
        self.tensor_node(id).map_or(Shape::Scalar, |t| t.shape)
    }

    /// Whether `id` is a tensor node.
    pub fn is_tensor(&self, id: NodeId) -> bool {
        matches!(self.node(id), Node::Tensor(_))
    }

    /// The operands of a node: a scalar node's [`Node::children`], a tensor's
    /// [`TensorOp::operands`].
    pub fn children(&self, id: NodeId) -> Vec<NodeId> {
        match self.node(id) {
            Node::Tensor(t) => self.tensor_def(t).op.operands(),
            node => node.children().collect(),
        }
    }

    /// A constant. (The constructors of the other operations simplify:
    /// [`crate::simplify`].)
    pub fn constant(&mut self, value: f64) -> NodeId {
        self.intern(Node::constant(value))
    }

    /// Every node, in id (topological) order.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, Node)> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, &n)| (NodeId::from_index(i), n))
    }

    /// Evaluates the nodes needed for `roots` with the given leaf values (a reference
    /// interpreter: the emitted code must agree with it). Tensor nodes are evaluated
    /// by the textbook definitions of their operations, element by element.
    pub fn evaluate(
        &self,
        roots: &[NodeId],
        input: &[f64],
        target: &[f64],
        params: &[f64],
    ) -> Vec<f64> {
        self.evaluate_arrays(roots, input, target, params)
            .into_iter()
            .map(|v| v[0])
            .collect()
    }

    /// Like [`Graph::evaluate`], with each root's whole value: one element for a
    /// scalar, every element (row-major) for a tensor node.
    pub fn evaluate_arrays(
        &self,
        roots: &[NodeId],
        input: &[f64],
        target: &[f64],
        params: &[f64],
    ) -> Vec<Vec<f64>> {
        let mut values = vec![f64::NAN; self.nodes.len()];
        let mut arrays: HashMap<NodeId, Vec<f64>> = HashMap::new();
        let needed = self.reachable(roots);
        for (id, node) in self.iter() {
            if !needed[id.index()] {
                continue;
            }
            let leaf = |slice: &[f64], k: u32| slice.get(k as usize).copied().unwrap_or(f64::NAN);
            values[id.index()] = match node {
                Node::Input(k) => leaf(input, k),
                Node::Target(k) => leaf(target, k),
                Node::Param(k) => leaf(params, k),
                Node::Elem(t, k) => arrays[&t][k as usize],
                Node::Tensor(t) => {
                    let def = self.tensor_def(t);
                    let value = self.eval_tensor(def, &values, &arrays, [input, target, params]);
                    arrays.insert(id, value);
                    f64::NAN
                }
                _ => {
                    let args: Vec<f64> = node.children().map(|c| values[c.index()]).collect();
                    node.eval(&args)
                }
            };
        }
        roots
            .iter()
            .map(|r| match arrays.get(r) {
                Some(array) => array.clone(),
                None => vec![values[r.index()]],
            })
            .collect()
    }

    /// The elements of one tensor node, row-major, from its operands' values.
    fn eval_tensor(
        &self,
        def: &TensorNode,
        scalars: &[f64],
        arrays: &HashMap<NodeId, Vec<f64>>,
        [input, target, params]: [&[f64]; 3],
    ) -> Vec<f64> {
        let len = def.shape.len();
        // Element `i` of an operand: a tensor's, or a scalar broadcast.
        let at = |id: NodeId, i: usize| match arrays.get(&id) {
            Some(v) => v[i],
            None => scalars[id.index()],
        };
        match &def.op {
            TensorOp::Leaf { kind, offset } => {
                let source = match kind {
                    LeafKind::Input => input,
                    LeafKind::Target => target,
                    LeafKind::Param => params,
                };
                let o = *offset as usize;
                (o..o + len)
                    .map(|k| source.get(k).copied().unwrap_or(f64::NAN))
                    .collect()
            }
            TensorOp::Pack(items) => items.iter().map(|&s| scalars[s.index()]).collect(),
            TensorOp::MatMul { a, b, ta, tb } => {
                let (ar, ac) = rows_cols(self.shape_of(*a));
                let (br, bc) = rows_cols(self.shape_of(*b));
                // op(a)[i][k] and op(b)[k][j].
                let opa = |i: usize, k: usize| {
                    if *ta {
                        at(*a, k * ac + i)
                    } else {
                        at(*a, i * ac + k)
                    }
                };
                let opb = |k: usize, j: usize| {
                    if *tb {
                        at(*b, j * bc + k)
                    } else {
                        at(*b, k * bc + j)
                    }
                };
                let (m, n) = if *ta { (ac, ar) } else { (ar, ac) };
                let p = if *tb { br } else { bc };
                let mut out = vec![0.0; m * p];
                for i in 0..m {
                    for j in 0..p {
                        out[i * p + j] = (0..n).map(|k| opa(i, k) * opb(k, j)).sum();
                    }
                }
                out
            }
            TensorOp::Map { kernel, args } => (0..len)
                .map(|i| {
                    let lanes: Vec<f64> = args.iter().map(|&a| at(a, i)).collect();
                    self.eval_kernel(*kernel, &lanes)
                })
                .collect(),
            TensorOp::Sum(t) => vec![arrays[t].iter().sum()],
            TensorOp::Transpose(t) => {
                let (r, c) = rows_cols(self.shape_of(*t));
                (0..c)
                    .flat_map(|j| (0..r).map(move |i| (i, j)))
                    .map(|(i, j)| arrays[t][i * c + j])
                    .collect()
            }
        }
    }

    /// Evaluates a kernel for one element, lanes set to `lanes` (the interpreter).
    pub fn eval_kernel(&self, kernel: NodeId, lanes: &[f64]) -> f64 {
        let mut values: HashMap<NodeId, f64> = HashMap::new();
        for n in self.kernel_nodes(kernel) {
            let node = self.node(n);
            let v = match node {
                Node::Lane(j) => lanes[j as usize],
                _ => {
                    let args: Vec<f64> = node.children().map(|c| values[&c]).collect();
                    node.eval(&args)
                }
            };
            values.insert(n, v);
        }
        values[&kernel]
    }

    /// The nodes of a kernel (reachable from `kernel` through scalar operands), in id
    /// order.
    pub fn kernel_nodes(&self, kernel: NodeId) -> Vec<NodeId> {
        let mut seen = vec![kernel];
        let mut stack = vec![kernel];
        while let Some(n) = stack.pop() {
            if self.is_tensor(n) {
                continue;
            }
            for c in self.node(n).children() {
                if !seen.contains(&c) {
                    seen.push(c);
                    stack.push(c);
                }
            }
        }
        seen.sort();
        seen
    }

    /// Marks every node that some root depends on.
    pub fn reachable(&self, roots: &[NodeId]) -> Vec<bool> {
        let mut marked = vec![false; self.nodes.len()];
        for r in roots {
            marked[r.index()] = true;
        }
        for i in (0..self.nodes.len()).rev() {
            if marked[i] {
                for c in self.children(NodeId::from_index(i)) {
                    marked[c.index()] = true;
                }
            }
        }
        marked
    }
}

/// Sorts the operands of commutative operations so equal expressions hash equally.
pub(crate) fn canonicalize(node: Node) -> Node {
    match node {
        Node::Add(a, b) if b < a => Node::Add(b, a),
        Node::Mul(a, b) if b < a => Node::Mul(b, a),
        other => other,
    }
}
