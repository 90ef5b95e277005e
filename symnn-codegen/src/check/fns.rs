//! User `fn`s: their definitions (checked once, arguments scalars, resolved into
//! [`Function`]s of [`crate::resolved::ExprKind::Arg`]s) and their call graph, which must
//! be acyclic, shallow and small enough to inline at every call.

use std::collections::HashMap;

use super::budget::{MAX_FN_DEPTH, MAX_INLINED_NODES};
use super::{Checker, Dense, Item, Scope};
use crate::ast::{Expr, FnDef, Loc};
use crate::builtins::Builtin;
use crate::resolved::{FnId, Function};
use crate::shape::Shape;

impl<'a> Checker<'a> {
    /// Finds recursion, over-deep call chains and oversized inlining among the `fn`s.
    pub(super) fn analyse_fns(&mut self) {
        let fns = self.fn_defs.clone();
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
        self.fn_sizes = graph.size;
    }

    /// Checks a top-level `fn` definition and resolves its body (unless a call already
    /// did, see [`Checker::fn_result`]).
    pub(super) fn fn_def(&mut self, def: &'a FnDef) {
        let name = def.name.to_string();
        let registered = self.decls.get(&name).and_then(|d| match d.item {
            Item::Fn(_, id) if d.origin == (self.statement, 0) => Some(id),
            _ => None,
        });
        if let Some(id) = registered {
            if self.fns[id.0 as usize].is_some() || self.fn_checking.contains(&id) {
                return;
            }
            self.fn_checking.push(id);
        }
        if Builtin::lookup(&name).is_some() {
            self.error(
                Loc::at(def.name.span()),
                format!("`{name}` is a builtin function; give this `fn` another name"),
            );
        } else {
            self.check_unique_decl(&def.name, (self.statement, 0));
        }
        for (i, arg) in def.args.iter().enumerate() {
            if def.args.iter().take(i).any(|a| a == arg) {
                self.error(
                    Loc::at(arg.span()),
                    format!("the argument `{arg}` appears twice in `{name}`"),
                );
            }
        }
        let mut params = Vec::with_capacity(def.args.len());
        for (arg, dims) in def.args.iter().zip(&def.dims) {
            match super::decls::dims_shape(arg, dims) {
                Ok(shape) => params.push(shape),
                Err(errors) => {
                    self.errors.extend(errors);
                    params.push(Shape::Scalar);
                }
            }
        }
        let mut scope = Scope {
            func: Some(def),
            dense: Dense::Forbidden("inside a `fn`"),
        };
        let errors_before = self.errors.len();
        let body = self.expr(&def.body, &mut scope);
        // A shape error in the body (typically `W * z` with a scalar `z`).
        let shape_error = self.errors[errors_before..].iter().any(|e| {
            let m = e.to_string();
            m.contains("vector") || m.contains("matrix")
        });
        if shape_error {
            self.scalar_argument_hint(def);
        }
        if let Some(id) = registered {
            self.fn_checking.retain(|&f| f != id);
        }
        // Only the registered definition of the name gets an id (duplicates are errors).
        let Some(id) = registered else {
            return;
        };
        self.fns[id.0 as usize] = Some(Function {
            name,
            arity: def.args.len(),
            shaped: def.is_shaped(),
            params,
            body: body.expr,
        });
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.fn_errors)
            .into_iter()
            .partition(|(f, _)| *f == id);
        self.fn_errors = rest;
        self.errors.extend(mine.into_iter().map(|(_, error)| error));
    }

    /// After an error in the body of a `fn` with scalar (unshaped) parameters: say so,
    /// and how to declare a shaped one (`W * z` with a scalar `z` is an elementwise
    /// product, so a body written for a vector fails with a confusing shape error).
    fn scalar_argument_hint(&mut self, def: &FnDef) {
        let Some((arg, _)) = def.args.iter().zip(&def.dims).find(|(_, d)| d.is_empty()) else {
            return;
        };
        let name = &def.name;
        let unshaped: Vec<String> = def
            .args
            .iter()
            .zip(&def.dims)
            .filter(|(_, d)| d.is_empty())
            .map(|(a, _)| format!("`{a}`"))
            .collect();
        let (what, are) = if unshaped.len() == 1 {
            ("the parameter", "is a scalar")
        } else {
            ("the parameters", "are scalars")
        };
        self.error(
            Loc::at(arg.span()),
            format!(
                "note: in `{name}`, {what} {} {are} (a parameter without a shape); to take an array, declare its shape, e.g. `fn {name}({arg}[2])` for a vector of 2 or `{arg}[3][3]` for a matrix",
                unshaped.join(", ")
            ),
        );
    }

    /// The resolved definition of `fn` `id`, checking its body now if its statement
    /// has not been reached yet (a call may come first). `None` inside a call cycle
    /// (reported by [`Checker::analyse_fns`]).
    pub(super) fn fn_result(&mut self, id: FnId) -> Option<&Function> {
        let i = id.0 as usize;
        if self.fns[i].is_none() && !self.fn_checking.contains(&id) {
            let def = self.fn_defs[i];
            let origin = self.decls.get(&def.name.to_string()).map(|d| d.origin.0);
            if let Some(statement) = origin {
                let saved = std::mem::replace(&mut self.statement, statement);
                let scale = std::mem::replace(&mut self.scale, 1);
                self.fn_def(def);
                self.statement = saved;
                self.scale = scale;
            }
        }
        self.fns[i].as_ref()
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
        Expr::Call {
            func, args, loc, ..
        } => {
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
    /// Errors with the `fn` they belong to.
    errors: Vec<(FnId, syn::Error)>,
}

impl FnGraph<'_> {
    fn visit(&mut self, f: usize, depth: usize) {
        self.state[f] = Visit::Active;
        self.stack.push(f);
        let def = self.fns[f];
        let owner = FnId(f as u32);
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

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_error, errors};
    use proc_macro2::TokenStream;
    use quote::quote;

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
}
