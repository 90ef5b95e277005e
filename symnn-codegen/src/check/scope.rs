//! Names: what a name denotes where it is used (a binding, a loop variable, a `fn`
//! argument, a declaration), redefinition and shadowing, and the hints of "cannot
//! find" errors ("defined later", "only inside its loop", "did you mean").

use std::collections::BTreeMap;

use syn::Ident;

use super::suggest::suggest;
use super::{Checker, Declared, Item, Local, LocalKind, Scope, Ty, Value};
use crate::ast::{FnDef, Loc, Stmt};
use crate::builtins::{self, Builtin};
use crate::resolved::FnId;

impl<'a> Checker<'a> {
    pub(super) fn is_fn(&self, name: &str) -> bool {
        self.user_fn(name).is_some()
    }

    pub(super) fn user_fn(&self, name: &str) -> Option<(FnId, &'a FnDef)> {
        match self.decls.get(name) {
            Some(Declared {
                item: Item::Fn(def, id),
                ..
            }) => Some((*id, *def)),
            _ => None,
        }
    }

    /// What `name` denotes as a value in `scope`.
    pub(super) fn lookup(&self, name: &str, scope: &Scope) -> Option<Value> {
        match scope.func {
            Some(def) => {
                if let Some(k) = def.args.iter().position(|a| a == name) {
                    let shape = super::decls::dims_shape(&def.args[k], &def.dims[k]).ok();
                    return Some(Value::Arg(k, shape));
                }
            }
            None => {
                if let Some(local) = self.locals.iter().rev().find(|l| l.name == name) {
                    return Some(Value::Local {
                        kind: local.kind,
                        shape: local.shape,
                        id: local.id,
                    });
                }
            }
        }
        match self.decls.get(name) {
            Some(Declared {
                item: Item::Global { kind, shape, slot },
                ..
            }) => Some(Value::Global {
                kind: *kind,
                shape: *shape,
                slot: *slot,
            }),
            _ => None,
        }
    }

    /// Brings a `let`, `output` or loop variable into scope, reporting a clash with a
    /// visible name.
    pub(super) fn bind(&mut self, id: &Ident, kind: LocalKind, shape: Ty, local: u32) {
        self.check_fresh(id);
        self.locals.push(Local {
            name: id.to_string(),
            span: id.span(),
            kind,
            shape,
            id: local,
        });
    }

    /// Reports `id` if it redefines or shadows a visible name.
    pub(super) fn check_fresh(&mut self, id: &Ident) {
        let name = id.to_string();
        let previous = match self.locals.iter().rev().find(|l| l.name == name) {
            Some(local) => Some((local.kind.describe(), local.span)),
            None => self.decls.get(&name).map(|d| (d.describe(), d.span)),
        };
        if let Some((describe, span)) = previous {
            self.error(
                Loc::at(id.span()),
                format!("`{name}` is already defined as {describe}; names in a network cannot be redefined or shadowed, choose another name"),
            );
            self.error(Loc::at(span), format!("`{name}` is defined here"));
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

    /// Reports a name that denotes nothing here, with the most helpful hint.
    pub(super) fn unknown_name(&mut self, id: &Ident, scope: &Scope) {
        let name = id.to_string();
        if self.silenced.contains(&name) {
            return;
        }
        let message = match self.bound_anywhere.get(&name) {
            Some(_) if scope.func.is_some() => format!(
                "cannot find `{name}` in this `fn`: a `fn` body can use only its arguments and the network's inputs, targets and params; pass `{name}` as an argument"
            ),
            Some((LocalKind::LoopVar, _)) => {
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
        self.error(Loc::at(id.span()), message);
    }

    /// Reports a call of a function that does not exist.
    pub(super) fn unknown_function(&mut self, id: &Ident) {
        let name = id.to_string();
        if self.silenced.contains(&name) {
            return;
        }
        if name == "T" {
            let message = "the transpose is written without parentheses: `m.T`";
            self.error(Loc::at(id.span()), message);
            return;
        }
        let user: Vec<String> = self.fn_defs.iter().map(|d| d.name.to_string()).collect();
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
        self.error(Loc::at(id.span()), message);
    }

    /// A name used as a value: its resolved expression, or an error.
    pub(super) fn name_value(&mut self, id: &Ident, scope: &Scope) -> super::Typed {
        let name = id.to_string();
        if let Some(value) = self.lookup(&name, scope) {
            return value.resolve();
        }
        let loc = Loc::at(id.span());
        if self.is_fn(&name) {
            self.error(
                loc,
                format!("`{name}` is a `fn`, not a value; call it: `{name}(..)`"),
            );
        } else if Builtin::lookup(&name).is_some() {
            self.error(
                loc,
                format!("`{name}` is a builtin function, not a value; call it: `{name}(..)`"),
            );
        } else {
            self.unknown_name(id, scope);
        }
        super::Typed::unknown()
    }
}

/// Records every `let`, `output` and loop-variable name, for "not visible here" hints.
pub(super) fn collect_bindings(
    body: &[Stmt],
    in_loop: bool,
    out: &mut BTreeMap<String, (LocalKind, bool)>,
) {
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
                        .or_insert((LocalKind::LoopVar, true));
                }
                collect_bindings(&for_loop.body, true, out);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_error, assert_ok, errors};
    use quote::quote;

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
}
