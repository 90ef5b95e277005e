//! Stage 3, lower: evaluate the resolved program symbolically into the scalar DAG.
//!
//! Every DSL value is a [`Tensor`]: a shape and the node ids of its elements,
//! row-major. `for` loops are unrolled, `fn`s inlined, `dense` layers expanded into
//! their dot products, and the loss builtins written out in their stable forms
//! (log-softmax with a max shift).
//!
//! The check stage has resolved every name, shape, index and parameter offset
//! ([`crate::resolved`]), so this stage has no error path: it only builds nodes. The
//! order in which it creates nodes is part of the output (operands of `+` and `*` are
//! sorted by id, which is what `derivation()` prints and the emitter writes), so leaves
//! are created in declaration order up front and `dense` parameters where the layer is.
//!
//! One `Lowering` walks the program; its methods are split by concern:
//! - `program.rs`: the walk itself (declarations, statements, bindings, unrolled
//!   loops, expressions, `diff`/`laplacian`);
//! - `fns.rs`: user `fn` calls, inlined (with placeholder leaves and substitution for a
//!   body that differentiates with respect to its own parameters);
//! - `tier.rs`: for each array operation, the choice between scalarising it and one
//!   tensor node ([`crate::tensor`]), and building either form;
//! - `builtins.rs`: what each builtin and loss means, as nodes (the stable forms).

mod builtins;
mod fns;
mod program;
mod rolled;
mod tier;

use std::collections::HashMap;

use self::fns::PLACEHOLDER_BASE;
pub use self::rolled::{Read, ReadSource, Rolled, LOOP_THRESHOLD};
use crate::graph::{Graph, NodeId};
use crate::resolved::{BindingId, FloatType, Program, Slot};
use crate::shape::Shape;
use crate::tensor::MATRIX_VIEW_ELEMENTS;

/// A value of the DSL: a shape and its elements' nodes, row-major.
#[derive(Clone, Debug)]
pub struct Tensor {
    /// The shape.
    pub shape: Shape,
    /// `shape.len()` node ids.
    pub elems: Vec<NodeId>,
}

impl Tensor {
    fn scalar(id: NodeId) -> Tensor {
        Tensor {
            shape: Shape::Scalar,
            elems: vec![id],
        }
    }

    /// Element `i`, a scalar broadcasting to every position.
    fn at(&self, i: usize) -> NodeId {
        if self.elems.len() == 1 {
            self.elems[0]
        } else {
            self.elems[i]
        }
    }
}

/// A DSL value during lowering: its elements' scalar nodes, or one tensor node for the
/// whole array (operations at or above the program's tensor threshold).
#[derive(Clone, Debug)]
enum Value {
    /// Scalarised.
    Scalars(Tensor),
    /// A tensor node (its shape is in the graph).
    Wide(NodeId),
}

impl From<Tensor> for Value {
    fn from(t: Tensor) -> Value {
        Value::Scalars(t)
    }
}

/// The lowered network: its graph and everything the emitter needs around it.
#[derive(Debug)]
pub struct Lowered {
    /// The DAG (forward pass only; [`crate::diff`] adds the derivative).
    pub graph: Graph,
    /// Element type.
    pub float: FloatType,
    /// Inputs in declaration order.
    pub inputs: Vec<Slot>,
    /// Targets in declaration order.
    pub targets: Vec<Slot>,
    /// Parameter groups in layout order (`dense` groups where the layer is).
    pub params: Vec<Slot>,
    /// The output's name.
    pub output_name: String,
    /// The output's value.
    pub output: Tensor,
    /// The loss.
    pub loss: NodeId,
    /// Named forward values in evaluation order (element names, with `⁽²⁾`, `⁽³⁾`, ...
    /// on reassigned or loop-local names), for the derivation.
    pub bindings: Vec<(String, NodeId)>,
    /// Whether the program contains `diff` or `laplacian`.
    pub has_diff: bool,
    /// Whether [`lower_matrix_view`] would lower this program differently: a `dense`
    /// layer or a large matrix product was scalarised here (so the derivation's
    /// matrix view needs its own lowering).
    pub matrix_view_differs: bool,
    /// The loops emitted as Rust loops, in program order ([`Rolled`]).
    pub rolled: Vec<Rolled>,
    /// What each [`crate::graph::Node::Var`] of `graph` stands for: the rolled loops'
    /// results and their arguments' seeds, for the derivation.
    pub var_names: Vec<String>,
}

impl Lowered {
    /// The size of the rolled loops unrolled (iterations × nodes of one iteration,
    /// summed); 0 without any.
    pub fn unrolled_size(&self) -> u64 {
        self.rolled
            .iter()
            .map(|r| r.count.saturating_mul(r.body.len() as u64))
            .fold(0, u64::saturating_add)
    }

    /// Total number of parameters.
    pub fn num_params(&self) -> usize {
        self.params.iter().map(|s| s.shape.len()).sum()
    }
    /// Total number of inputs.
    pub fn num_inputs(&self) -> usize {
        self.inputs.iter().map(|s| s.shape.len()).sum()
    }
    /// Total number of targets.
    pub fn num_targets(&self) -> usize {
        self.targets.iter().map(|s| s.shape.len()).sum()
    }
    /// The name of every parameter element in storage order.
    pub fn param_names(&self) -> Vec<String> {
        self.params
            .iter()
            .flat_map(|s| (0..s.shape.len()).map(move |i| s.element_name(i)))
            .collect()
    }
}

/// Lowers a resolved network into the scalar DAG: the graph the generated code
/// computes.
pub fn lower(program: &Program) -> Lowered {
    lower_with(program, program.tensor_threshold, false, true)
}

/// Lowers a resolved network for the derivation's matrix view only: as [`lower`], but
/// every `dense` layer, and every matrix product or transpose with a matrix of more
/// than [`MATRIX_VIEW_ELEMENTS`] elements, becomes a tensor node even below the
/// tensor threshold (inside user `fn` bodies and map kernels everything stays scalar,
/// as always). The generated code never reads this graph.
pub fn lower_matrix_view(program: &Program) -> Lowered {
    lower_with(program, program.tensor_threshold, true, false)
}

/// [`lower`] with another tensor threshold than the program's (`0` for the ONNX
/// export: every array operation a tensor node).
pub fn lower_at(program: &Program, threshold: u64) -> Lowered {
    lower_with(program, threshold, false, false)
}

/// [`lower`] with every loop unrolled, whatever the loop threshold (the reference the
/// rolled form is tested against).
pub fn lower_unrolled(program: &Program) -> Lowered {
    lower_with(program, program.tensor_threshold, false, false)
}

fn lower_with(program: &Program, threshold: u64, matrix_view: bool, may_roll: bool) -> Lowered {
    let mut lowering = Lowering {
        program,
        graph: Graph::new(),
        inputs: vec![None; program.inputs.len()],
        targets: vec![None; program.targets.len()],
        params: vec![None; program.params.len()],
        bindings: vec![None; program.bindings.len()],
        loop_values: vec![0; program.loop_vars],
        args: Vec::new(),
        next_placeholder: PLACEHOLDER_BASE,
        has_diff: false,
        names: Vec::new(),
        versions: HashMap::new(),
        output: None,
        loss: None,
        threshold,
        matrix_view,
        scalar_code: false,
        matrix_view_differs: false,
        may_roll,
        roll: None,
        rolled: Vec::new(),
        var_names: Vec::new(),
    };
    for &declaration in &program.declarations {
        lowering.slot(declaration);
    }
    lowering.block(&program.body);
    let output = match lowering.output.take() {
        Some(value) => lowering.scalars(value),
        None => Tensor::scalar(lowering.graph.constant(0.0)),
    };
    let loss = match lowering.loss {
        Some(loss) => loss,
        None => lowering.graph.constant(0.0),
    };
    Lowered {
        graph: lowering.graph,
        float: program.float,
        inputs: program.inputs.clone(),
        targets: program.targets.clone(),
        params: program.params.clone(),
        output_name: program.bindings[binding_index(program.output)].name.clone(),
        output,
        loss,
        bindings: lowering.names,
        has_diff: lowering.has_diff,
        matrix_view_differs: lowering.matrix_view_differs,
        rolled: lowering.rolled,
        var_names: lowering.var_names,
    }
}

fn leaf_index(k: usize) -> u32 {
    u32::try_from(k).expect("the check stage bounds every array's size")
}

fn binding_index(b: BindingId) -> usize {
    b.0 as usize
}

/// The state of the walk over one program (its methods are split over the submodules,
/// see the module docs).
struct Lowering<'p> {
    program: &'p Program,
    graph: Graph,
    /// Leaf tensors of each declaration, created on first use (declarations up front,
    /// `dense` groups where the layer is).
    inputs: Vec<Option<Tensor>>,
    targets: Vec<Option<Tensor>>,
    params: Vec<Option<Tensor>>,
    /// The current value of every binding.
    bindings: Vec<Option<Value>>,
    /// The current value of every loop variable.
    loop_values: Vec<i64>,
    /// The arguments of the `fn` being inlined: one element's scalars for an
    /// elementwise call, whole values for a shaped `fn`.
    args: Vec<Value>,
    /// The next placeholder leaf ([`PLACEHOLDER_BASE`] and up), see [`Lowering::call`].
    next_placeholder: u32,
    /// Whether a `diff` or `laplacian` was lowered (the derivative methods then need
    /// one more order and are left out).
    has_diff: bool,
    /// Named forward values, for the derivation.
    names: Vec<(String, NodeId)>,
    /// How many times each name has been bound (`h`, `h_2`, ...).
    versions: HashMap<String, usize>,
    output: Option<Value>,
    loss: Option<NodeId>,
    /// Operations at least this big become tensor nodes.
    threshold: u64,
    /// The derivation's matrix view ([`lower_matrix_view`]): `dense` layers and large
    /// products become tensor nodes whatever their size.
    matrix_view: bool,
    /// Lowering a user `fn` body or a map kernel: scalar code, whatever the sizes.
    scalar_code: bool,
    /// A `dense` layer or a large product was scalarised that the matrix view would
    /// keep whole.
    matrix_view_differs: bool,
    /// Whether a big top-level `for` may become a Rust loop ([`lower`] only).
    may_roll: bool,
    /// Lowering one iteration of a rolled loop.
    roll: Option<rolled::RollContext>,
    /// The rolled loops so far.
    rolled: Vec<Rolled>,
    /// What each `Var` of the graph stands for.
    var_names: Vec<String>,
}
