//! The resolved program: what [`crate::check`] hands to [`crate::lower`].
//!
//! The check stage is the single source of truth for scoping and shapes. Everything it
//! learned is written down here, so the lowering never looks at a name, a span or an
//! unchecked index, and cannot fail:
//!
//! - names are ids: [`BindingId`], [`FnId`], [`LoopVarId`], and slot indices into
//!   [`Program::inputs`], [`Program::targets`] and [`Program::params`];
//! - every expression carries its [`Shape`];
//! - loop bounds are evaluated (`start`, `count`); an index is a small integer formula
//!   of literals and loop variables ([`Index`]) that the check stage has evaluated for
//!   every iteration and found in range and free of overflow;
//! - `fn` calls point at their definition ([`ExprKind::Call`]); the lowering inlines them;
//! - parameter groups, `dense` weights and biases included, are laid out in declaration
//!   order up front, with their final offsets and initialisation schemes;
//! - the user-facing rules that need data flow ("the output may not depend on a
//!   target") have been checked on this form.
//!
//! Tensor operations stay operations: a matrix product is [`ExprKind::MatMul`], not a
//! grid of dot products; a `dense` layer is [`ExprKind::Dense`]; builtins applied to
//! arrays are [`ExprKind::Apply`] on the whole array. The lowering decides how to
//! represent them (today: scalarised into the DAG; for wide layers: tensor nodes).

use crate::ast::BinOp;
use crate::builtins::Builtin;
use crate::shape::Shape;

/// The element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatType {
    /// `f32`
    F32,
    /// `f64`
    F64,
}

/// A `let` or `output` binding (one per definition; a loop body's `let` is one binding
/// that takes a fresh value on every iteration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BindingId(pub u32);

/// A user `fn`, an index into [`Program::fns`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FnId(pub u32);

/// A loop variable, an index into the lowering's table of current loop values
/// (`0..Program::loop_vars`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoopVarId(pub u32);

/// How a parameter group without a declared value is initialised (see the runtime's
/// `init` module for the scheme).
#[derive(Clone, Debug, PartialEq)]
pub enum ParamInit {
    /// Declared values, one per element.
    Values(Vec<f64>),
    /// Glorot-uniform.
    Glorot {
        /// Columns.
        fan_in: usize,
        /// Rows.
        fan_out: usize,
    },
    /// All zero (dense biases).
    Zero,
    /// `U(-a, a)`.
    Uniform(f64),
}

/// A named, shaped block of the flattened input, target or parameter array.
#[derive(Clone, Debug)]
pub struct Slot {
    /// `x`, `W`, `h1.weight`.
    pub name: String,
    /// The shape.
    pub shape: Shape,
    /// First element's index in the flattened array.
    pub offset: usize,
    /// Parameters only: how it is initialised.
    pub init: Option<ParamInit>,
}

impl Slot {
    /// The name of element `i`: `w`, `v[2]`, `W[0][1]`.
    pub fn element_name(&self, i: usize) -> String {
        element_name(&self.name, self.shape, i)
    }
}

/// The name of element `i` of a value called `name` of this shape.
pub fn element_name(name: &str, shape: Shape, i: usize) -> String {
    match shape {
        Shape::Scalar => name.to_string(),
        Shape::Vector(_) => format!("{name}[{i}]"),
        Shape::Matrix(_, c) => format!("{name}[{}][{}]", i / c.max(1), i % c.max(1)),
    }
}

/// Which flattened array a declaration lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// [`Program::inputs`]
    Input,
    /// [`Program::targets`]
    Target,
    /// [`Program::params`]
    Param,
}

/// A declaration: `kind` and its index in the matching slot list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotRef {
    /// The array.
    pub kind: SlotKind,
    /// Index into that array's slot list (not the element offset).
    pub index: usize,
}

/// A checked network.
#[derive(Clone, Debug)]
pub struct Program {
    /// The generated struct's name, visibility and pass-through attributes.
    pub header: StructHeader,
    /// The element type.
    pub float: FloatType,
    /// Input declarations in source order, offsets assigned.
    pub inputs: Vec<Slot>,
    /// Target declarations in source order, offsets assigned.
    pub targets: Vec<Slot>,
    /// Parameter groups in layout (declaration) order: each `param` where it is
    /// declared, each `dense` layer's `.weight` then `.bias` where the layer is.
    /// Offsets are final.
    pub params: Vec<Slot>,
    /// The `input`, `target` and `param` declarations (not `dense` groups) in source
    /// order, interleaved as written.
    pub declarations: Vec<SlotRef>,
    /// The user `fn`s, by [`FnId`].
    pub fns: Vec<Function>,
    /// Every `let` / `output` binding, by [`BindingId`].
    pub bindings: Vec<Binding>,
    /// Number of loop variables ([`LoopVarId`]s are `0..loop_vars`).
    pub loop_vars: usize,
    /// Each loop variable's name, by [`LoopVarId`].
    pub loop_var_names: Vec<String>,
    /// The statements, in order. Exactly one top-level [`Stmt::Loss`], and exactly one
    /// top-level [`Stmt::Let`] of [`Program::output`].
    pub body: Vec<Stmt>,
    /// The output binding.
    pub output: BindingId,
    /// Operations at least this big become tensor nodes
    /// ([`crate::tensor::TENSOR_THRESHOLD`], or `#[symnn(tensor_threshold = N)]`).
    pub tensor_threshold: u64,
    /// How `derivation()` and the other views print arrays
    /// (`#[symnn(derivation = "...")]`).
    pub derivation: DerivationView,
    /// A top-level `for` whose unrolled size (iterations × the body's operations) is
    /// at least this is emitted as a Rust loop, where it can be
    /// ([`crate::lower::LOOP_THRESHOLD`], or `#[symnn(loop_threshold = N)]`).
    pub loop_threshold: u64,
}

/// How the derivation views (`derivation()`, `derivation_latex()`, `graph_dot()`, the
/// rustdoc formulas) print `dense` layers and matrix products that the generated code
/// scalarises. They never change the generated code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DerivationView {
    /// The default: `dense` layers, and products with a matrix of more than
    /// [`crate::tensor::MATRIX_VIEW_ELEMENTS`] elements, as matrix formulas
    /// (`h = tanh(h.weight · x + h.bias)`, `dL/dh.weight = δ5`, `δ5 = δ4 · xᵀ`).
    #[default]
    Matrix,
    /// `#[symnn(derivation = "elements")]`: one line per element of what the generated
    /// code scalarises (`h[0] = tanh(...)`, `dL/dh.weight[0][0] = x[0]*t34`).
    Elements,
}

/// What the generated struct is called and carries from the user's declaration.
#[derive(Clone, Debug)]
pub struct StructHeader {
    /// `Net` of `pub struct Net { ... }`.
    pub name: syn::Ident,
    /// Its visibility.
    pub vis: syn::Visibility,
    /// Its attributes, without the `#[symnn(...)]` options (doc comments, derives and
    /// lints the user wrote pass through to the struct).
    pub attrs: Vec<syn::Attribute>,
}

/// A `let` or `output` binding.
#[derive(Clone, Debug)]
pub struct Binding {
    /// The name as written.
    pub name: String,
    /// Its shape (fixed: assignments cannot change it).
    pub shape: Shape,
}

/// `fn name(a, b) = body;`: a function of scalars applied elementwise, or, with a
/// shaped parameter (`fn u(z[2]) = ...`), a function of arrays called as written.
#[derive(Clone, Debug)]
pub struct Function {
    /// The name as written.
    pub name: String,
    /// Number of arguments.
    pub arity: usize,
    /// Each parameter's shape (`Scalar` when unshaped).
    pub params: Vec<Shape>,
    /// Whether some parameter has a shape: the calls then pass whole values (never
    /// elementwise).
    pub shaped: bool,
    /// An expression of [`ExprKind::Arg`]s, inputs, targets, params, literals and
    /// calls of other `fn`s (acyclic); a scalar unless [`Function::shaped`] or called
    /// with scalars only.
    pub body: Expr,
}

/// One statement.
#[derive(Clone, Debug)]
pub enum Stmt {
    /// `let b = value;` or `output b = value;`: the first value of `binding`.
    Let {
        /// The new binding.
        binding: BindingId,
        /// Its value; `value.shape` is the binding's shape.
        value: Expr,
    },
    /// `b[i][j] = value;`: replaces the elements the indices select. Compound
    /// assignments are desugared: `b[i] += e` is `b[i] = b[i] + e`.
    Assign {
        /// A mutable binding.
        binding: BindingId,
        /// Zero, one or two indices, outermost first.
        indices: Vec<Index>,
        /// The new value, of the selected elements' shape.
        value: Expr,
    },
    /// `for var in start..start+count { body }`, unrolled by the lowering.
    For {
        /// The loop variable (`None` for `_`).
        var: Option<LoopVarId>,
        /// The first value.
        start: i64,
        /// The number of iterations (possibly 0).
        count: u64,
        /// The body, run once per iteration; its `let`s are fresh each time.
        body: Vec<Stmt>,
    },
    /// `loss = value;` (a scalar).
    Loss(Expr),
}

/// An integer formula for an index: literals and loop variables with `-`, `+`, `-`, `*`.
/// The check stage has evaluated it for every iteration: in range, no overflow.
#[derive(Clone, Debug, PartialEq)]
pub enum Index {
    /// A literal.
    Const(i64),
    /// A loop variable's current value.
    Var(LoopVarId),
    /// `-a`
    Neg(Box<Index>),
    /// `a op b` for `+`, `-`, `*` (never `/`).
    Binary(BinOp, Box<Index>, Box<Index>),
}

impl Index {
    /// The value with the loop variables at `vars` (indexed by [`LoopVarId`]). Wrapping
    /// arithmetic: the check stage has ruled overflow out.
    pub fn eval(&self, vars: &[i64]) -> i64 {
        match self {
            Index::Const(v) => *v,
            Index::Var(v) => vars[v.0 as usize],
            Index::Neg(a) => a.eval(vars).wrapping_neg(),
            Index::Binary(op, a, b) => {
                let (a, b) = (a.eval(vars), b.eval(vars));
                match op {
                    BinOp::Add => a.wrapping_add(b),
                    BinOp::Sub => a.wrapping_sub(b),
                    BinOp::Mul | BinOp::Div => a.wrapping_mul(b),
                }
            }
        }
    }
}

/// A typed expression.
#[derive(Clone, Debug)]
pub struct Expr {
    /// The value's shape.
    pub shape: Shape,
    /// What it computes.
    pub kind: ExprKind,
}

/// The activation of a `dense` layer: a one-argument elementwise function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// A builtin with [`Builtin::is_elementwise`] and arity 1 (`tanh`, `identity`, ...).
    Builtin(Builtin),
    /// A one-argument user `fn`.
    Fn(FnId),
}

/// What an expression computes. Operand shapes are valid for the operation.
#[derive(Clone, Debug)]
pub enum ExprKind {
    /// A number literal.
    Num(f64),
    /// A loop variable's current value, as a number.
    LoopVar(LoopVarId),
    /// A whole declaration (input, target or declared param group).
    Slot(SlotRef),
    /// The current value of a binding.
    Binding(BindingId),
    /// Argument `k` of the enclosing `fn` (only inside [`Function::body`]).
    Arg(usize),
    /// `-a`, elementwise.
    Neg(Box<Expr>),
    /// `a op b` elementwise for `+ - * /`, a scalar broadcast against any shape
    /// (including `matrix * scalar`).
    Elementwise(BinOp, Box<Expr>, Box<Expr>),
    /// `a * b` with `a` a matrix and `b` a vector or matrix: the linear-algebra product.
    MatMul(Box<Expr>, Box<Expr>),
    /// `[a, b, c]`: elements of one shape.
    Array(Vec<Expr>),
    /// `a[i]`: an element of a vector or a row of a matrix.
    Index(Box<Expr>, Index),
    /// A builtin applied to values: every builtin except `dense` and `powi` (`.T` is
    /// `Apply(Transpose, [m])`). Elementwise builtins broadcast a scalar argument.
    Apply(Builtin, Vec<Expr>),
    /// `powi(a, n)`, elementwise.
    Powi(Box<Expr>, i32),
    /// A user `fn`, applied elementwise (scalar arguments broadcast).
    Call(FnId, Vec<Expr>),
    /// `diff(e, v)`: the derivative of `e` with respect to `v`, of shape `e.shape`
    /// followed by `v.shape` (rank at most 2).
    Diff(Box<Expr>, Wrt),
    /// `laplacian(e, v)`: `Σᵢ ∂²e/∂vᵢ²` for a scalar `e` (and a scalar or vector `v`).
    Laplacian(Box<Expr>, Wrt),
    /// `dense(input, units, activation)`: `activation(weight * input + bias)`.
    Dense {
        /// A vector.
        input: Box<Expr>,
        /// The `<binding>.weight` group, `[units][len(input)]`, index into `params`.
        weight: usize,
        /// The `<binding>.bias` group, `[units]`.
        bias: usize,
        /// The activation.
        activation: Activation,
    },
}

/// What `diff(e, v)` differentiates with respect to: an input, a parameter, or a `fn`
/// parameter inside its body, possibly indexed (`x[0]`, `W[1]`, `W[i][j]`).
#[derive(Clone, Debug)]
pub struct Wrt {
    /// The variable.
    pub base: WrtBase,
    /// The variable's whole shape.
    pub base_shape: Shape,
    /// The indices applied to it, outermost first (each checked in range).
    pub indices: Vec<Index>,
    /// The shape of the selected part.
    pub shape: Shape,
}

/// The variable of a [`Wrt`].
#[derive(Clone, Copy, Debug)]
pub enum WrtBase {
    /// An input or parameter declaration.
    Slot(SlotRef),
    /// Argument `k` of the enclosing `fn`.
    Arg(usize),
}
