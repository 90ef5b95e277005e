//! Indices: `v[i + 1]` takes an integer formula of literals and loop variables
//! ([`Index`]). A loop body is checked once, so a formula is evaluated here for every
//! combination of the values of the loop variables it uses (the enclosing loops are
//! within the iteration budget, so there are at most [`super::MAX_ITERATIONS`]), and the
//! first out-of-range value (with the iteration it happens in) and each overflowing
//! operation are reported once.

use super::{Checker, LocalKind, Scope, Ty, Value};
use crate::ast::{BinOp, Expr, Loc};
use crate::builtins::Builtin;
use crate::resolved::{Index, LoopVarId};
use crate::shape::Shape;

/// An index formula, with the locations of its operations for overflow errors.
pub(super) enum Term {
    Const(i64),
    Var(LoopVarId),
    Neg(Box<Term>, Loc),
    Binary(BinOp, Box<Term>, Box<Term>, Loc),
}

impl Term {
    /// The formula for the resolved program.
    pub(super) fn index(&self) -> Index {
        match self {
            Term::Const(v) => Index::Const(*v),
            Term::Var(v) => Index::Var(*v),
            Term::Neg(a, _) => Index::Neg(Box::new(a.index())),
            Term::Binary(op, a, b, _) => {
                Index::Binary(*op, Box::new(a.index()), Box::new(b.index()))
            }
        }
    }

    /// The value with the loop variables at `vars`, or the operation that overflows.
    fn eval(&self, vars: &[i64]) -> Result<i64, &Term> {
        match self {
            Term::Const(v) => Ok(*v),
            Term::Var(v) => Ok(vars.get(v.0 as usize).copied().unwrap_or(0)),
            Term::Neg(a, _) => a.eval(vars)?.checked_neg().ok_or(self),
            Term::Binary(op, a, b, _) => {
                let (a, b) = (a.eval(vars)?, b.eval(vars)?);
                binary(*op, a, b).ok_or(self)
            }
        }
    }

    /// The number of operations (which may overflow).
    fn operations(&self) -> usize {
        match self {
            Term::Const(_) | Term::Var(_) => 0,
            Term::Neg(a, _) => 1 + a.operations(),
            Term::Binary(_, a, b, _) => 1 + a.operations() + b.operations(),
        }
    }

    fn loc(&self) -> Option<Loc> {
        match self {
            Term::Neg(_, loc) | Term::Binary(.., loc) => Some(*loc),
            _ => None,
        }
    }

    /// The loop variables used, in order of first appearance.
    fn vars(&self, out: &mut Vec<LoopVarId>) {
        match self {
            Term::Const(_) => {}
            Term::Var(v) => {
                if !out.contains(v) {
                    out.push(*v);
                }
            }
            Term::Neg(a, _) => a.vars(out),
            Term::Binary(_, a, b, _) => {
                a.vars(out);
                b.vars(out);
            }
        }
    }
}

/// `a op b` for `+ - *`, `None` on overflow.
fn binary(op: BinOp, a: i64, b: i64) -> Option<i64> {
    match op {
        BinOp::Add => a.checked_add(b),
        BinOp::Sub => a.checked_sub(b),
        BinOp::Mul | BinOp::Div => a.checked_mul(b),
    }
}

impl Checker<'_> {
    /// Resolves an index expression into a formula; `None` after an error. Constant
    /// parts are folded (and their overflow reported) right away.
    pub(super) fn index_term(&mut self, e: &Expr, scope: &Scope) -> Option<Term> {
        const RULE: &str = "an index must be an integer expression of literals and loop variables (with `+`, `-`, `*`)";
        match e {
            Expr::Num {
                int: Some(value), ..
            } => Some(Term::Const(*value)),
            Expr::Num { loc, .. } => {
                self.error(
                    *loc,
                    format!("{RULE}; found a number that is not an integer (or too large)"),
                );
                None
            }
            Expr::Name(id) => {
                let name = id.to_string();
                match self.lookup(&name, scope) {
                    Some(Value::Local {
                        kind: LocalKind::LoopVar,
                        id,
                        ..
                    }) => Some(Term::Var(LoopVarId(id))),
                    Some(other) => {
                        let describe = other.describe();
                        self.error(e.loc(), format!("{RULE}; `{name}` is {describe}"));
                        None
                    }
                    None => {
                        if self.is_fn(&name) || Builtin::lookup(&name).is_some() {
                            self.error(e.loc(), format!("{RULE}; `{name}` is a function"));
                        } else {
                            self.unknown_name(id, scope);
                        }
                        None
                    }
                }
            }
            Expr::Neg { operand, loc } => match self.index_term(operand, scope)? {
                Term::Const(v) => self.folded(*loc, v.checked_neg()),
                term => Some(Term::Neg(Box::new(term), *loc)),
            },
            Expr::Binary {
                op: op @ (BinOp::Add | BinOp::Sub | BinOp::Mul),
                lhs,
                rhs,
                loc,
                ..
            } => {
                let a = self.index_term(lhs, scope);
                let b = self.index_term(rhs, scope);
                match (a?, b?) {
                    (Term::Const(a), Term::Const(b)) => self.folded(*loc, binary(*op, a, b)),
                    (a, b) => Some(Term::Binary(*op, Box::new(a), Box::new(b), *loc)),
                }
            }
            _ => {
                self.error(e.loc(), RULE);
                None
            }
        }
    }

    fn folded(&mut self, loc: Loc, value: Option<i64>) -> Option<Term> {
        if value.is_none() {
            self.error(loc, "integer overflow in this index");
        }
        value.map(Term::Const)
    }

    /// The shape of `base[index]`, reporting indexing a scalar and out-of-range indices.
    /// `what` names the base for messages (empty when it is not a name).
    pub(super) fn apply_index(
        &mut self,
        base: Ty,
        term: Option<&Term>,
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
            self.error(loc, message);
            return None;
        };
        if let Some(term) = term {
            self.check_range(term, base, len, index.loc());
        }
        Some(element)
    }

    /// Evaluates `term` for every combination of its loop variables' values (outer loops
    /// varying slowest, as the unrolled code runs) and reports each operation that
    /// overflows and the first value out of `0..len`.
    fn check_range(&mut self, term: &Term, base: Shape, len: usize, loc: Loc) {
        let mut used = Vec::new();
        term.vars(&mut used);
        // `(variable, name, first value, count)` of the loops involved, outermost first.
        let mut loops = Vec::new();
        for l in &self.loops {
            let Some(var) = l.var.filter(|v| used.contains(v)) else {
                continue;
            };
            match l.range {
                Some((start, count)) => loops.push((var, l.name.clone(), start, count)),
                // A value unknown: nothing to evaluate.
                None => return,
            }
        }
        let mut values = vec![0i64; self.loop_vars];
        for (var, _, start, _) in &loops {
            values[var.0 as usize] = *start;
        }
        let mut step = vec![0u64; loops.len()];
        // Each overflowing operation and the first out-of-range value are reported once.
        let mut overflows: Vec<&Term> = Vec::new();
        let mut out_of_range = false;
        let operations = term.operations();
        loop {
            match term.eval(&values) {
                Err(at) => {
                    if !overflows.iter().any(|seen| std::ptr::eq(*seen, at)) {
                        overflows.push(at);
                        if let Some(loc) = at.loc() {
                            self.error(loc, "integer overflow in this index");
                        }
                    }
                }
                Ok(value) if !out_of_range && usize::try_from(value).map_or(true, |v| v >= len) => {
                    out_of_range = true;
                    let rows = match base {
                        Shape::Matrix(r, _) => format!(" (it has {r} rows)"),
                        _ => String::new(),
                    };
                    let when = if used.is_empty() {
                        String::new()
                    } else {
                        let vars: Vec<String> = used
                            .iter()
                            .filter_map(|v| loops.iter().find(|l| l.0 == *v))
                            .map(|(var, name, ..)| format!("{name} = {}", values[var.0 as usize]))
                            .collect();
                        format!(" (when {})", vars.join(", "))
                    };
                    self.error(
                        loc,
                        format!("index {value} out of range for {base}{rows}{when}"),
                    );
                }
                Ok(_) => {}
            }
            if out_of_range && overflows.len() == operations {
                return;
            }
            // The next combination, innermost loop fastest.
            let mut k = loops.len();
            loop {
                if k == 0 {
                    return;
                }
                k -= 1;
                let (var, _, start, count) = &loops[k];
                step[k] += 1;
                if step[k] < *count {
                    // Within the range written, so no overflow.
                    values[var.0 as usize] = start.wrapping_add(step[k] as i64);
                    break;
                }
                step[k] = 0;
                values[var.0 as usize] = *start;
            }
        }
    }
}

/// An index expression as the user wrote it (for messages).
pub(super) fn show_index(e: &Expr) -> String {
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

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_error, assert_ok, errors};
    use quote::quote;

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
    fn indices_are_evaluated_for_every_iteration() {
        // The first failing combination, outer loops varying slowest.
        assert_error(
            quote! {
                input v[4];
                let mut z = 0.0;
                for i in 0..2 { for j in 0..3 { z += v[i * 2 + j]; } }
                output y = z;
                loss = y;
            },
            "index 4 out of range for vector [4] (when i = 1, j = 2)",
        );
        // Variables in the order they appear in the index.
        assert_error(
            quote! {
                input v[4];
                let mut z = 0.0;
                for i in 0..2 { for j in 0..3 { z += v[j + i * 2]; } }
                output y = z;
                loss = y;
            },
            "(when j = 2, i = 1)",
        );
        // Overflow that depends on the loop variable: `* 2` overflows at `i = 1`,
        // `i * 4611686018427387904` at `i = 2`; each operation is reported once.
        let overflow = errors(quote! {
            input v[4];
            let mut z = 0.0;
            for i in 0..3 { z += v[i * 4611686018427387904 * 2] + v[i * 4611686018427387904 * 2]; }
            output y = z;
            loss = y;
        });
        assert_eq!(overflow.len(), 4, "{overflow:#?}");
        assert!(overflow
            .iter()
            .all(|e| e == "integer overflow in this index"));
        // Each index is reported once, not once per iteration.
        let once = errors(quote! {
            input v[2];
            let mut z = 0.0;
            for i in 0..10 { z += v[i] + v[i + 1]; }
            output y = z;
            loss = y;
        });
        assert_eq!(once.len(), 2, "{once:#?}");
        assert!(once[0].contains("index 2 out of range for vector [2] (when i = 2)"));
        assert!(once[1].contains("index 2 out of range for vector [2] (when i = 1)"));
        // Empty loops run no iteration: nothing to evaluate.
        assert_ok(quote! {
            input v[2];
            let mut z = 0.0;
            for i in 5..5 { z += v[i]; }
            output y = z;
            loss = y;
        });
    }
}
