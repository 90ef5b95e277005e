//! Stage 2, check: one resolution pass from the syntax tree to a
//! [`crate::resolved::Program`], reporting every mistake at once.
//!
//! The checker walks the statements in the order the lowering evaluates them:
//!
//! - declarations (`input`, `target`, `param`, `fn`) are top level and visible everywhere
//!   (`decls` lays them out first, `dense` groups included, in declaration order);
//! - `let` and `output` bindings are visible from the next statement on, within their
//!   scope (the top level, or a `for` body); no name may be defined twice or shadowed
//!   (inside a `fn` body its arguments hide global declarations of the same name);
//!   `scope` turns names into ids;
//! - a `for` body is checked **once**: shapes never depend on the loop variable's value.
//!   Only indices do: each index is an integer formula (`index`) evaluated for every
//!   combination of the enclosing loops' values, so out-of-range indices and overflow
//!   are still found, with the iteration that fails;
//! - user `fn`s map scalars to a scalar and are applied elementwise; their bodies are
//!   checked once (arguments are scalars), and the call graph must be acyclic, shallow
//!   and small enough to inline (`fns`);
//! - the size of the unrolled network is estimated as it is checked (`budget`);
//! - the output may not depend on a target (`targets`, on the resolved program).
//!
//! Every expression gets a shape. An erroneous one gets the *unknown* shape (`None`),
//! which is compatible with everything, so one mistake yields one error rather than a
//! cascade. Errors are collected and combined at the end; the resolved program is
//! returned only when there are none.

mod budget;
mod call;
mod decls;
mod expr;
mod fns;
mod index;
pub mod options;
#[cfg(test)]
mod resolve_tests;
mod scope;
mod stmt;
mod suggest;
mod targets;

use std::collections::{BTreeMap, HashMap, HashSet};

use proc_macro2::Span;

use crate::ast::{FnDef, Loc, Network};
use crate::resolved::{
    Binding, BindingId, Expr, ExprKind, FnId, Function, LoopVarId, Program, Slot, SlotKind,
    SlotRef, Stmt, StructHeader,
};
use crate::shape::Shape;

pub use crate::resolved::FloatType;
pub use budget::{MAX_ELEMENTS, MAX_FN_DEPTH, MAX_INLINED_NODES, MAX_ITERATIONS, MAX_WORK};

/// Checks a parsed network and resolves it, reporting every mistake at once.
pub fn check(network: &Network) -> syn::Result<Program> {
    let mut checker = Checker::new(network);
    // (Parsed first: the size budget counts a loop that will be a Rust loop once.)
    let options = options::options(&network.attrs, &mut checker.errors);
    checker.loop_threshold = options.loop_threshold;
    let body = checker.body();
    let header = StructHeader {
        name: network.name.clone(),
        vis: network.vis.clone(),
        attrs: network
            .attrs
            .iter()
            .filter(|a| !options::is_option(a))
            .cloned()
            .collect(),
    };
    checker.finish(header, body, options)
}

/// A shape, or `None` for the unknown shape of an erroneous expression (already reported).
type Ty = Option<Shape>;

/// A resolved expression and its shape as far as the checker knows it. When `ty` is
/// `None` an error has been reported and `expr` is a placeholder that never leaves the
/// checker.
struct Typed {
    ty: Ty,
    expr: Expr,
}

impl Typed {
    fn new(ty: Ty, kind: ExprKind) -> Typed {
        Typed {
            ty,
            expr: Expr {
                shape: ty.unwrap_or(Shape::Scalar),
                kind,
            },
        }
    }

    /// An erroneous expression (already reported).
    fn unknown() -> Typed {
        Typed::new(None, ExprKind::Num(0.0))
    }
}

/// `input`, `target` or `param`, as written.
fn kind_word(kind: SlotKind) -> &'static str {
    match kind {
        SlotKind::Input => "input",
        SlotKind::Target => "target",
        SlotKind::Param => "param",
    }
}

/// `an input`, `a target` or `a param`.
fn kind_describe(kind: SlotKind) -> &'static str {
    match kind {
        SlotKind::Input => "an input",
        SlotKind::Target => "a target",
        SlotKind::Param => "a param",
    }
}

/// A top-level declaration: visible everywhere.
enum Item<'a> {
    Global {
        kind: SlotKind,
        shape: Ty,
        slot: SlotRef,
    },
    Fn(&'a FnDef, FnId),
}

/// Where a top-level declaration is: `(statement index, position in the statement)`.
/// Tells the first declaration of a name from duplicates.
type Origin = (usize, usize);

struct Declared<'a> {
    item: Item<'a>,
    /// The declared name's span.
    span: Span,
    origin: Origin,
}

impl Declared<'_> {
    fn describe(&self) -> &'static str {
        match self.item {
            Item::Global { kind, .. } => kind_describe(kind),
            Item::Fn(..) => "a `fn`",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LocalKind {
    Let { mutable: bool },
    Output,
    LoopVar,
}

impl LocalKind {
    fn describe(self) -> &'static str {
        match self {
            LocalKind::Let { .. } => "a `let` binding",
            LocalKind::Output => "the output",
            LocalKind::LoopVar => "a loop variable",
        }
    }
}

/// A binding in scope: `let`, `output` or a loop variable.
struct Local {
    name: String,
    span: Span,
    kind: LocalKind,
    shape: Ty,
    /// A [`BindingId`] or, for a loop variable, a [`LoopVarId`].
    id: u32,
}

/// What a name denotes as a value.
#[derive(Clone, Copy)]
enum Value {
    Local {
        kind: LocalKind,
        shape: Ty,
        id: u32,
    },
    /// Argument `k` of the `fn` being checked, with its declared shape.
    Arg(usize, Ty),
    Global {
        kind: SlotKind,
        shape: Ty,
        slot: SlotRef,
    },
}

impl Value {
    fn shape(self) -> Ty {
        match self {
            Value::Local { shape, .. } | Value::Global { shape, .. } => shape,
            Value::Arg(_, shape) => shape,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Value::Local { kind, .. } => kind.describe(),
            Value::Arg(..) => "an argument",
            Value::Global { kind, .. } => kind_describe(kind),
        }
    }

    /// The resolved expression of the name.
    fn resolve(self) -> Typed {
        let kind = match self {
            Value::Local {
                kind: LocalKind::LoopVar,
                id,
                ..
            } => ExprKind::LoopVar(LoopVarId(id)),
            Value::Local { id, .. } => ExprKind::Binding(BindingId(id)),
            Value::Arg(k, _) => ExprKind::Arg(k),
            Value::Global { slot, .. } => ExprKind::Slot(slot),
        };
        Typed::new(self.shape(), kind)
    }
}

/// Whether `dense` may appear in the expression being checked.
#[derive(Clone, Copy)]
enum Dense {
    Allowed {
        used: bool,
    },
    /// Where the expression is, for the error message.
    Forbidden(&'static str),
}

/// The context of an expression.
struct Scope<'a> {
    /// The `fn` whose body is checked: then only its arguments and global declarations
    /// are visible.
    func: Option<&'a FnDef>,
    dense: Dense,
}

impl Scope<'_> {
    fn top(dense: Dense) -> Self {
        Scope { func: None, dense }
    }
}

/// An enclosing `for` loop.
struct Loop {
    var: Option<LoopVarId>,
    /// The variable's name, for "(when i = 2)".
    name: String,
    /// `(first value, number of iterations)`; `None` when unknown (erroneous bounds, or
    /// past the unrolling budget): indices using the variable are then not evaluated.
    range: Option<(i64, u64)>,
}

struct Checker<'a> {
    network: &'a Network,
    /// Global declarations and `fn`s by name (the first of duplicates).
    decls: BTreeMap<String, Declared<'a>>,
    /// The registered `fn`s, by [`FnId`].
    fn_defs: Vec<&'a FnDef>,
    /// Their resolved definitions, once checked.
    fns: Vec<Option<Function>>,
    /// The `fn`s whose bodies are being checked (a call may check a body early).
    fn_checking: Vec<FnId>,
    /// Call-graph errors, with the `fn` they are reported with.
    fn_errors: Vec<(FnId, syn::Error)>,
    /// Expression nodes of each `fn` once inlined.
    fn_sizes: Vec<u64>,
    /// Every `let`/`output`/loop-variable name anywhere in the network, and whether it is
    /// bound inside a `for` loop, for hints.
    bound_anywhere: BTreeMap<String, (LocalKind, bool)>,
    /// The bindings in scope, innermost last.
    locals: Vec<Local>,
    /// The enclosing loops, innermost last.
    loops: Vec<Loop>,
    /// Names defined by misplaced statements (already reported): not found, but not
    /// reported again.
    silenced: HashSet<String>,
    float: FloatType,
    float_decl: Option<Loc>,
    /// The first `output` keyword.
    output: Option<Span>,
    /// The output binding and its name's span.
    output_binding: Option<(BindingId, Span)>,
    /// The first `loss` keyword.
    loss: Option<Span>,
    /// Loop iterations so far (see [`MAX_ITERATIONS`]).
    iterations: u64,
    /// Scalar operations so far (see [`MAX_WORK`]).
    work: u64,
    /// How many times the statements being checked run (the enclosing loops' counts
    /// multiplied out).
    scale: u64,
    over_budget: bool,
    inputs: Vec<Slot>,
    targets: Vec<Slot>,
    params: Vec<Slot>,
    declarations: Vec<SlotRef>,
    /// Top-level statement index → index of its `dense` layer's weight group in `params`.
    dense_groups: HashMap<usize, usize>,
    /// The top-level statement being checked.
    statement: usize,
    bindings: Vec<Binding>,
    /// The location of each resolved `let`, `output` and assignment, in the order
    /// they appear in the program (a pre-order walk of [`Program::body`]), for notes
    /// of [`targets`].
    stmt_locs: Vec<Loc>,
    loop_vars: usize,
    loop_var_names: Vec<String>,
    /// `#[symnn(loop_threshold = N)]`.
    loop_threshold: u64,
    errors: Vec<syn::Error>,
}

impl<'a> Checker<'a> {
    fn new(network: &'a Network) -> Self {
        let mut checker = Checker {
            network,
            decls: BTreeMap::new(),
            fn_defs: Vec::new(),
            fns: Vec::new(),
            fn_checking: Vec::new(),
            fn_errors: Vec::new(),
            fn_sizes: Vec::new(),
            bound_anywhere: BTreeMap::new(),
            locals: Vec::new(),
            loops: Vec::new(),
            silenced: HashSet::new(),
            float: FloatType::F64,
            float_decl: None,
            output: None,
            output_binding: None,
            loss: None,
            iterations: 0,
            work: 0,
            scale: 1,
            over_budget: false,
            inputs: Vec::new(),
            targets: Vec::new(),
            params: Vec::new(),
            declarations: Vec::new(),
            dense_groups: HashMap::new(),
            statement: 0,
            bindings: Vec::new(),
            stmt_locs: Vec::new(),
            loop_vars: 0,
            loop_var_names: Vec::new(),
            loop_threshold: crate::lower::LOOP_THRESHOLD,
            errors: Vec::new(),
        };
        checker.declare_all();
        scope::collect_bindings(&network.body, false, &mut checker.bound_anywhere);
        checker.analyse_fns();
        checker
    }

    /// Reports an error.
    fn error(&mut self, loc: Loc, message: impl std::fmt::Display) {
        self.errors.push(loc.error(message));
    }

    /// A new binding.
    fn new_binding(&mut self, name: String, shape: Ty) -> BindingId {
        let id = BindingId(self.bindings.len() as u32);
        self.bindings.push(Binding {
            name,
            shape: shape.unwrap_or(Shape::Scalar),
        });
        id
    }

    /// Assembles the program, runs the data-flow rules on it, and returns it if no
    /// mistake was found.
    fn finish(
        mut self,
        header: StructHeader,
        body: Vec<Stmt>,
        options: options::Options,
    ) -> syn::Result<Program> {
        let mut offset = 0usize;
        for slot in &mut self.params {
            slot.offset = offset;
            offset = offset.saturating_add(slot.shape.len());
        }
        let fns = std::mem::take(&mut self.fns)
            .into_iter()
            .zip(&self.fn_defs)
            .map(|(f, def)| {
                f.unwrap_or_else(|| Function {
                    name: def.name.to_string(),
                    arity: def.args.len(),
                    params: vec![Shape::Scalar; def.args.len()],
                    shaped: def.is_shaped(),
                    body: Typed::unknown().expr,
                })
            })
            .collect();
        let program = Program {
            header,
            float: self.float,
            inputs: self.inputs,
            targets: self.targets,
            params: self.params,
            declarations: self.declarations,
            fns,
            bindings: self.bindings,
            loop_vars: self.loop_vars,
            loop_var_names: self.loop_var_names,
            body,
            output: self.output_binding.map_or(BindingId(0), |(id, _)| id),
            tensor_threshold: options.tensor_threshold,
            loop_threshold: options.loop_threshold,
            derivation: options.derivation,
        };
        if let Some((_, span)) = self.output_binding {
            let errors = targets::check(&program, Loc::at(span), &self.stmt_locs);
            self.errors.extend(errors);
        }
        let mut errors = self.errors.into_iter();
        match errors.next() {
            None => Ok(program),
            Some(mut first) => {
                errors.for_each(|e| first.combine(e));
                Err(first)
            }
        }
    }
}

#[cfg(test)]
mod test_util {
    use proc_macro2::TokenStream;
    use quote::quote;

    /// The messages of every error of a network body wrapped in `struct N { .. }`.
    pub fn errors(body: TokenStream) -> Vec<String> {
        let network =
            crate::ast::parse(quote! { struct N { #body } }).expect("the test network parses");
        match super::check(&network) {
            Ok(_) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[track_caller]
    pub fn assert_ok(body: TokenStream) {
        let errors = errors(body);
        assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    }

    /// Asserts exactly one error (besides "... here" notes), containing `expected`.
    #[track_caller]
    pub fn assert_error(body: TokenStream, expected: &str) {
        let mut errors = errors(body);
        errors.retain(|e| !e.ends_with(" here"));
        assert!(
            errors.len() == 1 && errors[0].contains(expected),
            "expected one error containing {expected:?}, got {errors:#?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::{assert_ok, errors};
    use super::*;
    use quote::quote;

    #[test]
    fn spec_example_seed003() {
        let network = crate::ast::parse(quote! {
            /// 2-2-1 classifier with one shared bias.
            pub struct Seed003 {
                input x1, x2;
                target y;
                param w0 = 0.1, w13 = 0.2, w14 = 0.8, w23 = 0.6, w24 = 0.4, w35 = 0.1, w45 = 0.5;
                let f3 = sigmoid((x1 * w13 + w0) + (x2 * w23 + w0));
                let f4 = sigmoid((x1 * w14 + w0) + (x2 * w24 + w0));
                output f5 = sigmoid((f3 * w35 + w0) + (f4 * w45 + w0));
                loss = -(y * ln(f5) + (1.0 - y) * ln(1.0 - f5));
            }
        })
        .unwrap();
        assert_eq!(check(&network).unwrap().float, FloatType::F64);
    }

    #[test]
    fn spec_example_mlp() {
        let network = crate::ast::parse(quote! {
            pub struct Mlp {
                type Float = f32;
                input x[2];
                target t[1];
                let h1 = dense(x, 8, tanh);
                let h2 = dense(h1, 8, tanh);
                output y = dense(h2, 1, identity);
                loss = mse(y, t);
            }
        })
        .unwrap();
        assert_eq!(check(&network).unwrap().float, FloatType::F32);
    }

    #[test]
    fn declarations_are_visible_before_their_statement() {
        assert_ok(quote! {
            input x[2];
            target t;
            let h = dense(x, 4, tanh);
            output y = sigmoid(dot(h, v) + c);
            param v[4], c = 0.0;
            loss = bce(y, t);
        });
    }

    #[test]
    fn valid_programs() {
        // A loop with `z[i + 1]`, `let mut` and compound assignment.
        assert_ok(quote! {
            input x[4];
            let mut z = [0.0, 0.0, 0.0, 0.0];
            for i in 0..3 { z[i + 1] = z[i] + x[i]; }
            for _ in 0..=2 { z += 1.0; z *= 0.5; }
            for i in 0..2 { for j in 0..2 { let k = i * 2.0; z[i * 2 + j] -= k + j; } }
            output y = z;
            loss = sum(y);
        });
        // A fn, applied to a scalar and elementwise to a vector, and used as an activation.
        assert_ok(quote! {
            fn s(u) = 1.0 / (1.0 + exp(-u));
            fn mix(a, b) = s(a) * b + w;
            input x[3];
            target t[2];
            param w = 0.5;
            let h = dense(x, 2, s);
            output y = mix(h, 2.0) + s(w);
            loss = mse(y, t);
        });
        // Matrix literal params, transpose, products, indexing rows and elements.
        assert_ok(quote! {
            input v[2];
            param m[2][2] = [[1.0, 0.5], [0.0, 1.0]], b[2] = 0.1, k[2][3] = 0.0;
            let a = m.T * v + b;
            let c = transpose(k) * a;
            let r = m[1] + m[0][1] * k[1][2];
            output y = [a[0].powi(2), a[1].max(r[0]), powi(c[2], -1), min(r[1], 0.0)];
            loss = sum(y) + mean(m * m);
        });
    }

    #[test]
    fn every_mistake_is_reported() {
        let all = errors(quote! {
            type Float = f16;
            input x[3];
            param w[3][3] = [[1.0, 0.0, 0.0], [0.0, 1.0]];
            let h = w * x + zz;
            let g = tanh(h, 1.0);
            output y = h[5];
        });
        assert_eq!(all.len(), 6, "{all:#?}");
    }
}
