//! Declarations: `type Float`, `input`, `target`, `param` (with initial values) and the
//! parameter layout.
//!
//! Declarations are visible everywhere, so [`Checker::declare_all`] registers them
//! before any statement is checked, and lays the flattened arrays out in declaration
//! order: inputs and targets as declared; parameter groups by top-level statement, a
//! `param` statement's groups in order and a `dense` layer's `.weight` then `.bias` at
//! the `let` / `output` that holds it (the shapes of `dense` groups are filled in when
//! the layer is checked, the offsets when the program is assembled).

use quote::ToTokens;
use syn::Ident;

use super::{Checker, Declared, FloatType, Item, Origin};
use crate::ast::{Decl, Dim, Expr, Init, Loc, ParamDecl, Stmt};
use crate::builtins::Builtin;
use crate::resolved::{FnId, ParamInit, Slot, SlotKind, SlotRef};
use crate::shape::Shape;

use super::budget::MAX_ELEMENTS;

impl<'a> Checker<'a> {
    /// Registers every top-level declaration and `fn`, and lays out the slots.
    pub(super) fn declare_all(&mut self) {
        let network = self.network;
        for (index, stmt) in network.body.iter().enumerate() {
            match stmt {
                Stmt::Input(decls) | Stmt::Target(decls) => {
                    let kind = if matches!(stmt, Stmt::Input(_)) {
                        SlotKind::Input
                    } else {
                        SlotKind::Target
                    };
                    for (position, decl) in decls.iter().enumerate() {
                        self.declare(decl, kind, None, (index, position));
                    }
                }
                Stmt::Param(params) => {
                    for (position, param) in params.iter().enumerate() {
                        let init = Some(param_init(param));
                        self.declare(&param.decl, SlotKind::Param, init, (index, position));
                    }
                }
                Stmt::Fn(def) => {
                    let name = def.name.to_string();
                    if Builtin::lookup(&name).is_none() && !self.decls.contains_key(&name) {
                        let id = FnId(self.fn_defs.len() as u32);
                        self.fn_defs.push(def);
                        self.fns.push(None);
                        self.decls.insert(
                            name,
                            Declared {
                                item: Item::Fn(def, id),
                                span: def.name.span(),
                                origin: (index, 0),
                            },
                        );
                    }
                }
                Stmt::Let { name, value, .. } | Stmt::Output { name, value, .. }
                    if contains_dense(value) =>
                {
                    // Placeholders, filled in by the layer's check.
                    self.dense_groups.insert(index, self.params.len());
                    for group in ["weight", "bias"] {
                        self.params.push(Slot {
                            name: format!("{name}.{group}"),
                            shape: Shape::Scalar,
                            offset: 0,
                            init: Some(ParamInit::Zero),
                        });
                    }
                }
                _ => {}
            }
        }
    }

    fn declare(&mut self, decl: &Decl, kind: SlotKind, init: Option<ParamInit>, origin: Origin) {
        let shape = decl_shape(decl).ok();
        let list = match kind {
            SlotKind::Input => &mut self.inputs,
            SlotKind::Target => &mut self.targets,
            SlotKind::Param => &mut self.params,
        };
        let offset = list
            .last()
            .map_or(0, |s| s.offset.saturating_add(s.shape.len()));
        let slot = SlotRef {
            kind,
            index: list.len(),
        };
        list.push(Slot {
            name: decl.name.to_string(),
            shape: shape.unwrap_or(Shape::Scalar),
            offset,
            init,
        });
        self.declarations.push(slot);
        self.decls.entry(decl.name.to_string()).or_insert(Declared {
            item: Item::Global { kind, shape, slot },
            span: decl.name.span(),
            origin,
        });
    }

    /// Checks an `input` / `target` / `param` statement at the top level.
    pub(super) fn declarations(&mut self, stmt: &Stmt) {
        let index = self.statement;
        match stmt {
            Stmt::Input(decls) | Stmt::Target(decls) => {
                for (position, decl) in decls.iter().enumerate() {
                    self.declaration(decl, (index, position));
                }
            }
            Stmt::Param(params) => {
                for (position, param) in params.iter().enumerate() {
                    self.declaration(&param.decl, (index, position));
                    if let (Some(init), Ok(shape)) = (&param.init, decl_shape(&param.decl)) {
                        self.check_init(init, shape, &param.decl.name);
                    }
                }
            }
            _ => {}
        }
    }

    /// Reports a declaration's shape errors and duplicates.
    fn declaration(&mut self, decl: &Decl, origin: Origin) {
        if let Err(errors) = decl_shape(decl) {
            self.errors.extend(errors);
        }
        self.check_unique_decl(&decl.name, origin);
    }

    /// Reports `name` if an earlier declaration or `fn` has the same name.
    pub(super) fn check_unique_decl(&mut self, name: &Ident, origin: Origin) {
        let key = name.to_string();
        let Some(first) = self.decls.get(&key) else {
            return;
        };
        if first.origin == origin {
            return;
        }
        let (describe, span) = (first.describe(), first.span);
        self.error(
            Loc::at(name.span()),
            format!("the name `{key}` is declared twice (it is already {describe}); every name in a network must be unique"),
        );
        self.error(Loc::at(span), format!("`{key}` is first declared here"));
    }

    fn check_init(&mut self, init: &Init, shape: Shape, name: &Ident) {
        let expected_scalar = |found: &str| format!("expected a number, found {found}");
        match (init, shape) {
            // One literal initialises every element.
            (Init::Value(..), _) => {}
            (Init::Array(_, loc), Shape::Scalar) => {
                self.error(*loc, format!("`{name}` is a scalar: its initial value must be one number, found an array"));
            }
            (Init::Array(values, loc), Shape::Vector(n)) => {
                if values.len() != n {
                    self.error(
                        *loc,
                        format!(
                            "expected {n} values, found {} (`{name}` is a {shape})",
                            values.len()
                        ),
                    );
                }
                for value in values {
                    if let Init::Array(_, loc) = value {
                        self.error(*loc, expected_scalar("an array"));
                    }
                }
            }
            (Init::Array(rows, loc), Shape::Matrix(r, c))
                if rows.iter().all(|row| matches!(row, Init::Value(..))) =>
            {
                self.error(
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
                            *loc,
                            format!("expected a row of {c} values, e.g. `[0.0, ..]`, found a number (`{name}` is a {shape})"),
                        ),
                        Init::Array(values, loc) => {
                            if values.len() != c {
                                self.error(
                                    *loc,
                                    format!("expected {c} values, found {} (`{name}` is a {shape})", values.len()),
                                );
                            }
                            for value in values {
                                if let Init::Array(_, loc) = value {
                                    self.error(*loc, expected_scalar("an array"));
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `type Float = f32;` / `f64`.
    pub(super) fn float_type(&mut self, ty: &syn::Type, loc: Loc) {
        if let Some(first) = self.float_decl {
            self.error(loc, "`type Float` is declared twice; keep one");
            self.error(first, "the first `type Float` is here");
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
                    Loc::of(ty),
                    format!("expected `f32` or `f64` as the network's float type, found `{found}`"),
                );
            }
        }
    }
}

/// A declaration's shape, or the errors in its dimensions.
fn decl_shape(decl: &Decl) -> Result<Shape, Vec<syn::Error>> {
    dims_shape(&decl.name, &decl.dims)
}

/// The shape of a name declared with these dimensions (a declaration or a `fn`
/// parameter), or the errors in them.
pub(super) fn dims_shape(name: &syn::Ident, dims: &[Dim]) -> Result<Shape, Vec<syn::Error>> {
    let decl = Decl {
        name: name.clone(),
        dims: dims.to_vec(),
    };
    let mut errors = Vec::new();
    // One error for all zero sizes of a declaration, at the first.
    if let Some(dim) = decl.dims.iter().find(|d| d.size == 0) {
        errors.push(syn::Error::new(
            dim.span,
            "an array size must be at least 1",
        ));
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

/// How a parameter group is initialised: its declared values (one literal broadcasts to
/// every element), else Glorot for a matrix and `U(-0.1, 0.1)` otherwise.
fn param_init(param: &ParamDecl) -> ParamInit {
    let shape = decl_shape(&param.decl).unwrap_or(Shape::Scalar);
    match &param.init {
        Some(Init::Value(v, _)) => ParamInit::Values(vec![*v; shape.len()]),
        Some(init) => {
            fn flatten(init: &Init, out: &mut Vec<f64>) {
                match init {
                    Init::Value(v, _) => out.push(*v),
                    Init::Array(items, _) => items.iter().for_each(|i| flatten(i, out)),
                }
            }
            let mut values = Vec::new();
            flatten(init, &mut values);
            ParamInit::Values(values)
        }
        None => match shape {
            Shape::Matrix(r, c) => ParamInit::Glorot {
                fan_in: c,
                fan_out: r,
            },
            _ => ParamInit::Uniform(0.1),
        },
    }
}

/// Whether an expression calls `dense` (its statement then owns two parameter groups).
fn contains_dense(e: &Expr) -> bool {
    match e {
        Expr::Num { .. } | Expr::Name(_) => false,
        Expr::Neg { operand, .. } | Expr::Transpose { operand, .. } => contains_dense(operand),
        Expr::Binary { lhs, rhs, .. } => contains_dense(lhs) || contains_dense(rhs),
        Expr::Index { base, index, .. } => contains_dense(base) || contains_dense(index),
        Expr::Array { elems, .. } => elems.iter().any(contains_dense),
        Expr::Call { func, args, .. } => func == "dense" || args.iter().any(contains_dense),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_error, assert_ok, errors};
    use quote::quote;

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
}
