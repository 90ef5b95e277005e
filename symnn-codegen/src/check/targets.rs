//! The rule "the output may not depend on a target": the generated `forward` takes only
//! inputs, so the output must be computable without targets.
//!
//! Checked on the resolved program by data flow over bindings. The statements are
//! walked in order, tracking for each binding the set of targets its current value
//! may depend on: a `let` replaces the set, an unindexed assignment replaces it, an
//! indexed assignment (`z[i] = e`) adds to it (the other elements keep theirs), and a
//! loop body is walked until the sets stop growing (a loop that runs no iteration is
//! skipped). A `fn` call depends on the targets its body uses and those of its
//! arguments.
//!
//! The analysis is per binding, not per element, and sees the program before any
//! simplification, so it is slightly more conservative than the old check on the
//! simplified graph: `let mut z = [x, t]; output y = z[0];` and `output y = t - t;` are
//! now rejected (nothing in practice computes an output that way).

use std::collections::BTreeSet;

use crate::ast::Loc;
use crate::resolved::{Expr, ExprKind, Program, SlotKind, Stmt};

/// Target slot indices a value may depend on.
type Deps = BTreeSet<usize>;

/// The error, at `output` (the output's name), if the output depends on a target.
pub(super) fn check(program: &Program, output: Loc) -> Option<syn::Error> {
    let mut flow = Flow {
        program,
        fns: vec![None; program.fns.len()],
        active: vec![false; program.fns.len()],
        bindings: vec![Deps::new(); program.bindings.len()],
    };
    flow.block(&program.body);
    let deps = flow.bindings.get(program.output.0 as usize)?;
    let first = *deps.iter().next()?;
    let output_name = &program.bindings[program.output.0 as usize].name;
    let name = program.targets.get(first).map_or_else(
        || "a target".to_string(),
        |s| format!("the target `{}`", s.name),
    );
    Some(output.error(format!(
        "the output `{output_name}` depends on {name}, but `forward` takes only inputs; use targets in the `loss` only"
    )))
}

struct Flow<'p> {
    program: &'p Program,
    /// The targets each `fn` body uses, once computed.
    fns: Vec<Option<Deps>>,
    /// `fn`s being computed (a recursive `fn` is an error reported elsewhere).
    active: Vec<bool>,
    /// The current dependence of each binding.
    bindings: Vec<Deps>,
}

impl Flow<'_> {
    fn block(&mut self, body: &[Stmt]) {
        for stmt in body {
            match stmt {
                Stmt::Let { binding, value } => {
                    let deps = self.expr(value);
                    self.set(binding.0 as usize, deps, true);
                }
                Stmt::Assign {
                    binding,
                    indices,
                    value,
                } => {
                    let deps = self.expr(value);
                    self.set(binding.0 as usize, deps, indices.is_empty());
                }
                Stmt::For { count, body, .. } => {
                    if *count == 0 {
                        continue;
                    }
                    loop {
                        let before = self.bindings.clone();
                        self.block(body);
                        for (now, then) in self.bindings.iter_mut().zip(&before) {
                            now.extend(then.iter().copied());
                        }
                        if self.bindings == before {
                            break;
                        }
                    }
                }
                Stmt::Loss(_) => {}
            }
        }
    }

    fn set(&mut self, binding: usize, deps: Deps, replace: bool) {
        if let Some(current) = self.bindings.get_mut(binding) {
            if replace {
                *current = deps;
            } else {
                current.extend(deps);
            }
        }
    }

    fn expr(&mut self, e: &Expr) -> Deps {
        let mut deps = Deps::new();
        self.collect(e, &mut deps);
        deps
    }

    fn collect(&mut self, e: &Expr, deps: &mut Deps) {
        match &e.kind {
            ExprKind::Num(_) | ExprKind::LoopVar(_) | ExprKind::Arg(_) => {}
            ExprKind::Slot(slot) => {
                if slot.kind == SlotKind::Target {
                    deps.insert(slot.index);
                }
            }
            ExprKind::Binding(b) => {
                if let Some(d) = self.bindings.get(b.0 as usize) {
                    deps.extend(d.iter().copied());
                }
            }
            ExprKind::Neg(a)
            | ExprKind::Index(a, _)
            | ExprKind::Powi(a, _)
            | ExprKind::Diff(a, _)
            | ExprKind::Laplacian(a, _) => self.collect(a, deps),
            ExprKind::Dense { input, .. } => self.collect(input, deps),
            ExprKind::Elementwise(_, a, b) | ExprKind::MatMul(a, b) => {
                self.collect(a, deps);
                self.collect(b, deps);
            }
            ExprKind::Array(items) | ExprKind::Apply(_, items) => {
                items.iter().for_each(|x| self.collect(x, deps))
            }
            ExprKind::Call(f, args) => {
                deps.extend(self.function(f.0 as usize));
                args.iter().for_each(|x| self.collect(x, deps));
            }
        }
    }

    /// The targets a `fn` body uses (directly or through the `fn`s it calls).
    fn function(&mut self, f: usize) -> Deps {
        if let Some(Some(deps)) = self.fns.get(f) {
            return deps.clone();
        }
        let program = self.program;
        let (Some(function), Some(false)) = (program.fns.get(f), self.active.get(f).copied())
        else {
            return Deps::new();
        };
        self.active[f] = true;
        let deps = self.expr(&function.body);
        self.active[f] = false;
        self.fns[f] = Some(deps.clone());
        deps
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_error, assert_ok};
    use quote::quote;

    const RULE: &str = "but `forward` takes only inputs; use targets in the `loss` only";

    #[test]
    fn output_may_not_depend_on_a_target() {
        assert_error(
            quote! { input x; target t; param w; output y = w * x + t; loss = sq(y); },
            "the output `y` depends on the target `t`",
        );
        // Through bindings, assignments, loops and `fn`s.
        assert_error(
            quote! {
                input x[2]; target a, t[2];
                let mut z = x;
                for i in 0..2 { let d = t[i]; z[i] += d; }
                output y = z;
                loss = mse(y, t);
            },
            "the output `y` depends on the target `t`",
        );
        assert_error(
            quote! {
                input x; target t;
                fn f(u) = u + t;
                let h = f(x);
                output y = h;
                loss = sq(y);
            },
            RULE,
        );
        // A later iteration sees what an earlier one assigned.
        assert_error(
            quote! {
                input x; target t;
                let mut a = x;
                let mut b = x;
                for i in 0..3 { a = b; b = t; }
                output y = a;
                loss = sq(y - t);
            },
            RULE,
        );
    }

    #[test]
    fn targets_in_the_loss_are_fine() {
        assert_ok(quote! {
            input x; target t;
            let mut z = t;
            z = x;
            output y = z;
            loss = sq(y - t);
        });
        // A loop that runs no iteration assigns nothing.
        assert_ok(quote! {
            input x; target t;
            let mut z = x;
            for i in 0..0 { z = t; }
            output y = z;
            loss = sq(y - t);
        });
        // The output is computed before the target is mixed in.
        assert_ok(quote! {
            input x; target t;
            let mut z = x;
            output y = z;
            z += t;
            loss = sq(y - z);
        });
    }
}
