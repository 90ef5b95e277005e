//! Statements: `let`, `output`, `loss`, assignments (compound ones desugared:
//! `z[i] += e` is `z[i] = z[i] + e`) and `for` loops, whose body is checked once, with
//! the loop's range recorded so that indices can be evaluated for every iteration.
//! Declarations are dispatched to [`super::decls`] and [`super::fns`].

use syn::Ident;

use super::index::show_index;
use super::{Checker, Dense, Local, LocalKind, Loop, Scope, Typed, Value};
use crate::ast::{self, BinOp, Expr, ForLoop, Loc, Place};
use crate::builtins::Builtin;
use crate::resolved::{BindingId, ExprKind, Index, LoopVarId, Stmt};
use crate::shape::Shape;

const IN_LOOP: &str = "inside a `for` loop";

impl<'a> Checker<'a> {
    /// Checks and resolves the network's statements.
    pub(super) fn body(&mut self) -> Vec<Stmt> {
        let network = self.network;
        let mut body = Vec::new();
        for (index, stmt) in network.body.iter().enumerate() {
            self.statement = index;
            body.extend(self.stmt(stmt, false));
        }
        let name = Loc::at(network.name.span());
        if self.output.is_none() {
            self.error(name, "missing `output` statement: add `output y = ...;`");
        }
        if self.loss.is_none() {
            self.error(
                name,
                "missing `loss` statement: add `loss = ...;` (a scalar, e.g. `loss = mse(y, t);`)",
            );
        }
        body
    }

    /// One statement; `None` for declarations (and misplaced or erroneous statements).
    fn stmt(&mut self, stmt: &'a ast::Stmt, in_loop: bool) -> Option<Stmt> {
        match stmt {
            ast::Stmt::FloatType { ty, loc } => {
                if in_loop {
                    self.not_in_loop(*loc, "`type Float`");
                } else {
                    self.float_type(ty, *loc);
                }
                None
            }
            ast::Stmt::Input(decls) | ast::Stmt::Target(decls) => {
                if in_loop {
                    let word = if matches!(stmt, ast::Stmt::Input(_)) {
                        "`input` declarations"
                    } else {
                        "`target` declarations"
                    };
                    self.misplaced_declarations(decls.iter().map(|d| &d.name), word);
                } else {
                    self.declarations(stmt);
                }
                None
            }
            ast::Stmt::Param(params) => {
                if in_loop {
                    let names = params.iter().map(|p| &p.decl.name);
                    self.misplaced_declarations(names, "`param` declarations");
                } else {
                    self.declarations(stmt);
                }
                None
            }
            ast::Stmt::Fn(def) => {
                if in_loop {
                    self.not_in_loop(Loc::at(def.name.span()), "a `fn`");
                    self.silenced.insert(def.name.to_string());
                } else {
                    self.fn_def(def);
                }
                None
            }
            ast::Stmt::Let {
                mutable,
                name,
                value,
            } => {
                let dense = if in_loop {
                    Dense::Forbidden(IN_LOOP)
                } else {
                    Dense::Allowed { used: false }
                };
                let loc = Loc::at(name.span()).to(value.loc());
                let value = self.expr(value, &mut Scope::top(dense));
                let binding = self.new_binding(name.to_string(), value.ty);
                let kind = LocalKind::Let { mutable: *mutable };
                self.bind(name, kind, value.ty, binding.0);
                self.stmt_locs.push(loc);
                Some(Stmt::Let {
                    binding,
                    value: value.expr,
                })
            }
            ast::Stmt::Assign {
                place,
                op,
                value,
                loc,
            } => {
                let assign = self.assign(place, *op, value, *loc, in_loop);
                if assign.is_some() {
                    self.stmt_locs.push(*loc);
                }
                assign
            }
            ast::Stmt::For(for_loop) => self.for_loop(for_loop),
            ast::Stmt::Output {
                name,
                value,
                keyword,
            } => self.output(name, value, *keyword, in_loop),
            ast::Stmt::Loss { value, keyword } => self.loss(value, *keyword, in_loop),
        }
    }

    fn not_in_loop(&mut self, loc: Loc, what: &str) {
        self.error(
            loc,
            format!("{what} must be at the top level, not inside a `for` loop"),
        );
    }

    fn misplaced_declarations<'n>(
        &mut self,
        mut names: impl Iterator<Item = &'n Ident>,
        what: &str,
    ) {
        if let Some(first) = names.next() {
            self.not_in_loop(Loc::at(first.span()), what);
            self.silenced.insert(first.to_string());
        }
        self.silenced.extend(names.map(Ident::to_string));
    }

    fn output(
        &mut self,
        name: &'a Ident,
        value: &'a Expr,
        keyword: proc_macro2::Span,
        in_loop: bool,
    ) -> Option<Stmt> {
        let keyword_loc = Loc::at(keyword);
        if in_loop {
            self.not_in_loop(keyword_loc, "`output`");
            self.output.get_or_insert(keyword);
            self.silenced.insert(name.to_string());
            self.expr(value, &mut Scope::top(Dense::Forbidden(IN_LOOP)));
            return None;
        }
        match self.output {
            Some(first) => {
                self.error(
                    keyword_loc,
                    "a network has exactly one `output`, and this is a second one",
                );
                self.error(Loc::at(first), "the first `output` is here");
            }
            None => self.output = Some(keyword),
        }
        let value_loc = value.loc();
        let value = self.expr(value, &mut Scope::top(Dense::Allowed { used: false }));
        let binding = self.new_binding(name.to_string(), value.ty);
        self.bind(name, LocalKind::Output, value.ty, binding.0);
        self.output_binding.get_or_insert((binding, name.span()));
        self.stmt_locs.push(value_loc);
        Some(Stmt::Let {
            binding,
            value: value.expr,
        })
    }

    fn loss(&mut self, value: &'a Expr, keyword: proc_macro2::Span, in_loop: bool) -> Option<Stmt> {
        let keyword_loc = Loc::at(keyword);
        if in_loop {
            self.not_in_loop(keyword_loc, "`loss`");
            self.loss.get_or_insert(keyword);
            self.expr(value, &mut Scope::top(Dense::Forbidden(IN_LOOP)));
            return None;
        }
        match self.loss {
            Some(first) => {
                self.error(
                    keyword_loc,
                    "a network has exactly one `loss`, and this is a second one",
                );
                self.error(Loc::at(first), "the first `loss` is here");
            }
            None => self.loss = Some(keyword),
        }
        let loc = value.loc();
        let value = self.expr(value, &mut Scope::top(Dense::Forbidden("in the loss")));
        if let Some(shape) = value.ty {
            if shape != Shape::Scalar {
                self.error(
                    loc,
                    format!("the loss must be a scalar, found {shape}; reduce it, e.g. with `sum(..)`, `mean(..)` or `mse(y, t)`"),
                );
            }
        }
        Some(Stmt::Loss(value.expr))
    }

    /// `place = value` or `place op= value`.
    fn assign(
        &mut self,
        place: &'a Place,
        op: Option<BinOp>,
        value: &'a Expr,
        loc: Loc,
        in_loop: bool,
    ) -> Option<Stmt> {
        let mut scope = Scope::top(Dense::Forbidden(if in_loop {
            IN_LOOP
        } else {
            "in an assignment"
        }));
        let value_typed = self.expr(value, &mut scope);
        let id = &place.name;
        let (mut shape, binding) = self.assigned_binding(id, &scope);
        // The assigned elements, as an expression (the left operand of `op=`).
        let mut current = Typed::new(shape, ExprKind::Binding(binding.unwrap_or(BindingId(0))));
        let mut indices = Vec::new();
        let name_loc = Loc::at(id.span());
        let mut text = id.to_string();
        for index in &place.indices {
            let term = self.index_term(index, &scope);
            let base_loc = name_loc.to(index.loc());
            shape = self.apply_index(shape, term.as_ref(), index, base_loc, &text);
            let formula = term.map_or(Index::Const(0), |t| t.index());
            current = Typed::new(
                shape,
                ExprKind::Index(Box::new(current.expr), formula.clone()),
            );
            indices.push(formula);
            text = format!("{text}[{}]", show_index(index));
        }
        let (Some(place_shape), Some(value_shape)) = (shape, value_typed.ty) else {
            return None;
        };
        let value = match op {
            None => {
                if value_shape != place_shape {
                    self.error(
                        value.loc(),
                        format!(
                            "mismatched shapes: `{text}` is a {place_shape}, but the value is a {value_shape}; an assignment cannot change a binding's shape"
                        ),
                    );
                }
                value_typed.expr
            }
            Some(op) => {
                let result = self.binary(op, current, value_typed, loc);
                if let Some(result) = result.ty {
                    if result != place_shape {
                        self.error(
                            loc,
                            format!(
                                "`{text} {}= ..` would change `{text}` from a {place_shape} to a {result}; an assignment cannot change a binding's shape",
                                op.symbol()
                            ),
                        );
                    }
                }
                result.expr
            }
        };
        Some(Stmt::Assign {
            binding: binding?,
            indices,
            value,
        })
    }

    /// The shape and binding of an assigned name, reporting names that cannot be assigned.
    fn assigned_binding(
        &mut self,
        id: &Ident,
        scope: &Scope,
    ) -> (Option<Shape>, Option<BindingId>) {
        let name = id.to_string();
        let name_loc = Loc::at(id.span());
        match self.lookup(&name, scope) {
            Some(Value::Local {
                kind: LocalKind::Let { mutable },
                shape,
                id,
            }) => {
                if !mutable {
                    self.error(
                        name_loc,
                        format!("cannot assign to `{name}`: it is not mutable; declare it with `let mut {name} = ...;`"),
                    );
                }
                (shape, Some(BindingId(id)))
            }
            Some(Value::Local {
                kind: LocalKind::Output,
                ..
            }) => {
                self.error(
                    name_loc,
                    format!("cannot assign to the output `{name}`: compute it in a `let mut` binding and write `output {name} = that;`"),
                );
                (None, None)
            }
            Some(Value::Local {
                kind: LocalKind::LoopVar,
                ..
            }) => {
                self.error(
                    name_loc,
                    format!("cannot assign to the loop variable `{name}`"),
                );
                (None, None)
            }
            Some(other @ (Value::Global { .. } | Value::Arg(..))) => {
                let what = match other {
                    Value::Global { kind, .. } => super::kind_word(kind),
                    _ => "argument",
                };
                self.error(
                    name_loc,
                    format!(
                        "cannot assign to {what} `{name}`: only `let mut` bindings can be assigned"
                    ),
                );
                (None, None)
            }
            None => {
                if self.is_fn(&name) || Builtin::lookup(&name).is_some() {
                    self.error(name_loc, format!("cannot assign to the function `{name}`"));
                } else {
                    self.unknown_name(id, scope);
                }
                (None, None)
            }
        }
    }

    /// `for var in start..end { body }`: the body is checked once.
    fn for_loop(&mut self, for_loop: &'a ForLoop) -> Option<Stmt> {
        let start = self.loop_bound(&for_loop.start);
        let end = self.loop_bound(&for_loop.end);
        if let Some(var) = &for_loop.var {
            self.check_fresh(var);
        }
        // `(first value, number of iterations)`; `None` when a bound is invalid.
        let range = match (start, end) {
            (Some(_), Some(end)) if for_loop.inclusive && end == i64::MAX => {
                self.error(for_loop.end.loc(), "this loop bound is too large");
                None
            }
            (Some(start), Some(end)) => {
                let end = i128::from(end) + i128::from(for_loop.inclusive);
                let count = u64::try_from(end - i128::from(start)).unwrap_or(0);
                Some((start, count))
            }
            _ => None,
        };
        let (runs, known) =
            self.enter_loop(Loc::at(for_loop.keyword), range.map(|(_, count)| count));
        let var = for_loop.var.as_ref().map(|ident| {
            let id = LoopVarId(self.loop_vars as u32);
            self.loop_vars += 1;
            self.loop_var_names.push(ident.to_string());
            (ident, id)
        });
        let mark = self.locals.len();
        if let Some((ident, id)) = var {
            self.locals.push(Local {
                name: ident.to_string(),
                span: ident.span(),
                kind: LocalKind::LoopVar,
                shape: Some(Shape::Scalar),
                id: id.0,
            });
        }
        self.loops.push(Loop {
            var: var.map(|(_, id)| id),
            name: var.map_or_else(String::new, |(ident, _)| ident.to_string()),
            range: range.filter(|_| known),
        });
        // A top-level loop's body is counted once, then `runs - 1` more times unless
        // the loop will be a Rust loop (`crate::loops`), whose code is one iteration.
        let top_level = self.loops.len() == 1;
        let (scale, work_before, iterations_before) = (self.scale, self.work, self.iterations);
        self.scale = if top_level {
            scale
        } else {
            scale.saturating_mul(runs)
        };
        let body: Vec<Stmt> = for_loop
            .body
            .iter()
            .filter_map(|stmt| self.stmt(stmt, true))
            .collect();
        self.scale = scale;
        self.loops.pop();
        self.locals.truncate(mark);
        if top_level {
            let once = self.work.saturating_sub(work_before);
            let output = self.output_binding.map(|(b, _)| b);
            let fns = &self.fns;
            let fn_body = |f: crate::resolved::FnId| {
                fns.get(f.0 as usize)
                    .and_then(Option::as_ref)
                    .map(|f| &f.body)
            };
            let float_bytes = match self.float {
                crate::resolved::FloatType::F32 => 4,
                crate::resolved::FloatType::F64 => 8,
            };
            let rolls = runs.saturating_mul(once) >= self.loop_threshold
                && crate::loops::usage(&body, var.map(|(_, id)| id), output, &fn_body).is_some_and(
                    |usage| {
                        let state: usize = usage
                            .state()
                            .iter()
                            .map(|b| self.bindings[b.0 as usize].shape.len())
                            .sum();
                        crate::loops::storage(runs, state, float_bytes).is_some()
                    },
                );
            if !rolls {
                let iterations = self.iterations.saturating_sub(iterations_before);
                self.charge_unrolled(Loc::at(for_loop.keyword), once, iterations, runs);
            }
        }
        let (start, count) = range?;
        Some(Stmt::For {
            var: var.map(|(_, id)| id),
            start,
            count,
            body,
        })
    }

    fn loop_bound(&mut self, bound: &Expr) -> Option<i64> {
        match bound {
            Expr::Num {
                int: Some(value), ..
            } if *value >= 0 => Some(*value),
            _ => {
                self.error(
                    bound.loc(),
                    "loop bounds must be integer literals (non-negative), e.g. `for i in 0..3`",
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_error, assert_ok, errors};
    use quote::quote;

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
            quote! { let mut z = [0.0]; for i in 0..1000 { for j in 0..1000 { z[i * 0] += 1.0; } } output y = z; loss = y[0]; },
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
}
