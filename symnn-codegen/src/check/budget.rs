//! Size limits: the generated code is straight-line, so loops are unrolled, `fn`s
//! inlined and arrays scalarised. The checker estimates the unrolled size as it goes
//! and stops networks that would produce unreasonably large code.
//!
//! A loop body is checked once, so its work is counted once and multiplied by the
//! number of times it runs (the enclosing loops' counts multiplied out, [`Checker`]'s
//! `scale`).

use super::{Checker, Ty};
use crate::ast::Loc;
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

impl Checker<'_> {
    /// Counts `amount` scalar operations per run of the current statement, reporting
    /// (once) when the network gets too large.
    pub(super) fn spend(&mut self, loc: Loc, amount: u64) {
        let before = self.work;
        self.work = self.work.saturating_add(amount.saturating_mul(self.scale));
        if before <= MAX_WORK && self.work > MAX_WORK {
            self.error(loc, format!(
                "the network is too large: unrolled it needs more than {MAX_WORK} scalar operations, and the generated code is straight-line"
            ));
        }
    }

    /// Charges the other `runs - 1` iterations of a top-level loop whose body was
    /// counted once (`work` operations and `iterations` inner iterations), because it
    /// stays unrolled.
    pub(super) fn charge_unrolled(&mut self, keyword: Loc, work: u64, iterations: u64, runs: u64) {
        let more = runs.saturating_sub(1);
        self.spend(keyword, work.saturating_mul(more));
        let total = self
            .iterations
            .saturating_add(iterations.saturating_mul(more));
        if !self.over_budget && total > MAX_ITERATIONS {
            self.over_budget = true;
            self.error(
                keyword,
                format!(
                    "this loop unrolls past the limit of {MAX_ITERATIONS} iterations in total (over all loops); the generated code would be too large"
                ),
            );
        }
        self.iterations = total;
    }

    /// Rejects values too large to unroll into straight-line code.
    pub(super) fn limit_size(&mut self, shape: Shape, loc: Loc) -> Ty {
        if elements(shape).is_some_and(|n| n <= MAX_ELEMENTS) {
            return Some(shape);
        }
        self.error(
            loc,
            format!("this value is too large: more than {MAX_ELEMENTS} elements"),
        );
        None
    }

    /// Counts the iterations of a loop of `count` iterations (`None`: erroneous bounds)
    /// that starts at the `for` keyword `keyword`. Returns how many times its body runs
    /// per run of the loop, and whether its variable's values are known (within the
    /// budget, so indices can be evaluated for each of them).
    pub(super) fn enter_loop(&mut self, keyword: Loc, count: Option<u64>) -> (u64, bool) {
        let runs = count.unwrap_or(0).max(1);
        let total = self.scale.saturating_mul(runs);
        let within_budget = self.iterations.saturating_add(total) <= MAX_ITERATIONS;
        if !self.over_budget && !within_budget {
            self.over_budget = true;
            self.error(
                keyword,
                format!(
                    "this loop unrolls past the limit of {MAX_ITERATIONS} iterations in total (over all loops); the generated code would be too large"
                ),
            );
        }
        if self.over_budget {
            // Past the budget the body is checked with the variable unknown, once.
            return (1, false);
        }
        self.iterations += total;
        match count {
            Some(count) if count > 0 => (count, true),
            _ => (1, false),
        }
    }
}

/// The number of scalar elements of a value, for the work estimate (0 when unknown).
pub(super) fn cost(shape: Ty) -> u64 {
    shape
        .and_then(elements)
        .map_or(0, |n| u64::try_from(n).unwrap_or(u64::MAX))
}

/// The number of elements, `None` on overflow.
pub(super) fn elements(shape: Shape) -> Option<usize> {
    match shape {
        Shape::Scalar => Some(1),
        Shape::Vector(n) => Some(n),
        Shape::Matrix(r, c) => r.checked_mul(c),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_error, assert_ok};
    use quote::quote;

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
    fn loop_work_is_multiplied_by_the_iterations() {
        // 2000 iterations of a 1000-element product: 2,000,000 operations, fine; checked
        // once, but counted 2000 times.
        assert_ok(quote! {
            input v[1000];
            let mut z = v;
            for i in 0..2000 { z = z * 2.0; }
            output y = z;
            loss = sum(y);
        });
        // (Reading a binding at the loop's index keeps the loop unrolled.)
        assert_error(
            quote! {
                input v[1000];
                let w = v;
                let mut z = v;
                for i in 0..100 { for j in 0..100 { z = z * w[i]; } }
                output y = z;
                loss = sum(y);
            },
            "the network is too large",
        );
    }

    #[test]
    fn a_loop_that_will_be_a_rust_loop_is_counted_once() {
        let body = quote! {
            input v[1000];
            let mut z = v;
            for i in 0..100 { for j in 0..100 { z = z * 2.0; } }
            output y = z;
            loss = sum(y);
        };
        assert_ok(body);
        // A scalar state over 90,000 iterations: a loop, within every budget.
        assert_ok(quote! {
            input x[90000];
            let mut z = 0.0;
            for k in 0..90000 { z = tanh(z + x[k]); }
            output y = z;
            loss = y;
        });
    }
}
