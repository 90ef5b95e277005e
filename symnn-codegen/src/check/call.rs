//! Calls: builtins ([`ExprKind::Apply`], [`ExprKind::Powi`]), user `fn`s
//! ([`ExprKind::Call`], applied elementwise), and `dense` layers ([`ExprKind::Dense`],
//! whose parameter groups [`super::decls`] has reserved) with their activations. A
//! method call `x.f(y)` is the call `f(x, y)`.

use syn::Ident;

use super::budget::{cost, MAX_ELEMENTS};
use super::suggest::suggest;
use super::{Checker, Dense, Scope, Typed};
use crate::ast::{Expr, FnDef, Loc};
use crate::builtins::{self, Builtin};
use crate::resolved::{
    Activation, Expr as Resolved, ExprKind, FnId, Index, ParamInit, SlotKind, Wrt, WrtBase,
};
use crate::shape::Shape;

impl<'a> Checker<'a> {
    /// Resolves `func(args)`; `method`: written `args[0].func(..)`.
    pub(super) fn call(
        &mut self,
        func: &'a Ident,
        args: &'a [Expr],
        method: bool,
        loc: Loc,
        scope: &mut Scope<'a>,
    ) -> Typed {
        let name = func.to_string();
        if let Some((id, def)) = self.user_fn(&name) {
            return self.user_call(id, def, args, method, loc, scope);
        }
        let Some(builtin) = Builtin::lookup(&name) else {
            for arg in args {
                self.expr(arg, scope);
            }
            match self.lookup(&name, scope) {
                Some(value) => {
                    let describe = value.describe();
                    self.error(
                        Loc::at(func.span()),
                        format!("`{name}` is {describe}, not a function"),
                    );
                }
                None => self.unknown_function(func),
            }
            return Typed::unknown();
        };
        if args.len() != builtin.arity() {
            let params: Vec<String> = builtin.params().iter().map(|p| p.to_string()).collect();
            self.arity_error(&name, &params, args, method, loc);
            // `dense`'s last argument is a function name, not a value.
            let values = if builtin == Builtin::Dense {
                args.get(..1).unwrap_or_default()
            } else {
                args
            };
            for arg in values {
                self.expr(arg, scope);
            }
            return Typed::unknown();
        }
        match builtin {
            Builtin::Dense => self.dense(args, loc, scope),
            Builtin::Diff | Builtin::Laplacian => self.derivative(builtin, args, loc, scope),
            Builtin::Powi => self.powi(args, scope),
            _ => {
                let items: Vec<Typed> = args.iter().map(|a| self.expr(a, scope)).collect();
                let work = items
                    .iter()
                    .fold(1u64, |acc, t| acc.saturating_add(cost(t.ty)));
                self.spend(loc, work);
                if let (Builtin::SparseCrossEntropy, [z, _], [_, k]) = (builtin, &items[..], args) {
                    self.literal_class_index(k, z.ty);
                }
                let known: Option<Vec<Shape>> = items.iter().map(|t| t.ty).collect();
                let ty = match known {
                    Some(known) => match builtin.result_shape(&known) {
                        Ok(shape) => Some(shape),
                        Err(message) => {
                            self.error(loc, format!("`{name}` {message}"));
                            None
                        }
                    },
                    None => {
                        use Builtin::*;
                        let scalar = matches!(
                            builtin,
                            Sum | Mean
                                | Dot
                                | Mse
                                | Bce
                                | BceLogits
                                | CrossEntropy
                                | SparseCrossEntropy
                        );
                        scalar.then_some(Shape::Scalar)
                    }
                };
                let args = items.into_iter().map(|t| t.expr).collect();
                Typed::new(ty, ExprKind::Apply(builtin, args))
            }
        }
    }

    /// A literal class index of `sparse_cross_entropy(z, k)` must be an index of `z`
    /// (any other `k` gives a NaN loss at run time).
    fn literal_class_index(&mut self, k: &Expr, logits: Option<Shape>) {
        let (Some(Shape::Vector(n)), Some(value)) = (logits, literal_number(k)) else {
            return;
        };
        if !(value >= 0.0 && value.fract() == 0.0 && value < n as f64) {
            self.error(
                k.loc(),
                format!(
                    "the class index of `sparse_cross_entropy` must be an integer in 0..{n} (the logits are a vector [{n}]), found {value}"
                ),
            );
        }
    }

    /// "`leaky_relu(x, slope)` takes 2 arguments, found 1", and in method form how the
    /// receiver counts: "(the receiver `h` is the first): write `h.leaky_relu(slope)`".
    fn arity_error(
        &mut self,
        name: &str,
        params: &[String],
        args: &[Expr],
        method: bool,
        loc: Loc,
    ) {
        let arity = params.len();
        let plural = if arity == 1 { "" } else { "s" };
        let found = args.len();
        let mut message = format!(
            "`{}` takes {arity} argument{plural}, found {found}",
            signature(name, params)
        );
        if method {
            let receiver = match args.first() {
                Some(Expr::Name(id)) => Some(id.to_string()),
                _ => None,
            };
            let which = receiver.as_ref().map_or_else(
                || "the receiver".to_string(),
                |r| format!("the receiver `{r}`"),
            );
            message += &match params.split_first() {
                Some((first, rest)) => format!(
                    " ({which} is the first): write `{}.{name}({})`",
                    receiver.as_deref().unwrap_or(first),
                    rest.join(", ")
                ),
                None => format!(" ({which} is one): call it as `{name}()`"),
            };
        }
        self.error(loc, message);
    }

    /// `powi(x, N)`: `N` an integer literal that fits an `i32` and whose `N - 1` does
    /// too (the derivative is `N x^(N-1)`).
    fn powi(&mut self, args: &'a [Expr], scope: &mut Scope<'a>) -> Typed {
        let [x, exponent] = args else {
            return Typed::unknown();
        };
        let x = self.expr(x, scope);
        let n = match literal_int(exponent) {
            None => {
                self.error(
                    exponent.loc(),
                    "the exponent of `powi` must be an integer literal, e.g. `x.powi(2)` or `powi(x, -1)`; use `pow(x, y)` for other exponents",
                );
                None
            }
            Some(n) => match i32::try_from(n) {
                Ok(n) if n != i32::MIN => Some(n),
                _ => {
                    self.error(
                        exponent.loc(),
                        format!("the exponent of `powi` must be an integer literal with |N| < 2^31, found {n}; use `pow(x, y)` for other exponents"),
                    );
                    None
                }
            },
        };
        Typed::new(x.ty, ExprKind::Powi(Box::new(x.expr), n.unwrap_or(1)))
    }

    fn user_call(
        &mut self,
        id: FnId,
        def: &'a FnDef,
        args: &'a [Expr],
        method: bool,
        loc: Loc,
        scope: &mut Scope<'a>,
    ) -> Typed {
        let items: Vec<Typed> = args.iter().map(|a| self.expr(a, scope)).collect();
        let name = def.name.to_string();
        if args.len() != def.args.len() {
            self.arity_error(&name, &fn_params(def), args, method, loc);
            return Typed::unknown();
        }
        let function = self.fn_result(id).map(|f| (f.body.shape, f.params.clone()));
        let size = self.fn_sizes.get(id.0 as usize).copied().unwrap_or(1);
        let (body_shape, params) = match function {
            Some((shape, params)) => (Some(shape), params),
            None => (None, vec![Shape::Scalar; def.args.len()]),
        };
        if def.is_shaped() {
            // Called as written: every argument has its parameter's shape exactly.
            let mut ok = true;
            for ((item, arg), ((param, dims), want)) in items
                .iter()
                .zip(args)
                .zip(def.args.iter().zip(&def.dims).zip(&params))
            {
                let Some(found) = item.ty else {
                    ok = false;
                    continue;
                };
                if found != *want {
                    ok = false;
                    let declared = if dims.is_empty() {
                        format!("`{param}` is a scalar parameter")
                    } else {
                        format!("`{param}` is declared as a {want}")
                    };
                    self.error(
                        arg.loc(),
                        format!(
                            "`{name}` expects a {want} for `{param}`, found a {found} ({declared})"
                        ),
                    );
                }
            }
            self.spend(loc, cost(body_shape).saturating_mul(size));
            if !ok {
                return Typed::new(body_shape, ExprKind::Num(0.0));
            }
            let args = items.into_iter().map(|t| t.expr).collect();
            return Typed::new(body_shape, ExprKind::Call(id, args));
        }
        let mut result = Shape::Scalar;
        for item in &items {
            let Some(shape) = item.ty else {
                return Typed::unknown();
            };
            match result.broadcast(shape) {
                Some(next) => result = next,
                None => {
                    self.error(
                        loc,
                        format!(
                            "`{name}` is applied elementwise, so its arguments must have one shape (or be scalars); found {result} and {shape}"
                        ),
                    );
                    return Typed::unknown();
                }
            }
        }
        let result = match body_shape {
            // A function of scalars with an array body: called with scalars only.
            Some(body) if body != Shape::Scalar => {
                if result != Shape::Scalar {
                    let arg = def
                        .args
                        .first()
                        .map_or_else(String::new, ToString::to_string);
                    self.error(
                        loc,
                        format!(
                            "`{name}` has scalar parameters and returns a {body}, so it cannot be applied elementwise to a {result}; to pass an array, declare the parameter's shape, e.g. `fn {name}({arg}[2])`"
                        ),
                    );
                    return Typed::unknown();
                }
                body
            }
            _ => result,
        };
        self.spend(loc, cost(Some(result)).saturating_mul(size));
        let args = items.into_iter().map(|t| t.expr).collect();
        Typed::new(Some(result), ExprKind::Call(id, args))
    }

    /// `diff(e, v)` and `laplacian(e, v)`: `v` an input, a parameter or a `fn`
    /// parameter (inside its body), or an element, row or sub-block of one.
    fn derivative(
        &mut self,
        builtin: Builtin,
        args: &'a [Expr],
        loc: Loc,
        scope: &mut Scope<'a>,
    ) -> Typed {
        let [e, v] = args else {
            return Typed::unknown();
        };
        let name = if builtin == Builtin::Diff {
            "diff"
        } else {
            "laplacian"
        };
        let e = self.expr(e, scope);
        let wrt_expr = self.expr(v, scope);
        let wrt = match (wrt_expr.ty, wrt_of(&wrt_expr.expr)) {
            (None, _) => None,
            (Some(shape), Ok((base, base_shape, indices))) => Some(Wrt {
                base,
                base_shape,
                indices,
                shape,
            }),
            (Some(_), Err(what)) => {
                self.error(
                    v.loc(),
                    format!(
                        "`{name}` differentiates with respect to an input, a parameter, or a parameter of the enclosing `fn` (or an element of one, e.g. `x[0]`, `W[1][2]`); {what} is none of these"
                    ),
                );
                None
            }
        };
        let (Some(wrt), Some(e_shape)) = (wrt, e.ty) else {
            return Typed::unknown();
        };
        let shape = if builtin == Builtin::Diff {
            let dims: Vec<usize> = e_shape.dims().into_iter().chain(wrt.shape.dims()).collect();
            match Shape::from_dims(&dims) {
                Some(shape) if dims.len() <= 2 => shape,
                _ => {
                    self.error(
                        v.loc(),
                        format!(
                            "`diff` of a {e_shape} with respect to a {} would have {} dimensions, but values have at most 2: differentiate an element (e.g. `diff(e[0], v)`) or with respect to an element of `v`",
                            wrt.shape,
                            dims.len()
                        ),
                    );
                    return Typed::unknown();
                }
            }
        } else {
            let mut ok = true;
            if e_shape != Shape::Scalar {
                self.error(
                    args[0].loc(),
                    format!("`laplacian(e, v)` needs a scalar `e`, found a {e_shape}; take an element first, e.g. `laplacian(u[0], x)`"),
                );
                ok = false;
            }
            if matches!(wrt.shape, Shape::Matrix(..)) {
                self.error(
                    v.loc(),
                    format!(
                        "`laplacian(e, v)` needs a scalar or vector `v`, found a {}",
                        wrt.shape
                    ),
                );
                ok = false;
            }
            if !ok {
                return Typed::unknown();
            }
            Shape::Scalar
        };
        // A derivative costs a few times its expression, per direction.
        let work = cost(Some(e_shape)).saturating_mul(4 * wrt.shape.len() as u64);
        self.spend(loc, work);
        let kind = if builtin == Builtin::Diff {
            ExprKind::Diff(Box::new(e.expr), wrt)
        } else {
            ExprKind::Laplacian(Box::new(e.expr), wrt)
        };
        Typed::new(Some(shape), kind)
    }

    /// `dense(x, units, activation)`, in the value of the top-level `let` / `output`
    /// being checked, which owns the layer's two parameter groups.
    fn dense(&mut self, args: &'a [Expr], loc: Loc, scope: &mut Scope<'a>) -> Typed {
        match &mut scope.dense {
            Dense::Forbidden(place) => {
                let place = *place;
                self.error(
                    loc,
                    format!(
                        "`dense` can only be used in the value of a top-level `let` or `output` (its parameters are named after the binding), not {place}; write one `let` per layer"
                    ),
                );
            }
            Dense::Allowed { used: true } => self.error(
                loc,
                "only one `dense` per statement: its parameters are named after the binding (`h.weight`, `h.bias`); split this into two `let`s",
            ),
            Dense::Allowed { used } => *used = true,
        }
        let [x, units, activation] = args else {
            return Typed::unknown();
        };
        let input = self.expr(x, scope);
        let units = match units {
            Expr::Num { int: Some(n), .. } if *n >= 1 => usize::try_from(*n).ok(),
            _ => {
                self.error(
                    units.loc(),
                    "the number of units of `dense` must be a positive integer literal, e.g. `dense(x, 8, tanh)`",
                );
                None
            }
        };
        let activation = self.activation(activation, scope);
        let n = match input.ty {
            None => return Typed::unknown(),
            Some(Shape::Vector(n)) => n,
            Some(other) => {
                self.error(
                    x.loc(),
                    format!("`dense` expects a vector input, found a {other}"),
                );
                return Typed::unknown();
            }
        };
        let Some(units) = units else {
            return Typed::unknown();
        };
        if units.checked_mul(n).is_none_or(|size| size > MAX_ELEMENTS) {
            self.error(
                loc,
                format!("this `dense` layer is too large: more than {MAX_ELEMENTS} weights"),
            );
            return Typed::unknown();
        }
        let activation_size = match activation {
            Some(Activation::Fn(id)) => self.fn_sizes.get(id.0 as usize).copied().unwrap_or(1),
            _ => 1,
        };
        let work = (units as u64)
            .saturating_mul(n as u64 + 1)
            .saturating_add((units as u64).saturating_mul(activation_size));
        self.spend(loc, work);
        let shape = Some(Shape::Vector(units));
        let (Some(activation), Some(&weight)) =
            (activation, self.dense_groups.get(&self.statement))
        else {
            // A misplaced layer or a bad activation (reported): the shape is still known.
            return Typed::new(shape, ExprKind::Num(0.0));
        };
        let bias = weight + 1;
        if let [w, b] = &mut self.params[weight..=bias] {
            w.shape = Shape::Matrix(units, n);
            w.init = Some(ParamInit::Glorot {
                fan_in: n,
                fan_out: units,
            });
            b.shape = Shape::Vector(units);
            b.init = Some(ParamInit::Zero);
        }
        Typed::new(
            shape,
            ExprKind::Dense {
                input: Box::new(input.expr),
                weight,
                bias,
                activation,
            },
        )
    }

    /// Checks a `dense` activation: the bare name of a one-argument elementwise function.
    fn activation(&mut self, e: &Expr, scope: &Scope) -> Option<Activation> {
        let hint = "a `dense` activation must be the name of a one-argument elementwise function, e.g. `tanh`, `relu`, `sigmoid` or `identity`";
        let Expr::Name(id) = e else {
            self.error(
                e.loc(),
                format!("{hint}; write just the name, without a call"),
            );
            return None;
        };
        let name = id.to_string();
        let loc = Loc::at(id.span());
        if let Some((fn_id, def)) = self.user_fn(&name) {
            if def.args.len() != 1 {
                let params = fn_params(def);
                self.error(
                    loc,
                    format!(
                        "`{}` takes {} arguments, but {hint}",
                        signature(&name, &params),
                        params.len()
                    ),
                );
                return None;
            }
            return Some(Activation::Fn(fn_id));
        }
        if let Some(builtin) = Builtin::lookup(&name) {
            if !(builtin.is_elementwise() && builtin.arity() == 1) {
                self.error(
                    loc,
                    format!("`{name}` cannot be a `dense` activation: {hint}"),
                );
                return None;
            }
            return Some(Activation::Builtin(builtin));
        }
        if let Some(value) = self.lookup(&name, scope) {
            let describe = value.describe();
            self.error(
                loc,
                format!("`{name}` is {describe}, not a function; {hint}"),
            );
            return None;
        }
        let mut names: Vec<String> = builtins::BUILTINS
            .iter()
            .filter(|(_, b)| b.is_elementwise() && b.arity() == 1)
            .map(|(n, _)| (*n).to_owned())
            .collect();
        names.extend(
            self.fn_defs
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
        self.error(loc, message);
        None
    }
}

/// The variable `v` of `diff(e, v)` as resolved: its base, the base's shape and the
/// indices applied to it; or what it is instead, for the error.
fn wrt_of(v: &Resolved) -> Result<(WrtBase, Shape, Vec<Index>), &'static str> {
    match &v.kind {
        ExprKind::Slot(slot) => match slot.kind {
            SlotKind::Input | SlotKind::Param => Ok((WrtBase::Slot(*slot), v.shape, Vec::new())),
            SlotKind::Target => Err("a target"),
        },
        ExprKind::Arg(k) => Ok((WrtBase::Arg(*k), v.shape, Vec::new())),
        ExprKind::Index(base, index) => {
            let (b, shape, mut indices) = wrt_of(base)?;
            indices.push(index.clone());
            Ok((b, shape, indices))
        }
        ExprKind::Binding(_) => {
            Err("a `let` binding (differentiate with respect to what it is computed from)")
        }
        ExprKind::LoopVar(_) => Err("a loop variable"),
        ExprKind::Num(_) => Err("a number"),
        _ => Err("an expression"),
    }
}

/// A number literal, possibly negated.
fn literal_number(e: &Expr) -> Option<f64> {
    match e {
        Expr::Num { value, .. } => Some(*value),
        Expr::Neg { operand, .. } => literal_number(operand).map(|v| -v),
        _ => None,
    }
}

/// `name(a, b)`: how a call's signature is shown in errors.
fn signature(name: &str, params: &[String]) -> String {
    format!("{name}({})", params.join(", "))
}

/// A user `fn`'s parameters as written: `u`, or `z[2]` for a shaped one.
fn fn_params(def: &FnDef) -> Vec<String> {
    def.args
        .iter()
        .zip(&def.dims)
        .map(|(arg, dims)| {
            let dims: String = dims.iter().map(|d| format!("[{}]", d.size)).collect();
            format!("{arg}{dims}")
        })
        .collect()
}

/// An integer literal, possibly negated.
fn literal_int(e: &Expr) -> Option<i64> {
    match e {
        Expr::Num { int: Some(n), .. } => Some(*n),
        Expr::Neg { operand, .. } => literal_int(operand)?.checked_neg(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_error, assert_ok};
    use quote::quote;

    #[test]
    fn arity() {
        assert_error(
            quote! { output y = tanh(1.0, 2.0); loss = y; },
            "`tanh(x)` takes 1 argument, found 2",
        );
        assert_error(
            quote! { output y = max(1.0); loss = y; },
            "`max(a, b)` takes 2 arguments, found 1",
        );
        assert_error(
            quote! { input x; output y = x.tanh(1.0); loss = y; },
            "`tanh(x)` takes 1 argument, found 2 (the receiver `x` is the first): write `x.tanh()`",
        );
        // The method form counts the receiver, and names it when it is a name.
        assert_error(
            quote! { input h; output y = h.leaky_relu(); loss = y; },
            "`leaky_relu(x, slope)` takes 2 arguments, found 1 (the receiver `h` is the first): write `h.leaky_relu(slope)`",
        );
        assert_error(
            quote! { input h[2]; output y = (h * 2.0).dense(3); loss = sum(y); },
            "`dense(x, units, activation)` takes 3 arguments, found 2 (the receiver is the first): write `x.dense(units, activation)`",
        );
        assert_error(
            quote! { input h; output y = leaky_relu(h); loss = y; },
            "`leaky_relu(x, slope)` takes 2 arguments, found 1",
        );
        assert!(!super::super::test_util::errors(
            quote! { input h; output y = leaky_relu(h); loss = y; }
        )[0]
        .contains("receiver"));
        assert_error(
            quote! { fn f(a, b) = a * b; output y = f(1.0); loss = y; },
            "`f(a, b)` takes 2 arguments, found 1",
        );
        // A shaped parameter shows its dimensions; a user `fn` in method form counts
        // the receiver too.
        assert_error(
            quote! { fn u(z[2], c) = sum(z) * c; input x[2]; output y = u(x); loss = y; },
            "`u(z[2], c)` takes 2 arguments, found 1",
        );
        assert_error(
            quote! { fn f(a, b) = a * b; input x; output y = x.f(1.0, 2.0); loss = y; },
            "`f(a, b)` takes 2 arguments, found 3 (the receiver `x` is the first): write `x.f(b)`",
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
            "`f(a, b)` takes 2 arguments, but a `dense` activation",
        );
        assert_error(
            quote! { input x; output y = dense(x, 2, tanh); loss = sum(y); },
            "`dense` expects a vector input, found a scalar",
        );
        assert_error(
            quote! { input x[2]; output y = dense(x, 2); loss = sum(y); },
            "`dense(x, units, activation)` takes 3 arguments, found 2",
        );
    }

    #[test]
    fn powi_exponent_range() {
        // `i32::MIN` would overflow `N - 1` in the derivative.
        let message = "the exponent of `powi` must be an integer literal with |N| < 2^31";
        assert_error(
            quote! { param w; output y = powi(w, -2147483648); loss = y; },
            message,
        );
        assert_error(
            quote! { param w; output y = w.powi(2147483648); loss = y; },
            message,
        );
        assert_error(
            quote! { param w; output y = powi(w, -9223372036854775808); loss = y; },
            "the exponent of `powi` must be an integer literal",
        );
        assert_ok(
            quote! { param w; output y = powi(w, -2147483647) + w.powi(2147483647); loss = y; },
        );
    }

    #[test]
    fn sparse_cross_entropy_shapes() {
        assert_ok(
            quote! { input x[3]; target k; output z = x; loss = sparse_cross_entropy(z, k); },
        );
        // Any scalar is a class index: a literal, an element of a target vector.
        assert_ok(
            quote! { input x[3]; target t[2]; output z = x; loss = sparse_cross_entropy(z, 2) + z.sparse_cross_entropy(t[1]); },
        );
        assert_error(
            quote! { input x[3]; target t[3]; output z = x; loss = sparse_cross_entropy(z, t); },
            "`sparse_cross_entropy` expects a scalar class index as its second argument (e.g. `target k;`), found a vector [3]; for a one-hot target use `cross_entropy(z, t)`",
        );
        assert_error(
            quote! { input x[3]; target t[1]; output z = x; loss = sparse_cross_entropy(z, t); },
            "found a vector [1] (write `k[0]`)",
        );
        assert_error(
            quote! { input x; target k; output z = x; loss = sparse_cross_entropy(z, k); },
            "`sparse_cross_entropy` expects a vector of logits as its first argument, found a scalar",
        );
        assert_error(
            quote! { input x[2][2]; target k[2][2]; output z = x; loss = sparse_cross_entropy(z, k); },
            "expects a vector of logits as its first argument, found a matrix [2][2], and a scalar class index as its second argument (e.g. `target k;`), found a matrix [2][2]",
        );
        assert_error(
            quote! { input x[3]; target k; output z = x; loss = sparse_cross_entropy(z); },
            "`sparse_cross_entropy(z, k)` takes 2 arguments, found 1",
        );
        // A literal class index must index the logits.
        for k in [quote!(3), quote!(2.5), quote!(-1)] {
            assert_error(
                quote! { input x[3]; output z = x; loss = sparse_cross_entropy(z, #k); },
                "the class index of `sparse_cross_entropy` must be an integer in 0..3 (the logits are a vector [3]), found ",
            );
        }
        assert_ok(
            quote! { input x[3]; output z = x; loss = sparse_cross_entropy(z, 2.0) + z.sparse_cross_entropy(0); },
        );
        // An argument of unknown shape (already reported) still gives a scalar loss.
        assert_error(
            quote! { input x[3]; target k; output z = x; loss = sparse_cross_entropy(zz, k); },
            "cannot find",
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
}
