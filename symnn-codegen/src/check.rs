//! Stage 2, check: validates a parsed network against every rule the lowering relies on,
//! reporting all mistakes at once.
//!
//! The checker walks the statements exactly as the lowering evaluates them:
//!
//! - declarations (`input`, `target`, `param`, `fn`) are top level and visible everywhere;
//! - `let` and `output` bindings are visible from the next statement on, within their scope
//!   (the top level, or one iteration of a `for` body); no name may be defined twice or
//!   shadowed (inside a `fn` body its arguments hide global declarations of the same name);
//! - `for` loops are unrolled: the body is checked once per value of the loop variable, so
//!   every index is evaluated and range-checked;
//! - user `fn`s map scalars to a scalar and are applied elementwise; their bodies are
//!   checked once (arguments are scalars), and the call graph must be acyclic, shallow and
//!   small enough to inline.
//!
//! Every expression gets a shape. An erroneous one gets the *unknown* shape (`None`), which
//! is compatible with everything, so one mistake yields one error rather than a cascade.
//! Errors are collected (deduplicated across loop iterations) and combined at the end.

use std::collections::{BTreeMap, HashMap, HashSet};

use proc_macro2::Span;
use quote::ToTokens;
use syn::Ident;

use crate::ast::{BinOp, Decl, Expr, FnDef, ForLoop, Init, Loc, Network, Place, Stmt};
use crate::builtins::{self, Builtin};
use crate::shape::Shape;

/// Most loop iterations unrolled in one network, over all loops (nested ones multiplied out).
pub const MAX_ITERATIONS: u64 = 100_000;
/// Most scalar elements in one value (a declaration, a `dense` weight matrix, a product).
pub const MAX_ELEMENTS: usize = 1_000_000;
/// Deepest chain of nested user `fn` calls.
pub const MAX_FN_DEPTH: usize = 64;
/// Most expression nodes one user `fn` may expand to once the `fn`s it calls are inlined.
pub const MAX_INLINED_NODES: u64 = 1_000_000;
/// Most scalar operations the unrolled network may take (an estimate made while checking:
/// elements of every value computed, products and inlined `fn`s multiplied out).
pub const MAX_WORK: u64 = 5_000_000;

pub use crate::resolved::FloatType;

/// What the checker learned that later stages need.
#[derive(Debug)]
pub struct Checked {
    /// The element type (`f64` unless `type Float = f32;`).
    pub float: FloatType,
}

/// Checks a parsed network, reporting every mistake at once.
pub fn check(network: &Network) -> syn::Result<Checked> {
    let mut checker = Checker::new(network);
    checker.check_body();
    checker.finish()
}

/// A shape, or `None` for the unknown shape of an erroneous expression (already reported).
type Ty = Option<Shape>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeclKind {
    Input,
    Target,
    Param,
}

impl DeclKind {
    fn word(self) -> &'static str {
        match self {
            DeclKind::Input => "input",
            DeclKind::Target => "target",
            DeclKind::Param => "param",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            DeclKind::Input => "an input",
            DeclKind::Target => "a target",
            DeclKind::Param => "a param",
        }
    }
}

/// A top-level declaration: visible everywhere.
enum Item<'a> {
    Global { kind: DeclKind, shape: Ty },
    Fn(&'a FnDef),
}

struct Declared<'a> {
    item: Item<'a>,
    /// The declared name's span.
    span: Span,
    /// Address of the declaring AST node, to tell the first declaration from duplicates.
    origin: usize,
}

impl Declared<'_> {
    fn describe(&self) -> &'static str {
        match self.item {
            Item::Global { kind, .. } => kind.describe(),
            Item::Fn(_) => "a `fn`",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LocalKind {
    Let {
        mutable: bool,
    },
    Output,
    /// The loop variable's value in the iteration being checked; `None` when unknown
    /// (empty or erroneous ranges, or past the unrolling budget).
    LoopVar(Option<i64>),
}

impl LocalKind {
    fn describe(self) -> &'static str {
        match self {
            LocalKind::Let { .. } => "a `let` binding",
            LocalKind::Output => "the output",
            LocalKind::LoopVar(_) => "a loop variable",
        }
    }
}

/// A binding in scope: `let`, `output` or a loop variable.
struct Local {
    name: String,
    span: Span,
    kind: LocalKind,
    shape: Ty,
}

/// What a name denotes as a value.
#[derive(Clone, Copy)]
enum Value {
    Local { kind: LocalKind, shape: Ty },
    Arg,
    Global { kind: DeclKind, shape: Ty },
}

impl Value {
    fn shape(self) -> Ty {
        match self {
            Value::Local { shape, .. } | Value::Global { shape, .. } => shape,
            Value::Arg => Some(Shape::Scalar),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Value::Local { kind, .. } => kind.describe(),
            Value::Arg => "an argument",
            Value::Global { kind, .. } => kind.describe(),
        }
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

struct Checker<'a> {
    network: &'a Network,
    /// Global declarations and `fn`s by name (the first of duplicates).
    decls: BTreeMap<String, Declared<'a>>,
    /// Call-graph errors, keyed by the address of the `fn` they are reported with.
    fn_errors: Vec<(usize, syn::Error)>,
    /// Every `let`/`output`/loop-variable name anywhere in the network, and whether it is
    /// bound inside a `for` loop, for hints.
    bound_anywhere: BTreeMap<String, (LocalKind, bool)>,
    /// The bindings in scope, innermost last.
    locals: Vec<Local>,
    /// Names defined by misplaced statements (already reported): not found, but not
    /// reported again.
    silenced: HashSet<String>,
    float: FloatType,
    float_decl: Option<Loc>,
    output: Option<Span>,
    loss: Option<Span>,
    iterations: u64,
    /// Scalar operations so far (see [`MAX_WORK`]).
    work: u64,
    /// Expression nodes of each `fn` once inlined, by the address of its definition.
    fn_sizes: HashMap<usize, u64>,
    over_budget: bool,
    errors: Vec<syn::Error>,
    /// `(AST node address, message key)` of reported errors: a loop body is checked once
    /// per iteration but each mistake is reported once.
    reported: HashSet<(usize, String)>,
}

/// A stable identity for an AST node during the check.
fn addr<T>(node: &T) -> usize {
    node as *const T as usize
}

impl<'a> Checker<'a> {
    fn new(network: &'a Network) -> Self {
        let mut checker = Checker {
            network,
            decls: BTreeMap::new(),
            fn_errors: Vec::new(),
            bound_anywhere: BTreeMap::new(),
            locals: Vec::new(),
            silenced: HashSet::new(),
            float: FloatType::F64,
            float_decl: None,
            output: None,
            loss: None,
            iterations: 0,
            work: 0,
            fn_sizes: HashMap::new(),
            over_budget: false,
            errors: Vec::new(),
            reported: HashSet::new(),
        };
        for stmt in &network.body {
            match stmt {
                Stmt::Input(decls) => decls
                    .iter()
                    .for_each(|d| checker.declare(d, DeclKind::Input)),
                Stmt::Target(decls) => decls
                    .iter()
                    .for_each(|d| checker.declare(d, DeclKind::Target)),
                Stmt::Param(params) => params
                    .iter()
                    .for_each(|p| checker.declare(&p.decl, DeclKind::Param)),
                Stmt::Fn(def) => {
                    let name = def.name.to_string();
                    if Builtin::lookup(&name).is_none() {
                        checker.decls.entry(name).or_insert(Declared {
                            item: Item::Fn(def),
                            span: def.name.span(),
                            origin: addr(def),
                        });
                    }
                }
                _ => {}
            }
        }
        collect_bindings(&network.body, false, &mut checker.bound_anywhere);
        checker.analyse_fns();
        checker
    }

    fn declare(&mut self, decl: &'a Decl, kind: DeclKind) {
        let shape = decl_shape(decl).ok();
        self.decls.entry(decl.name.to_string()).or_insert(Declared {
            item: Item::Global { kind, shape },
            span: decl.name.span(),
            origin: addr(decl),
        });
    }

    /// The registered `fn`s in source order.
    fn user_fns(&self) -> Vec<&'a FnDef> {
        let mut fns = Vec::new();
        for stmt in &self.network.body {
            if let Stmt::Fn(def) = stmt {
                if let Some(Declared {
                    item: Item::Fn(_),
                    origin,
                    ..
                }) = self.decls.get(&def.name.to_string())
                {
                    if *origin == addr(def) {
                        fns.push(def);
                    }
                }
            }
        }
        fns
    }

    /// Finds recursion, over-deep call chains and oversized inlining among the `fn`s.
    fn analyse_fns(&mut self) {
        let fns = self.user_fns();
        let index: HashMap<String, usize> = fns
            .iter()
            .enumerate()
            .map(|(i, def)| (def.name.to_string(), i))
            .collect();
        let calls: Vec<Vec<(usize, Loc)>> = fns
            .iter()
            .map(|def| {
                let mut out = Vec::new();
                collect_calls(&def.body, &index, &mut out);
                out
            })
            .collect();
        let mut graph = FnGraph {
            fns: &fns,
            calls: &calls,
            state: vec![Visit::New; fns.len()],
            size: vec![0; fns.len()],
            height: vec![0; fns.len()],
            stack: Vec::new(),
            errors: Vec::new(),
        };
        for f in 0..fns.len() {
            if graph.state[f] == Visit::New {
                graph.visit(f, 0);
            }
        }
        self.fn_errors = graph.errors;
        self.fn_sizes = fns
            .iter()
            .zip(&graph.size)
            .map(|(def, size)| (addr(*def), *size))
            .collect();
    }

    fn finish(mut self) -> syn::Result<Checked> {
        let mut errors = std::mem::take(&mut self.errors).into_iter();
        match errors.next() {
            None => Ok(Checked { float: self.float }),
            Some(mut first) => {
                errors.for_each(|e| first.combine(e));
                Err(first)
            }
        }
    }

    // ----------------------------------------------------------------------------------
    // Errors
    // ----------------------------------------------------------------------------------

    /// Reports an error once per `(node, message)`.
    fn error(&mut self, node: usize, loc: Loc, message: impl Into<String>) {
        let message = message.into();
        if self.reported.insert((node, message.clone())) {
            self.errors.push(loc.error(message));
        }
    }

    /// Reports an error once per `(node, key)`, for messages that vary between loop
    /// iterations.
    fn error_keyed(&mut self, node: usize, key: &str, loc: Loc, message: String) {
        if self.reported.insert((node, key.to_owned())) {
            self.errors.push(loc.error(message));
        }
    }

    // ----------------------------------------------------------------------------------
    // Statements
    // ----------------------------------------------------------------------------------

    fn check_body(&mut self) {
        let network = self.network;
        for stmt in &network.body {
            self.stmt(stmt, false);
        }
        let name = Loc::at(network.name.span());
        if self.output.is_none() {
            self.error(
                addr(network),
                name,
                "missing `output` statement: add `output y = ...;`",
            );
        }
        if self.loss.is_none() {
            self.error(
                addr(network),
                name,
                "missing `loss` statement: add `loss = ...;` (a scalar, e.g. `loss = mse(y, t);`)",
            );
        }
    }

    fn stmt(&mut self, stmt: &'a Stmt, in_loop: bool) {
        let node = addr(stmt);
        match stmt {
            Stmt::FloatType { ty, loc } => self.float_type(node, ty, *loc, in_loop),
            Stmt::Input(decls) | Stmt::Target(decls) => {
                let kind = if matches!(stmt, Stmt::Input(_)) {
                    DeclKind::Input
                } else {
                    DeclKind::Target
                };
                if in_loop {
                    if let Some(first) = decls.first() {
                        self.not_in_loop(
                            node,
                            Loc::at(first.name.span()),
                            &format!("`{}` declarations", kind.word()),
                        );
                    }
                    self.silenced
                        .extend(decls.iter().map(|d| d.name.to_string()));
                    return;
                }
                for decl in decls {
                    self.declaration(decl);
                }
            }
            Stmt::Param(params) => {
                if in_loop {
                    if let Some(first) = params.first() {
                        self.not_in_loop(
                            node,
                            Loc::at(first.decl.name.span()),
                            "`param` declarations",
                        );
                    }
                    self.silenced
                        .extend(params.iter().map(|p| p.decl.name.to_string()));
                    return;
                }
                for param in params {
                    self.declaration(&param.decl);
                    if let (Some(init), Ok(shape)) = (&param.init, decl_shape(&param.decl)) {
                        self.check_init(init, shape, &param.decl.name);
                    }
                }
            }
            Stmt::Fn(def) => self.fn_def(def, in_loop),
            Stmt::Let {
                mutable,
                name,
                value,
            } => {
                let dense = if in_loop {
                    Dense::Forbidden("inside a `for` loop")
                } else {
                    Dense::Allowed { used: false }
                };
                let shape = self.expr(value, &mut Scope::top(dense));
                self.bind(name, LocalKind::Let { mutable: *mutable }, shape);
            }
            Stmt::Assign {
                place,
                op,
                value,
                loc,
            } => self.assign(place, *op, value, *loc, in_loop),
            Stmt::For(for_loop) => self.for_loop(for_loop),
            Stmt::Output {
                name,
                value,
                keyword,
            } => {
                let keyword_loc = Loc::at(*keyword);
                if in_loop {
                    self.not_in_loop(node, keyword_loc, "`output`");
                    self.output.get_or_insert(*keyword);
                    self.silenced.insert(name.to_string());
                    self.expr(
                        value,
                        &mut Scope::top(Dense::Forbidden("inside a `for` loop")),
                    );
                    return;
                }
                match self.output {
                    Some(first) => {
                        self.error(
                            node,
                            keyword_loc,
                            "a network has exactly one `output`, and this is a second one",
                        );
                        self.error(node, Loc::at(first), "the first `output` is here");
                    }
                    None => self.output = Some(*keyword),
                }
                let shape = self.expr(value, &mut Scope::top(Dense::Allowed { used: false }));
                self.bind(name, LocalKind::Output, shape);
            }
            Stmt::Loss { value, keyword } => {
                let keyword_loc = Loc::at(*keyword);
                if in_loop {
                    self.not_in_loop(node, keyword_loc, "`loss`");
                    self.loss.get_or_insert(*keyword);
                    self.expr(
                        value,
                        &mut Scope::top(Dense::Forbidden("inside a `for` loop")),
                    );
                    return;
                }
                match self.loss {
                    Some(first) => {
                        self.error(
                            node,
                            keyword_loc,
                            "a network has exactly one `loss`, and this is a second one",
                        );
                        self.error(node, Loc::at(first), "the first `loss` is here");
                    }
                    None => self.loss = Some(*keyword),
                }
                let shape = self.expr(value, &mut Scope::top(Dense::Forbidden("in the loss")));
                if let Some(shape) = shape {
                    if shape != Shape::Scalar {
                        self.error(
                            node,
                            value.loc(),
                            format!("the loss must be a scalar, found {shape}; reduce it, e.g. with `sum(..)`, `mean(..)` or `mse(y, t)`"),
                        );
                    }
                }
            }
        }
    }

    fn not_in_loop(&mut self, node: usize, loc: Loc, what: &str) {
        self.error(
            node,
            loc,
            format!("{what} must be at the top level, not inside a `for` loop"),
        );
    }

    fn float_type(&mut self, node: usize, ty: &syn::Type, loc: Loc, in_loop: bool) {
        if in_loop {
            self.not_in_loop(node, loc, "`type Float`");
            return;
        }
        if let Some(first) = self.float_decl {
            self.error(node, loc, "`type Float` is declared twice; keep one");
            self.error(node, first, "the first `type Float` is here");
            return;
        }
        self.float_decl = Some(loc);
        let float = match ty {
            syn::Type::Path(path) if path.qself.is_none() && path.path.is_ident("f32") => {
                Some(FloatType::F32)
            }
            syn::Type::Path(path) if path.qself.is_none() && path.path.is_ident("f64") => {
                Some(FloatType::F64)
            }
            _ => None,
        };
        match float {
            Some(float) => self.float = float,
            None => {
                let found = ty.to_token_stream().to_string();
                self.error(
                    node,
                    Loc::of(ty),
                    format!("expected `f32` or `f64` as the network's float type, found `{found}`"),
                );
            }
        }
    }

    /// Reports a declaration's shape errors and duplicates.
    fn declaration(&mut self, decl: &'a Decl) {
        if let Err(errors) = decl_shape(decl) {
            for error in errors {
                if self.reported.insert((addr(decl), error.to_string())) {
                    self.errors.push(error);
                }
            }
        }
        self.check_unique_decl(&decl.name, addr(decl));
    }

    /// Reports `name` if an earlier declaration or `fn` has the same name.
    fn check_unique_decl(&mut self, name: &Ident, origin: usize) {
        let key = name.to_string();
        let Some(first) = self.decls.get(&key) else {
            return;
        };
        if first.origin == origin {
            return;
        }
        let (describe, span) = (first.describe(), first.span);
        self.error(
            origin,
            Loc::at(name.span()),
            format!("the name `{key}` is declared twice (it is already {describe}); every name in a network must be unique"),
        );
        self.error(
            origin,
            Loc::at(span),
            format!("`{key}` is first declared here"),
        );
    }

    fn check_init(&mut self, init: &Init, shape: Shape, name: &Ident) {
        let node = addr(init);
        let expected_scalar = |found: &str| format!("expected a number, found {found}");
        match (init, shape) {
            // One literal initialises every element.
            (Init::Value(..), _) => {}
            (Init::Array(_, loc), Shape::Scalar) => {
                self.error(node, *loc, format!("`{name}` is a scalar: its initial value must be one number, found an array"));
            }
            (Init::Array(values, loc), Shape::Vector(n)) => {
                if values.len() != n {
                    self.error(
                        node,
                        *loc,
                        format!(
                            "expected {n} values, found {} (`{name}` is a {shape})",
                            values.len()
                        ),
                    );
                }
                for value in values {
                    if let Init::Array(_, loc) = value {
                        self.error(addr(value), *loc, expected_scalar("an array"));
                    }
                }
            }
            (Init::Array(rows, loc), Shape::Matrix(r, c))
                if rows.iter().all(|row| matches!(row, Init::Value(..))) =>
            {
                self.error(
                    node,
                    *loc,
                    format!(
                        "expected {r} rows of {c} values, e.g. `[[1.0, 0.0], [0.0, 1.0]]`, found a flat array of {} numbers (`{name}` is a {shape})",
                        rows.len()
                    ),
                );
            }
            (Init::Array(rows, loc), Shape::Matrix(r, c)) => {
                if rows.len() != r {
                    self.error(
                        node,
                        *loc,
                        format!(
                            "expected {r} rows, found {} (`{name}` is a {shape})",
                            rows.len()
                        ),
                    );
                }
                for row in rows {
                    match row {
                        Init::Value(_, loc) => self.error(
                            addr(row),
                            *loc,
                            format!("expected a row of {c} values, e.g. `[0.0, ..]`, found a number (`{name}` is a {shape})"),
                        ),
                        Init::Array(values, loc) => {
                            if values.len() != c {
                                self.error(
                                    addr(row),
                                    *loc,
                                    format!("expected {c} values, found {} (`{name}` is a {shape})", values.len()),
                                );
                            }
                            for value in values {
                                if let Init::Array(_, loc) = value {
                                    self.error(addr(value), *loc, expected_scalar("an array"));
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn fn_def(&mut self, def: &'a FnDef, in_loop: bool) {
        let node = addr(def);
        let name = def.name.to_string();
        if in_loop {
            self.not_in_loop(node, Loc::at(def.name.span()), "a `fn`");
            self.silenced.insert(name);
            return;
        }
        if Builtin::lookup(&name).is_some() {
            self.error(
                node,
                Loc::at(def.name.span()),
                format!("`{name}` is a builtin function; give this `fn` another name"),
            );
        } else {
            self.check_unique_decl(&def.name, node);
        }
        for (i, arg) in def.args.iter().enumerate() {
            if def.args.iter().take(i).any(|a| a == arg) {
                self.error(
                    addr(arg),
                    Loc::at(arg.span()),
                    format!("the argument `{arg}` appears twice in `{name}`"),
                );
            }
        }
        let mut scope = Scope {
            func: Some(def),
            dense: Dense::Forbidden("inside a `fn`"),
        };
        if let Some(shape) = self.expr(&def.body, &mut scope) {
            if shape != Shape::Scalar {
                self.error(
                    node,
                    def.body.loc(),
                    format!(
                        "the body of `{name}` must be a scalar (a `fn` maps scalars to a scalar and is applied elementwise), found {shape}"
                    ),
                );
            }
        }
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.fn_errors)
            .into_iter()
            .partition(|(o, _)| *o == node);
        self.fn_errors = rest;
        for (_, error) in mine {
            self.errors.push(error);
        }
    }

    /// Binds a `let`, `output` or loop variable, reporting a clash with a visible name.
    fn bind(&mut self, id: &Ident, kind: LocalKind, shape: Ty) {
        self.check_fresh(id);
        self.locals.push(Local {
            name: id.to_string(),
            span: id.span(),
            kind,
            shape,
        });
    }

    fn check_fresh(&mut self, id: &Ident) {
        let name = id.to_string();
        let previous = match self.locals.iter().rev().find(|l| l.name == name) {
            Some(local) => Some((local.kind.describe(), local.span)),
            None => self.decls.get(&name).map(|d| (d.describe(), d.span)),
        };
        if let Some((describe, span)) = previous {
            let node = addr(id);
            self.error(
                node,
                Loc::at(id.span()),
                format!("`{name}` is already defined as {describe}; names in a network cannot be redefined or shadowed, choose another name"),
            );
            self.error(node, Loc::at(span), format!("`{name}` is defined here"));
        }
    }

    fn assign(
        &mut self,
        place: &'a Place,
        op: Option<BinOp>,
        value: &'a Expr,
        loc: Loc,
        in_loop: bool,
    ) {
        let mut scope = Scope::top(Dense::Forbidden(if in_loop {
            "inside a `for` loop"
        } else {
            "in an assignment"
        }));
        let value_shape = self.expr(value, &mut scope);
        let id = &place.name;
        let node = addr(place);
        let name = id.to_string();
        let name_loc = Loc::at(id.span());
        let mut shape = match self.lookup(&name, &scope) {
            Some(Value::Local {
                kind: LocalKind::Let { mutable: true },
                shape,
            }) => shape,
            Some(Value::Local {
                kind: LocalKind::Let { mutable: false },
                shape,
            }) => {
                self.error(
                    node,
                    name_loc,
                    format!("cannot assign to `{name}`: it is not mutable; declare it with `let mut {name} = ...;`"),
                );
                shape
            }
            Some(Value::Local {
                kind: LocalKind::Output,
                ..
            }) => {
                self.error(
                    node,
                    name_loc,
                    format!("cannot assign to the output `{name}`: compute it in a `let mut` binding and write `output {name} = that;`"),
                );
                None
            }
            Some(Value::Local {
                kind: LocalKind::LoopVar(_),
                ..
            }) => {
                self.error(
                    node,
                    name_loc,
                    format!("cannot assign to the loop variable `{name}`"),
                );
                None
            }
            Some(other @ (Value::Global { .. } | Value::Arg)) => {
                let what = match other {
                    Value::Global { kind, .. } => kind.word(),
                    _ => "argument",
                };
                self.error(
                    node,
                    name_loc,
                    format!(
                        "cannot assign to {what} `{name}`: only `let mut` bindings can be assigned"
                    ),
                );
                None
            }
            None => {
                if self.is_fn(&name) || Builtin::lookup(&name).is_some() {
                    self.error(
                        node,
                        name_loc,
                        format!("cannot assign to the function `{name}`"),
                    );
                } else {
                    self.unknown_name(id, &scope);
                }
                None
            }
        };
        let mut text = name.clone();
        for index in &place.indices {
            let mut when = Vec::new();
            let value = self.index_value(index, &scope, &mut when);
            let base_loc = name_loc.to(index.loc());
            shape = self.apply_index(addr(index), shape, value, &when, index, base_loc, &text);
            text = format!("{text}[{}]", show_index(index));
        }
        let (Some(place_shape), Some(value_shape)) = (shape, value_shape) else {
            return;
        };
        match op {
            None if value_shape != place_shape => self.error(
                node,
                value.loc(),
                format!(
                    "mismatched shapes: `{text}` is a {place_shape}, but the value is a {value_shape}; an assignment cannot change a binding's shape"
                ),
            ),
            None => {}
            Some(op) => {
                let result = self.binary(node, op, Some(place_shape), Some(value_shape), loc);
                if let Some(result) = result {
                    if result != place_shape {
                        self.error(
                            node,
                            loc,
                            format!(
                                "`{text} {}= ..` would change `{text}` from a {place_shape} to a {result}; an assignment cannot change a binding's shape",
                                op.symbol()
                            ),
                        );
                    }
                }
            }
        }
    }

    fn for_loop(&mut self, for_loop: &'a ForLoop) {
        let start = self.loop_bound(&for_loop.start);
        let end = self.loop_bound(&for_loop.end);
        if let Some(var) = &for_loop.var {
            self.check_fresh(var);
        }
        // `(first value, number of iterations)`; `None` when a bound is invalid.
        let range = match (start, end) {
            (Some(_), Some(end)) if for_loop.inclusive && end == i64::MAX => {
                self.error(
                    addr(&for_loop.end),
                    for_loop.end.loc(),
                    "this loop bound is too large",
                );
                None
            }
            (Some(start), Some(end)) => {
                let end = i128::from(end) + i128::from(for_loop.inclusive);
                let count = u64::try_from(end - i128::from(start)).unwrap_or(0);
                Some((start, count))
            }
            _ => None,
        };
        let count = range.map_or(0, |(_, count)| count);
        let within_budget = self.iterations.saturating_add(count.max(1)) <= MAX_ITERATIONS;
        if !self.over_budget && !within_budget {
            self.over_budget = true;
            self.error(
                addr(for_loop),
                Loc::at(for_loop.keyword),
                format!(
                    "this loop unrolls past the limit of {MAX_ITERATIONS} iterations in total (over all loops); the generated code would be too large"
                ),
            );
        }
        match range {
            Some((start, count)) if count > 0 && !self.over_budget => {
                self.iterations += count;
                // `start + k` stays within the range written, so it cannot overflow.
                for k in 0..count {
                    let value = i64::try_from(k).ok().and_then(|k| start.checked_add(k));
                    self.loop_iteration(for_loop, value);
                }
            }
            // Empty, erroneous or over-budget loops: check the body once, the variable unknown.
            _ => {
                if !self.over_budget {
                    self.iterations += 1;
                }
                self.loop_iteration(for_loop, None);
            }
        }
    }

    fn loop_iteration(&mut self, for_loop: &'a ForLoop, value: Option<i64>) {
        let mark = self.locals.len();
        if let Some(var) = &for_loop.var {
            self.locals.push(Local {
                name: var.to_string(),
                span: var.span(),
                kind: LocalKind::LoopVar(value),
                shape: Some(Shape::Scalar),
            });
        }
        for stmt in &for_loop.body {
            self.stmt(stmt, true);
        }
        self.locals.truncate(mark);
    }

    fn loop_bound(&mut self, bound: &Expr) -> Option<i64> {
        match bound {
            Expr::Num {
                int: Some(value), ..
            } if *value >= 0 => Some(*value),
            _ => {
                self.error(
                    addr(bound),
                    bound.loc(),
                    "loop bounds must be integer literals (non-negative), e.g. `for i in 0..3`",
                );
                None
            }
        }
    }

    // ----------------------------------------------------------------------------------
    // Names
    // ----------------------------------------------------------------------------------

    fn is_fn(&self, name: &str) -> bool {
        matches!(
            self.decls.get(name),
            Some(Declared {
                item: Item::Fn(_),
                ..
            })
        )
    }

    fn user_fn(&self, name: &str) -> Option<&'a FnDef> {
        match self.decls.get(name) {
            Some(Declared {
                item: Item::Fn(def),
                ..
            }) => Some(def),
            _ => None,
        }
    }

    /// What `name` denotes as a value in `scope`.
    fn lookup(&self, name: &str, scope: &Scope) -> Option<Value> {
        match scope.func {
            Some(def) => {
                if def.args.iter().any(|a| a == name) {
                    return Some(Value::Arg);
                }
            }
            None => {
                if let Some(local) = self.locals.iter().rev().find(|l| l.name == name) {
                    return Some(Value::Local {
                        kind: local.kind,
                        shape: local.shape,
                    });
                }
            }
        }
        match self.decls.get(name) {
            Some(Declared {
                item: Item::Global { kind, shape },
                ..
            }) => Some(Value::Global {
                kind: *kind,
                shape: *shape,
            }),
            _ => None,
        }
    }

    /// The value names visible in `scope`, for suggestions.
    fn visible_values(&self, scope: &Scope) -> Vec<String> {
        let mut names: Vec<String> = match scope.func {
            Some(def) => def.args.iter().map(Ident::to_string).collect(),
            None => self.locals.iter().map(|l| l.name.clone()).collect(),
        };
        for (name, declared) in &self.decls {
            if matches!(declared.item, Item::Global { .. }) {
                names.push(name.clone());
            }
        }
        names
    }

    fn unknown_name(&mut self, id: &Ident, scope: &Scope) {
        let name = id.to_string();
        if self.silenced.contains(&name) {
            return;
        }
        let loc = Loc::at(id.span());
        let message = match self.bound_anywhere.get(&name) {
            Some(_) if scope.func.is_some() => format!(
                "cannot find `{name}` in this `fn`: a `fn` body can use only its arguments and the network's inputs, targets and params; pass `{name}` as an argument"
            ),
            Some((LocalKind::LoopVar(_), _)) => {
                format!("cannot find `{name}` here: the loop variable `{name}` is visible only inside its `for` loop")
            }
            Some((_, true)) => {
                format!("cannot find `{name}` here: `{name}` is defined inside a `for` loop and is visible only in that loop's body")
            }
            Some(_) => format!(
                "cannot find `{name}` here: `{name}` is defined by a later statement, and a binding can only be used after its definition"
            ),
            None => {
                let candidates = self.visible_values(scope);
                let mut message = format!("cannot find `{name}` in this network");
                if let Some(best) = suggest(&name, candidates.iter().map(String::as_str)) {
                    message.push_str(&format!("; did you mean `{best}`?"));
                }
                message
            }
        };
        self.error(addr(id), loc, message);
    }

    fn unknown_function(&mut self, id: &Ident) {
        let name = id.to_string();
        if self.silenced.contains(&name) {
            return;
        }
        if name == "T" {
            let message = "the transpose is written without parentheses: `m.T`";
            self.error(addr(id), Loc::at(id.span()), message);
            return;
        }
        let user: Vec<String> = self
            .user_fns()
            .iter()
            .map(|def| def.name.to_string())
            .collect();
        let mut message = format!("cannot find function `{name}` in this network");
        let mut candidates: Vec<&str> = builtins::names().collect();
        candidates.extend(user.iter().map(String::as_str));
        if let Some(best) = suggest(&name, candidates.into_iter()) {
            message.push_str(&format!("; did you mean `{best}`?"));
        }
        message.push_str(&format!(
            "\nthe builtin functions are: {}",
            builtins::names().collect::<Vec<_>>().join(", ")
        ));
        if !user.is_empty() {
            message.push_str(&format!("\nthe network's `fn`s are: {}", user.join(", ")));
        }
        self.error(addr(id), Loc::at(id.span()), message);
    }

    // ----------------------------------------------------------------------------------
    // Expressions
    // ----------------------------------------------------------------------------------

    fn expr(&mut self, e: &'a Expr, scope: &mut Scope<'a>) -> Ty {
        let node = addr(e);
        match e {
            Expr::Num { .. } => Some(Shape::Scalar),
            Expr::Name(id) => self.name_value(id, scope),
            Expr::Neg { operand, loc } => {
                let shape = self.expr(operand, scope);
                self.spend(*loc, cost(shape));
                shape
            }
            Expr::Binary {
                op, lhs, rhs, loc, ..
            } => {
                let a = self.expr(lhs, scope);
                let b = self.expr(rhs, scope);
                let shape = self.binary(node, *op, a, b, *loc);
                // A matrix product takes `columns` multiplications per element.
                let inner = match (op, a, b) {
                    (
                        BinOp::Mul,
                        Some(Shape::Matrix(_, c)),
                        Some(Shape::Vector(_) | Shape::Matrix(..)),
                    ) => c,
                    _ => 1,
                };
                self.spend(*loc, cost(shape).saturating_mul(inner as u64));
                shape
            }
            Expr::Array { elems, loc } => self.array(node, elems, *loc, scope),
            Expr::Index { base, index, loc } => {
                let base_shape = self.expr(base, scope);
                let mut when = Vec::new();
                let value = self.index_value(index, scope, &mut when);
                let what = match &**base {
                    Expr::Name(id) => id.to_string(),
                    _ => String::new(),
                };
                self.apply_index(node, base_shape, value, &when, index, *loc, &what)
            }
            Expr::Call { func, args, loc } => self.call(node, func, args, *loc, scope),
            Expr::Transpose { operand, loc } => {
                let shape = self.expr(operand, scope)?;
                let transposed = shape.transpose();
                self.spend(*loc, cost(transposed));
                if transposed.is_none() {
                    self.error(
                        node,
                        *loc,
                        format!("`.T` transposes a matrix, but this is a {shape}"),
                    );
                }
                transposed
            }
        }
    }

    fn name_value(&mut self, id: &Ident, scope: &Scope) -> Ty {
        let name = id.to_string();
        if let Some(value) = self.lookup(&name, scope) {
            return value.shape();
        }
        let loc = Loc::at(id.span());
        if self.is_fn(&name) {
            self.error(
                addr(id),
                loc,
                format!("`{name}` is a `fn`, not a value; call it: `{name}(..)`"),
            );
        } else if Builtin::lookup(&name).is_some() {
            self.error(
                addr(id),
                loc,
                format!("`{name}` is a builtin function, not a value; call it: `{name}(..)`"),
            );
        } else {
            self.unknown_name(id, scope);
        }
        None
    }

    fn binary(&mut self, node: usize, op: BinOp, a: Ty, b: Ty, loc: Loc) -> Ty {
        let (a, b) = (a?, b?);
        let result = match op {
            BinOp::Mul => a.product(b),
            _ => a.broadcast(b),
        };
        if let Some(shape) = result {
            return self.limit_size(node, shape, loc);
        }
        let elementwise = "needs equal shapes, or a scalar on one side";
        let message = match (op, a, b) {
            (BinOp::Add, ..) => format!("cannot add {a} and {b}: `+` {elementwise}"),
            (BinOp::Sub, ..) => format!("cannot subtract {b} from {a}: `-` {elementwise}"),
            (BinOp::Div, ..) => format!("cannot divide {a} by {b}: `/` {elementwise}"),
            (BinOp::Mul, Shape::Matrix(_, c), Shape::Vector(n)) => {
                format!("{a} * {b}: the matrix has {c} columns but the vector has {n} elements")
            }
            (BinOp::Mul, Shape::Matrix(_, c), Shape::Matrix(n, _)) => {
                format!("{a} * {b}: the left matrix has {c} columns but the right matrix has {n} rows")
            }
            (BinOp::Mul, Shape::Vector(_), Shape::Matrix(..)) => format!(
                "cannot multiply {a} and {b}: with a vector on the left `*` is elementwise; for a vector-matrix product write `m.T * v`"
            ),
            (BinOp::Mul, ..) => format!("cannot multiply {a} and {b} elementwise: `*` {elementwise}"),
        };
        self.error(node, loc, message);
        None
    }

    /// Counts `amount` scalar operations, reporting (once) when the network gets too large.
    fn spend(&mut self, loc: Loc, amount: u64) {
        let before = self.work;
        self.work = self.work.saturating_add(amount);
        if before <= MAX_WORK && self.work > MAX_WORK {
            self.errors.push(loc.error(format!(
                "the network is too large: unrolled it needs more than {MAX_WORK} scalar operations, and the generated code is straight-line"
            )));
        }
    }

    /// Rejects values too large to unroll into straight-line code.
    fn limit_size(&mut self, node: usize, shape: Shape, loc: Loc) -> Ty {
        if elements(shape).is_some_and(|n| n <= MAX_ELEMENTS) {
            return Some(shape);
        }
        self.error(
            node,
            loc,
            format!("this value is too large: more than {MAX_ELEMENTS} elements"),
        );
        None
    }

    fn array(&mut self, node: usize, elems: &'a [Expr], loc: Loc, scope: &mut Scope<'a>) -> Ty {
        if elems.is_empty() {
            self.error(
                node,
                loc,
                "an empty array has no shape: write at least one element",
            );
            return None;
        }
        let shapes: Vec<Ty> = elems.iter().map(|e| self.expr(e, scope)).collect();
        let (first, first_shape) = shapes
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.map(|s| (i, s)))?;
        let mut consistent = true;
        for (i, (elem, shape)) in elems.iter().zip(&shapes).enumerate() {
            if let Some(shape) = shape {
                if *shape != first_shape {
                    consistent = false;
                    self.error(
                        addr(elem),
                        elem.loc(),
                        format!(
                            "the elements of an array must have one shape: element {} is a {first_shape}, but element {} is a {shape}",
                            first + 1,
                            i + 1
                        ),
                    );
                }
            }
        }
        if !consistent || shapes.iter().any(Option::is_none) {
            return None;
        }
        match first_shape.array_of(elems.len()) {
            Some(shape) => self.limit_size(node, shape, loc),
            None => {
                self.error(
                    node,
                    loc,
                    "arrays nest at most two levels deep (a matrix); this is an array of matrices",
                );
                None
            }
        }
    }

    /// The shape of `base[index]`, reporting indexing a scalar and out-of-range indices.
    #[allow(clippy::too_many_arguments)]
    fn apply_index(
        &mut self,
        node: usize,
        base: Ty,
        value: Option<i64>,
        when: &[(String, i64)],
        index: &Expr,
        loc: Loc,
        what: &str,
    ) -> Ty {
        let base = base?;
        let Some((len, element)) = base.index() else {
            let message = if what.is_empty() {
                "cannot index a scalar".to_owned()
            } else {
                format!("cannot index `{what}`: it is a scalar")
            };
            self.error(node, loc, message);
            return None;
        };
        if let Some(value) = value {
            if usize::try_from(value).map_or(true, |v| v >= len) {
                let rows = match base {
                    Shape::Matrix(r, _) => format!(" (it has {r} rows)"),
                    _ => String::new(),
                };
                let when = if when.is_empty() {
                    String::new()
                } else {
                    let vars: Vec<String> = when
                        .iter()
                        .map(|(name, v)| format!("{name} = {v}"))
                        .collect();
                    format!(" (when {})", vars.join(", "))
                };
                self.error_keyed(
                    addr(index),
                    "index out of range",
                    index.loc(),
                    format!("index {value} out of range for {base}{rows}{when}"),
                );
            }
        }
        Some(element)
    }

    /// Evaluates an index expression; `None` when unknown (an error, or a loop variable
    /// whose value is unknown). `when` collects the loop variables involved.
    fn index_value(
        &mut self,
        e: &Expr,
        scope: &Scope,
        when: &mut Vec<(String, i64)>,
    ) -> Option<i64> {
        const RULE: &str = "an index must be an integer expression of literals and loop variables (with `+`, `-`, `*`)";
        let node = addr(e);
        match e {
            Expr::Num {
                int: Some(value), ..
            } => Some(*value),
            Expr::Num { loc, .. } => {
                self.error(
                    node,
                    *loc,
                    format!("{RULE}; found a number that is not an integer (or too large)"),
                );
                None
            }
            Expr::Name(id) => {
                let name = id.to_string();
                match self.lookup(&name, scope) {
                    Some(Value::Local {
                        kind: LocalKind::LoopVar(value),
                        ..
                    }) => {
                        if let Some(value) = value {
                            if !when.iter().any(|(n, _)| *n == name) {
                                when.push((name, value));
                            }
                        }
                        value
                    }
                    Some(other) => {
                        let describe = other.describe();
                        self.error(node, e.loc(), format!("{RULE}; `{name}` is {describe}"));
                        None
                    }
                    None => {
                        if self.is_fn(&name) || Builtin::lookup(&name).is_some() {
                            self.error(node, e.loc(), format!("{RULE}; `{name}` is a function"));
                        } else {
                            self.unknown_name(id, scope);
                        }
                        None
                    }
                }
            }
            Expr::Neg { operand, .. } => {
                let value = self.index_value(operand, scope, when)?;
                self.checked(node, e.loc(), value.checked_neg())
            }
            Expr::Binary {
                op: op @ (BinOp::Add | BinOp::Sub | BinOp::Mul),
                lhs,
                rhs,
                loc,
                ..
            } => {
                let a = self.index_value(lhs, scope, when);
                let b = self.index_value(rhs, scope, when);
                let (a, b) = (a?, b?);
                let result = match op {
                    BinOp::Add => a.checked_add(b),
                    BinOp::Sub => a.checked_sub(b),
                    _ => a.checked_mul(b),
                };
                self.checked(node, *loc, result)
            }
            _ => {
                self.error(node, e.loc(), RULE);
                None
            }
        }
    }

    fn checked(&mut self, node: usize, loc: Loc, value: Option<i64>) -> Option<i64> {
        if value.is_none() {
            self.error(node, loc, "integer overflow in this index");
        }
        value
    }

    // ----------------------------------------------------------------------------------
    // Calls
    // ----------------------------------------------------------------------------------

    fn call(
        &mut self,
        node: usize,
        func: &'a Ident,
        args: &'a [Expr],
        loc: Loc,
        scope: &mut Scope<'a>,
    ) -> Ty {
        let name = func.to_string();
        if let Some(def) = self.user_fn(&name) {
            return self.user_call(node, def, args, loc, scope);
        }
        let Some(builtin) = Builtin::lookup(&name) else {
            for arg in args {
                self.expr(arg, scope);
            }
            match self.lookup(&name, scope) {
                Some(value) => {
                    let describe = value.describe();
                    self.error(
                        addr(func),
                        Loc::at(func.span()),
                        format!("`{name}` is {describe}, not a function"),
                    );
                }
                None => self.unknown_function(func),
            }
            return None;
        };
        if args.len() != builtin.arity() {
            self.arity_error(node, &name, builtin.arity(), args.len(), loc);
            // `dense`'s last argument is a function name, not a value.
            let values = if builtin == Builtin::Dense {
                args.get(..1).unwrap_or_default()
            } else {
                args
            };
            for arg in values {
                self.expr(arg, scope);
            }
            return None;
        }
        match builtin {
            Builtin::Dense => self.dense(node, args, loc, scope),
            Builtin::Powi => {
                let shape = args.first().and_then(|x| self.expr(x, scope));
                if let Some(exponent) = args.get(1) {
                    let valid = literal_int(exponent).is_some_and(|n| i32::try_from(n).is_ok());
                    if !valid {
                        self.error(
                            addr(exponent),
                            exponent.loc(),
                            "the exponent of `powi` must be an integer literal, e.g. `x.powi(2)` or `powi(x, -1)`; use `pow(x, y)` for other exponents",
                        );
                    }
                }
                shape
            }
            _ => {
                let shapes: Vec<Ty> = args.iter().map(|a| self.expr(a, scope)).collect();
                let work = shapes
                    .iter()
                    .fold(1u64, |acc, s| acc.saturating_add(cost(*s)));
                self.spend(loc, work);
                let known: Option<Vec<Shape>> = shapes.iter().copied().collect();
                match known {
                    Some(known) => match builtin.result_shape(&known) {
                        Ok(shape) => Some(shape),
                        Err(message) => {
                            self.error(node, loc, format!("`{name}` {message}"));
                            None
                        }
                    },
                    None => {
                        use Builtin::*;
                        let scalar = matches!(
                            builtin,
                            Sum | Mean | Dot | Mse | Bce | BceLogits | CrossEntropy
                        );
                        scalar.then_some(Shape::Scalar)
                    }
                }
            }
        }
    }

    fn arity_error(&mut self, node: usize, name: &str, arity: usize, found: usize, loc: Loc) {
        let plural = if arity == 1 { "" } else { "s" };
        self.error(
            node,
            loc,
            format!("`{name}` takes {arity} argument{plural}, found {found}"),
        );
    }

    fn user_call(
        &mut self,
        node: usize,
        def: &'a FnDef,
        args: &'a [Expr],
        loc: Loc,
        scope: &mut Scope<'a>,
    ) -> Ty {
        let shapes: Vec<Ty> = args.iter().map(|a| self.expr(a, scope)).collect();
        let name = def.name.to_string();
        if args.len() != def.args.len() {
            self.arity_error(node, &name, def.args.len(), args.len(), loc);
            return None;
        }
        let mut result = Shape::Scalar;
        for shape in &shapes {
            let shape = (*shape)?;
            match result.broadcast(shape) {
                Some(next) => result = next,
                None => {
                    self.error(
                        node,
                        loc,
                        format!(
                            "`{name}` is applied elementwise, so its arguments must have one shape (or be scalars); found {result} and {shape}"
                        ),
                    );
                    return None;
                }
            }
        }
        let size = self.fn_sizes.get(&addr(def)).copied().unwrap_or(1);
        self.spend(loc, cost(Some(result)).saturating_mul(size));
        Some(result)
    }

    fn dense(&mut self, node: usize, args: &'a [Expr], loc: Loc, scope: &mut Scope<'a>) -> Ty {
        match &mut scope.dense {
            Dense::Forbidden(place) => {
                let place = *place;
                self.error(
                    node,
                    loc,
                    format!(
                        "`dense` can only be used in the value of a top-level `let` or `output` (its parameters are named after the binding), not {place}; write one `let` per layer"
                    ),
                );
            }
            Dense::Allowed { used: true } => self.error(
                node,
                loc,
                "only one `dense` per statement: its parameters are named after the binding (`h.weight`, `h.bias`); split this into two `let`s",
            ),
            Dense::Allowed { used } => *used = true,
        }
        let [x, units, activation] = args else {
            return None;
        };
        let input = self.expr(x, scope);
        let units = match units {
            Expr::Num { int: Some(n), .. } if *n >= 1 => usize::try_from(*n).ok(),
            _ => {
                self.error(
                    addr(units),
                    units.loc(),
                    "the number of units of `dense` must be a positive integer literal, e.g. `dense(x, 8, tanh)`",
                );
                None
            }
        };
        self.activation(activation, scope);
        let n = match input? {
            Shape::Vector(n) => n,
            other => {
                self.error(
                    addr(x),
                    x.loc(),
                    format!("`dense` expects a vector input, found a {other}"),
                );
                return None;
            }
        };
        let units = units?;
        if units
            .checked_mul(n)
            .map_or(true, |size| size > MAX_ELEMENTS)
        {
            self.error(
                node,
                loc,
                format!("this `dense` layer is too large: more than {MAX_ELEMENTS} weights"),
            );
            return None;
        }
        let activation_size = match activation {
            Expr::Name(id) => self
                .user_fn(&id.to_string())
                .and_then(|def| self.fn_sizes.get(&addr(def)).copied())
                .unwrap_or(1),
            _ => 1,
        };
        let work = (units as u64)
            .saturating_mul(n as u64 + 1)
            .saturating_add((units as u64).saturating_mul(activation_size));
        self.spend(loc, work);
        Some(Shape::Vector(units))
    }

    /// Checks a `dense` activation: the bare name of a one-argument elementwise function.
    fn activation(&mut self, e: &Expr, scope: &Scope) {
        let node = addr(e);
        let hint = "a `dense` activation must be the name of a one-argument elementwise function, e.g. `tanh`, `relu`, `sigmoid` or `identity`";
        let Expr::Name(id) = e else {
            self.error(
                node,
                e.loc(),
                format!("{hint}; write just the name, without a call"),
            );
            return;
        };
        let name = id.to_string();
        let loc = Loc::at(id.span());
        if let Some(def) = self.user_fn(&name) {
            if def.args.len() != 1 {
                self.error(
                    node,
                    loc,
                    format!("`{name}` takes {} arguments, but {hint}", def.args.len()),
                );
            }
        } else if let Some(builtin) = Builtin::lookup(&name) {
            if !(builtin.is_elementwise() && builtin.arity() == 1) {
                self.error(
                    node,
                    loc,
                    format!("`{name}` cannot be a `dense` activation: {hint}"),
                );
            }
        } else if let Some(value) = self.lookup(&name, scope) {
            let describe = value.describe();
            self.error(
                node,
                loc,
                format!("`{name}` is {describe}, not a function; {hint}"),
            );
        } else {
            let mut names: Vec<String> = builtins::BUILTINS
                .iter()
                .filter(|(_, b)| b.is_elementwise() && b.arity() == 1)
                .map(|(n, _)| (*n).to_owned())
                .collect();
            names.extend(
                self.user_fns()
                    .iter()
                    .filter(|d| d.args.len() == 1)
                    .map(|d| d.name.to_string()),
            );
            let mut message = format!("cannot find the activation function `{name}`");
            if let Some(best) = suggest(&name, names.iter().map(String::as_str)) {
                message.push_str(&format!("; did you mean `{best}`?"));
            }
            message.push_str(&format!(
                "\nthe possible activations are: {}",
                names.join(", ")
            ));
            self.error(node, loc, message);
        }
    }
}

// --------------------------------------------------------------------------------------
// Helpers
// --------------------------------------------------------------------------------------

/// A declaration's shape, or the errors in its dimensions.
fn decl_shape(decl: &Decl) -> Result<Shape, Vec<syn::Error>> {
    let name = &decl.name;
    let mut errors = Vec::new();
    for dim in &decl.dims {
        if dim.size == 0 {
            errors.push(syn::Error::new(
                dim.span,
                "an array size must be at least 1",
            ));
        }
    }
    if let Some(extra) = decl.dims.get(2) {
        errors.push(syn::Error::new(
            extra.span,
            format!(
                "`{name}` has {} dimensions, but values have at most 2 (a matrix `m[rows][cols]`)",
                decl.dims.len()
            ),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let sizes: Vec<usize> = decl.dims.iter().map(|d| d.size).collect();
    let count = sizes.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n));
    match (Shape::from_dims(&sizes), count) {
        (Some(shape), Some(count)) if count <= MAX_ELEMENTS => Ok(shape),
        _ => Err(vec![syn::Error::new(
            name.span(),
            format!("`{name}` is too large: more than {MAX_ELEMENTS} elements"),
        )]),
    }
}

/// The number of scalar elements of a value, for the work estimate (0 when unknown).
fn cost(shape: Ty) -> u64 {
    shape
        .and_then(elements)
        .map_or(0, |n| u64::try_from(n).unwrap_or(u64::MAX))
}

/// The number of elements, `None` on overflow.
fn elements(shape: Shape) -> Option<usize> {
    match shape {
        Shape::Scalar => Some(1),
        Shape::Vector(n) => Some(n),
        Shape::Matrix(r, c) => r.checked_mul(c),
    }
}

/// An integer literal, possibly negated.
fn literal_int(e: &Expr) -> Option<i64> {
    match e {
        Expr::Num { int: Some(n), .. } => Some(*n),
        Expr::Neg { operand, .. } => literal_int(operand)?.checked_neg(),
        _ => None,
    }
}

/// An index expression as the user wrote it (for messages).
fn show_index(e: &Expr) -> String {
    match e {
        Expr::Num { int: Some(n), .. } => n.to_string(),
        Expr::Name(id) => id.to_string(),
        Expr::Neg { operand, .. } => format!("-{}", show_index(operand)),
        Expr::Binary { op, lhs, rhs, .. } => {
            format!("{} {} {}", show_index(lhs), op.symbol(), show_index(rhs))
        }
        _ => "..".to_owned(),
    }
}

/// Records every `let`, `output` and loop-variable name, for "not visible here" hints.
fn collect_bindings(body: &[Stmt], in_loop: bool, out: &mut BTreeMap<String, (LocalKind, bool)>) {
    for stmt in body {
        match stmt {
            Stmt::Let { name, mutable, .. } => {
                out.entry(name.to_string())
                    .or_insert((LocalKind::Let { mutable: *mutable }, in_loop));
            }
            Stmt::Output { name, .. } => {
                out.entry(name.to_string())
                    .or_insert((LocalKind::Output, in_loop));
            }
            Stmt::For(for_loop) => {
                if let Some(var) = &for_loop.var {
                    out.entry(var.to_string())
                        .or_insert((LocalKind::LoopVar(None), true));
                }
                collect_bindings(&for_loop.body, true, out);
            }
            _ => {}
        }
    }
}

/// The calls to user `fn`s in an expression, as `(fn index, call location)`.
fn collect_calls(e: &Expr, fns: &HashMap<String, usize>, out: &mut Vec<(usize, Loc)>) {
    match e {
        Expr::Num { .. } | Expr::Name(_) => {}
        Expr::Neg { operand, .. } | Expr::Transpose { operand, .. } => {
            collect_calls(operand, fns, out)
        }
        Expr::Binary { lhs, rhs, .. } => {
            collect_calls(lhs, fns, out);
            collect_calls(rhs, fns, out);
        }
        Expr::Index { base, index, .. } => {
            collect_calls(base, fns, out);
            collect_calls(index, fns, out);
        }
        Expr::Array { elems, .. } => elems.iter().for_each(|e| collect_calls(e, fns, out)),
        Expr::Call { func, args, loc } => {
            if let Some(&f) = fns.get(&func.to_string()) {
                out.push((f, *loc));
            }
            args.iter().for_each(|e| collect_calls(e, fns, out));
        }
    }
}

/// The number of nodes of an expression.
fn count_nodes(e: &Expr) -> u64 {
    match e {
        Expr::Num { .. } | Expr::Name(_) => 1,
        Expr::Neg { operand, .. } | Expr::Transpose { operand, .. } => 1 + count_nodes(operand),
        Expr::Binary { lhs, rhs, .. } => 1 + count_nodes(lhs).saturating_add(count_nodes(rhs)),
        Expr::Index { base, index, .. } => 1 + count_nodes(base).saturating_add(count_nodes(index)),
        Expr::Array { elems, .. } | Expr::Call { args: elems, .. } => elems
            .iter()
            .fold(1u64, |acc, e| acc.saturating_add(count_nodes(e))),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Visit {
    New,
    Active,
    Done,
}

/// The call graph of the user `fn`s: a depth-first walk finds cycles and measures the
/// depth and the inlined size of every `fn`.
struct FnGraph<'g> {
    fns: &'g [&'g FnDef],
    calls: &'g [Vec<(usize, Loc)>],
    state: Vec<Visit>,
    /// Expression nodes after inlining.
    size: Vec<u64>,
    /// Longest chain of nested calls, this `fn` included.
    height: Vec<usize>,
    stack: Vec<usize>,
    /// Errors with the address of the `fn` they belong to.
    errors: Vec<(usize, syn::Error)>,
}

impl FnGraph<'_> {
    fn visit(&mut self, f: usize, depth: usize) {
        self.state[f] = Visit::Active;
        self.stack.push(f);
        let def = self.fns[f];
        let owner = addr(def);
        let mut size = count_nodes(&def.body);
        let mut height = 0;
        let calls = self.calls;
        for &(g, loc) in &calls[f] {
            match self.state[g] {
                Visit::Active => {
                    let message = if g == f {
                        format!("`{}` calls itself; a `fn` is inlined at every call, so it cannot be recursive", def.name)
                    } else {
                        let start = self.stack.iter().position(|&s| s == g).unwrap_or(0);
                        let mut path: Vec<String> = self.stack[start..]
                            .iter()
                            .map(|&s| format!("`{}`", self.fns[s].name))
                            .collect();
                        path.push(format!("`{}`", self.fns[g].name));
                        format!(
                            "recursive `fn`s: {}; a `fn` is inlined at every call, so `fn`s cannot call each other in a cycle",
                            path.join(" calls ")
                        )
                    };
                    self.errors.push((owner, loc.error(message)));
                }
                Visit::New if depth + 1 >= MAX_FN_DEPTH => {
                    let message =
                        format!("calls between `fn`s nest more than {MAX_FN_DEPTH} levels deep");
                    self.errors.push((owner, loc.error(message)));
                }
                Visit::New => self.visit(g, depth + 1),
                Visit::Done => {}
            }
            if self.state[g] == Visit::Done {
                size = size.saturating_add(self.size[g]);
                height = height.max(self.height[g]);
            }
        }
        height += 1;
        let name_loc = Loc::at(def.name.span());
        if height > MAX_FN_DEPTH {
            let message = format!(
                "calls between `fn`s nest more than {MAX_FN_DEPTH} levels deep, starting here"
            );
            self.errors.push((owner, name_loc.error(message)));
            height = 0;
        }
        if size > MAX_INLINED_NODES {
            let message = format!("`{}` is too large: inlining the `fn`s it calls gives more than {MAX_INLINED_NODES} operations", def.name);
            self.errors.push((owner, name_loc.error(message)));
            size = 1;
        }
        self.size[f] = size;
        self.height[f] = height;
        self.state[f] = Visit::Done;
        self.stack.pop();
    }
}

/// The candidate closest to `name`, if close enough to be a likely typo.
fn suggest<'n>(name: &str, candidates: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    let limit = name.chars().count().max(3) / 3;
    let mut sorted_name: Vec<char> = name.chars().collect();
    sorted_name.sort_unstable();
    let mut best: Option<(usize, &'n str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        if candidate.to_lowercase() == name.to_lowercase() {
            return Some(candidate);
        }
        let mut distance = edit_distance(name, candidate);
        // Keep at least one character in common: `x` is no typo of `y`.
        if distance > limit || distance >= name.chars().count() {
            let mut sorted: Vec<char> = candidate.chars().collect();
            sorted.sort_unstable();
            if sorted != sorted_name {
                continue;
            }
            distance = limit + 1;
        }
        if best.map_or(true, |(d, b)| (distance, candidate) < (d, b)) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, b)| b)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and
/// transpositions of adjacent characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::TokenStream;
    use quote::quote;

    /// The messages of every error of a network body wrapped in `struct N { .. }`.
    fn errors(body: TokenStream) -> Vec<String> {
        let network =
            crate::ast::parse(quote! { struct N { #body } }).expect("the test network parses");
        match check(&network) {
            Ok(_) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[track_caller]
    fn assert_ok(body: TokenStream) {
        let errors = errors(body);
        assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    }

    /// Asserts exactly one error (besides "... here" notes), containing `expected`.
    #[track_caller]
    fn assert_error(body: TokenStream, expected: &str) {
        let mut errors = errors(body);
        errors.retain(|e| !e.ends_with(" here"));
        assert!(
            errors.len() == 1 && errors[0].contains(expected),
            "expected one error containing {expected:?}, got {errors:#?}"
        );
    }

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
    fn float_type() {
        assert_error(
            quote! { type Float = i32; output y = 1.0; loss = y; },
            "expected `f32` or `f64` as the network's float type, found `i32`",
        );
        let errors =
            errors(quote! { type Float = f32; type Float = f64; output y = 1.0; loss = y; });
        assert!(
            errors[0].contains("`type Float` is declared twice"),
            "{errors:?}"
        );
    }

    #[test]
    fn declaration_shapes() {
        assert_error(
            quote! { input x[0]; output y = 1.0; loss = y; },
            "an array size must be at least 1",
        );
        assert_error(
            quote! { input x[2][2][2]; output y = 1.0; loss = y; },
            "`x` has 3 dimensions",
        );
        assert_error(
            quote! { param w[3] = [1.0, 2.0]; output y = 1.0; loss = y; },
            "expected 3 values, found 2",
        );
        assert_error(
            quote! { param w[2][2] = [[1.0, 2.0], [1.0]]; output y = 1.0; loss = y; },
            "expected 2 values, found 1",
        );
        assert_error(
            quote! { param w[2][2] = [1.0, 2.0]; output y = 1.0; loss = y; },
            "expected 2 rows of 2 values",
        );
        assert_error(
            quote! { param w[2][2] = [[1.0, 2.0], 1.0]; output y = 1.0; loss = y; },
            "expected a row of 2 values",
        );
        assert_error(
            quote! { param w = [1.0]; output y = 1.0; loss = y; },
            "its initial value must be one number",
        );
        assert_error(
            quote! { param w[1000][1000000]; output y = 1.0; loss = y; },
            "too large",
        );
        assert_ok(
            quote! { param w[2][3] = 0.5, b[2] = [1.0, -1.0]; output y = w; loss = sum(y) + sum(b); },
        );
    }

    #[test]
    fn duplicate_names() {
        assert_error(
            quote! { input x; param x; output y = x; loss = y; },
            "the name `x` is declared twice",
        );
        assert_error(
            quote! { input x; let x = 1.0; output y = x; loss = y; },
            "`x` is already defined as an input",
        );
        assert_error(
            quote! { let a = 1.0; let a = 2.0; output y = a; loss = y; },
            "`a` is already defined as a `let` binding",
        );
        assert_error(
            quote! { let i = 1.0; for i in 0..2 {} output y = i; loss = y; },
            "`i` is already defined",
        );
        assert_error(
            quote! { fn f(u) = u; fn f(v) = v; output y = f(1.0); loss = y; },
            "the name `f` is declared twice",
        );
        assert_error(
            quote! { fn exp(u) = u; output y = 1.0; loss = y; },
            "`exp` is a builtin function",
        );
        assert_error(
            quote! { fn f(u, u) = u; output y = f(1.0, 2.0); loss = y; },
            "the argument `u` appears twice",
        );
        // Each "already defined" error comes with a note at the first definition.
        let clash = errors(quote! { input x; output x = 1.0; loss = x; });
        assert_eq!(clash.len(), 2, "{clash:?}");
        assert!(clash[1].contains("`x` is defined here"));
        // Lets in sibling loop bodies do not clash; fn arguments may reuse global names.
        assert_ok(quote! {
            input x;
            fn f(x) = x * 2.0;
            let mut z = 0.0;
            for i in 0..2 { let h = f(z); z = h + i; }
            for i in 0..2 { let h = z; z = h; }
            output y = z;
            loss = y;
        });
    }

    #[test]
    fn unknown_names() {
        assert_error(
            quote! { param w13; output y = w31; loss = y; },
            "cannot find `w31` in this network; did you mean `w13`?",
        );
        assert_error(
            quote! { output y = zzz; loss = y; },
            "cannot find `zzz` in this network",
        );
        assert_error(
            quote! { output y = h; let h = 1.0; loss = y; },
            "`h` is defined by a later statement",
        );
        assert_error(
            quote! { for i in 0..2 { let h = 1.0; } output y = h; loss = y; },
            "`h` is defined inside a `for` loop",
        );
        assert_error(
            quote! { for i in 0..2 {} output y = i; loss = y; },
            "the loop variable `i` is visible only inside its `for` loop",
        );
        assert_error(
            quote! { let h = 1.0; fn f(u) = u * h; output y = f(1.0); loss = y; },
            "pass `h` as an argument",
        );
        let unknown = errors(quote! { output y = tanhh(1.0); loss = y; });
        assert!(
            unknown.len() == 1
                && unknown[0]
                    .contains("cannot find function `tanhh` in this network; did you mean `tanh`?")
        );
        assert!(
            unknown[0].contains("the builtin functions are: exp, ln"),
            "{unknown:?}"
        );
        assert_error(
            quote! { fn f(u) = u; output y = f; loss = y; },
            "`f` is a `fn`, not a value",
        );
        assert_error(
            quote! { output y = tanh; loss = y; },
            "`tanh` is a builtin function, not a value",
        );
        assert_error(
            quote! { input x; output y = x(1.0); loss = y; },
            "`x` is an input, not a function",
        );
    }

    #[test]
    fn arity() {
        assert_error(
            quote! { output y = tanh(1.0, 2.0); loss = y; },
            "`tanh` takes 1 argument, found 2",
        );
        assert_error(
            quote! { output y = max(1.0); loss = y; },
            "`max` takes 2 arguments, found 1",
        );
        assert_error(
            quote! { input x; output y = x.tanh(1.0); loss = y; },
            "`tanh` takes 1 argument, found 2",
        );
        assert_error(
            quote! { fn f(a, b) = a * b; output y = f(1.0); loss = y; },
            "`f` takes 2 arguments, found 1",
        );
    }

    #[test]
    fn shapes() {
        assert_error(
            quote! { input a[3], b[2]; output y = a + b; loss = sum(y); },
            "cannot add vector [3] and vector [2]",
        );
        assert_error(
            quote! { param m[2][3]; input v[2]; output y = m * v; loss = sum(y); },
            "matrix [2][3] * vector [2]: the matrix has 3 columns but the vector has 2 elements",
        );
        assert_error(
            quote! { param m[2][3]; output y = m * m; loss = sum(y); },
            "the left matrix has 3 columns but the right matrix has 2 rows",
        );
        assert_error(
            quote! { param m[2][2]; input v[2]; output y = v * m; loss = sum(y); },
            "write `m.T * v`",
        );
        assert_error(
            quote! { input v[2]; output y = v.T; loss = sum(y); },
            "`.T` transposes a matrix, but this is a vector [2]",
        );
        assert_error(
            quote! { param m[2][2]; output y = m.T(); loss = sum(y); },
            "the transpose is written without parentheses",
        );
        assert_error(
            quote! { input v[2]; output y = transpose(v); loss = sum(y); },
            "`transpose` expects a matrix",
        );
        assert_error(
            quote! { param m[2][2]; output y = softmax(m); loss = sum(y); },
            "`softmax` expects a vector",
        );
        assert_error(
            quote! { input a[3], b[2]; output y = max(a, b); loss = sum(y); },
            "`max` the arguments' shapes differ",
        );
        assert_error(
            quote! { input v[2]; output y = [v, 1.0]; loss = sum(y); },
            "element 1 is a vector [2], but element 2 is a scalar",
        );
        assert_error(
            quote! { param m[2][2]; output y = [m, m]; loss = sum(y); },
            "arrays nest at most two levels deep",
        );
        assert_error(
            quote! { input a[3], b[2]; fn f(u, v) = u * v; output y = f(a, b); loss = sum(y); },
            "found vector [3] and vector [2]",
        );
        assert_error(
            quote! { param w[3]; fn f(u) = u * w; output y = f(1.0); loss = sum(y); },
            "the body of `f` must be a scalar",
        );
        // One mistake, one error: the unknown shape does not cascade.
        assert_error(
            quote! { input a[3], b[2]; let c = a + b; let d = c * c + a; output y = d; loss = sum(y); },
            "cannot add",
        );
    }

    #[test]
    fn special_builtins() {
        assert_error(
            quote! { input x; output y = x.powi(2.0); loss = y; },
            "the exponent of `powi` must be an integer literal",
        );
        assert_error(
            quote! { input x; param n; output y = powi(x, n); loss = y; },
            "the exponent of `powi` must be an integer literal",
        );
        assert_error(
            quote! { input x[2]; output y = dense(x, 0, tanh); loss = sum(y); },
            "the number of units of `dense` must be a positive integer literal",
        );
        assert_error(
            quote! { input x[2]; output y = dense(x, 2, softmax); loss = sum(y); },
            "`softmax` cannot be a `dense` activation",
        );
        assert_error(
            quote! { input x[2]; output y = dense(x, 2, tanh(x)); loss = sum(y); },
            "write just the name, without a call",
        );
        assert_error(
            quote! { input x[2]; output y = dense(x, 2, tahn); loss = sum(y); },
            "did you mean `tanh`?",
        );
        assert_error(
            quote! { fn f(a, b) = a; input x[2]; output y = dense(x, 2, f); loss = sum(y); },
            "`f` takes 2 arguments, but a `dense` activation",
        );
        assert_error(
            quote! { input x; output y = dense(x, 2, tanh); loss = sum(y); },
            "`dense` expects a vector input, found a scalar",
        );
        assert_error(
            quote! { input x[2]; output y = dense(x, 2); loss = sum(y); },
            "`dense` takes 3 arguments, found 2",
        );
    }

    #[test]
    fn dense_placement() {
        let not = "`dense` can only be used in the value of a top-level `let` or `output`";
        assert_error(
            quote! { input x[2]; let mut h = x; h = dense(x, 2, tanh); output y = h; loss = sum(y); },
            not,
        );
        assert_error(
            quote! { input x[2]; for _ in 0..2 { let h = dense(x, 2, tanh); } output y = x; loss = sum(y); },
            not,
        );
        assert_error(
            quote! { input x[2]; output y = x; loss = sum(dense(x, 2, tanh)); },
            not,
        );
        assert_error(
            quote! { fn f(u) = sum(dense(x, 2, tanh)) * u; input x[2]; output y = f(1.0); loss = y; },
            not,
        );
        assert_error(
            quote! { input x[2]; output y = dense(dense(x, 2, tanh), 2, tanh); loss = sum(y); },
            "only one `dense` per statement",
        );
        assert_ok(
            quote! { input x[2]; let h = sigmoid(dense(x, 3, relu)) * 2.0; output y = dense(h, 2, identity)[1]; loss = y; },
        );
    }

    #[test]
    fn indices() {
        assert_error(
            quote! { input v[3]; output y = v[3]; loss = y; },
            "index 3 out of range for vector [3]",
        );
        assert_error(
            quote! { param m[2][3]; output y = m[2]; loss = sum(y); },
            "index 2 out of range for matrix [2][3] (it has 2 rows)",
        );
        assert_error(
            quote! { param m[2][3]; output y = m[1][3]; loss = y; },
            "index 3 out of range for vector [3]",
        );
        assert_error(
            quote! { input v[3]; output y = v[-1]; loss = y; },
            "index -1 out of range",
        );
        assert_error(
            quote! { input x; output y = x[0]; loss = y; },
            "cannot index `x`: it is a scalar",
        );
        assert_error(
            quote! { input v[3]; let mut z = v; for i in 0..3 { z[i + 1] = v[i]; } output y = z; loss = sum(y); },
            "index 3 out of range for vector [3] (when i = 2)",
        );
        let rule = "an index must be an integer expression of literals and loop variables";
        assert_error(
            quote! { input v[3]; param k; output y = v[k]; loss = y; },
            rule,
        );
        assert_error(quote! { input v[3]; output y = v[1.0]; loss = y; }, rule);
        assert_error(quote! { input v[3]; output y = v[4 / 2]; loss = y; }, rule);
        assert_error(
            quote! { input v[3]; output y = v[9223372036854775807 + 1]; loss = y; },
            "integer overflow",
        );
        assert_error(
            quote! { input v[3]; output y = v[j]; loss = y; },
            "cannot find `j`",
        );
    }

    #[test]
    fn loops() {
        let bounds = "loop bounds must be integer literals";
        assert_error(
            quote! { param n; let mut z = 0.0; for i in 0..n { z += i; } output y = z; loss = y; },
            bounds,
        );
        assert_error(
            quote! { let mut z = 0.0; for i in 0..2.5 { z += i; } output y = z; loss = y; },
            bounds,
        );
        assert_error(
            quote! { let mut z = 0.0; for i in -1..2 { z += i; } output y = z; loss = y; },
            bounds,
        );
        assert_error(
            quote! { for i in 0..2 { output y = 1.0; } loss = y; },
            "`output` must be at the top level, not inside a `for` loop",
        );
        assert_error(
            quote! { output y = 1.0; for i in 0..2 { loss = y; } },
            "`loss` must be at the top level",
        );
        assert_error(
            quote! { for i in 0..2 { param w; } output y = w; loss = y; },
            "`param` declarations must be at the top level",
        );
        assert_error(
            quote! { for i in 0..2 { fn f(u) = u; } output y = f(1.0); loss = y; },
            "a `fn` must be at the top level",
        );
        // A mistake in a loop body is reported once, not once per iteration.
        assert_error(
            quote! { let mut z = 0.0; for i in 0..50 { z += nope; } output y = z; loss = y; },
            "cannot find `nope`",
        );
        // Empty ranges still have their body checked.
        assert_error(
            quote! { let mut z = 0.0; for i in 3..3 { z += nope; } output y = z; loss = y; },
            "cannot find `nope`",
        );
        assert_error(
            quote! { let mut z = 0.0; for i in 0..1000 { for j in 0..1000 { z += 1.0; } } output y = z; loss = y; },
            "unrolls past the limit of 100000 iterations",
        );
        assert_error(
            quote! { let mut z = 0.0; for i in 0..9223372036854775807 { z += 1.0; } output y = z; loss = y; },
            "unrolls past the limit",
        );
        assert_error(
            quote! { let mut z = 0.0; for i in 0..=9223372036854775807 { z += 1.0; } output y = z; loss = y; },
            "this loop bound is too large",
        );
        assert_ok(quote! {
            let mut z = 0.0;
            for i in 9223372036854775806..=9223372036854775806 { z += i; }
            output y = z;
            loss = y;
        });
        assert_ok(
            quote! { let mut z = 0.0; for i in 0..=9 { z += i * 0.5; } output y = z; loss = y; },
        );
    }

    #[test]
    fn assignments() {
        assert_error(
            quote! { let z = 0.0; z = 1.0; output y = z; loss = y; },
            "declare it with `let mut z = ...;`",
        );
        assert_error(
            quote! { input x; x = 1.0; output y = x; loss = y; },
            "cannot assign to input `x`",
        );
        assert_error(
            quote! { param w; w += 1.0; output y = w; loss = y; },
            "cannot assign to param `w`",
        );
        assert_error(
            quote! { output y = 1.0; y = 2.0; loss = y; },
            "cannot assign to the output `y`",
        );
        assert_error(
            quote! { let mut z = 0.0; for i in 0..2 { i = 1; } output y = z; loss = y; },
            "cannot assign to the loop variable `i`",
        );
        assert_error(
            quote! { q = 1.0; output y = 1.0; loss = y; },
            "cannot find `q`",
        );
        assert_error(
            quote! { input v[2]; let mut z = 0.0; z = v; output y = z; loss = y; },
            "`z` is a scalar, but the value is a vector [2]",
        );
        assert_error(
            quote! { input v[2]; let mut z = 0.0; z *= v; output y = z; loss = y; },
            "would change `z` from a scalar to a vector [2]",
        );
        assert_error(
            quote! { input v[2]; let mut z = v; z[0] = v; output y = z; loss = sum(y); },
            "`z[0]` is a scalar",
        );
        assert_error(
            quote! { input v[2]; let mut z = v; z[0][1] = 1.0; output y = z; loss = sum(y); },
            "cannot index `z[0]`: it is a scalar",
        );
        assert_error(
            quote! { input a[3], b[2]; let mut z = a; z += b; output y = z; loss = sum(y); },
            "cannot add vector [3] and vector [2]",
        );
    }

    #[test]
    fn output_and_loss() {
        let missing = errors(quote! { input x; });
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(missing[0].contains("missing `output` statement: add `output y = ...;`"));
        assert!(missing[1].contains("missing `loss` statement"));
        assert!(
            errors(quote! { output y = 1.0; output z = 2.0; loss = y; })[0]
                .contains("exactly one `output`")
        );
        assert!(errors(quote! { output y = 1.0; loss = y; loss = y; })[0]
            .contains("exactly one `loss`"));
        assert_error(
            quote! { input v[3]; output y = v; loss = y; },
            "the loss must be a scalar, found vector [3]",
        );
    }

    #[test]
    fn recursion_and_fn_limits() {
        assert_error(
            quote! { fn f(u) = f(u); output y = f(1.0); loss = y; },
            "`f` calls itself",
        );
        assert_error(
            quote! { fn f(u) = g(u); fn g(u) = f(u) + 1.0; output y = f(1.0); loss = y; },
            "recursive `fn`s: `f` calls `g` calls `f`",
        );
        let fns: Vec<TokenStream> = (0..30u32)
            .map(|i| {
                let f = quote::format_ident!("f{}", i);
                let g = quote::format_ident!("f{}", i + 1);
                quote! { fn #f(u) = #g(u) + #g(u); }
            })
            .collect();
        assert_error(
            quote! { #(#fns)* fn f30(u) = u; output y = f0(1.0); loss = y; },
            "is too large: inlining",
        );
        let chain: Vec<TokenStream> = (0..150u32)
            .map(|i| {
                let f = quote::format_ident!("f{}", i);
                let g = quote::format_ident!("f{}", i + 1);
                quote! { fn #f(u) = #g(u); }
            })
            .collect();
        let deep = errors(quote! { #(#chain)* fn f150(u) = u; output y = f0(1.0); loss = y; });
        assert!(
            !deep.is_empty() && deep.iter().all(|e| e.contains("nest more than 64 levels")),
            "{deep:?}"
        );
    }

    #[test]
    fn size_limits() {
        let too_large = "the network is too large";
        assert_error(
            quote! { param a[1000][1000], b[1000][1000]; output y = a * b; loss = sum(y); },
            too_large,
        );
        assert_error(
            quote! {
                input v[1000];
                let mut z = v;
                for i in 0..100000 { z = z * 2.0; }
                output y = z;
                loss = sum(y);
            },
            too_large,
        );
        assert_error(
            quote! { input v[1000000]; output y = [v, v]; loss = sum(y); },
            "this value is too large",
        );
        assert_error(
            quote! { input v[1000000]; output y = dense(v, 2, tanh); loss = sum(y); },
            "this `dense` layer is too large",
        );
        assert_ok(quote! {
            input x[784];
            target t[10];
            let h = dense(x, 128, relu);
            output y = dense(h, 10, identity);
            loss = cross_entropy(y, t);
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

    #[test]
    fn suggestions() {
        assert_eq!(suggest("w31", ["w13", "w0"].into_iter()), Some("w13"));
        assert_eq!(suggest("sigmod", builtins::names()), Some("sigmoid"));
        assert_eq!(suggest("x", ["y", "zz"].into_iter()), None);
        assert_eq!(suggest("x", ["y", "X"].into_iter()), Some("X"));
        assert_eq!(suggest("ab", ["ba"].into_iter()), Some("ba"));
        assert_eq!(suggest("weights", ["bias", "x"].into_iter()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }
}
