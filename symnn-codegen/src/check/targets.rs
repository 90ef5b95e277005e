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
//! Each dependence remembers the statement where its target first entered (a `let`,
//! `output` or assignment that reads it directly or through a `fn`; through a binding,
//! the binding's own), so that the error can point there too.
//!
//! The analysis is per binding, not per element, and sees the program before any
//! simplification, so it is slightly more conservative than the old check on the
//! simplified graph: `let mut z = [x, t]; output y = z[0];` and `output y = t - t;` are
//! now rejected (nothing in practice computes an output that way).

use std::collections::BTreeMap;

use crate::ast::Loc;
use crate::resolved::{Expr, ExprKind, Program, SlotKind, Stmt};

/// The targets a value may depend on: target slot index → the statement where that
/// target first entered the value (an index into the pre-order list of `let`s,
/// `output`s and assignments, the checker's `stmt_locs`).
type Deps = BTreeMap<usize, usize>;

/// Adds `target`, entered at statement `at`, keeping the earliest statement.
fn add(deps: &mut Deps, target: usize, at: usize) {
    deps.entry(target)
        .and_modify(|first| *first = (*first).min(at))
        .or_insert(at);
}

fn merge(into: &mut Deps, from: &Deps) {
    for (&target, &at) in from {
        add(into, target, at);
    }
}

/// The error, at `output` (the output's name), if the output depends on a target, and
/// a note at the statement where that target first entered the output's computation.
/// `stmt_locs` locates the program's `let`s, `output`s and assignments in pre-order;
/// without one per statement (after other errors) the note is left out.
pub(super) fn check(program: &Program, output: Loc, stmt_locs: &[Loc]) -> Vec<syn::Error> {
    let mut flow = Flow {
        program,
        fns: vec![None; program.fns.len()],
        active: vec![false; program.fns.len()],
        bindings: vec![Deps::new(); program.bindings.len()],
        next: 0,
        stmts: Vec::new(),
    };
    flow.block(&program.body);
    let output_binding = program.output.0 as usize;
    let Some((&first, &entered)) = flow
        .bindings
        .get(output_binding)
        .and_then(|deps| deps.iter().next())
    else {
        return Vec::new();
    };
    let output_name = &program.bindings[output_binding].name;
    let name = program.targets.get(first).map_or_else(
        || "a target".to_string(),
        |s| format!("the target `{}`", s.name),
    );
    let mut errors = vec![output.error(format!(
        "the output `{output_name}` depends on {name}, but `forward` takes only inputs; use targets in the `loss` only"
    ))];
    let located = flow.next == stmt_locs.len();
    if let (true, Some(loc), Some(Some(stmt))) =
        (located, stmt_locs.get(entered), flow.stmts.get(entered))
    {
        let binding = &program.bindings[stmt.binding].name;
        let message = match (stmt.is_let, stmt.binding == output_binding) {
            (true, true) => format!("{name} enters the output's value here"),
            (true, false) => {
                format!("{name} first enters the output's computation in `{binding}`, here")
            }
            (false, _) => format!(
                "{name} first enters the output's computation in an assignment to `{binding}`, here"
            ),
        };
        errors.push(loc.error(message));
    }
    errors
}

/// A `let`, `output` or assignment: the binding it defines or assigns.
#[derive(Clone, Copy)]
struct Defines {
    binding: usize,
    is_let: bool,
}

struct Flow<'p> {
    program: &'p Program,
    /// The targets each `fn` body uses, once computed.
    fns: Vec<Option<Vec<usize>>>,
    /// `fn`s being computed (a recursive `fn` is an error reported elsewhere).
    active: Vec<bool>,
    /// The current dependence of each binding.
    bindings: Vec<Deps>,
    /// The pre-order index of the next `let`, `output` or assignment.
    next: usize,
    /// What each statement, by pre-order index, defines (`None`: in a loop that never
    /// runs).
    stmts: Vec<Option<Defines>>,
}

impl Flow<'_> {
    fn block(&mut self, body: &[Stmt]) {
        for stmt in body {
            match stmt {
                Stmt::Let { binding, value } => {
                    let here = self.enter(binding.0 as usize, true);
                    let deps = self.expr(value, here);
                    self.set(binding.0 as usize, deps, true);
                }
                Stmt::Assign {
                    binding,
                    indices,
                    value,
                } => {
                    let here = self.enter(binding.0 as usize, false);
                    let deps = self.expr(value, here);
                    self.set(binding.0 as usize, deps, indices.is_empty());
                }
                Stmt::For { count, body, .. } => {
                    if *count == 0 {
                        self.skip(body);
                        continue;
                    }
                    let start = self.next;
                    loop {
                        self.next = start;
                        let before = self.bindings.clone();
                        self.block(body);
                        for (now, then) in self.bindings.iter_mut().zip(&before) {
                            merge(now, then);
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

    /// Numbers the next statement, which defines or assigns `binding`.
    fn enter(&mut self, binding: usize, is_let: bool) -> usize {
        let here = self.next;
        self.next += 1;
        if self.stmts.len() <= here {
            self.stmts.resize(here + 1, None);
        }
        self.stmts[here] = Some(Defines { binding, is_let });
        here
    }

    /// Numbers the statements of a loop body that never runs.
    fn skip(&mut self, body: &[Stmt]) {
        for stmt in body {
            match stmt {
                Stmt::Let { .. } | Stmt::Assign { .. } => {
                    self.next += 1;
                    self.stmts.resize(self.next.max(self.stmts.len()), None);
                }
                Stmt::For { body, .. } => self.skip(body),
                Stmt::Loss(_) => {}
            }
        }
    }

    fn set(&mut self, binding: usize, deps: Deps, replace: bool) {
        if let Some(current) = self.bindings.get_mut(binding) {
            if replace {
                *current = deps;
            } else {
                merge(current, &deps);
            }
        }
    }

    /// The targets `e` depends on; those it reads directly (or through a `fn`)
    /// enter at statement `here`.
    fn expr(&mut self, e: &Expr, here: usize) -> Deps {
        let mut deps = Deps::new();
        self.collect(e, here, &mut deps);
        deps
    }

    fn collect(&mut self, e: &Expr, here: usize, deps: &mut Deps) {
        match &e.kind {
            ExprKind::Num(_) | ExprKind::LoopVar(_) | ExprKind::Arg(_) => {}
            ExprKind::Slot(slot) => {
                if slot.kind == SlotKind::Target {
                    add(deps, slot.index, here);
                }
            }
            ExprKind::Binding(b) => {
                if let Some(d) = self.bindings.get(b.0 as usize) {
                    merge(deps, d);
                }
            }
            ExprKind::Neg(a)
            | ExprKind::Index(a, _)
            | ExprKind::Powi(a, _)
            | ExprKind::Diff(a, _)
            | ExprKind::Laplacian(a, _) => self.collect(a, here, deps),
            ExprKind::Dense { input, .. } => self.collect(input, here, deps),
            ExprKind::Elementwise(_, a, b) | ExprKind::MatMul(a, b) => {
                self.collect(a, here, deps);
                self.collect(b, here, deps);
            }
            ExprKind::Array(items) | ExprKind::Apply(_, items) => {
                items.iter().for_each(|x| self.collect(x, here, deps))
            }
            ExprKind::Call(f, args) => {
                for target in self.function(f.0 as usize) {
                    add(deps, target, here);
                }
                args.iter().for_each(|x| self.collect(x, here, deps));
            }
        }
    }

    /// The targets a `fn` body uses (directly or through the `fn`s it calls).
    fn function(&mut self, f: usize) -> Vec<usize> {
        if let Some(Some(targets)) = self.fns.get(f) {
            return targets.clone();
        }
        let program = self.program;
        let (Some(function), Some(false)) = (program.fns.get(f), self.active.get(f).copied())
        else {
            return Vec::new();
        };
        self.active[f] = true;
        // A body reads no bindings, so the statement index is not used.
        let targets: Vec<usize> = self.expr(&function.body, 0).into_keys().collect();
        self.active[f] = false;
        self.fns[f] = Some(targets.clone());
        targets
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_error, assert_ok, errors};
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

    /// The error and its note.
    fn error_and_note(body: proc_macro2::TokenStream) -> (String, String) {
        match &errors(body)[..] {
            [error, note] => (error.clone(), note.clone()),
            other => panic!("expected an error and a note, got {other:#?}"),
        }
    }

    #[test]
    fn a_note_says_where_the_target_entered() {
        // Through a chain of bindings: the first `let` that reads the target.
        let (error, note) = error_and_note(quote! {
            input x; target t; param w;
            let a = w * x;
            let h = a + t;
            let g = tanh(h);
            output y = g * 2.0;
            loss = sq(y - t);
        });
        assert!(error.starts_with("the output `y` depends on the target `t`"));
        assert_eq!(
            note,
            "the target `t` first enters the output's computation in `h`, here"
        );
        // The earliest of two ways in.
        let (_, note) = error_and_note(quote! {
            input x; target t[2];
            let a = t[0];
            let b = x + t[1];
            output y = a + b;
            loss = sq(y);
        });
        assert_eq!(
            note,
            "the target `t` first enters the output's computation in `a`, here"
        );
        // Straight into the output.
        let (_, note) =
            error_and_note(quote! { input x; target t; output y = x + t; loss = sq(y); });
        assert_eq!(note, "the target `t` enters the output's value here");
        // Inside a loop, through a `let` the loop assigns from.
        let (_, note) = error_and_note(quote! {
            input x[2]; target a, t[2];
            let mut z = x;
            for i in 0..2 { let d = t[i]; z[i] += d; }
            output y = z;
            loss = mse(y, t) + a;
        });
        assert_eq!(
            note,
            "the target `t` first enters the output's computation in `d`, here"
        );
        // An assignment that reads it, after a loop that never runs.
        let (_, note) = error_and_note(quote! {
            input x; target t;
            let mut z = x;
            for i in 0..0 { let e = x; z = e; }
            z = z * t;
            output y = z;
            loss = sq(y);
        });
        assert_eq!(
            note,
            "the target `t` first enters the output's computation in an assignment to `z`, here"
        );
        // Through a `fn`: the call's binding.
        let (_, note) = error_and_note(quote! {
            input x; target t;
            fn f(u) = u + t;
            let h = f(x);
            output y = h;
            loss = sq(y);
        });
        assert_eq!(
            note,
            "the target `t` first enters the output's computation in `h`, here"
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
