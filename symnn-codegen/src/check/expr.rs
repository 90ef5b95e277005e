//! Expressions: each is resolved and given its shape. `*` with a matrix on the left and
//! a vector or matrix on the right is [`ExprKind::MatMul`]; every other `+ - * /` is
//! [`ExprKind::Elementwise`] (a scalar broadcasts); `m.T` is `Apply(Transpose, [m])`.

use super::budget::cost;
use super::{Checker, Scope, Ty, Typed};
use crate::ast::{BinOp, Expr, Loc};
use crate::builtins::Builtin;
use crate::resolved::ExprKind;
use crate::shape::Shape;

impl<'a> Checker<'a> {
    /// Resolves an expression.
    pub(super) fn expr(&mut self, e: &'a Expr, scope: &mut Scope<'a>) -> Typed {
        match e {
            Expr::Num { value, .. } => Typed::new(Some(Shape::Scalar), ExprKind::Num(*value)),
            Expr::Name(id) => self.name_value(id, scope),
            Expr::Neg { operand, loc } => {
                let operand = self.expr(operand, scope);
                self.spend(*loc, cost(operand.ty));
                Typed::new(operand.ty, ExprKind::Neg(Box::new(operand.expr)))
            }
            Expr::Binary {
                op, lhs, rhs, loc, ..
            } => {
                let a = self.expr(lhs, scope);
                let b = self.expr(rhs, scope);
                // A matrix product takes `columns` multiplications per element.
                let inner = match (op, a.ty, b.ty) {
                    (
                        BinOp::Mul,
                        Some(Shape::Matrix(_, c)),
                        Some(Shape::Vector(_) | Shape::Matrix(..)),
                    ) => c,
                    _ => 1,
                };
                let result = self.binary(*op, a, b, *loc);
                self.spend(*loc, cost(result.ty).saturating_mul(inner as u64));
                result
            }
            Expr::Array { elems, loc } => self.array(elems, *loc, scope),
            Expr::Index { base, index, loc } => {
                let base_typed = self.expr(base, scope);
                let term = self.index_term(index, scope);
                let what = match &**base {
                    Expr::Name(id) => id.to_string(),
                    _ => String::new(),
                };
                let ty = self.apply_index(base_typed.ty, term.as_ref(), index, *loc, &what);
                let formula = term.map_or(crate::resolved::Index::Const(0), |t| t.index());
                Typed::new(ty, ExprKind::Index(Box::new(base_typed.expr), formula))
            }
            Expr::Call {
                func,
                args,
                method,
                loc,
            } => self.call(func, args, *method, *loc, scope),
            Expr::Transpose { operand, loc } => {
                let operand = self.expr(operand, scope);
                let Some(shape) = operand.ty else {
                    return Typed::unknown();
                };
                let transposed = shape.transpose();
                self.spend(*loc, cost(transposed));
                if transposed.is_none() {
                    self.error(
                        *loc,
                        format!("`.T` transposes a matrix, but this is a {shape}"),
                    );
                }
                Typed::new(
                    transposed,
                    ExprKind::Apply(Builtin::Transpose, vec![operand.expr]),
                )
            }
        }
    }

    /// `a op b`: the shape rules of the operators, and the resolved operation.
    pub(super) fn binary(&mut self, op: BinOp, a: Typed, b: Typed, loc: Loc) -> Typed {
        let ty = self.binary_shape(op, a.ty, b.ty, loc);
        let kind = match (op, a.ty, b.ty) {
            (BinOp::Mul, Some(Shape::Matrix(..)), Some(Shape::Vector(_) | Shape::Matrix(..))) => {
                ExprKind::MatMul(Box::new(a.expr), Box::new(b.expr))
            }
            _ => ExprKind::Elementwise(op, Box::new(a.expr), Box::new(b.expr)),
        };
        Typed::new(ty, kind)
    }

    fn binary_shape(&mut self, op: BinOp, a: Ty, b: Ty, loc: Loc) -> Ty {
        let (a, b) = (a?, b?);
        let result = match op {
            BinOp::Mul => a.product(b),
            _ => a.broadcast(b),
        };
        if let Some(shape) = result {
            return self.limit_size(shape, loc);
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
        self.error(loc, message);
        None
    }

    fn array(&mut self, elems: &'a [Expr], loc: Loc, scope: &mut Scope<'a>) -> Typed {
        if elems.is_empty() {
            self.error(
                loc,
                "an empty array has no shape: write at least one element",
            );
            return Typed::unknown();
        }
        let items: Vec<Typed> = elems.iter().map(|e| self.expr(e, scope)).collect();
        let ty = self.array_shape(elems, &items, loc);
        Typed::new(
            ty,
            ExprKind::Array(items.into_iter().map(|t| t.expr).collect()),
        )
    }

    fn array_shape(&mut self, elems: &[Expr], items: &[Typed], loc: Loc) -> Ty {
        let (first, first_shape) = items
            .iter()
            .enumerate()
            .find_map(|(i, t)| t.ty.map(|s| (i, s)))?;
        let mut consistent = true;
        for (i, (elem, item)) in elems.iter().zip(items).enumerate() {
            if let Some(shape) = item.ty {
                if shape != first_shape {
                    consistent = false;
                    self.error(
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
        if !consistent || items.iter().any(|t| t.ty.is_none()) {
            return None;
        }
        match first_shape.array_of(elems.len()) {
            Some(shape) => self.limit_size(shape, loc),
            None => {
                self.error(
                    loc,
                    "arrays nest at most two levels deep (a matrix); this is an array of matrices",
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_error, assert_ok};
    use quote::quote;

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
        // A `fn`'s result has its body's shape (SPEC §5.1); with scalars only.
        assert_ok(quote! { param w[3]; fn f(u) = u * w; output y = f(1.0); loss = sum(y); });
        assert_error(
            quote! { param w[3]; input x[2]; fn f(u) = u * w; output y = f(x); loss = sum(y); },
            "cannot be applied elementwise",
        );
        // One mistake, one error: the unknown shape does not cascade.
        assert_error(
            quote! { input a[3], b[2]; let c = a + b; let d = c * c + a; output y = d; loss = sum(y); },
            "cannot add",
        );
    }
}
