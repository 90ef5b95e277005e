//! Resolution tests: the structure of the resolved program (ids, shapes, the parameter
//! layout, desugaring), printed as compact S-expressions.

use proc_macro2::TokenStream;
use quote::quote;

use super::check;
use crate::builtins::{Builtin, BUILTINS};
use crate::resolved::{
    Activation, BindingId, Expr, ExprKind, FnId, Index, LoopVarId, ParamInit, Program, SlotKind,
    SlotRef, Stmt,
};
use crate::shape::Shape;

fn resolve(tokens: TokenStream) -> Program {
    let network = crate::ast::parse(tokens).expect("the test network parses");
    match check(&network) {
        Ok(program) => program,
        Err(error) => panic!("unexpected errors: {error}"),
    }
}

fn builtin_name(b: Builtin) -> &'static str {
    BUILTINS
        .iter()
        .find(|(_, x)| *x == b)
        .map_or("?", |(name, _)| name)
}

fn show_index(i: &Index) -> String {
    match i {
        Index::Const(v) => v.to_string(),
        Index::Var(v) => format!("#{}", v.0),
        Index::Neg(a) => format!("-{}", show_index(a)),
        Index::Binary(op, a, b) => format!("({} {} {})", show_index(a), op.symbol(), show_index(b)),
    }
}

/// `e` as an S-expression, names from `p`.
fn show(p: &Program, e: &Expr) -> String {
    let list = |args: &[Expr]| {
        args.iter()
            .map(|a| show(p, a))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &e.kind {
        ExprKind::Num(v) => format!("{v:?}"),
        ExprKind::LoopVar(v) => format!("#{}", v.0),
        ExprKind::Slot(slot) => match slot.kind {
            SlotKind::Input => p.inputs[slot.index].name.clone(),
            SlotKind::Target => p.targets[slot.index].name.clone(),
            SlotKind::Param => p.params[slot.index].name.clone(),
        },
        ExprKind::Binding(b) => p.bindings[b.0 as usize].name.clone(),
        ExprKind::Arg(k) => format!("${k}"),
        ExprKind::Neg(a) => format!("(neg {})", show(p, a)),
        ExprKind::Elementwise(op, a, b) => {
            format!("({} {} {})", op.symbol(), show(p, a), show(p, b))
        }
        ExprKind::MatMul(a, b) => format!("(matmul {} {})", show(p, a), show(p, b)),
        ExprKind::Array(items) => format!("[{}]", list(items)),
        ExprKind::Index(a, i) => format!("{}[{}]", show(p, a), show_index(i)),
        ExprKind::Apply(b, args) => format!("{}({})", builtin_name(*b), list(args)),
        ExprKind::Powi(a, n) => format!("powi({}, {n})", show(p, a)),
        ExprKind::Diff(a, v) => format!("diff({}, {v:?})", show(p, a)),
        ExprKind::Laplacian(a, v) => format!("laplacian({}, {v:?})", show(p, a)),
        ExprKind::Call(f, args) => format!("{}({})", p.fns[f.0 as usize].name, list(args)),
        ExprKind::Dense {
            input,
            weight,
            bias,
            activation,
        } => {
            let activation = match activation {
                Activation::Builtin(b) => builtin_name(*b).to_string(),
                Activation::Fn(f) => p.fns[f.0 as usize].name.clone(),
            };
            format!(
                "dense({}, {}, {}, {activation})",
                show(p, input),
                p.params[*weight].name,
                p.params[*bias].name
            )
        }
    }
}

fn param(kind: SlotKind, index: usize) -> SlotRef {
    SlotRef { kind, index }
}

#[test]
fn seed003() {
    let p = resolve(quote! {
        pub struct Seed003 {
            input x1, x2;
            target y;
            param w0 = 0.1, w13 = 0.2, w14 = 0.8, w23 = 0.6, w24 = 0.4, w35 = 0.1, w45 = 0.5;
            let f3 = sigmoid((x1 * w13 + w0) + (x2 * w23 + w0));
            let f4 = sigmoid((x1 * w14 + w0) + (x2 * w24 + w0));
            output f5 = sigmoid((f3 * w35 + w0) + (f4 * w45 + w0));
            loss = -(y * ln(f5) + (1.0 - y) * ln(1.0 - f5));
        }
    });
    let names = |slots: &[crate::resolved::Slot]| -> Vec<(String, usize)> {
        slots.iter().map(|s| (s.name.clone(), s.offset)).collect()
    };
    assert_eq!(names(&p.inputs), [("x1".into(), 0), ("x2".into(), 1)]);
    assert_eq!(names(&p.targets), [("y".into(), 0)]);
    let params: Vec<&str> = p.params.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(params, ["w0", "w13", "w14", "w23", "w24", "w35", "w45"]);
    assert!(p.params.iter().enumerate().all(|(i, s)| s.offset == i));
    assert_eq!(p.params[2].init, Some(ParamInit::Values(vec![0.8])));
    let mut declarations = vec![
        param(SlotKind::Input, 0),
        param(SlotKind::Input, 1),
        param(SlotKind::Target, 0),
    ];
    declarations.extend((0..7).map(|i| param(SlotKind::Param, i)));
    assert_eq!(p.declarations, declarations);
    let bindings: Vec<&str> = p.bindings.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(bindings, ["f3", "f4", "f5"]);
    assert_eq!(p.output, BindingId(2));
    assert_eq!(p.loop_vars, 0);
    assert!(p.fns.is_empty());
    let Stmt::Let { binding, value } = &p.body[0] else {
        panic!("{:?}", p.body[0]);
    };
    assert_eq!(*binding, BindingId(0));
    assert_eq!(value.shape, Shape::Scalar);
    assert_eq!(
        show(&p, value),
        "sigmoid((+ (+ (* x1 w13) w0) (+ (* x2 w23) w0)))"
    );
    let Stmt::Loss(loss) = &p.body[3] else {
        panic!("{:?}", p.body[3]);
    };
    assert_eq!(
        show(&p, loss),
        "(neg (+ (* y ln(f5)) (* (- 1.0 y) ln((- 1.0 f5)))))"
    );
    assert_eq!(p.body.len(), 4);
}

#[test]
fn loop_fn_dense_matmul_transpose_compound_assignment() {
    let p = resolve(quote! {
        struct Net {
            type Float = f32;
            fn s(u) = 1.0 / (1.0 + exp(-u));
            input x[3];
            target t[2];
            param m[2][3] = 0.5;
            let h = dense(x, 4, s);
            param b[2] = [1.0, -1.0], c;
            let mut z = m * x + b;
            for i in 1..3 { for _ in 0..2 { z[i - 1] += m.T[i][0] * c; } }
            let g = transpose(m) * z;
            output y = z * 2.0 + s(c) + h[0].powi(3);
            loss = mse(y, t) + sum(g);
        }
    });
    assert_eq!(p.float, crate::resolved::FloatType::F32);
    // Parameter layout: declaration order, the dense groups where the layer is.
    let layout: Vec<(&str, Shape, usize)> = p
        .params
        .iter()
        .map(|s| (s.name.as_str(), s.shape, s.offset))
        .collect();
    assert_eq!(
        layout,
        [
            ("m", Shape::Matrix(2, 3), 0),
            ("h.weight", Shape::Matrix(4, 3), 6),
            ("h.bias", Shape::Vector(4), 18),
            ("b", Shape::Vector(2), 22),
            ("c", Shape::Scalar, 24),
        ]
    );
    let inits: Vec<ParamInit> = p.params.iter().filter_map(|s| s.init.clone()).collect();
    assert_eq!(
        inits,
        [
            ParamInit::Values(vec![0.5; 6]),
            ParamInit::Glorot {
                fan_in: 3,
                fan_out: 4
            },
            ParamInit::Zero,
            ParamInit::Values(vec![1.0, -1.0]),
            ParamInit::Uniform(0.1),
        ]
    );
    // Dense groups are not declarations.
    assert_eq!(
        p.declarations,
        [
            param(SlotKind::Input, 0),
            param(SlotKind::Target, 0),
            param(SlotKind::Param, 0),
            param(SlotKind::Param, 3),
            param(SlotKind::Param, 4),
        ]
    );
    // The fn: a scalar expression of its arguments.
    assert_eq!(p.fns.len(), 1);
    assert_eq!((p.fns[0].name.as_str(), p.fns[0].arity), ("s", 1));
    assert_eq!(show(&p, &p.fns[0].body), "(/ 1.0 (+ 1.0 exp((neg $0))))");
    // Bindings and their shapes.
    let bindings: Vec<(&str, Shape)> = p
        .bindings
        .iter()
        .map(|b| (b.name.as_str(), b.shape))
        .collect();
    assert_eq!(
        bindings,
        [
            ("h", Shape::Vector(4)),
            ("z", Shape::Vector(2)),
            ("g", Shape::Vector(3)),
            ("y", Shape::Vector(2)),
        ]
    );
    assert_eq!(p.output, BindingId(3));
    assert_eq!(p.loop_vars, 1);
    assert_eq!(p.body.len(), 6);
    let lets: Vec<String> = p
        .body
        .iter()
        .filter_map(|stmt| match stmt {
            Stmt::Let { binding, value } => Some(format!(
                "{} = {} : {}",
                p.bindings[binding.0 as usize].name,
                show(&p, value),
                value.shape
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        lets,
        [
            "h = dense(x, h.weight, h.bias, s) : vector [4]",
            "z = (+ (matmul m x) b) : vector [2]",
            "g = (matmul transpose(m) z) : vector [3]",
            "y = (+ (+ (* z 2.0) s(c)) powi(h[0], 3)) : vector [2]",
        ]
    );
    // The loops: bounds evaluated, `_` has no variable, `+=` desugared.
    let Stmt::For {
        var,
        start,
        count,
        body,
    } = &p.body[2]
    else {
        panic!("{:?}", p.body[2]);
    };
    assert_eq!((*var, *start, *count), (Some(LoopVarId(0)), 1, 2));
    let [Stmt::For {
        var: None,
        start: 0,
        count: 2,
        body,
    }] = body.as_slice()
    else {
        panic!("{body:?}");
    };
    let [Stmt::Assign {
        binding,
        indices,
        value,
    }] = body.as_slice()
    else {
        panic!("{body:?}");
    };
    assert_eq!(*binding, BindingId(1));
    assert_eq!(
        indices.as_slice(),
        [Index::Binary(
            crate::ast::BinOp::Sub,
            Box::new(Index::Var(LoopVarId(0))),
            Box::new(Index::Const(1))
        )]
    );
    assert_eq!(value.shape, Shape::Scalar);
    assert_eq!(show(&p, value), "(+ z[(#0 - 1)] (* transpose(m)[#0][0] c))");
    let Stmt::Loss(loss) = &p.body[5] else {
        panic!("{:?}", p.body[5]);
    };
    assert_eq!(show(&p, loss), "(+ mse(y, t) sum(g))");
    let call = match &p.body[4] {
        Stmt::Let { value, .. } => value,
        other => panic!("{other:?}"),
    };
    // `s(c)` is a scalar call broadcast into a vector sum.
    let ExprKind::Elementwise(_, lhs, _) = &call.kind else {
        panic!("{call:?}");
    };
    let ExprKind::Elementwise(_, _, s) = &lhs.kind else {
        panic!("{lhs:?}");
    };
    assert!(matches!(s.kind, ExprKind::Call(FnId(0), _)));
    assert_eq!(s.shape, Shape::Scalar);
}

#[test]
fn matrix_times_scalar_is_elementwise_and_method_calls_are_calls() {
    let p = resolve(quote! {
        struct Net {
            input x[2];
            param m[2][2];
            let a = m * 2.0;
            let mut k = m;
            k *= m;
            output y = x.max(0.5) + a * x;
            loss = sum(y) + sum(k);
        }
    });
    let shown: Vec<String> = p
        .body
        .iter()
        .map(|stmt| match stmt {
            Stmt::Let { value, .. } | Stmt::Assign { value, .. } => show(&p, value),
            Stmt::Loss(value) => show(&p, value),
            Stmt::For { .. } => "for".into(),
        })
        .collect();
    assert_eq!(
        shown,
        [
            "(* m 2.0)",
            "m",
            "(matmul k m)",
            "(+ max(x, 0.5) (matmul a x))",
            "(+ sum(y) sum(k))",
        ]
    );
}

/// The parameter, input and target layout of the check equals the old lowering's.
#[test]
fn layout_matches_the_lowering() {
    let programs = [
        quote! { struct A {
            input x[2];
            target t;
            let h = dense(x, 4, tanh);
            output y = sigmoid(dot(h, v) + c);
            param v[4], c = 0.0;
            loss = bce(y, t);
        } },
        quote! { struct B {
            type Float = f32;
            input x[2];
            target t[1];
            let h1 = dense(x, 8, tanh);
            param w[2][8], q[3] = [1.0, 2.0, 3.0];
            let h2 = dense(h1, 8, tanh) + q[0];
            output y = dense(h2, 1, identity) + sum(w);
            loss = mse(y, t);
        } },
        quote! { struct C {
            fn s(u) = 1.0 / (1.0 + exp(-u));
            param k[3][2] = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
            input a, x[3];
            target t[2], u;
            let h = dense(x, 2, s);
            output y = h + k.T * x + a;
            loss = mse(y, t) + u;
        } },
    ];
    for tokens in programs {
        let p = resolve(tokens.clone());
        let (_, derived) = crate::derive(tokens).expect("the network derives");
        let lowered = &derived.program;
        let slots = |s: &[crate::resolved::Slot]| -> Vec<String> {
            s.iter()
                .map(|s| format!("{} {} @{} {:?}", s.name, s.shape, s.offset, s.init))
                .collect()
        };
        assert_eq!(slots(&p.params), slots(&lowered.params));
        assert_eq!(slots(&p.inputs), slots(&lowered.inputs));
        assert_eq!(slots(&p.targets), slots(&lowered.targets));
    }
}
